# shellcheck shell=bash disable=SC2034
# Shared helpers for setup_user.sh / teardown_user.sh / setup_rootless.sh /
# teardown_rootless.sh.  Sourced, never executed.  Requires bash, root.
#
# Configuration (environment variables, all optional):
#   LOOPLAB_CI_USER                 non-root user to create/use      (default: looplab-ci)
#   LOOPLAB_ROOTLESS_XDG            XDG_RUNTIME_DIR of that user     (default: /run/user/<uid>)
#   LOOPLAB_ROOTLESS_DATA           data root of the rootless engine (default: <home>/.local/share/looplab-rootless-docker)
#   LOOPLAB_ROOTLESS_TIMEOUT        seconds to wait for the engine   (default: 60)
#   LOOPLAB_ROOTLESS_PORT_DRIVER    builtin | slirp4netns            (default: builtin)
#   LOOPLAB_ROOTLESS_STORAGE_DRIVER overlay2 | fuse-overlayfs | vfs  (default: dockerd's choice, overlay2 here)
#   LOOPLAB_ROOTLESS_DOCKERD_ARGS   extra dockerd arguments, word-split (e.g. "--bip 10.213.250.1/24")
#   LOOPLAB_NO_APT=1                never apt-get install missing packages; fail instead

LOOPLAB_CI_USER="${LOOPLAB_CI_USER:-looplab-ci}"
LOOPLAB_STATE_BASE="/run/looplab-rootless"
LOOPLAB_STATE_DIR="${LOOPLAB_STATE_BASE}/${LOOPLAB_CI_USER}"
LOOPLAB_DOCKERD_ROOTLESS_SH="/usr/share/docker.io/contrib/dockerd-rootless.sh"

_ll_prog="$(basename "$0")"
log() { printf '[%s] %s\n' "$_ll_prog" "$*" >&2; }
die() { printf '[%s] ERROR: %s\n' "$_ll_prog" "$*" >&2; exit 1; }

require_root() {
    [ "$(id -u)" = 0 ] || die "must run as root (current uid $(id -u))"
}

# now_ms: monotonic-ish wall clock in milliseconds (for durations / deadlines)
now_ms() { date +%s%3N; }

# ensure_pkgs CMD:PKG ...  -- apt-get install the packages whose command is missing
ensure_pkgs() {
    local missing=() spec cmd pkg
    for spec in "$@"; do
        cmd="${spec%%:*}"; pkg="${spec#*:}"
        if [ "${cmd#/}" != "$cmd" ]; then [ -e "$cmd" ] && continue
        else command -v "$cmd" >/dev/null 2>&1 && continue; fi
        missing+=("$pkg")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    if [ "${LOOPLAB_NO_APT:-0}" = 1 ]; then
        die "missing packages: ${missing[*]} (LOOPLAB_NO_APT=1, not installing)"
    fi
    log "installing missing packages: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 \
        || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 \
        || die "apt-get install ${missing[*]} failed"
}

user_exists() { getent passwd "$LOOPLAB_CI_USER" >/dev/null 2>&1; }
user_uid()    { id -u "$LOOPLAB_CI_USER"; }
user_home()   { getent passwd "$LOOPLAB_CI_USER" | cut -d: -f6; }

# as_user CMD...: run CMD as the CI user with a clean, predictable environment
as_user() {
    local home; home="$(user_home)"
    runuser -u "$LOOPLAB_CI_USER" -- env -i \
        HOME="$home" USER="$LOOPLAB_CI_USER" LOGNAME="$LOOPLAB_CI_USER" \
        PATH=/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin \
        LANG=C.UTF-8 "$@"
}

# pids_in_userns INODE_LINK: print pids whose /proc/PID/ns/user readlink equals INODE_LINK
pids_in_userns() {
    local want="$1" p link
    for p in /proc/[0-9]*; do
        link="$(readlink "$p/ns/user" 2>/dev/null)" || continue
        [ "$link" = "$want" ] && echo "${p#/proc/}"
    done
    return 0
}

# pids_of_user: pids of processes whose real uid is the CI user's uid
pids_of_user() {
    local uid; uid="$(user_uid)"
    pgrep -U "$uid" 2>/dev/null || true
}

# wait_gone TIMEOUT_S PID...: wait until all PIDs are gone; returns 1 on timeout
wait_gone() {
    local timeout_s="$1"; shift
    local deadline=$(( $(now_ms) + timeout_s * 1000 )) p alive
    while :; do
        alive=0
        for p in "$@"; do kill -0 "$p" 2>/dev/null && { alive=1; break; }; done
        [ "$alive" = 0 ] && return 0
        [ "$(now_ms)" -ge "$deadline" ] && return 1
        sleep 0.1
    done
}
