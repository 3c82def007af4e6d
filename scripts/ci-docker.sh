#!/usr/bin/env bash
# Run the engine-facing tests with docker as the container engine, beside podman.
#
# As root: installs Debian's docker.io if no dockerd is present, starts a
# private dockerd (own data root, exec root, socket and pidfile, so it never
# touches a system docker or podman's storage), gives it the base image, runs
# the tests with OC_JUPYTER_ENGINE=/usr/bin/docker, then stops the daemon.
# Safe to run again: a daemon left over from an interrupted run is stopped
# first, and its data root is reused (the base image then loads instantly).
#
#   scripts/ci-docker.sh                 # the default subset
#   scripts/ci-docker.sh -x -q                         # the default subset, with pytest options
#   scripts/ci-docker.sh tests/local -k snapshot       # other tests instead
#   OC_CI_DOCKER_KEEP=1 scripts/ci-docker.sh        # keep the data root (images) afterwards
set -euo pipefail
cd "$(dirname "$0")/.."

ROOT_DIR=/var/lib/oc-ci-docker
RUN_DIR=/run/oc-ci-docker
SOCKET="$RUN_DIR/docker.sock"
PIDFILE="$RUN_DIR/dockerd.pid"
# The Debian package's client; /usr/local/bin/docker may be another (client-only) build.
DOCKER=/usr/bin/docker
DOCKERD=/usr/sbin/dockerd
BASE_IMAGE=localhost/oc-jupyter/base:bookworm-1
# The project's virtual environment (scripts/setup.sh makes it); PYTHON names another.
PYTHON="${PYTHON:-$PWD/.venv/bin/python}"

if [ "$(id -u)" != 0 ]; then
    echo "scripts/ci-docker.sh starts a docker daemon and must run as root (for example: sudo $0)." >&2
    exit 2
fi

if [ ! -x "$PYTHON" ]; then
    echo "No Python at $PYTHON; run scripts/setup.sh first, or set PYTHON to the venv's python." >&2
    exit 2
fi

if [ ! -x "$DOCKERD" ] || [ ! -x "$DOCKER" ]; then
    echo "== installing docker.io (dockerd and /usr/bin/docker)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io >/dev/null
    # The package enables a system daemon on the default socket; this script uses its own.
    if command -v systemctl >/dev/null && systemctl is-system-running >/dev/null 2>&1; then
        systemctl disable --now docker.service docker.socket >/dev/null 2>&1 || true
    fi
fi

stop_daemon() {
    if [ -f "$PIDFILE" ]; then
        pid=$(cat "$PIDFILE")
        if kill -0 "$pid" 2>/dev/null; then
            # Sandboxes the tests left behind go first, so dockerd stops without waiting on them.
            ids=$(DOCKER_HOST="unix://$SOCKET" "$DOCKER" ps -aq --filter label=oc-jupyter.instance 2>/dev/null || true)
            [ -z "$ids" ] || DOCKER_HOST="unix://$SOCKET" "$DOCKER" rm -f $ids >/dev/null 2>&1 || true
            kill "$pid"
            for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        fi
        rm -f "$PIDFILE"
    fi
}

cleanup() {
    stop_daemon
    if [ -z "${OC_CI_DOCKER_KEEP:-}" ]; then
        rm -rf "$ROOT_DIR"
    fi
    rm -rf "$RUN_DIR"
}

stop_daemon
mkdir -p "$ROOT_DIR/data" "$RUN_DIR/exec"
trap cleanup EXIT

echo "== starting a private dockerd on $SOCKET"
# Its own bridge name keeps it clear of a system docker0; podman uses cni-podman*/netavark bridges.
"$DOCKERD" --data-root "$ROOT_DIR/data" --exec-root "$RUN_DIR/exec" --pidfile "$PIDFILE" \
    --host "unix://$SOCKET" --bip 172.31.250.1/24 \
    >"$ROOT_DIR/dockerd.log" 2>&1 &
export DOCKER_HOST="unix://$SOCKET"
for _ in $(seq 1 120); do
    "$DOCKER" version >/dev/null 2>&1 && break
    sleep 0.5
done
if ! "$DOCKER" version >/dev/null 2>&1; then
    echo "dockerd did not answer on $SOCKET within 60 s; its log follows:" >&2
    tail -n 30 "$ROOT_DIR/dockerd.log" >&2
    exit 1
fi
echo "docker $("$DOCKER" version --format '{{.Server.Version}}') answers (data root $ROOT_DIR/data)"

if ! "$DOCKER" image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    if podman image exists "$BASE_IMAGE" 2>/dev/null; then
        echo "== loading $BASE_IMAGE from podman"
        podman save "$BASE_IMAGE" | "$DOCKER" load -q
    else
        echo "== building $BASE_IMAGE with docker"
        OC_JUPYTER_ENGINE="$DOCKER" "$PYTHON" -m oc_jupyter.cli base build
    fi
fi

export OC_JUPYTER_ENGINE="$DOCKER"
# Paths given choose the tests; options alone go with the default subset.
paths=0
for arg in "$@"; do case "$arg" in -*) ;; *) paths=1 ;; esac; done
if [ "$paths" = 0 ]; then
    # The tests that drive the engine: container lifecycle, limits and pause, builds and
    # snapshots, the warm pool, the server daemon, the in-sandbox agent, the SDK against the
    # server, the security boundary.
    set -- tests/local/test_engine.py tests/local/test_sandboxes.py tests/local/test_limits.py \
        tests/local/test_snapshots.py tests/local/test_builder.py tests/local/test_warm_pool.py \
        tests/local/test_daemon.py \
        tests/agent/test_agent_exec.py tests/agent/test_agent_files.py tests/agent/test_agent_faults.py \
        tests/sdk tests/security/test_sec_limits.py tests/security/test_sec_isolation.py "$@"
fi
echo "== pytest with OC_JUPYTER_ENGINE=$OC_JUPYTER_ENGINE DOCKER_HOST=$DOCKER_HOST"
start=$(date +%s)
status=0
PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" -m pytest -p no:cacheprovider "$@" || status=$?
echo "== docker run took $(( $(date +%s) - start )) s (pytest exit $status)"
exit "$status"
