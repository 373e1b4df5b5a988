"""Teardown order and networks the engine will not let go of (issue 9, item 3; moby#42119).

A fake low-level client: these are the decisions removal.py takes on what the engine answers.
"""

from __future__ import annotations

import threading

import docker.errors
import pytest

from orchestrator.runtime.base import Leftover, Removal
from orchestrator.runtime.docker import removal
from orchestrator.runtime.docker.removal import _remove_network, remove_labelled


class FakeApi:
    def __init__(self, *, refusals: int = 0, attached=None, live=(), error="has active endpoints") -> None:
        self.refusals = refusals
        self.error = error
        self.attached = dict(attached or {})  # endpoint key -> container name
        self.live = set(live)  # container ids that exist
        self.calls: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.removing = 0
        self.detaching: dict[str, int] = {}
        self.most_at_once = 0

    def _log(self, what: str, arg: str) -> None:
        with self.lock:
            self.calls.append((what, arg))

    def inspect_network(self, net_id):
        self._log("inspect_network", net_id)
        return {"Containers": {k: {"Name": v} for k, v in self.attached.items()}}

    def remove_network(self, net_id):
        self._log("remove_network", net_id)
        if self.refusals:
            self.refusals -= 1
            raise docker.errors.APIError(f"error while removing network: {self.error}")

    def inspect_container(self, key):
        if key not in self.live:
            raise docker.errors.NotFound("no such container")
        return {}

    def disconnect_container_from_network(self, who, net_id, force=False):
        assert force
        with self.lock:
            self.detaching[net_id] = self.detaching.get(net_id, 0) + 1
            self.most_at_once = max(self.most_at_once, self.detaching[net_id])
        self._log("disconnect", who)
        self.attached = {k: v for k, v in self.attached.items() if v != who}
        with self.lock:
            self.detaching[net_id] -= 1

    def containers(self, all=False, filters=None):
        on = {"lan": {"NetworkID": "n1"}, "bridge": {"NetworkID": "not-ours"}}
        return [{"Id": f"c{i}", "Labels": {}, "NetworkSettings": {"Networks": on}} for i in range(40)]

    def networks(self, filters=None):
        return [{"Id": "n1", "Name": "looplab-x-r1-lan", "Labels": {}}]

    def remove_container(self, cid, force=False, v=False):
        with self.lock:
            self.removing += 1
        self._log("remove_container", cid)
        with self.lock:
            self.removing -= 1


class FakeClient:
    def __init__(self, api: FakeApi) -> None:
        self.api = api


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch):
    monkeypatch.setattr(removal.time, "sleep", lambda _s: None)
    monkeypatch.setattr(removal, "_SETTLE_S", 0.0)


def test_detach_one_by_one_then_remove_containers_then_networks():
    """The order that keeps the engine's endpoint count right (moby#42119): endpoints of one
    network are deleted one at a time, all before any container removal, and every container
    removal has returned before the first network call."""
    api = FakeApi()
    done = remove_labelled(FakeClient(api), {})
    assert done == Removal(41, (), found=41)
    kinds = [what for what, _ in api.calls]
    assert kinds[:40] == ["disconnect"] * 40, kinds  # only from the network being removed
    assert api.most_at_once == 1, "two endpoints of one network were deleted at once"
    first_net = min(i for i, k in enumerate(kinds) if k.endswith("_network"))
    assert kinds[40:first_net] == ["remove_container"] * 40, kinds


def test_a_stale_endpoint_is_disconnected_then_the_network_goes():
    api = FakeApi(refusals=1, attached={"ep-dead": "looplab-x-r1-app"})
    assert _remove_network(FakeClient(api), "n1", "looplab-x-r1-lan") is None
    assert ("disconnect", "looplab-x-r1-app") in api.calls


def test_a_live_container_is_never_disconnected_and_is_named():
    api = FakeApi(refusals=99, attached={"c-live": "someone-elses-app"}, live={"c-live"})
    left = _remove_network(FakeClient(api), "n1", "looplab-x-r1-lan")
    assert not [c for c in api.calls if c[0] == "disconnect"], api.calls
    why = "still in use by container(s) someone-elses-app, which this command does not remove"
    assert left == Leftover("network", "looplab-x-r1-lan", why)


def test_a_stale_endpoint_count_is_reported_with_its_cause():
    api = FakeApi(refusals=99)
    left = _remove_network(FakeClient(api), "n1", "looplab-x-r1-lan")
    assert left is not None and left.name == "looplab-x-r1-lan"
    assert "no container is attached" in left.reason and "moby#42119" in left.reason
    assert "daemon restart" in left.reason and "has active endpoints" in left.reason
    assert str(left).startswith("network looplab-x-r1-lan was not removed: ")


def test_other_engine_errors_still_raise():
    with pytest.raises(docker.errors.APIError, match="permission denied"):
        _remove_network(FakeClient(FakeApi(refusals=1, error="permission denied")), "n1", "x")
