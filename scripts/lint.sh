#!/usr/bin/env bash
# Checks style without changing anything: ruff (lint and format), mypy, and the
# labextension's eslint and prettier. Exits non-zero if any check fails, after
# running them all. To fix what can be fixed automatically:
#   .venv/bin/ruff check --fix . && .venv/bin/ruff format .
#   (cd labextension && jlpm lint)
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BIN="${OC_JUPYTER_VENV:-$ROOT/.venv}/bin"
export PATH="$BIN:$PATH"

log() { printf '\033[1m==> %s\033[0m\n' "$*"; }
failed=()

check() {
    local name=$1
    shift
    log "$name"
    if ! "$@"; then
        failed+=("$name")
    fi
}

for tool in ruff mypy jlpm; do
    if ! command -v "$tool" >/dev/null; then
        echo "$tool is not installed in $BIN; run scripts/setup.sh (it installs the [dev] extra)." >&2
        exit 2
    fi
done

check "ruff check" ruff check .
check "ruff format --check" ruff format --check .
check "mypy" mypy
if [ ! -d labextension/node_modules ]; then
    (cd labextension && jlpm install >/dev/null)
fi
check "prettier --check (labextension)" bash -c "cd labextension && jlpm prettier:check"
check "eslint (labextension)" bash -c "cd labextension && jlpm eslint:check"

if [ ${#failed[@]} -gt 0 ]; then
    echo "Failed: ${failed[*]}" >&2
    exit 1
fi
log "All checks passed"
