#!/usr/bin/env bash
# setup_user.sh -- create (idempotently) a non-root CI user that may use the
# rootful Docker engine (member of group "docker"), with a home directory and
# /etc/subuid + /etc/subgid ranges (needed later by setup_rootless.sh).
#
# Usage (as root):  ./setup_user.sh
#   env LOOPLAB_CI_USER=<name> (default looplab-ci)
# stdout: one line "LOOPLAB_CI_USER=<name> UID=<uid> HOME=<home>"; logs go to stderr.
# Exit 0 when the user exists, is in group docker and `docker version` works as it.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=_common.sh
. "$here/_common.sh"
require_root

ensure_pkgs docker:docker.io runuser:util-linux newuidmap:uidmap
# the user's own venv of Debian's python3 (root's interpreter is not readable by others)
if ! /usr/bin/python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    [ "${LOOPLAB_NO_APT:-0}" = 1 ] && die "python3-venv is missing (LOOPLAB_NO_APT=1, not installing)"
    log "installing python3-venv"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >&2 \
        || die "apt-get install python3-venv failed"
fi

getent group docker >/dev/null || groupadd --system docker

if user_exists; then
    log "user $LOOPLAB_CI_USER exists"
else
    log "creating user $LOOPLAB_CI_USER"
    useradd --create-home --shell /bin/bash --groups docker "$LOOPLAB_CI_USER" \
        || die "useradd $LOOPLAB_CI_USER failed"
fi
id -nG "$LOOPLAB_CI_USER" | tr ' ' '\n' | grep -qx docker \
    || usermod -aG docker "$LOOPLAB_CI_USER"

home="$(user_home)"
if [ ! -d "$home" ]; then
    mkdir -p "$home"
    chown "$LOOPLAB_CI_USER:" "$home"
    chmod 0755 "$home"
fi

# subordinate id ranges: useradd adds them when /etc/login.defs has SUB_UID_COUNT,
# but a pre-existing user may lack them. Pick a free 65536 range after all others.
ensure_subids() {
    local file="$1" opt="$2" start
    touch "$file"
    if grep -q "^${LOOPLAB_CI_USER}:" "$file" || grep -q "^$(user_uid):" "$file"; then
        return 0
    fi
    start="$(awk -F: 'BEGIN{m=100000} NF>=3 {e=$2+$3; if (e>m) m=e} END{print m}' "$file")"
    log "adding $file range $start-$((start + 65535)) for $LOOPLAB_CI_USER"
    usermod "$opt" "${start}-$((start + 65535))" "$LOOPLAB_CI_USER" \
        || die "usermod $opt failed for $LOOPLAB_CI_USER"
}
ensure_subids /etc/subuid --add-subuids
ensure_subids /etc/subgid --add-subgids

# verify: the user can talk to the rootful engine (group membership is read at login,
# runuser does a fresh initgroups, so this reflects the new membership)
if ! out="$(as_user docker -H unix:///var/run/docker.sock version --format '{{.Server.Version}}' 2>&1)"; then
    die "user $LOOPLAB_CI_USER cannot use /var/run/docker.sock: $out"
fi
log "rootful engine as $LOOPLAB_CI_USER: server $out"
echo "LOOPLAB_CI_USER=$LOOPLAB_CI_USER UID=$(user_uid) HOME=$home"
