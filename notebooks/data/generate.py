"""Regenerates bike_rentals.csv, the synthetic data set of data-science.ipynb.

Two years of daily bike rentals in an imaginary city. Rentals rise with
warmth up to a comfortable 25 °C, fall with rain, humidity and wind, are
higher on working days and grow from the first year to the second. Seeded,
so the file is identical on every run: ``python data/generate.py``.
"""

import csv
import datetime as dt
import math
import random
from pathlib import Path

OUT = Path(__file__).with_name("bike_rentals.csv")
HOLIDAYS = {(1, 1), (5, 1), (7, 14), (11, 11), (12, 25)}


def rows(seed: int = 7):
    rng = random.Random(seed)
    day = dt.date(2023, 1, 1)
    for i in range(730):
        season_wave = -math.cos(2 * math.pi * (day.timetuple().tm_yday - 15) / 365)
        temp = 13 + 11 * season_wave + rng.gauss(0, 3.5)
        humidity = min(98, max(25, 62 - 8 * season_wave + rng.gauss(0, 12)))
        wind = max(0.0, rng.gauss(14, 6))
        weather = rng.choices(["clear", "cloudy", "rain"], weights=[55, 30, 15 + humidity / 10])[0]
        holiday = (day.month, day.day) in HOLIDAYS
        workingday = day.weekday() < 5 and not holiday

        comfort = math.exp(-(((temp - 25) / 11) ** 2))
        rentals = 900 + 4200 * comfort
        rentals *= {"clear": 1.0, "cloudy": 0.88, "rain": 0.55}[weather]
        rentals *= 1.12 if workingday else 0.95
        rentals *= 1 - max(0, humidity - 70) / 90
        rentals *= 1 - max(0, wind - 20) / 60
        rentals *= 1.0 + 0.25 * (i / 730)
        rentals = max(50, round(rentals + rng.gauss(0, 260)))

        yield {
            "date": day.isoformat(),
            "weekday": day.strftime("%a"),
            "holiday": int(holiday),
            "workingday": int(workingday),
            "weather": weather,
            "temp_c": round(temp, 1),
            "humidity": round(humidity),
            "wind_kmh": round(wind, 1),
            "rentals": rentals,
        }
        day += dt.timedelta(days=1)


if __name__ == "__main__":
    data = list(rows())
    with OUT.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(data[0]))
        writer.writeheader()
        writer.writerows(data)
    print(f"wrote {len(data)} rows to {OUT}")
