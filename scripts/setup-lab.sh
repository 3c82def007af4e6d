#!/usr/bin/env bash
# Finishes the JupyterLab side of the editable install, idempotently: rebuilds
# the front end when its sources are newer than the built assets, links the
# assets into .venv as JupyterLab's development install does, and checks that
# JupyterLab and the Jupyter server both report the extension enabled and OK.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
export PATH="$ROOT/.venv/bin:$PATH"

log() { printf '\033[1m==> %s\033[0m\n' "$*"; }

built=oc_jupyter/labextension/package.json
if [ ! -f "$built" ] || [ -n "$(find labextension/src labextension/style labextension/package.json -newer "$built" -print -quit)" ]; then
    log "Building the JupyterLab extension"
    (cd labextension && jlpm install && jlpm build)
fi

prefix=$(python -c 'import sys; print(sys.prefix)')
link="$prefix/share/jupyter/labextensions/oc-jupyter"
if [ "$(readlink -f "$link")" != "$ROOT/oc_jupyter/labextension" ]; then
    log "Linking the JupyterLab extension into .venv"
    jupyter labextension develop --overwrite . >/dev/null
fi

# Read the whole listing first: grep -q closing the pipe early would fail it under pipefail.
labext=$(jupyter labextension list 2>&1)
if ! grep -q 'oc-jupyter.*enabled.*OK' <<<"$labext"; then
    echo "JupyterLab does not list the oc-jupyter extension as enabled and OK:" >&2
    echo "$labext" >&2
    exit 1
fi
serverext=$(jupyter server extension list 2>&1)
if ! grep -q 'oc_jupyter .*OK' <<<"$serverext"; then
    echo "The Jupyter server does not load the oc_jupyter extension:" >&2
    echo "$serverext" >&2
    exit 1
fi
