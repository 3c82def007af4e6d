#!/usr/bin/env bash
# CI job: oc_jupyter as a normal user installs it, from nothing.
#
# Run as root. Creates a fresh user (default `ocuser`) with subordinate ids,
# builds the wheel from this checkout (on a copy, so the tree is untouched),
# and as that user, in a login shell without systemd: installs the wheel with
# [all] into a new venv, runs `oc-jupyter doctor`, applies the storage fix the
# doctor gives (vfs -> overlay), and runs `oc-jupyter demo` on rootless podman,
# which also builds the base image without root. Checks what the user sees,
# prints timings, and removes the user with everything it made, also when a
# step fails. Safe to run again: a user left by an interrupted run is removed first.
#
#   scripts/ci-rootless.sh            # OC_CI_USER=name to pick another user name
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
CI_USER=${OC_CI_USER:-ocuser}
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
WORK=/tmp/oc-ci-rootless
SUBID_START=${OC_CI_SUBID_START:-400000}

[ "$(id -u)" -eq 0 ] || { echo "ci-rootless.sh creates a user, so it runs as root: sudo $0" >&2; exit 1; }
for tool in podman mmdebstrap newuidmap newgidmap runuser useradd; do
    command -v "$tool" >/dev/null || {
        echo "ci-rootless.sh needs $tool; install it with \`apt-get install podman mmdebstrap uidmap\`." >&2; exit 1; }
done

started=$(date +%s)
step_started=$started
log() { printf '\033[1m==> %s\033[0m\n' "$*"; }
timing() {
    local now; now=$(date +%s)
    printf '    (%s: %d s; %d s so far)\n' "$1" $((now - step_started)) $((now - started))
    step_started=$now
}

remove_user() {
    id "$CI_USER" >/dev/null 2>&1 || return 0
    local uid; uid=$(id -u "$CI_USER")
    if [ -x "/home/$CI_USER/venv/bin/oc-jupyter" ]; then
        as_user "oc-jupyter server stop" >/dev/null 2>&1 || true
    fi
    # Containers and images live in the user's own store under its home; the reset also
    # unmounts overlay layers so the home can be deleted.
    as_user "podman rm -af -t 0; podman rmi -af; podman system reset --force" >/dev/null 2>&1 || true
    # What is left (podman's rootless pause process, conmon) belongs to this user only.
    local pids; pids=$(pgrep -u "$uid" || true)
    if [ -n "$pids" ]; then kill $pids 2>/dev/null || true; sleep 1; kill -9 $(pgrep -u "$uid") 2>/dev/null || true; fi
    userdel -r "$CI_USER" >/dev/null 2>&1 || userdel -f -r "$CI_USER" >/dev/null 2>&1 || true
    sed -i "/^$CI_USER:/d" /etc/subuid /etc/subgid
    rm -rf "/tmp/run-$uid" "/tmp/podman-run-$uid" "/tmp/containers-user-$uid"
}

as_user() {
    # A login shell as systemd-logind would give it, minus the runtime folder, which
    # without systemd nobody creates: rootless podman keeps its sockets and locks there.
    local uid; uid=$(id -u "$CI_USER")
    runuser -l "$CI_USER" -c "export XDG_RUNTIME_DIR=/tmp/run-$uid PATH=\$HOME/venv/bin:\$PATH; $1"
}

cleanup() {
    local code=$?
    log "Cleaning up: removing $CI_USER with its containers, images and files"
    remove_user
    rm -rf "$WORK"
    timing cleanup
    if [ "$code" -eq 0 ]; then log "Rootless job passed in $(( $(date +%s) - started )) s"; else
        echo "Rootless job FAILED (exit $code) after $(( $(date +%s) - started )) s" >&2; fi
}

log "Starting from nothing: no user $CI_USER, no $WORK"
remove_user
rm -rf "$WORK"
trap cleanup EXIT
mkdir -p "$WORK/src" "$WORK/dist"
chmod 755 "$WORK"

log "Building the wheel from a copy of the checkout"
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' name; do
    [ -f "$name" ] && [ ! -L "$name" ] && printf '%s\0' "$name"
done | tar --null -T - -cf - | tar -C "$WORK/src" -xf -
if [ -d labextension/node_modules ]; then ln -s "$(readlink -f labextension/node_modules)" "$WORK/src/labextension/node_modules"; fi
PATH="$(dirname "$PYTHON"):$PATH" "$PYTHON" -m build --wheel --outdir "$WORK/dist" "$WORK/src" >"$WORK/build.log" 2>&1 \
    || { tail -30 "$WORK/build.log" >&2; exit 1; }
wheel=$(ls "$WORK"/dist/oc_jupyter-*.whl)
chmod 644 "$wheel"
echo "    $(basename "$wheel")"
timing wheel

log "Creating user $CI_USER with subordinate ids"
useradd --create-home --shell /bin/bash "$CI_USER"
usermod --add-subuids "$SUBID_START-$((SUBID_START + 65535))" --add-subgids "$SUBID_START-$((SUBID_START + 65535))" "$CI_USER"
uid=$(id -u "$CI_USER")
install -d -m 700 -o "$CI_USER" -g "$CI_USER" "/tmp/run-$uid"
as_user "podman system migrate"
timing user

log "As $CI_USER: pip install the wheel with [all] into a new venv"
as_user "python3 -m venv ~/venv && ~/venv/bin/pip install -q --disable-pip-version-check '$wheel[all]'"
timing install

log "As $CI_USER: oc-jupyter doctor"
set +e
doctor_out=$(as_user "oc-jupyter doctor" 2>&1); doctor_code=$?
set -e
echo "$doctor_out" | sed 's/^/    /'
[ "$doctor_code" -eq 0 ] || { echo "oc-jupyter doctor exited $doctor_code for a fresh rootless user" >&2; exit 1; }
grep -q "(rootless, as $CI_USER)" <<<"$doctor_out" || { echo "doctor did not report rootless podman" >&2; exit 1; }
as_user "oc-jupyter doctor --json" | "$PYTHON" -c '
import json, sys
report = json.load(sys.stdin)
checks = {c["name"]: c for c in report["checks"]}
assert report["ok"] is True, report
assert checks["engine"]["details"]["rootless"] is True, checks["engine"]
assert not checks["base image"]["details"]["present"], "a fresh user has no base image"
print("    doctor --json: ok; storage driver", checks["storage"]["details"]["driver"])
'
# What `su` without -l leaves behind: another user's runtime folder, which rootless podman refuses.
set +e
stale=$(as_user "XDG_RUNTIME_DIR=/root oc-jupyter doctor" 2>&1); stale_code=$?
set -e
[ "$stale_code" -eq 1 ] && grep -q "PROBLEM  engine        XDG_RUNTIME_DIR is /root" <<<"$stale" \
    || { echo "doctor did not name a foreign XDG_RUNTIME_DIR: $stale" >&2; exit 1; }
echo "    a foreign XDG_RUNTIME_DIR: doctor exits 1 and says: $(grep -m1 'fix:' <<<"$stale" | sed 's/^ *//')"
if grep -q "driver vfs" <<<"$doctor_out"; then
    log "As $CI_USER: the storage fix the doctor names"
    # With an image in the store the fix must ask first, and the command it suggests must work as written.
    as_user "tar -cf - -T /dev/null | podman import - localhost/oc-ci/empty:1" >/dev/null 2>&1
    set +e
    refused=$(as_user "oc-jupyter doctor --fix-storage" 2>&1); refused_code=$?
    set -e
    echo "$refused" | sed 's/^/    /'
    [ "$refused_code" -eq 1 ] && grep -q "holds 1 image(s) and 0 container(s)" <<<"$refused" \
        || { echo "--fix-storage did not refuse a store holding an image" >&2; exit 1; }
    suggested=$(grep -o '`[^`]*--fix-storage --force`' <<<"$refused" | tr -d '`')
    fix_out=$(as_user "$suggested" 2>&1) || { echo "\`$suggested\` failed: $fix_out" >&2; exit 1; }
    echo "$fix_out" | sed 's/^/    /'
    grep -q "now uses the overlay storage driver" <<<"$fix_out"
    as_user "oc-jupyter doctor" | grep -q "storage .*driver overlay" \
        || { echo "after --fix-storage the doctor still does not report overlay" >&2; exit 1; }
    as_user "cat ~/.config/containers/storage.conf" | sed 's/^/    storage.conf: /'
fi
timing doctor

log "As $CI_USER: oc-jupyter demo (builds the base image without root, then runs the quick start)"
set +e
as_user "cd ~ && oc-jupyter demo" >"$WORK/demo.log" 2>&1; demo_code=$?
set -e
sed 's/^/    /' "$WORK/demo.log" | tail -40
[ "$demo_code" -eq 0 ] || { echo "oc-jupyter demo exited $demo_code" >&2; exit 1; }
grep -Eq "^All [0-9]+ code cells ran" "$WORK/demo.log" || { echo "the demo did not report all cells ran" >&2; exit 1; }
base=$(as_user "python -c 'from oc_jupyter.local.baseimage import base_image_ref; print(base_image_ref())'")
as_user "podman image inspect --format '{{.Id}}' $base" >/dev/null \
    || { echo "the base image is not in $CI_USER's rootless store" >&2; exit 1; }
timing demo
