#!/usr/bin/env bash
# teardown_rootless.sh -- stop the rootless engine started by setup_rootless.sh and
# remove everything it created, idempotently (exit 0 if there was nothing):
#   containers of that engine (docker rm -f), rootlesskit + slirp4netns + dockerd +
#   containerd + shims (SIGTERM, bounded wait, then SIGKILL by pid), its data root,
#   its runtime dir (if the setup created it, else only its own entries in it),
#   rootlesskit temp dirs of the user, the /dev/net/tun (/dev/fuse) ACL, and
#   /run/looplab-rootless/<user>.
# Leaves the user itself alone (teardown_user.sh removes it and calls this first).
#
# Usage (as root):  ./teardown_rootless.sh     (same environment variables as setup)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=_common.sh
. "$here/_common.sh"
require_root
t_start="$(now_ms)"

# Defaults as in setup_rootless.sh, overridden by what the setup recorded.
uid=""; home=""
if user_exists; then uid="$(user_uid)"; home="$(user_home)"; fi
LOOPLAB_ROOTLESS_UID="$uid"
LOOPLAB_ROOTLESS_XDG="${LOOPLAB_ROOTLESS_XDG:-${uid:+/run/user/$uid}}"
LOOPLAB_ROOTLESS_DATA="${LOOPLAB_ROOTLESS_DATA:-${home:+$home/.local/share/looplab-rootless-docker}}"
LOOPLAB_ROOTLESS_PID=""; LOOPLAB_ROOTLESS_CHILD_PID=""; LOOPLAB_ROOTLESS_USERNS=""
if [ -f "$LOOPLAB_STATE_DIR/env" ]; then
    # shellcheck disable=SC1091
    . "$LOOPLAB_STATE_DIR/env"
fi
uid="${LOOPLAB_ROOTLESS_UID:-$uid}"
xdg="$LOOPLAB_ROOTLESS_XDG"
data="$LOOPLAB_ROOTLESS_DATA"

if [ -z "$uid" ] && [ ! -d "$LOOPLAB_STATE_DIR" ]; then
    log "user $LOOPLAB_CI_USER does not exist and no state: nothing to do"
    exit 0
fi

# rootlesskit pid: recorded, else the launch pidfile (startup failure), else search
rk_pid="${LOOPLAB_ROOTLESS_PID:-}"
if [ -z "$rk_pid" ] && [ -n "$xdg" ] && [ -f "$xdg/looplab-rootlesskit.pid" ]; then
    rk_pid="$(cat "$xdg/looplab-rootlesskit.pid" 2>/dev/null || true)"
fi
if [ -z "$rk_pid" ] && [ -n "$uid" ]; then
    rk_pid="$(pgrep -U "$uid" -x rootlesskit 2>/dev/null | head -n1 || true)"
fi
# only ever signal a rootlesskit of our user
if [ -n "$rk_pid" ]; then
    if [ ! -d "/proc/$rk_pid" ] || [ "$(stat -c %u "/proc/$rk_pid")" != "$uid" ] \
        || ! tr '\0' ' ' < "/proc/$rk_pid/cmdline" 2>/dev/null | grep -q rootlesskit; then
        rk_pid=""
    fi
fi
child_pid="${LOOPLAB_ROOTLESS_CHILD_PID:-}"
[ -z "$child_pid" ] && [ -n "$xdg" ] && child_pid="$(cat "$xdg/looplab-rootlesskit/child_pid" 2>/dev/null || true)"
userns="${LOOPLAB_ROOTLESS_USERNS:-}"
[ -z "$userns" ] && [ -n "$child_pid" ] && userns="$(readlink "/proc/$child_pid/ns/user" 2>/dev/null || true)"

if [ -n "$rk_pid" ]; then
    sock="$xdg/docker.sock"
    # 1. remove all containers of this engine (fast SIGKILL; a graceful dockerd
    #    shutdown would otherwise wait ~10 s per container ignoring SIGTERM)
    if [ -S "$sock" ]; then
        ids="$(DOCKER_HOST="unix://$sock" timeout 15 docker ps -aq 2>/dev/null || true)"
        if [ -n "$ids" ]; then
            log "removing $(echo "$ids" | wc -l) container(s) of the rootless engine"
            # shellcheck disable=SC2086
            DOCKER_HOST="unix://$sock" timeout 60 docker rm -f $ids >/dev/null 2>&1 || log "warning: docker rm -f failed; continuing"
        fi
    fi
    # 2. SIGTERM rootlesskit: it forwards to dockerd, which stops containerd; slirp4netns follows
    log "stopping rootlesskit pid $rk_pid"
    kill -TERM "$rk_pid" 2>/dev/null || true
    if ! wait_gone 30 "$rk_pid"; then
        log "rootlesskit $rk_pid ignored SIGTERM for 30s: SIGKILL"
        kill -KILL "$rk_pid" 2>/dev/null || true
        wait_gone 5 "$rk_pid" || die "rootlesskit $rk_pid survives SIGKILL"
    fi
fi

# 3. anything left in the engine's user namespace (shims, containers) or any
#    rootlesskit/slirp4netns/dockerd/containerd of the user: SIGKILL by pid
leftovers=()
if [ -n "$userns" ]; then mapfile -t -O 0 leftovers < <(pids_in_userns "$userns"); fi
if [ -n "$uid" ]; then
    for name in rootlesskit slirp4netns dockerd containerd containerd-shim-runc-v2 \
                rootlesskit-docker-proxy docker-proxy dockerd-rootless.sh; do
        while read -r p; do [ -n "$p" ] && leftovers+=("$p"); done < <(pgrep -U "$uid" -x "$name" 2>/dev/null || true)
    done
fi
if [ "${#leftovers[@]}" -gt 0 ]; then
    mapfile -t leftovers < <(printf '%s\n' "${leftovers[@]}" | sort -un)
    log "killing leftover processes: ${leftovers[*]}"
    kill -KILL "${leftovers[@]}" 2>/dev/null || true
    wait_gone 10 "${leftovers[@]}" || die "leftover processes survive SIGKILL: ${leftovers[*]}"
fi

# 4. files
safe_rm() {  # rm -rf a path that must be absolute and not a top-level dir
    local p="$1"
    [ -n "$p" ] || return 0
    case "$p" in /*/*) ;; *) die "refusing to remove suspicious path '$p'";; esac
    [ -e "$p" ] || [ -L "$p" ] || return 0
    rm -rf --one-file-system -- "$p" || die "cannot remove $p"
}
safe_rm "$data"
if [ -n "$xdg" ]; then
    if grep -qx "xdg_created=$xdg" "$LOOPLAB_STATE_DIR/created" 2>/dev/null; then
        safe_rm "$xdg"
    else
        for e in docker docker.sock docker.pid looplab-rootlesskit looplab-rootlesskit.pid dockerd-rootless; do
            safe_rm "$xdg/$e"
        done
    fi
fi
if [ -n "$uid" ]; then
    for d in /tmp/rootlesskit*; do
        [ -d "$d" ] && [ "$(stat -c %u "$d")" = "$uid" ] && safe_rm "$d"
    done
fi

# 5. device ACLs added by setup
if [ -f "$LOOPLAB_STATE_DIR/created" ]; then
    while IFS='=' read -r key val; do
        [ "$key" = acl ] || continue
        [ -e "$val" ] || continue
        if [ -n "$uid" ]; then setfacl -x "u:$uid" "$val" 2>/dev/null || true; fi
        # no named entries left: drop the ACL entirely (mode back to what it was)
        if ! getfacl -cp "$val" 2>/dev/null | grep -qE '^(user|group):[^:]+:'; then
            setfacl -b "$val" || true
        fi
        log "removed ACL of $LOOPLAB_CI_USER on $val (now $(stat -c '%a' "$val"))"
    done < "$LOOPLAB_STATE_DIR/created"
fi
safe_rm "$LOOPLAB_STATE_DIR"
rmdir "$LOOPLAB_STATE_BASE" 2>/dev/null || true

# 6. verify
if [ -n "$uid" ] && pgrep -U "$uid" -x rootlesskit >/dev/null 2>&1; then
    die "a rootlesskit of $LOOPLAB_CI_USER is still running"
fi
[ -n "$xdg" ] && [ -e "$xdg/docker.sock" ] && die "$xdg/docker.sock still exists"
log "rootless engine torn down in $(( $(now_ms) - t_start )) ms"
