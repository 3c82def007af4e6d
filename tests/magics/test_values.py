"""Safe forms of pulled values: what round-trips, what is refused, and that decoding never runs code."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import os
import pickle

import numpy as np
import pandas as pd
import pytest

from oc_jupyter.magics import values


def round_trip(value):
    # Through JSON text, as the value travels from the sandbox.
    return values.decode_text(json.dumps(values.encode(value)))


def frame():
    return pd.DataFrame(
        {
            "when": pd.date_range("2024-03-30", periods=4, freq="12h", tz="Europe/Paris"),
            "naive": pd.to_datetime(["2024-01-01", None, "2024-03-01", "2024-04-01"]),
            "span": pd.to_timedelta([1, 2, None, 4], unit="s"),
            "kind": pd.Categorical(["b", "a", "b", None], categories=["b", "a"], ordered=True),
            "count": pd.array([1, None, 3, 4], dtype="Int64"),
            "flag": [True, False, True, False],
            "mixed": ["x", None, 3.5, (1, 2)],
            "ratio": [0.5, np.nan, 1.5, -np.inf],
        },
        index=pd.Index(["r1", "r2", "r3", "r4"], name="row"),
    )


def test_dataframes_keep_dtypes_index_and_values():
    df = frame()
    back = round_trip(df)
    pd.testing.assert_frame_equal(back, df)
    assert back.index.name == "row" and back["kind"].cat.ordered


@pytest.mark.parametrize(
    "make",
    [
        lambda df: df.set_index(["kind", "flag"]),
        lambda df: df.reset_index(drop=True),
        lambda df: df.set_axis(pd.RangeIndex(10, 18, 2, name="even"), axis=0),
        lambda df: df.set_index("when"),
        lambda df: df.set_index("kind"),
        lambda df: df.T.iloc[:, :2].astype(str),
        lambda df: pd.DataFrame({("a", 1): [1, 2], ("a", 2): [3, 4]}),
        lambda df: pd.DataFrame([[1, 2]], columns=["same", "same"]),
        lambda df: df.iloc[:0],
    ],
)
def test_index_and_column_shapes_round_trip(make):
    df = make(frame())
    pd.testing.assert_frame_equal(round_trip(df), df)


def test_series_round_trip_with_name_and_index():
    s = frame()["kind"]
    pd.testing.assert_series_equal(round_trip(s), s)
    s = pd.Series([1.5, 2.5], index=pd.to_datetime(["2024-01-01", "2024-01-02"]), name=("a", 1))
    pd.testing.assert_series_equal(round_trip(s), s)


@pytest.mark.parametrize(
    "arr",
    [
        np.arange(12, dtype=np.float32).reshape(3, 4),
        np.array(["2024-01-01", "NaT"], dtype="datetime64[ns]"),
        np.array([True, False]),
        np.array([1 + 2j]),
        np.array(["ab", "c"]),
        np.zeros((2, 0, 3)),
    ],
)
def test_numpy_arrays_keep_dtype_and_shape(arr):
    back = round_trip(arr)
    assert back.dtype == arr.dtype and back.shape == arr.shape
    np.testing.assert_array_equal(back, arr)


def test_scalars_bytes_datetimes_and_containers():
    value = {
        "ints": [1, -(2**70), np.int64(7), np.float32(1.5), np.bool_(True)],
        (1, "key"): {frozenset({1, 2}), "s"},
        3: (b"\x00\xff", bytearray(b"ab"), None, True, 2.5, complex(1, -1)),
        "when": [
            dt.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=dt.timezone.utc),
            dt.date(2024, 1, 2),
            dt.time(3, 4),
            dt.timedelta(days=-1, seconds=5),
        ],
        "frame": frame().iloc[:2],
    }
    back = round_trip(value)
    frame_back = back.pop("frame")
    expected_frame = value.pop("frame")
    pd.testing.assert_frame_equal(frame_back, expected_frame)
    assert back == value
    assert [type(v) for v in back["ints"]] == [int, int, np.int64, np.float32, np.bool_]
    assert type(back[3][1]) is bytearray and type(back[(1, "key")]) is set


@pytest.mark.parametrize(
    "value, type_name",
    [
        (object(), "object"),
        (pd.Timestamp("2024-01-01"), "pandas.Timestamp"),
        (np.array([object()], dtype=object), "numpy array of dtype object"),
        ({"deep": [1, {2: io.BytesIO()}]}, "_io.BytesIO"),
        (type("Local", (), {})(), "Local"),
    ],
)
def test_values_without_a_safe_form_name_their_type(value, type_name):
    with pytest.raises(values.Unsupported) as info:
        values.encode(value)
    assert info.value.type_name.endswith(type_name)


def test_subclasses_of_safe_types_are_not_taken_for_them():
    class Sneaky(list):
        def __reduce__(self):
            return (os.system, ("true",))

    with pytest.raises(values.Unsupported):
        values.encode(Sneaky([1]))


def test_a_pickled_array_is_refused_and_never_unpickled(tmp_path):
    marker = tmp_path / "ran"

    class Touch:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    buf = io.BytesIO()
    np.save(buf, np.array([Touch()], dtype=object), allow_pickle=True)
    node = {"$": "ndarray", "npy": base64.b64encode(buf.getvalue()).decode()}
    with pytest.raises(values.BadValue):
        values.decode(node)
    blob = base64.b64encode(pickle.dumps(Touch())).decode()
    # A pickle where bytes are expected is only bytes.
    assert values.decode({"$": "bytes", "b64": blob}) == base64.b64decode(blob)
    assert not marker.exists()


@pytest.mark.parametrize(
    "node",
    [
        {"$": "pickle", "data": "gASVAAAA"},
        {"$": "dict", "v": [[{"$": "list", "v": []}, 1]]},
        {"$": "dict", "v": [[1]]},
        {"$": "bytes", "b64": "not base64!"},
        {
            "$": "dataframe",
            "columns": {"kind": "range", "start": 0, "stop": 2, "step": 1},
            "data": [],
            "index": {"kind": "range", "start": 0, "stop": 0, "step": 1},
        },
        {"$": "series", "values": {"kind": "eval", "code": "1"}, "index": {"kind": "range"}},
        {
            "$": "series",
            "values": {"kind": "extension", "dtype": "no-such-dtype", "values": []},
            "index": {"kind": "range", "start": 0, "stop": 0, "step": 1},
        },
        [1, 2],
        {"no": "tag"},
    ],
)
def test_malformed_forms_are_bad_values(node):
    with pytest.raises(values.BadValue):
        values.decode(node)


def test_nesting_is_bounded_both_ways():
    deep: list = []
    for _ in range(values.MAX_DEPTH + 5):
        deep = [deep]
    with pytest.raises(values.Unsupported):
        values.encode(deep)
    text = '{"$": "list", "v": [' * 5000 + "]}" * 5000
    with pytest.raises(values.BadValue):
        values.decode_text(text)
