"""The pytest plugin without an engine: cheap to import, its marker, its one-line usage errors,
and the pure parts of the in-process API (failure text, expectations in Python, duck typing)."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from importlib.metadata import entry_points
from types import SimpleNamespace

import pytest

from orchestrator.domain import Cell, Diagnosis, Engine, Report
from orchestrator.errors import LooplabError
from orchestrator.inprocess import ProbeOutcome, expectations, failure_text
from orchestrator.labfile.model import Lab
from orchestrator.runtime.labels import member_name, preferred_name
from orchestrator.testcontainers import container_ref, network_ref

pytest_plugins = ["pytester"]


def test_the_plugin_is_registered_as_pytest11():
    found = {e.name: e.value for e in entry_points(group="pytest11")}
    assert found.get("looplab") == "orchestrator.pytest_plugin"


def test_importing_the_plugin_imports_no_docker():
    code = (
        "import sys, pytest, orchestrator.pytest_plugin\n"
        "heavy = sorted(m for m in sys.modules if m == 'docker' or m.startswith(('docker.', 'orchestrator.runtime',"
        " 'orchestrator.session', 'testcontainers', 'filelock')))\n"
        "print(heavy)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "--strict-markers", *args, timeout=120)


def test_a_session_with_the_plugin_and_no_lab_imports_no_docker(pytester: pytest.Pytester):
    pytester.makepyfile(
        test_light="""
        import sys, pytest

        @pytest.mark.looplab("lab.yml")
        def test_marked_but_no_fixture():
            assert not [m for m in sys.modules if m == "docker" or m.startswith("docker.")]
        """
    )
    _run(pytester).assert_outcomes(passed=1)


def test_usage_mistakes_fail_the_test_in_one_line(pytester: pytest.Pytester):
    pytester.makepyfile(
        test_wrong="""
        import pytest

        def test_no_marker(lab):
            pass

        @pytest.mark.looplab("missing.yml")
        def test_missing_file(lab):
            pass

        @pytest.mark.looplab("missing.yml", colour="red")
        def test_unknown_option(lab):
            pass
        """
    )
    result = _run(pytester)
    result.assert_outcomes(errors=3)
    out = result.stdout.str()
    assert "the `lab` fixture needs @pytest.mark.looplab('path/to/lab.yml')" in out
    assert "lab file 'missing.yml' not found (looked in" in out
    assert "unknown looplab marker option(s) colour (scope, launcher)" in out
    assert "Traceback" not in out


def _cell(**kw) -> Cell:
    base = dict(
        vantage="peer",
        target="app:62893",
        proto="tcp",
        target_kind="network",
        address="10.0.0.2",
        port=62893,
        state="closed",
        expected="open",
        verdict="broken",
    )
    return Cell(**{**base, **kw})


def test_failure_text_lists_each_failing_cell_with_its_diagnosis_and_reproduce():
    why = Diagnosis("bound-to-loopback", "app listens on 127.0.0.1:62893 only.", "bind 0.0.0.0.")
    report = Report(
        lab="seed",
        engine=Engine("docker", "20.10"),
        cells=(
            _cell(diagnosis=why, reproduce="looplab up seed.yml && looplab probe ...", reason="expect at seed.yml:9"),
            _cell(vantage="app", target="127.0.0.1:62893", state="open", expected="open", verdict="pass"),
        ),
    )
    text = failure_text(report)
    assert text.splitlines()[0] == "lab seed: 1 of 2 cells not as expected (0 exposed, 1 broken, 0 mismatch)"
    assert "  peer -> app:62893/tcp: closed, expected open [broken]" in text
    assert "diagnosis (bound-to-loopback): app listens on 127.0.0.1:62893 only." in text
    assert "fix: bind 0.0.0.0." in text and "reproduce: looplab up seed.yml" in text
    assert "127.0.0.1:62893/tcp" not in text  # passing cells stay out


def test_a_probe_outcome_reads_its_diagnosis_once_and_shows_it():
    calls = []

    def explain():
        calls.append(1)
        return Diagnosis("wrong-port", "8081 listens.", "dial 8081.")

    out = ProbeOutcome("client", "api:8080", "closed", "open", "broken", None, "looplab probe ...", _explain=explain)
    assert not out.reachable
    assert "wrong-port: 8081 listens." in repr(out) and "reproduce: looplab probe" in repr(out)
    assert out.diagnosis.cause == "wrong-port" and len(calls) == 1


def test_expectations_in_python():
    lab = Lab("x", "x.yml", (), ())
    got = expectations([("peer", "app:80", "open"), {"from": "host", "to": "app:80", "reachable": False}], lab)
    assert [(e.vantage, e.target, e.state, e.reachable) for e in got] == [
        ("peer", "app:80", "open", None),
        ("host", "app:80", None, False),
    ]
    with pytest.raises(LooplabError, match="unknown state 'opened'"):
        expectations([("peer", "app:80", "opened")], lab)
    with pytest.raises(LooplabError, match="give from, to and state"):
        expectations([{"from": "peer", "to": "app:80"}], lab)


def test_containers_and_networks_by_duck_typing():
    attrs = {"Id": "abcdef123456789", "Name": "/busy_panini", "NetworkSettings": {"Networks": {}}}
    docker_py = SimpleNamespace(id="abcdef123456789", name="busy_panini", attrs=attrs)
    tc = SimpleNamespace(get_wrapped_container=lambda: docker_py)
    assert container_ref(tc) == ("busy_panini", "abcdef123456789")
    assert container_ref(docker_py) == ("busy_panini", "abcdef123456789")
    aliased = {**attrs, "NetworkSettings": {"Networks": {"n": {"Aliases": ["abcdef123456", "api"]}}}}
    assert preferred_name(aliased) == "api"  # testcontainers' with_network_aliases; never the short id
    assert member_name("/My_App.1") == "my_app.1"
    assert network_ref(SimpleNamespace(name="3f2a-net")) == "3f2a-net"
    with pytest.raises(LooplabError, match="is not a started container"):
        container_ref(SimpleNamespace(get_wrapped_container=lambda: (_ for _ in ()).throw(RuntimeError("no"))))


def test_what_assert_matrix_leaves_json_junit_properties_and_an_html_extra(pytester: pytest.Pytester):
    pytester.makepyfile(
        test_report="""
        import json
        from orchestrator.domain import Cell, Diagnosis, Engine, Report
        from orchestrator.pytest_plugin.reporting import publish

        def test_publish(request, tmp_path):
            why = Diagnosis("bound-to-loopback", "app listens on 127.0.0.1 only.", "bind 0.0.0.0.")
            cell = Cell("peer", "app:80", "tcp", "network", "10.0.0.2", 80, "closed", "open", "broken", diagnosis=why)
            path = publish(Report("seedx", Engine("docker", "20.10"), (cell,), run_id="r1"), request)
            assert path == tmp_path / "looplab-seedx.json"
            assert json.loads(path.read_text())["cells"][0]["diagnosis"]["cause"] == "bound-to-loopback"
        """
    )
    result = _run(pytester, "--junitxml=junit.xml", "--html=report.html", "--self-contained-html")
    result.assert_outcomes(passed=1)
    props = [(p.get("name"), p.get("value")) for p in ET.parse(pytester.path / "junit.xml").iter("property")]
    assert ("looplab_lab", "seedx") in props and ("looplab_failed", "1") in props
    assert (
        "looplab_cell",
        "peer -> app:80/tcp: closed, expected open: bound-to-loopback: "
        "app listens on 127.0.0.1 only. Fix: bind 0.0.0.0.",
    ) in props
    html = (pytester.path / "report.html").read_text()
    assert "looplab seedx" in html  # the extras' names
