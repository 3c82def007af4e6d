"""Values pulled back from a sandbox in forms that cannot carry code.

``encode`` runs in the sandbox (this file's source is sent ahead of the
interpreter's, so it uses the standard library only and imports numpy,
pandas and pyarrow only when a value needs them); ``decode`` runs in the
kernel. The sandbox is untrusted, so the kernel never trusts the format it
claims: ``decode`` reads a tagged JSON tree with safe readers only
(``json``, base64, ``numpy.load(allow_pickle=False)``, pandas constructors,
Arrow IPC with pyarrow >= 14.0.1, whose readers refuse pickled extension
types), and anything it does not recognise is an error, never code.

Forms:

- ``None``, ``bool``, ``int``, ``float``, ``str``: themselves in JSON;
- ``bytes``/``bytearray``, ``list``/``tuple``/``set``/``frozenset``/``dict``
  (any hashable keys), ``datetime``/``date``/``time``/``timedelta``,
  ``complex``: tagged nodes ``{"$": kind, ...}``;
- numpy arrays and scalars: ``.npy`` bytes written with ``allow_pickle=False``;
- pandas ``DataFrame``/``Series``: Arrow IPC when both sides have pyarrow,
  else a typed form (one node per column: numpy data, categorical codes and
  categories, tz-aware datetimes as int64 plus unit and zone, pandas
  extension dtypes as values plus dtype name, object columns value by value;
  the index and column labels likewise, incl. ``RangeIndex`` and
  ``MultiIndex``).
"""

from __future__ import annotations

import base64
import datetime as _dt
import io
import json
import sys

__all__ = ["FORMATS", "MAX_DEPTH", "BadValue", "Unsupported", "arrow_ok", "decode", "decode_text", "encode"]

FORMATS = ("None/bool/int/float/str, bytes, list/tuple/set/dict of these, datetime values, "
           "numpy arrays and scalars, pandas DataFrame/Series")
MAX_DEPTH = 100
ARROW_MIN = (14, 0, 1)


class Unsupported(TypeError):
    """A value (or a part of it) has no safe form; its type name is ``type_name``."""

    def __init__(self, type_name: str, detail: str = "") -> None:
        self.type_name = type_name
        super().__init__(detail or type_name)


class BadValue(ValueError):
    """What the sandbox sent is not a value in a safe form."""


def _type_name(value) -> str:
    kind = type(value)
    module = getattr(kind, "__module__", "")
    return kind.__qualname__ if module in ("builtins", "") else f"{module}.{kind.__qualname__}"


def arrow_ok() -> bool:
    """Whether pyarrow is importable here and new enough to refuse pickled extension types."""
    try:
        import pyarrow
    except Exception:
        return False
    try:
        version = tuple(int(p) for p in pyarrow.__version__.split(".")[:3])
    except ValueError:
        return False
    return version >= ARROW_MIN


# ---------------------------------------------------------------- sandbox side


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _npy(arr) -> str:
    import numpy as np

    if arr.dtype.hasobject:
        raise Unsupported(f"numpy array of dtype {arr.dtype}")
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return _b64(buf.getvalue())


def encode(value, arrow: bool = False, _depth: int = 0):  # noqa: C901
    """The safe form of ``value``; raises :class:`Unsupported` for a value without one.

    One branch per supported type, read as a table.
    """
    if _depth > MAX_DEPTH:
        raise Unsupported(_type_name(value), "nested too deeply")
    d = _depth + 1
    if value is None or isinstance(value, (bool, str)):
        return value
    if type(value) in (int, float):
        return value
    if isinstance(value, (bytes, bytearray)) and type(value) in (bytes, bytearray):
        return {"$": type(value).__name__, "b64": _b64(bytes(value))}
    if type(value) in (list, tuple, set, frozenset):
        return {"$": type(value).__name__, "v": [encode(v, arrow, d) for v in value]}
    if type(value) is dict:
        return {"$": "dict", "v": [[encode(k, arrow, d), encode(v, arrow, d)] for k, v in value.items()]}
    if type(value) is complex:
        return {"$": "complex", "v": [value.real, value.imag]}
    if type(value) is _dt.datetime:
        return {"$": "datetime", "v": value.isoformat()}
    if type(value) is _dt.date:
        return {"$": "date", "v": value.isoformat()}
    if type(value) is _dt.time:
        return {"$": "time", "v": value.isoformat()}
    if type(value) is _dt.timedelta:
        return {"$": "timedelta", "v": [value.days, value.seconds, value.microseconds]}
    np = sys.modules.get("numpy")
    if np is not None:
        if type(value) is np.ndarray:
            return {"$": "ndarray", "npy": _npy(value)}
        if isinstance(value, np.generic):
            return {"$": "npscalar", "npy": _npy(np.asarray(value))}
    pd = sys.modules.get("pandas")
    if pd is not None:
        if type(value) is pd.DataFrame:
            if arrow and arrow_ok():
                return {"$": "arrow", "ipc": _arrow_ipc(value)}
            return {"$": "dataframe", "columns": _index(value.columns, arrow, d),
                    "data": [_column(value.iloc[:, i], arrow, d) for i in range(value.shape[1])],
                    "index": _index(value.index, arrow, d)}
        if type(value) is pd.Series:
            return {"$": "series", "name": encode(value.name, arrow, d), "values": _column(value, arrow, d),
                    "index": _index(value.index, arrow, d)}
    raise Unsupported(_type_name(value))


def _arrow_ipc(frame) -> str:
    import pyarrow as pa

    table = pa.Table.from_pandas(frame, preserve_index=True)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return _b64(sink.getvalue().to_pybytes())


def _column(values, arrow: bool, depth: int) -> dict:
    """One column's data (a Series or an Index) with its dtype."""
    import numpy as np
    import pandas as pd

    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        codes = np.asarray(values.cat.codes if isinstance(values, pd.Series) else values.codes)
        return {"kind": "category", "codes": _npy(codes), "ordered": bool(dtype.ordered),
                "categories": _column(pd.Index(dtype.categories), arrow, depth + 1)}
    if isinstance(dtype, pd.DatetimeTZDtype):
        # pandas before 2.0 had nanoseconds only, and no ``unit``.
        return {"kind": "datetimetz", "i8": _npy(np.asarray(values.array.asi8)), "unit": getattr(dtype, "unit", "ns"),
                "tz": str(dtype.tz)}
    if isinstance(dtype, np.dtype) and dtype.kind in "biufcmM":
        return {"kind": "numpy", "npy": _npy(np.asarray(values.to_numpy()))}
    if isinstance(dtype, np.dtype):
        return {"kind": "object", "values": [encode(v, arrow, depth + 1) for v in values.tolist()]}
    # Extension dtypes (Int64, boolean, string, ...) mark missing values with pd.NA.
    return {"kind": "extension", "dtype": str(dtype),
            "values": [None if v is pd.NA else encode(v, arrow, depth + 1) for v in values.tolist()]}


def _index(index, arrow: bool, depth: int) -> dict:
    import pandas as pd

    if type(index) is pd.RangeIndex:
        return {"kind": "range", "start": int(index.start), "stop": int(index.stop), "step": int(index.step),
                "name": encode(index.name, arrow, depth)}
    if isinstance(index, pd.MultiIndex):
        return {"kind": "multi", "levels": [_column(index.get_level_values(i), arrow, depth)
                                            for i in range(index.nlevels)],
                "names": [encode(n, arrow, depth) for n in index.names]}
    return {"kind": "index", "values": _column(index, arrow, depth), "name": encode(index.name, arrow, depth)}


# ---------------------------------------------------------------- kernel side


def decode_text(text: str):
    """Decode a value sent as JSON text."""
    try:
        node = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise BadValue(f"not JSON ({exc})") from None
    return decode(node)


def decode(node, _depth: int = 0):
    """The value a safe form stands for; raises :class:`BadValue` for anything else."""
    try:
        return _decode(node, _depth)
    except BadValue:
        raise
    except RecursionError:
        raise BadValue("nested too deeply") from None
    except Exception as exc:
        raise BadValue(f"{type(exc).__name__}: {exc}") from None


def _decode(node, depth: int):  # noqa: C901
    """One branch per supported type, read as a table (the mirror of :func:`encode`)."""
    if depth > MAX_DEPTH:
        raise BadValue("nested too deeply")
    if node is None or type(node) in (bool, int, float, str):
        return node
    if type(node) is not dict or not isinstance(node.get("$"), str):
        raise BadValue(f"unexpected JSON {type(node).__name__}")
    kind = node["$"]
    d = depth + 1
    if kind in ("list", "tuple", "set", "frozenset"):
        items = [_decode(v, d) for v in _list(node, "v")]
        return {"list": list, "tuple": tuple, "set": set, "frozenset": frozenset}[kind](items)
    if kind == "dict":
        pairs = _list(node, "v")
        if not all(type(p) is list and len(p) == 2 for p in pairs):
            raise BadValue("malformed dict")
        return {_decode(k, d): _decode(v, d) for k, v in pairs}
    if kind in ("bytes", "bytearray"):
        data = _bytes(node, "b64")
        return data if kind == "bytes" else bytearray(data)
    if kind == "complex":
        re_, im = _list(node, "v")
        return complex(float(re_), float(im))
    if kind == "datetime":
        return _dt.datetime.fromisoformat(_str(node, "v"))
    if kind == "date":
        return _dt.date.fromisoformat(_str(node, "v"))
    if kind == "time":
        return _dt.time.fromisoformat(_str(node, "v"))
    if kind == "timedelta":
        days, seconds, micro = (int(x) for x in _list(node, "v"))
        return _dt.timedelta(days=days, seconds=seconds, microseconds=micro)
    if kind == "ndarray":
        return _load_npy(node, "npy")
    if kind == "npscalar":
        arr = _load_npy(node, "npy")
        if arr.shape != ():
            raise BadValue("numpy scalar with a shape")
        return arr[()]
    if kind == "dataframe":
        return _frame(node, d)
    if kind == "series":
        import pandas as pd

        values = _decode_column(_dict(node, "values"), d)
        index = _decode_index(_dict(node, "index"), d)
        return pd.Series(values, index=index, name=_decode(node.get("name"), d), dtype=_object_or_none(values))
    if kind == "arrow":
        return _from_arrow(_bytes(node, "ipc"))
    raise BadValue(f"unknown kind {kind[:40]!r}")


def _list(node: dict, key: str) -> list:
    value = node.get(key)
    if type(value) is not list:
        raise BadValue(f"{key!r} is not a list")
    return value


def _dict(node: dict, key: str) -> dict:
    value = node.get(key)
    if type(value) is not dict:
        raise BadValue(f"{key!r} is not an object")
    return value


def _str(node: dict, key: str) -> str:
    value = node.get(key)
    if type(value) is not str:
        raise BadValue(f"{key!r} is not a string")
    return value


def _bytes(node: dict, key: str) -> bytes:
    return base64.b64decode(_str(node, key), validate=True)


def _load_npy(node: dict, key: str):
    import numpy as np

    return np.load(io.BytesIO(_bytes(node, key)), allow_pickle=False)


def _frame(node: dict, depth: int):
    import pandas as pd

    columns = _decode_index(_dict(node, "columns"), depth)
    index = _decode_index(_dict(node, "index"), depth)
    data = [_decode_column(c if type(c) is dict else {}, depth) for c in _list(node, "data")]
    if len(data) != len(columns):
        raise BadValue(f"{len(data)} columns of data for {len(columns)} column labels")
    if any(len(values) != len(index) for values in data):
        raise BadValue("a column's length differs from the index's")
    frame = pd.DataFrame({i: pd.Series(values, index=index, dtype=_object_or_none(values))
                          for i, values in enumerate(data)}, index=index)
    frame.columns = columns
    return frame


def _decode_column(node: dict, depth: int):
    import numpy as np
    import pandas as pd

    kind = node.get("kind")
    if kind == "numpy":
        arr = _load_npy(node, "npy")
        if arr.ndim != 1:
            raise BadValue("a column is not one-dimensional")
        return arr
    if kind == "category":
        codes = _load_npy(node, "codes")
        if codes.dtype.kind != "i":
            raise BadValue("categorical codes are not integers")
        categories = pd.Index(_decode_column(_dict(node, "categories"), depth + 1))
        return pd.Categorical.from_codes(codes, categories=categories, ordered=bool(node.get("ordered")))
    if kind == "datetimetz":
        i8 = _load_npy(node, "i8")
        unit = _str(node, "unit")
        if i8.dtype != np.int64 or unit not in ("s", "ms", "us", "ns"):
            raise BadValue("malformed datetime column")
        naive = pd.Series(i8.view(f"datetime64[{unit}]"))
        return naive.dt.tz_localize("UTC").dt.tz_convert(_str(node, "tz")).array
    if kind == "object":
        values = [_decode(v, depth + 1) for v in _list(node, "values")]
        arr = np.empty(len(values), dtype=object)
        arr[:] = values
        return arr
    if kind == "extension":
        values = [_decode(v, depth + 1) for v in _list(node, "values")]
        # pandas resolves a dtype name among its registered dtypes; names never run code.
        return pd.array(values, dtype=pd.api.types.pandas_dtype(_str(node, "dtype")))
    raise BadValue(f"unknown column kind {str(kind)[:40]!r}")


def _object_or_none(values):
    # pandas would infer a string dtype from an object array of strings; the sandbox had object.
    return object if getattr(values, "dtype", None) == object else None  # noqa: E721 -- a NumPy dtype compares equal to object but is not it


def _decode_index(node: dict, depth: int):
    import pandas as pd

    kind = node.get("kind")
    if kind == "range":
        return pd.RangeIndex(int(node["start"]), int(node["stop"]), int(node["step"]),
                             name=_decode(node.get("name"), depth))
    if kind == "multi":
        levels = [_decode_column(lv if type(lv) is dict else {}, depth) for lv in _list(node, "levels")]
        names = [_decode(n, depth) for n in _list(node, "names")]
        return pd.MultiIndex.from_arrays(levels, names=names)
    if kind == "index":
        values = _decode_column(_dict(node, "values"), depth)
        return pd.Index(values, name=_decode(node.get("name"), depth), tupleize_cols=False,
                        dtype=_object_or_none(values))
    raise BadValue(f"unknown index kind {str(kind)[:40]!r}")


def _from_arrow(data: bytes):
    if not arrow_ok():
        raise BadValue("an Arrow table, but this kernel has no pyarrow >= 14.0.1 to read it safely")
    import pyarrow as pa

    table = pa.ipc.open_stream(pa.BufferReader(data)).read_all()
    return table.to_pandas()
