"""Network removal when the engine keeps stale endpoints (moby#42119): retry, then report."""

from __future__ import annotations

import docker.errors

from orchestrator.runtime.base import Removal
from orchestrator.runtime.docker import removal as lifecycle
from orchestrator.runtime.docker.removal import _remove_network


class FakeNetwork:
    """Refuses removal `refusals` times with the engine's 'active endpoints' error."""

    def __init__(self, refusals: int, error: str = "has active endpoints") -> None:
        self.name = "looplab-x-r1-lan"
        self.refusals = refusals
        self.error = error
        self.attrs = {"Containers": {"e1": {"Name": "looplab-x-r1-app"}}}
        self.disconnected: list[str] = []

    def remove(self) -> None:
        if self.refusals:
            self.refusals -= 1
            raise docker.errors.APIError(f"error while removing network: {self.error}")

    def reload(self) -> None:
        return None

    def disconnect(self, name: str, force: bool) -> None:
        assert force
        self.disconnected.append(name)


def test_retries_until_the_endpoints_go(monkeypatch):
    monkeypatch.setattr(lifecycle.time, "sleep", lambda _s: None)
    net = FakeNetwork(refusals=2)
    assert _remove_network(net) is None
    assert net.disconnected == ["looplab-x-r1-app", "looplab-x-r1-app"]


def test_a_network_the_engine_never_lets_go_is_reported_not_raised(monkeypatch):
    monkeypatch.setattr(lifecycle.time, "sleep", lambda _s: None)
    assert _remove_network(FakeNetwork(refusals=99)) == "looplab-x-r1-lan"


def test_other_engine_errors_still_raise(monkeypatch):
    monkeypatch.setattr(lifecycle.time, "sleep", lambda _s: None)
    try:
        _remove_network(FakeNetwork(refusals=1, error="permission denied"))
    except docker.errors.APIError as exc:
        assert "permission denied" in str(exc)
    else:
        raise AssertionError("a non-endpoint error must not be swallowed")


def test_removal_warning_names_network_and_cause():
    (msg,) = Removal(3, ("looplab-x-r1-lan",)).warnings()
    assert "looplab-x-r1-lan" in msg and "moby#42119" in msg and "daemon restart" in msg
