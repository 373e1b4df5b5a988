"""setns: each vantage's probes run in a thread that has entered /proc/PID/ns/net.

setns(2) moves only the calling thread, and the agent gives every vantage a fresh thread
that exits when its batch is done, so the orchestrator's own threads never change
namespace. Running the agent in-process saves the ~0.15 s start of a Python process per
matrix; `SetnsLauncher(in_process=False)` runs the same agent as a child process instead.
Inventories are read from /proc/PID in-process; firewall rules go through nsenter.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from ...errors import ProbeError
from ...runtime.state import Netns
from .. import agent
from . import nsenter, procfs
from .base import Batch, FirewallText, Inventory, VantageOutcome, from_response, to_request

AGENT = Path(__file__).resolve().parent.parent / "agent"
"""The agent package's folder: `python -I -S AGENT` runs it (its __main__ loads it by path)."""


class SetnsLauncher:
    """Needs root (CAP_SYS_ADMIN) and a local engine whose container pids are visible here."""

    name = "setns"
    enters_named = True

    def __init__(self, *, in_process: bool = True) -> None:
        self.in_process = in_process

    def run(self, batches: Sequence[Batch], *, deadline_s: float) -> dict[str, VantageOutcome]:
        refused = {b.vantage: why for b in batches if (why := not_here(b.netns))}
        ready = [b for b in batches if b.vantage not in refused]
        out = {v: VantageOutcome(v, why, []) for v, why in refused.items()}
        if not ready:
            return out
        netns = {b.vantage: path_of(b.netns) for b in ready}
        request = to_request(ready, netns)
        if self.in_process:  # every probe carries its own timeout, so this is bounded too
            response = agent.run_request(request)
            if response.get("error"):
                raise ProbeError(f"the probe agent refused the request: {response['error']}")
            return {**out, **from_response(response)}
        return {**out, **run_agent_process([sys.executable, "-I", "-S", str(AGENT)], request, deadline_s)}

    def inventory(self, namespaces: Sequence[Netns], *, owners: bool) -> dict[str, Inventory]:
        read = {ns.owner: procfs.read_inventory(ns, owners=owners) for ns in namespaces if not not_here(ns)}
        return {owner: inv for owner, inv in read.items() if inv is not None}

    def add_firewall_rule(self, netns: Netns, iptables_args: list[str]) -> None:
        nsenter.add_rule(netns, iptables_args)

    def read_firewall(self, netns: Netns) -> FirewallText:
        return nsenter.read_rules(netns)

    def close(self, *, teardown_follows: bool = False) -> None:
        return None


def path_of(netns: Netns) -> str | None:
    """The file setns(2) enters for `netns`: a named namespace's, a process's; None is the host's own."""
    if netns.path:
        return netns.path
    return f"/proc/{netns.pid}/ns/net" if netns.pid else None


def not_here(netns: Netns) -> str | None:
    """Why /proc/PID here is not the member's process (an engine on another machine or VM, a pid
    reused), or None when it is: its mounts name the member's container. Never enter a stranger."""
    if netns.pid is None or not netns.container_id:  # the host's own, or a namespace that is no container
        return None
    try:
        with open(f"/proc/{netns.pid}/mountinfo", encoding="utf-8", errors="replace") as f:
            mounts = f.read()
    except OSError as exc:
        return f"cannot see pid {netns.pid} of {netns.owner} here ({exc.strerror}): the engine is not local"
    if netns.container_id not in mounts:
        return f"pid {netns.pid} here is not {netns.owner}'s container: the engine is not local"
    return None


def run_agent_process(argv: list[str], request: dict, deadline_s: float) -> dict[str, VantageOutcome]:
    """Feed the request to an agent process, parse its answer; the child never outlives the call."""
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(json.dumps(request).encode(), timeout=deadline_s)
    except subprocess.TimeoutExpired:
        raise ProbeError(f"the probe agent did not finish within {deadline_s:.1f}s") from None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if proc.returncode != 0:
        tail = err.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise ProbeError(f"the probe agent failed (exit {proc.returncode}): {tail[0][:300]}")
    try:
        return from_response(json.loads(out))
    except (ValueError, KeyError, TypeError) as exc:
        raise ProbeError(f"the probe agent answered something unreadable: {exc}") from exc
