#!/usr/bin/env bash
# teardown_user.sh -- remove the CI user created by setup_user.sh, idempotently:
# first tears down its rootless engine (teardown_rootless.sh), then ends any
# process still running as that user (by pid), deletes the user, its home,
# its primary group and its /etc/subuid + /etc/subgid lines.
#
# Usage (as root):  ./teardown_user.sh      env LOOPLAB_CI_USER=<name> (default looplab-ci)
# Exit 0 when nothing of the user is left (also when it never existed).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=_common.sh
. "$here/_common.sh"
require_root

"$here/teardown_rootless.sh"

if user_exists; then
    # every process of this dedicated user was started by our setup scripts
    mapfile -t pids < <(pids_of_user)
    if [ "${#pids[@]}" -gt 0 ]; then
        log "terminating processes of $LOOPLAB_CI_USER: ${pids[*]}"
        kill -TERM "${pids[@]}" 2>/dev/null || true
        if ! wait_gone 10 "${pids[@]}"; then
            kill -KILL "${pids[@]}" 2>/dev/null || true
            wait_gone 5 "${pids[@]}" || die "processes of $LOOPLAB_CI_USER survive SIGKILL: ${pids[*]}"
        fi
    fi
    log "deleting user $LOOPLAB_CI_USER and its home"
    # userdel -r warns (exit 12) when the mail spool does not exist; that is fine
    userdel --remove "$LOOPLAB_CI_USER" 2>/dev/null || rc=$?
    if [ "${rc:-0}" != 0 ] && [ "${rc:-0}" != 12 ]; then
        die "userdel $LOOPLAB_CI_USER failed with exit ${rc}"
    fi
fi
user_exists && die "user $LOOPLAB_CI_USER still exists after userdel"
if getent group "$LOOPLAB_CI_USER" >/dev/null 2>&1; then
    groupdel "$LOOPLAB_CI_USER" || die "groupdel $LOOPLAB_CI_USER failed"
fi
for f in /etc/subuid /etc/subgid; do
    [ -f "$f" ] || continue
    if grep -q "^${LOOPLAB_CI_USER}:" "$f"; then
        sed -i "/^${LOOPLAB_CI_USER}:/d" "$f"
    fi
done
log "user $LOOPLAB_CI_USER removed"
