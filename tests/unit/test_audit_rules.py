"""The audit's pure parts: findings from probed cells, the written lab, the selection, the output."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from orchestrator.audit.findings import find
from orchestrator.audit.model import Audit, Finding
from orchestrator.audit.render import render
from orchestrator.audit.write_lab import lab_text
from orchestrator.cli import main
from orchestrator.domain import Cell, Diagnosis, Engine, Report
from orchestrator.labfile.loader import load_lab
from orchestrator.labfile.model import Lab, Listener, Network, Service
from orchestrator.runtime.foreign import ForeignContainer, ForeignNetwork, ForeignPublish, compose_needs


def container(member: str, *, published=(), exposed=(), needs=(), nets=("shop_front",), **kw) -> ForeignContainer:
    return ForeignContainer(
        id=f"{member}0123456789",
        name=f"shop_{member}_1",
        member=member,
        project="shop",
        network_mode=kw.pop("network_mode", "shop_front"),
        image="looplab/toolbox",
        image_local_only=True,
        entrypoint=None,
        command=("serve", "tcp://0.0.0.0:8080"),
        networks=tuple(ForeignNetwork(n, n.removeprefix("shop_"), aliases=(member,)) for n in nets),
        published=tuple(published),
        exposed=tuple(exposed),
        needs=needs,
        **kw,
    )


def cell(vantage: str, target: str, state: str, *, kind="network", expected=None, verdict="pass", **kw) -> Cell:
    port = int(target.rsplit(":", 1)[1])
    return Cell(
        vantage=vantage,
        target=target,
        proto=kw.pop("proto", "tcp"),
        target_kind=kind,
        address="172.18.0.2",
        port=port,
        state=state,
        expected=expected or state,
        verdict=verdict,
        **kw,
    )


def lab(*listeners: Listener) -> Lab:
    services = tuple(
        Service(name, "looplab/toolbox", listeners=tuple(x for x in listeners if x.service == name))
        for name in sorted({x.service for x in listeners} | {"client"})
    )
    return Lab("shop", "<adopted shop>", services, (Network("shop_front"),))


WEB = Listener("web", "tcp", "0.0.0.0", 8080)
APP = Listener("app", "tcp", "127.0.0.1", 8081)
DEBUG = Listener("api", "tcp", "0.0.0.0", 5678, process="pid 7 python3 -m debugpy")
API = Listener("api", "tcp", "0.0.0.0", 9000)


def kinds(found: list[Finding]) -> dict[tuple[str, str], Finding]:
    return {(f.kind, f.target): f for f in found}


def test_a_0000_publish_reached_from_outside_is_exposed_with_the_cell_as_evidence():
    web = container("web", published=[ForeignPublish("0.0.0.0", 28080, 8080, "tcp")], exposed=[(8080, "tcp")])
    cells = [
        cell("@outside", "host:28080", "open", kind="published"),
        cell("host", "host:28080", "open", kind="published"),
    ]
    found = kinds(find([web, container("client")], lab(WEB), cells, observers=True))
    f = found[("published-all-interfaces", "host:28080/tcp")]
    assert f.level == "exposed" and f.service == "web"
    assert f.evidence == ("@outside -> host:28080/tcp: open",)
    assert "127.0.0.1:28080:8080" in f.fix


ROOTFUL = Engine("docker", "20.10", rootless=False, local=True)


def test_a_0000_publish_outside_did_not_reach_is_only_info_on_a_local_rootful_engine():
    web = container("web", published=[ForeignPublish("0.0.0.0", 28080, 8080, "tcp")])
    cells = [cell("@outside", "host:28080", "filtered", kind="published")]
    f = kinds(find([web], lab(WEB), cells, observers=True, engine=ROOTFUL))[
        ("published-all-interfaces", "host:28080/tcp")
    ]
    assert f.level == "info"


def test_on_a_rootless_engine_outside_not_reaching_a_0000_publish_proves_nothing():
    """RootlessKit listens on every interface of the host; @outside dials its namespace instead."""
    web = container("web", published=[ForeignPublish("0.0.0.0", 28080, 8080, "tcp")])
    cells = [cell("@outside", "host:28080", "closed", kind="published")]
    rootless = Engine("docker", "20.10", rootless=True, local=True)
    f = kinds(find([web], lab(WEB), cells, observers=True, engine=rootless))[
        ("published-all-interfaces", "host:28080/tcp")
    ]
    assert f.level == "exposed" and "RootlessKit" in f.evidence[-1]
    assert f.evidence[0] == "@outside -> host:28080/tcp: closed"


def test_without_observers_a_0000_publish_is_still_exposed_and_says_nobody_looked():
    web = container("web", published=[ForeignPublish("0.0.0.0", 28080, 8080, "tcp")])
    f = kinds(find([web], lab(WEB), [], observers=False))[("published-all-interfaces", "host:28080/tcp")]
    assert f.level == "exposed" and "--no-observers" in f.evidence[0]


def test_a_publish_reset_by_a_loopback_bound_app_is_broken():
    app = container("app", published=[ForeignPublish("127.0.0.1", 28081, 8081, "tcp")])
    cells = [cell("host", "host:28081", "reset", kind="published")]
    f = kinds(find([app], lab(APP), cells, observers=True))[("publish-to-loopback", "host:28081/tcp")]
    assert f.level == "broken" and "127.0.0.1:8081 only" in f.evidence[-1]
    assert "0.0.0.0:8081" in f.fix


def test_a_publish_with_nothing_behind_it_is_broken_and_says_so():
    app = container("app", published=[ForeignPublish("127.0.0.1", 28081, 8081, "tcp")])
    cells = [cell("host", "host:28081", "reset", kind="published")]
    f = kinds(find([app], lab(), cells, observers=True))[("publish-without-listener", "host:28081/tcp")]
    assert f.level == "broken" and "nothing listens on 8081/tcp in app" in f.evidence[-1]


def test_an_undeclared_listener_peers_reach_is_exposed_and_a_declared_one_is_not():
    api = container("api", exposed=[(9000, "tcp")])
    cells = [cell("client", "api:5678", "open"), cell("client", "api:9000", "open"), cell("api", "api:5678", "open")]
    found = kinds(find([api, container("client")], lab(DEBUG, API), cells, observers=True))
    debug = found[("undeclared-listener", "api:5678/tcp")]
    assert debug.level == "exposed"
    assert debug.evidence == ("client -> api:5678/tcp: open", "socket: 0.0.0.0:5678/tcp, pid 7 python3 -m debugpy")
    assert ("undeclared-listener", "api:9000/tcp") not in found


def test_peers_that_do_not_depend_on_a_listener_are_named_and_those_that_do_are_not():
    api = container("api", exposed=[(9000, "tcp")])
    web = container("web", needs=("api",))
    cells = [cell("client", "api:9000", "open"), cell("web", "api:9000", "open")]
    f = kinds(find([api, web, container("client")], lab(API), cells, observers=True))[
        ("reachable-by-peers", "api:9000/tcp")
    ]
    assert f.level == "info" and "client" in f.title and "web" not in f.title


def test_a_firewall_drop_is_a_finding_with_the_rule():
    db = container("db")
    rule = Diagnosis("firewall", "iptables filter/INPUT `-A INPUT -p tcp --dport 5432 -j DROP`", "remove the rule")
    cells = [
        cell("api", "db:5432", "filtered", expected="open", verdict="broken", diagnosis=rule),
        cell("db", "127.0.0.1:5432", "filtered", kind="loopback", expected="open", verdict="broken", diagnosis=rule),
    ]
    found = find([db], lab(Listener("db", "tcp", "0.0.0.0", 5432)), cells, observers=True)
    assert [(f.kind, f.service, f.target) for f in found] == [("firewall-drop", "db", "db:5432/tcp")]
    assert found[0].evidence[-1] == f"rule: {rule.found}"


def test_a_failing_cell_no_rule_explains_is_never_passed_over():
    seen = cell("client", "web:8080", "closed", expected="open", verdict="broken")
    leak = cell("@outside", "host:28081", "open", kind="published", expected="closed", verdict="exposed")
    found = find([container("web"), container("client")], lab(WEB), [seen, leak], observers=True)
    by_target = {f.target: f for f in found}
    assert by_target["web:8080/tcp"].level == "broken" and by_target["web:8080/tcp"].kind == "unexplained"
    assert by_target["host:28081/tcp"].level == "exposed"


def test_a_cell_that_failed_once_then_passed_is_reported_as_flaky():
    once = cell("client", "web:8080", "open", verdict="flaky", observations=("closed (refused)", "open"))
    (f,) = find([container("web"), container("client")], lab(), [once], observers=True)
    assert (f.kind, f.level) == ("flaky", "info") and "closed (refused)" in f.evidence


def test_compose_needs_reads_the_v2_label_and_else_the_v1_file(tmp_path: Path):
    assert compose_needs({"com.docker.compose.depends_on": "db:service_started:false,cache:service_healthy:true"}) == (
        "cache",
        "db",
    )
    (tmp_path / "dc.yml").write_text(
        "services:\n  web:\n    depends_on: {api: {condition: service_started}}\n    links: ['cache:c']\n"
    )
    labels = {
        "com.docker.compose.service": "web",
        "com.docker.compose.project.config_files": "dc.yml",
        "com.docker.compose.project.working_dir": str(tmp_path),
    }
    assert compose_needs(labels) == ("api", "cache")
    assert compose_needs({**labels, "com.docker.compose.project.working_dir": str(tmp_path / "gone")}) is None


def _audit(containers, cells) -> Audit:
    report = Report(
        lab="shop", engine=Engine("docker", "20.10"), launcher="setns", cells=tuple(cells), run_id="abc", duration_s=1.0
    )
    found = find(containers, lab(WEB, APP), cells, observers=True)
    return Audit("project shop", tuple(containers), tuple(found), report, observers=True)


def test_the_written_lab_is_a_valid_lab_that_pins_what_was_seen(tmp_path: Path):
    web = container("web", published=[ForeignPublish("0.0.0.0", 28080, 8080, "tcp")], nets=("shop_front", "shop_back"))
    side = container("side", network_mode=f"container:{web.id}", nets=())
    udp = cell("client", "web:5353", "closed", proto="udp")
    cells = [cell("@shop_front", "web:8080", "open"), cell("@outside", "host:28080", "open", kind="published"), udp]
    path = tmp_path / "lab.yml"
    path.write_text(lab_text(_audit([web, side, container("client")], cells), "shop"))
    written = load_lab(str(path))
    assert {s.name for s in written.services} == {"web", "side", "client"}
    assert written.service("side").network_mode == "service:web"
    assert {n.name for n in written.networks} == {"front", "back"}
    pins = {(e.vantage, e.target, e.state, e.proto) for e in written.expectations}
    assert pins == {
        ("@front", "web:8080", "open", "tcp"),
        ("@outside", "host:28080", "open", "tcp"),
        ("client", "web:5353", "closed", "udp"),
    }
    assert "no registry" in path.read_text() and "environment" in path.read_text()


def test_every_format_carries_every_finding():
    web = container("web", published=[ForeignPublish("0.0.0.0", 28080, 8080, "tcp")])
    audit = _audit([web], [cell("@outside", "host:28080", "open", kind="published")])
    doc = json.loads(render(audit, "json"))
    assert doc["schema"] == "looplab/audit@1" and doc["summary"] == {"info": 0, "exposed": 1, "broken": 0}
    assert doc["findings"][0]["kind"] == "published-all-interfaces" and doc["matrix"]["cells"]
    for fmt in ("terminal", "markdown", "html"):
        assert "published-all-interfaces" in render(audit, fmt) and "host:28080/tcp" in render(audit, fmt)
    assert audit.failing("exposed") and not audit.failing("broken") and not audit.failing("never")


def test_the_selection_is_one_of_three_said_in_one_line():
    runner = CliRunner()
    for args, words in (
        ([], "exactly one of"),
        (["--project", "x", "--all"], "got --project, --all"),
        (["--containers"], "at least one container"),
        (["--all", "abc"], "only with --containers"),
    ):
        result = runner.invoke(main, ["audit", *args])
        assert result.exit_code == 2, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and words in lines[0], result.output
