"""Turns the raw bike-rental table into model features.

Kept in a module, not in notebook cells, so the same code runs in the
sandbox (where it is copied by the image recipe) and in any test of it.
"""

import numpy as np
import pandas as pd

WEATHER = ["clear", "cloudy", "rain"]
FEATURES = [
    "temp_c",
    "humidity",
    "wind_kmh",
    "workingday",
    "holiday",
    "season_sin",
    "season_cos",
    "year",
    *[f"weather_{w}" for w in WEATHER],
]
TARGET = "rentals"


def load(path: str) -> pd.DataFrame:
    """Reads the CSV with its date column parsed."""
    return pd.read_csv(path, parse_dates=["date"])


def add_features(df: pd.DataFrame) -> pd.DataFrame:
    """Adds the columns the model uses; the input is left unchanged."""
    out = df.copy()
    # The season is cyclic: 31 December sits next to 1 January, not 364 days from it.
    angle = 2 * np.pi * out["date"].dt.dayofyear / 365.25
    out["season_sin"] = np.sin(angle)
    out["season_cos"] = np.cos(angle)
    out["year"] = out["date"].dt.year - out["date"].dt.year.min()
    for w in WEATHER:
        out[f"weather_{w}"] = (out["weather"] == w).astype(int)
    return out


def split_by_date(df: pd.DataFrame, cutoff: str):
    """Trains on the days before ``cutoff`` and tests on the rest, as a forecast would."""
    before = df["date"] < pd.Timestamp(cutoff)
    return df[before], df[~before]
