#!/usr/bin/env bash
# setup_rootless.sh -- start (idempotently) a rootless Docker engine owned by the
# CI user (see setup_user.sh, run automatically if the user is missing), using
# Debian's rootlesskit + slirp4netns + uidmap and docker.io's dockerd-rootless.sh.
#
# Usage (as root):  ./setup_rootless.sh
#   stdout: exactly one line  DOCKER_HOST=unix:///run/user/<uid>/docker.sock
#   stderr: progress, timing, and on failure the tail of the daemon log.
#   Also writes /run/looplab-rootless/<user>/env (shell-sourceable):
#     DOCKER_HOST, LOOPLAB_ROOTLESS_USER, LOOPLAB_ROOTLESS_UID, LOOPLAB_ROOTLESS_XDG,
#     LOOPLAB_ROOTLESS_DATA, LOOPLAB_ROOTLESS_PID (rootlesskit parent),
#     LOOPLAB_ROOTLESS_CHILD_PID (holds rootlesskit's user/net/mount namespaces:
#     `nsenter -t $LOOPLAB_ROOTLESS_CHILD_PID -n` as root reaches container bridge IPs),
#     LOOPLAB_ROOTLESS_USERNS, LOOPLAB_ROOTLESS_LOG, LOOPLAB_ROOTLESS_PORT_DRIVER.
# Configuration: see the variables documented in _common.sh.
# If an engine started by this script is already healthy, it is reused (same output).
# Stop everything with ./teardown_rootless.sh.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=_common.sh
. "$here/_common.sh"
require_root
t_start="$(now_ms)"

port_driver="${LOOPLAB_ROOTLESS_PORT_DRIVER:-builtin}"
case "$port_driver" in builtin|slirp4netns) ;; *) die "LOOPLAB_ROOTLESS_PORT_DRIVER must be builtin or slirp4netns, got '$port_driver'";; esac
storage_driver="${LOOPLAB_ROOTLESS_STORAGE_DRIVER:-}"
timeout_s="${LOOPLAB_ROOTLESS_TIMEOUT:-60}"
case "$timeout_s" in ''|*[!0-9]*) die "LOOPLAB_ROOTLESS_TIMEOUT must be an integer number of seconds";; esac

ensure_pkgs docker:docker.io "$LOOPLAB_DOCKERD_ROOTLESS_SH:docker.io" dockerd:docker.io \
    rootlesskit:rootlesskit slirp4netns:slirp4netns newuidmap:uidmap newgidmap:uidmap \
    setfacl:acl nsenter:util-linux iptables:iptables
[ -x "$LOOPLAB_DOCKERD_ROOTLESS_SH" ] || die "$LOOPLAB_DOCKERD_ROOTLESS_SH missing (package docker.io)"
if [ "$storage_driver" = fuse-overlayfs ]; then ensure_pkgs fuse-overlayfs:fuse-overlayfs; fi

if ! user_exists; then
    log "user $LOOPLAB_CI_USER missing: running setup_user.sh"
    "$here/setup_user.sh" >&2
fi
uid="$(user_uid)"
home="$(user_home)"
xdg="${LOOPLAB_ROOTLESS_XDG:-/run/user/$uid}"
data="${LOOPLAB_ROOTLESS_DATA:-$home/.local/share/looplab-rootless-docker}"
sock="$xdg/docker.sock"
docker_host="unix://$sock"
rk_state="$xdg/looplab-rootlesskit"       # rootlesskit --state-dir (api.sock, child_pid)
launch_pidfile="$xdg/looplab-rootlesskit.pid"
log_file="$LOOPLAB_STATE_DIR/dockerd.log"
env_file="$LOOPLAB_STATE_DIR/env"
[ "${#sock}" -lt 100 ] || die "socket path too long for AF_UNIX: $sock"

# what must match for a running engine to be reused
config="port=$port_driver;storage=$storage_driver;xdg=$xdg;data=$data;args=${LOOPLAB_ROOTLESS_DOCKERD_ARGS:-}"

engine_answers() {  # true if the socket answers docker info and says rootless
    local so
    so="$(DOCKER_HOST="$docker_host" timeout 10 docker info --format '{{json .SecurityOptions}}' 2>/dev/null)" || return 1
    case "$so" in *name=rootless*) return 0;; *) return 1;; esac
}

# ---- reuse a healthy engine started earlier by this script ----------------------
if [ -f "$env_file" ]; then
    # shellcheck disable=SC1090
    prev_pid="$(. "$env_file"; echo "${LOOPLAB_ROOTLESS_PID:-}")"
    # shellcheck disable=SC1090
    prev_config="$(. "$env_file"; echo "${LOOPLAB_ROOTLESS_CONFIG:-}")"
    if [ -n "$prev_pid" ] && kill -0 "$prev_pid" 2>/dev/null && engine_answers \
        && [ "$prev_config" = "$config" ]; then
        log "rootless engine already running (rootlesskit pid $prev_pid), reusing"
        echo "DOCKER_HOST=$docker_host"
        exit 0
    fi
fi
if [ -d "$LOOPLAB_STATE_DIR" ]; then
    log "stale or differently configured rootless engine state found: tearing it down first"
    "$here/teardown_rootless.sh"
fi
if [ -S "$sock" ] && engine_answers; then
    die "an engine not started by this script already listens on $sock; run teardown_rootless.sh or stop it"
fi

# ---- prerequisites ---------------------------------------------------------------
grep -q "^${LOOPLAB_CI_USER}:\|^${uid}:" /etc/subuid 2>/dev/null || die "no /etc/subuid entry for $LOOPLAB_CI_USER (run setup_user.sh)"
grep -q "^${LOOPLAB_CI_USER}:\|^${uid}:" /etc/subgid 2>/dev/null || die "no /etc/subgid entry for $LOOPLAB_CI_USER (run setup_user.sh)"
if ! err="$(as_user unshare --user true 2>&1)"; then
    die "unprivileged user namespaces do not work for $LOOPLAB_CI_USER: $err (check user.max_user_namespaces / kernel.unprivileged_userns_clone)"
fi

install -d -m 0755 "$LOOPLAB_STATE_BASE"
install -d -m 0700 "$LOOPLAB_STATE_DIR"
: > "$LOOPLAB_STATE_DIR/created"   # list of things to undo, one KEY=VALUE a line

# slirp4netns / rootlesskit open /dev/net/tun as the user (inside its user namespace).
# On this VM kind /dev/net/tun is 0600 root:root ("open: Permission denied" otherwise):
# grant just this user rw with an ACL, undone by teardown_rootless.sh.
grant_dev() {
    local dev="$1"
    [ -e "$dev" ] || die "$dev does not exist"
    if as_user test -r "$dev" -a -w "$dev"; then return 0; fi
    log "granting $LOOPLAB_CI_USER rw on $dev via ACL (was $(stat -c '%a %U:%G' "$dev"))"
    setfacl -m "u:${uid}:rw" "$dev" || die "setfacl on $dev failed"
    echo "acl=$dev" >> "$LOOPLAB_STATE_DIR/created"
    as_user test -r "$dev" -a -w "$dev" || die "$LOOPLAB_CI_USER still cannot open $dev after setfacl"
}
grant_dev /dev/net/tun
if [ "$storage_driver" = fuse-overlayfs ]; then grant_dev /dev/fuse; fi

if [ ! -d "$xdg" ]; then
    install -d -m 0700 -o "$uid" -g "$(id -g "$LOOPLAB_CI_USER")" "$xdg"
    echo "xdg_created=$xdg" >> "$LOOPLAB_STATE_DIR/created"
else
    [ "$(stat -c %u "$xdg")" = "$uid" ] || die "$xdg exists but is not owned by $LOOPLAB_CI_USER"
fi
as_user mkdir -p "$data" || die "cannot create data root $data as $LOOPLAB_CI_USER"
rm -rf "$rk_state" "$launch_pidfile"

# ---- start ------------------------------------------------------------------------
dockerd_args=(--data-root "$data")
[ -n "$storage_driver" ] && dockerd_args+=(--storage-driver "$storage_driver")
if [ -n "${LOOPLAB_ROOTLESS_DOCKERD_ARGS:-}" ]; then
    read -r -a extra <<< "$LOOPLAB_ROOTLESS_DOCKERD_ARGS"
    dockerd_args+=("${extra[@]}")
fi
: > "$log_file"
log "starting rootless dockerd as $LOOPLAB_CI_USER (port driver $port_driver, data root $data, log $log_file)"
# setsid: own session, survives this script. The inner sh records its pid, then
# execs dockerd-rootless.sh, which execs rootlesskit: that pid is rootlesskit's.
# shellcheck disable=SC2016
setsid runuser -u "$LOOPLAB_CI_USER" -- env -i \
    HOME="$home" USER="$LOOPLAB_CI_USER" LOGNAME="$LOOPLAB_CI_USER" LANG=C.UTF-8 \
    PATH=/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin \
    XDG_RUNTIME_DIR="$xdg" \
    DOCKERD_ROOTLESS_ROOTLESSKIT_PORT_DRIVER="$port_driver" \
    DOCKERD_ROOTLESS_ROOTLESSKIT_FLAGS="--state-dir=$rk_state" \
    sh -c 'echo $$ > "$1"; shift; exec "$@"' sh "$launch_pidfile" \
    "$LOOPLAB_DOCKERD_ROOTLESS_SH" "${dockerd_args[@]}" \
    < /dev/null >> "$log_file" 2>&1 &
launcher=$!

fail() {
    log "daemon log tail ($log_file):"
    grep -v '^+ ' "$log_file" | tail -n 25 >&2 || true
    "$here/teardown_rootless.sh" >&2 || true
    die "$*"
}
deadline=$(( $(now_ms) + timeout_s * 1000 ))
rk_pid=""
until engine_answers; do
    kill -0 "$launcher" 2>/dev/null || fail "rootless dockerd exited during startup"
    [ "$(now_ms)" -ge "$deadline" ] && fail "rootless dockerd did not answer on $sock within ${timeout_s}s"
    sleep 0.2
done
rk_pid="$(cat "$launch_pidfile" 2>/dev/null || true)"
child_pid="$(cat "$rk_state/child_pid" 2>/dev/null || true)"
if [ -z "$rk_pid" ] || [ -z "$child_pid" ]; then fail "engine answers but rootlesskit pid files are missing ($launch_pidfile, $rk_state/child_pid)"; fi
userns="$(readlink "/proc/$child_pid/ns/user")"

cat > "$env_file" <<EOF
DOCKER_HOST=$docker_host
LOOPLAB_ROOTLESS_USER=$LOOPLAB_CI_USER
LOOPLAB_ROOTLESS_UID=$uid
LOOPLAB_ROOTLESS_XDG=$xdg
LOOPLAB_ROOTLESS_DATA=$data
LOOPLAB_ROOTLESS_PID=$rk_pid
LOOPLAB_ROOTLESS_CHILD_PID=$child_pid
LOOPLAB_ROOTLESS_USERNS='$userns'
LOOPLAB_ROOTLESS_LOG=$log_file
LOOPLAB_ROOTLESS_PORT_DRIVER=$port_driver
LOOPLAB_ROOTLESS_CONFIG='$config'
EOF
driver="$(DOCKER_HOST="$docker_host" docker info --format '{{.Driver}}' 2>/dev/null || echo '?')"
log "rootless engine up in $(( $(now_ms) - t_start )) ms: rootlesskit pid $rk_pid, child pid $child_pid, storage $driver"
echo "DOCKER_HOST=$docker_host"
