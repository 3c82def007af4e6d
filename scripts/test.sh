#!/usr/bin/env bash
# Runs the whole test suite against real parts: the container engine, the
# local server over HTTP, real kernels and JupyterLab in headless Chromium.
# Sets up whatever is missing first (scripts/setup.sh), so it works on a
# fresh machine. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
OC_SETUP_BROWSER=1 scripts/setup.sh
export CONTAINERS_CONF="${CONTAINERS_CONF:-$PWD/oc_jupyter/local/containers.conf}"
exec .venv/bin/python -m pytest "$@"
