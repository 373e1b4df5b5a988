"""Launchers run the agent in a namespace given by a pid, and leave the caller where it was."""

from __future__ import annotations

import os

import pytest

from orchestrator.errors import ProbeError
from orchestrator.probes.launchers import Batch, LocalLauncher, SetnsLauncher, make_launcher
from orchestrator.probes.protocol import ProbeSpec
from orchestrator.runtime.state import Netns


def _my_netns() -> int:
    return os.stat("/proc/thread-self/ns/net").st_ino


def _batch(vantage: str, pid: int | None, port: int) -> Batch:
    return Batch(
        vantage,
        Netns(vantage, pid, None),
        [ProbeSpec("0", "tcp", address="127.0.0.1", port=port, timeout=1.0, grace=0.05)],
    )


@pytest.mark.netns
@pytest.mark.parametrize("in_process", [True, False], ids=["in-process", "child-process"])
def test_setns_enters_the_pid_namespace(make_netns, start_serve, in_process):
    ns = make_netns()
    served = start_serve("tcp://127.0.0.1:0", netns=ns)  # `ip netns exec` keeps the pid
    before = _my_netns()
    out = SetnsLauncher(in_process=in_process).run(
        [_batch("inside", served.proc.pid, served.port), _batch("host", None, served.port)], deadline_s=30
    )
    assert out["inside"].error is None and out["inside"].results[0].state == "open"
    assert out["host"].results[0].state == "closed"  # that loopback is not the host's
    assert _my_netns() == before  # the caller's thread never moved


def test_local_launcher_refuses_other_namespaces():
    with pytest.raises(ProbeError, match="only the host"):
        LocalLauncher().run([_batch("app", 1, 80)], deadline_s=5)


def test_unknown_launcher_is_one_clear_error():
    with pytest.raises(ProbeError, match="unknown launcher 'ssh'; choose one of auto, setns, local, agent, join"):
        make_launcher("ssh", live=None)
