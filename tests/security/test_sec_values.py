"""``--pull`` never unpickles without an opt-in, and safe forms bring real data back intact.

Real kernel (nbclient), real local server, real podman sandboxes.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "_magics_fixtures", Path(__file__).resolve().parents[1] / "magics" / "conftest.py"
)
_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_fixtures)
kernel_env, notebook = _fixtures.kernel_env, _fixtures.notebook

LOAD = "%load_ext oc_jupyter"
# The recipe of the data-science tests, so both share one cached image.
RECIPE = "%%oc_image ds --build\npip pandas matplotlib\n"


def touch_cell(path: Path, flags: str) -> str:
    """A cell whose value, once unpickled here, creates ``path`` on this machine."""
    return (
        f"%%oc_run {flags}\n"
        "import os\n"
        "class Touch:\n"
        "    def __reduce__(self):\n"
        f"        return (os.system, ('touch {path}',))\n"
        "evil = Touch()\n"
        "print('defined')"
    )


def test_a_malicious_pickle_is_refused_without_the_opt_in(notebook, tmp_path):
    marker = tmp_path / "pwned"
    run = notebook(
        [LOAD, touch_cell(marker, "--pull evil"), "print('evil' in dir())", "%%oc_run\nprint(6 * 7)"], allow_errors=True
    )
    (error,) = run.errors(1)
    assert error["ename"] == "UsageError"
    assert error["evalue"].startswith("Cannot pull 'evil': a value of type '__main__.Touch' has no safe form")
    assert "--pull-pickle evil" in error["evalue"]
    assert "defined" in run.text(1)
    assert not marker.exists()
    assert run.text(2).strip() == "False"
    assert run.text(3).strip() == "42"


def test_pickle_needs_the_flag_or_the_setting(notebook, tmp_path):
    by_flag, by_setting = tmp_path / "by-flag", tmp_path / "by-setting"
    try:
        run = notebook(
            [
                LOAD,
                touch_cell(by_flag, "--pull-pickle evil"),
                "print(repr(evil))",
                "%config OCJupyter.allow_pickle = True",
                touch_cell(by_setting, "--pull evil"),
                "%%oc_run\nprint(6 * 7)",
            ]
        )
        assert run.text(2).strip() == "0"  # os.system's exit code: the pickle ran here
        assert by_flag.exists() and by_setting.exists()
        assert run.text(5).strip() == "42"
    finally:
        for path in (by_flag, by_setting):
            path.unlink(missing_ok=True)


def test_an_unsupported_type_is_a_usage_error_naming_it(notebook):
    run = notebook(
        [
            LOAD,
            "%%oc_run --pull f,ok\nimport fractions\nf = fractions.Fraction(1, 3)\nok = 1",
            "print('f' in dir(), 'ok' in dir())",
        ],
        allow_errors=True,
    )
    (error,) = run.errors(1)
    assert error["ename"] == "UsageError"
    assert "type 'fractions.Fraction' has no safe form" in error["evalue"]
    assert "--pull-pickle f" in error["evalue"]
    assert run.text(2).strip() == "False False"


def test_plain_values_round_trip_without_pickle(notebook):
    code = (
        "%%oc_run --pull data,raw,when\n"
        "import datetime\n"
        "data = {'a': [1, 2.5, None], ('t', 1): {1, 2}, 3: (True, 'x')}\n"
        "raw = bytes(range(256))\n"
        "when = datetime.datetime(2024, 5, 6, 7, 8, 9)"
    )
    run = notebook(
        [
            LOAD,
            code,
            "import datetime\n"
            "print(data == {'a': [1, 2.5, None], ('t', 1): {1, 2}, 3: (True, 'x')}, "
            "raw == bytes(range(256)), when == datetime.datetime(2024, 5, 6, 7, 8, 9))",
        ]
    )
    assert run.text(2).strip() == "True True True"


@pytest.mark.slow
def test_dataframes_and_arrays_round_trip_from_a_sandbox_with_pandas(notebook):
    make = (
        "import numpy as np, pandas as pd\n"
        "df = pd.DataFrame({'when': pd.date_range('2024-03-30', periods=3, freq='12h', tz='Europe/Paris'),\n"
        "                   'naive': pd.to_datetime(['2024-01-01', None, '2024-03-01']),\n"
        "                   'kind': pd.Categorical(['b', 'a', 'b'], categories=['b', 'a'], ordered=True),\n"
        "                   'count': pd.array([1, None, 3], dtype='Int64'),\n"
        "                   'x': [0.5, np.nan, 1.5]},\n"
        "                  index=pd.Index(['r1', 'r2', 'r3'], name='row'))\n"
        "multi = df.set_index(['kind', 'count'])\n"
        "s = df['kind']\n"
        "arr = np.arange(12, dtype=np.float32).reshape(3, 4)\n"
        "nested = {'frames': [df.iloc[:1]], 'arr': (arr[0], np.int64(7))}\n"
    )
    compare = (
        "local = {}\nexec(" + repr(make) + ", local)\n"
        "import pandas.testing as pt, numpy.testing as nt, numpy as np\n"
        "pt.assert_frame_equal(df, local['df'])\n"
        "pt.assert_frame_equal(multi, local['multi'])\n"
        "pt.assert_series_equal(s, local['s'])\n"
        "nt.assert_array_equal(arr, local['arr']); assert arr.dtype == np.float32\n"
        "pt.assert_frame_equal(nested['frames'][0], local['df'].iloc[:1])\n"
        "assert type(nested['arr'][1]) is np.int64 and nested['arr'][1] == 7\n"
        "print('all equal', df.dtypes.astype(str).tolist())"
    )
    run = notebook([LOAD, RECIPE, "%%oc_run --image ds --pull df,multi,s,arr,nested\n" + make, compare])
    assert run.text(3).startswith("all equal"), (run.error, run.text(2))
