"""testcontainers interop against the real engine: every container is the local looplab/toolbox.

Ryuk is disabled (conftest): nothing can be pulled. What looplab adds to a testcontainers lab
(observers, the @outside network) carries looplab's labels and the pytest pid, so the
conftest's leak check covers it; the testcontainers containers themselves are checked gone here.
"""

from __future__ import annotations

import pytest
from looplab_it import ROOTLESS
from testcontainers.core.container import DockerContainer
from testcontainers.core.network import Network

from orchestrator.errors import LooplabError
from orchestrator.testcontainers import assert_isolated, check, probe

IMAGE = "looplab/toolbox"


def test_any_started_container_is_a_vantage_and_a_target(engine):
    with DockerContainer(IMAGE).with_command("serve tcp://127.0.0.1:8080") as c:
        own = probe(c, "127.0.0.1:8080")  # from c's own namespace
        assert own.state == "open" and own.reachable
        if ROOTLESS:  # container addresses are not on this host's routes: refused in one line (README, "Engines")
            with pytest.raises(LooplabError, match="not dialling .* from the host: on a rootless engine"):
                probe("host", c, 8080)
        else:
            from_host = probe("host", c, 8080)  # the host cannot reach a loopback-bound app
            assert from_host.state in ("closed", "filtered")
            assert from_host.verdict == "pass" and from_host.diagnosis is None
        wrapped = c.get_wrapped_container()  # docker-py's container works as well
        assert probe(wrapped, "localhost:8080").state == "open"
        cid = wrapped.id
    assert not engine.api.containers(all=True, filters={"id": cid})


def test_a_network_and_its_containers_checked_as_a_lab(engine):
    with (
        Network() as net,
        DockerContainer(IMAGE)
        .with_command("serve tcp://0.0.0.0:8080")
        .with_network(net)
        .with_network_aliases("app") as app,
        DockerContainer(IMAGE).with_command("idle").with_network(net).with_network_aliases("peer"),
        DockerContainer(IMAGE).with_command("serve tcp://127.0.0.1:9090").with_network(net).with_network_aliases("db"),
    ):
        report = assert_isolated(net, expect=[("peer", "app:8080", "open"), ("peer", "db:9090", "closed")])
        by = {(c.vantage, c.target): c for c in report.cells}
        assert by["peer", "app:8080"].state == "open"  # 0.0.0.0 on a shared network
        assert by["peer", "db:9090"].state == "closed"  # loopback-bound: only db itself
        assert by["db", "127.0.0.1:9090"].state == "open"
        assert by["@outside", "app:8080"].state == "unreachable"  # no shared network

        wrong = check(net, expect=[{"from": "peer", "to": "db:9090", "reachable": True}])
        assert not wrong.ok
        (failing,) = [c for c in wrong.cells if not c.passed]
        assert (failing.vantage, failing.target, failing.verdict) == ("peer", "db:9090", "broken")
        assert failing.diagnosis is not None and failing.diagnosis.cause == "bound-to-loopback"
        with pytest.raises(AssertionError, match="diagnosis \\(bound-to-loopback\\)"):
            assert_isolated(net, expect=[{"from": "peer", "to": "db:9090", "reachable": True}])
        app_id = app.get_container_id()
    assert not engine.api.containers(all=True, filters={"id": app_id})


def test_a_container_that_is_not_running_is_refused_in_one_line(engine):
    c = DockerContainer(IMAGE).with_command("idle")
    with pytest.raises(LooplabError, match="not a started container"):
        probe(c, "127.0.0.1:8080")
