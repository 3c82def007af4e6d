#!/usr/bin/env bash
# Sets up everything oc_jupyter needs on a fresh Debian/Ubuntu machine, idempotently:
# system packages (container engine, base-image bootstrap tools, Node.js), the
# virtual environment at .venv/, the package with its JupyterLab extension, and
# the local base image. Safe to run again: each step is skipped when done.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

log() { printf '\033[1m==> %s\033[0m\n' "$*"; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        echo "Installing system packages needs root: run this script as root or install sudo." >&2; exit 1
    fi
}

# Each entry: a command that must exist, then the Debian package providing it.
need=()
want() { command -v "$1" >/dev/null 2>&1 || need+=("$2"); }
if ! command -v podman >/dev/null 2>&1 && ! docker info >/dev/null 2>&1; then need+=(podman); fi
if command -v podman >/dev/null 2>&1 || [[ " ${need[*]-} " == *" podman "* ]]; then want runc runc; fi
# mmdebstrap builds the base image, as root or (with uidmap's newuidmap) as a normal user.
want mmdebstrap mmdebstrap
want newuidmap uidmap
# The base image is bootstrapped from Debian's archive, whose signing keys Ubuntu does not ship by default.
[ -f /usr/share/keyrings/debian-archive-keyring.gpg ] || need+=(debian-archive-keyring)
want node nodejs
want npm npm
want git git
if [ "${OC_SETUP_BROWSER:-0}" = 1 ]; then want chromium chromium; fi
python_ok() { "$1" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 10))' >/dev/null 2>&1; }
PYTHON=${PYTHON:-python3}
python_ok "$PYTHON" || need+=(python3 python3-venv)

if [ ${#need[@]} -gt 0 ]; then
    log "Installing system packages: ${need[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    # With recommends: podman needs them for --init (catatonit), its default network (netavark,
    # iptables) and rootless use (uidmap, slirp4netns, fuse-overlayfs).
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" ca-certificates
fi

if [ ! -x .venv/bin/python ]; then
    log "Creating .venv"
    "$PYTHON" -m venv .venv
fi
stamp=.venv/.oc-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ labextension/package.json -nt "$stamp" ] 2>/dev/null; then
    log "Installing oc_jupyter into .venv (editable, every extra, with test and lint tools)"
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e ".[all,test,dev]"
    touch "$stamp"
fi
if [ -x scripts/setup-lab.sh ]; then scripts/setup-lab.sh; fi

# Idempotent: rewrites the kernelspec in .venv, so it always points at this environment's Python.
log "Installing the OpenComputer kernel for the base image"
.venv/bin/oc-jupyter kernel install --name oc-base >/dev/null

log "Preparing the local base image (built once from Debian packages, then reused)"
.venv/bin/oc-jupyter base build

log "Set-up complete."
