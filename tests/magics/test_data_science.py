"""Values travel both ways and figures come back, in an image with pandas and matplotlib (slow: builds once)."""

from __future__ import annotations

import pytest

LOAD = "%load_ext oc_jupyter"
RECIPE = "%%oc_image ds --build\npip pandas matplotlib\n"

pytestmark = pytest.mark.slow


def test_dataframe_push_pull_and_a_figure(notebook):
    run = notebook(
        [
            LOAD,
            RECIPE,
            "import pandas as pd\ndf = pd.DataFrame({'a': [1, 2, 3], 'b': [4.0, 5.0, 6.0]})",
            "%%oc_run --image ds --push df --pull summary\nsummary = df.assign(c=df.a * df.b)\nsummary.c.sum()",
            "print(type(summary).__name__, list(summary.c))",
            "%%oc_run --image ds\nimport matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [1, 4, 9])\nplt.title('squares')",
            "%%oc_run --image ds\ndf.describe()",
        ]
    )
    assert "32.0" in run.text(3)
    assert run.text(4).strip() == "DataFrame [4.0, 10.0, 18.0]"
    images = [o for o in run.outputs(5) if o["output_type"] == "display_data" and "image/png" in o["data"]]
    assert len(images) == 1 and len(images[0]["data"]["image/png"]) > 1000
    # The sandbox's HTML is shown inside a sandboxed frame (see oc_jupyter.untrusted).
    assert run.html(6).startswith("<iframe sandbox=") and "&lt;table" in run.html(6)


def test_pushing_a_dataframe_into_a_sandbox_without_pandas_is_a_usage_error(notebook):
    run = notebook(
        [
            LOAD,
            "import pandas as pd\ndf = pd.DataFrame({'a': [1]})",
            "%%oc_image nopandas\nrun python3 -c 'import pandas' 2>/dev/null && pip uninstall -y pandas || true\n",
            "%%oc_run --image nopandas --push df\nlen(df)",
        ],
        allow_errors=True,
    )
    (error,) = run.errors(3)
    assert error["ename"] == "UsageError"
    assert "no module 'pandas'" in error["evalue"] and "pip pandas" in error["evalue"]
