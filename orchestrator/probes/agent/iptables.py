"""Kind ``iptables``: add or read firewall rules inside the vantage's namespace.

For launchers whose agent runs in a container (agent, join): the vantage's thread has
entered the namespace, and a child forked from that thread stays in it, so
``iptables``/``iptables-save`` there act on that namespace only. Only those two programs
run, with the arguments the orchestrator built from the lab file's `x-looplab.firewall`.
"""

from __future__ import annotations

import subprocess

from .core import ProbeFailed, Vantage, probe

PROGRAMS = ("iptables", "iptables-save")
TIMEOUT_S = 30.0


@probe("iptables", stdout=None)
async def probe_iptables(v: Vantage, spec: dict) -> dict:
    """Run ``argv`` (iptables or iptables-save, nothing else) here; "ok" with its output, or "error"."""
    argv = spec.get("argv")
    if not isinstance(argv, list) or not argv or argv[0] not in PROGRAMS or not all(isinstance(a, str) for a in argv):
        raise ProbeFailed(f"argv must be a list of strings starting with one of {', '.join(PROGRAMS)}")
    try:  # blocking on purpose: a child forked from this thread inherits its network namespace
        done = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    except FileNotFoundError:
        raise ProbeFailed(f"{argv[0]} is not in this image (the host that built it had no iptables)") from None
    except subprocess.TimeoutExpired:
        raise ProbeFailed(f"{argv[0]} did not finish within {TIMEOUT_S:g}s") from None
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        return {"state": "error", "detail": reason[:500], "stdout": done.stdout}
    return {"state": "ok", "stdout": done.stdout}
