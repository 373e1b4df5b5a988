"""The pytest plugin, run the way a user runs it: a pytest session in a subprocess (pytester).

Each inner session gets lab files with a `name:` unique to this test, so what it leaves on the
engine is found by that name (the inner pytest's resources carry its own pid, which the
conftest's leak check does not know). Nothing is pulled; every container is looplab/toolbox.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from looplab_it import LAB, RUN_TIMEOUT, describe, managed, wait_for

pytest_plugins = ["pytester"]

PRIVATE_LAB = """\
name: {name}
services:
  app:
    image: looplab/toolbox
    command: ["serve", "tcp://127.0.0.1:62893"]
    networks: [lan]
  peer:
    image: looplab/toolbox
    command: ["idle"]
    networks: [lan]
networks:
  lan: {{}}
x-looplab:
  probe: {{timeout: 1s}}
  expect:
    - {{from: peer, to: "app:62893", state: {peer_state}}}
"""

# a lab every worker would have collided on before: one name, one container port published
# on the host; `127.0.0.1::8080` lets the engine pick the host port, `host:web:8080` names it
PUBLISHED_LAB = """\
name: {name}
services:
  web:
    image: looplab/toolbox
    command: ["serve", "tcp://0.0.0.0:8080"]
    ports: ["127.0.0.1::8080"]
x-looplab:
  probe: {{timeout: 1s}}
  expect:
    - {{from: host, to: "host:web:8080", state: open}}
    - {{from: "@outside", to: "host:web:8080", state: closed}}
"""


@pytest.fixture
def prefix() -> str:
    return f"pt{secrets.token_hex(3)}"


def _leftovers(engine, prefix: str) -> list[str]:
    containers, networks = managed(engine)
    return [describe(r) for r in [*containers, *networks] if r.labels.get(LAB, "").startswith(prefix)]


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "--strict-markers", *args, timeout=RUN_TIMEOUT)


def test_a_passing_lab(pytester: pytest.Pytester, engine, prefix: str):
    pytester.path.joinpath("lab.yml").write_text(PRIVATE_LAB.format(name=prefix, peer_state="closed"))
    pytester.makepyfile(
        test_private="""
        import json, pytest

        @pytest.mark.looplab("lab.yml")
        def test_app_is_private(lab, tmp_path):
            assert lab.probe("peer", "app:62893").state == "closed"
            app = lab.probe("app", "127.0.0.1:62893")
            assert app.reachable and app.verdict == "pass" and app.diagnosis is None
            report = lab.assert_matrix()
            assert report.ok
            written = json.loads((tmp_path / f"looplab-{lab.name}.json").read_text())
            assert written["schema"] == "looplab/report@1" and written["summary"]["fail"] == 0

        @pytest.mark.looplab("lab.yml")
        def test_the_same_lab_again(lab):
            assert lab.probe("app", "localhost:62893").state == "open"
        """
    )
    result = _run(pytester, "--junitxml=junit.xml")
    result.assert_outcomes(passed=2)
    props = [(p.get("name"), p.get("value")) for p in ET.parse(pytester.path / "junit.xml").iter("property")]
    names = dict(props)
    assert names["looplab_lab"].startswith(f"{prefix}-main-")
    assert names["looplab_failed"] == "0" and int(names["looplab_cells"]) > 0
    assert Path(names["looplab_report"]).is_file()
    assert _leftovers(engine, prefix) == []


def test_a_failing_lab_shows_the_diagnosis_and_leaves_nothing(pytester: pytest.Pytester, engine, prefix: str):
    pytester.path.joinpath("lab.yml").write_text(PRIVATE_LAB.format(name=prefix, peer_state="open"))
    pytester.makepyfile(
        test_wrong="""
        import pytest

        @pytest.mark.looplab("lab.yml")
        def test_peer_reaches_app(lab):
            lab.assert_matrix()
        """
    )
    result = _run(pytester)
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "peer -> app:62893/tcp: closed, expected open [broken]" in out
    assert "diagnosis (bound-to-loopback)" in out
    assert f"reproduce: looplab up {pytester.path / 'lab.yml'} && looplab probe --lab {prefix} " in out
    assert "Traceback" not in out
    assert _leftovers(engine, prefix) == []


def test_xdist_workers_share_session_labs_and_never_collide(pytester: pytest.Pytester, engine, prefix: str):
    pytester.path.joinpath("published.yml").write_text(PUBLISHED_LAB.format(name=prefix))
    seen = pytester.path / "seen"
    seen.mkdir()
    body = """
    import os, pytest

    def _note(lab, kind):
        with open(os.path.join({seen!r}, f"{{kind}}-{{os.environ['PYTEST_XDIST_WORKER']}}-{{lab.run_id}}"), "w") as f:
            f.write(lab.name)

    @pytest.mark.looplab("published.yml")
    def test_shared_{i}(lab):
        lab.assert_matrix()
        assert lab.probe("host", "host:web:8080").state == "open"
        _note(lab, "session")

    @pytest.mark.looplab("published.yml", scope="module")
    def test_own_{i}(lab):
        port = lab.published("web", 8080)
        assert lab.probe("host", f"host:{{port}}").state == "open"
        _note(lab, "module")
    """
    for i in range(4):
        pytester.makepyfile(**{f"test_w{i}": body.format(seen=str(seen), i=i)})
    result = _run(pytester, "-n", "4", "--dist", "loadfile")
    result.assert_outcomes(passed=8)
    notes = [p.name.split("-") for p in seen.iterdir()]
    shared_runs = {run for kind, _worker, run in notes if kind == "session"}
    assert len(shared_runs) == 1, notes  # one session lab, started once for every worker
    own = [(worker, run) for kind, worker, run in notes if kind == "module"]
    assert len({run for _, run in own}) == len(own) == 4, notes  # one per module, each its own run
    assert len({worker for _, worker in own}) > 1, notes  # several workers really ran at once
    removed = [
        line.split() for p in pytester.path.rglob("looplab-shared/removed-by") for line in p.read_text().splitlines()
    ]
    assert len(removed) == 1 and removed[0][0].startswith("gw"), removed  # by the last worker, once
    assert _leftovers(engine, prefix) == []


def test_the_marker_under_strict_markers(pytester: pytest.Pytester):
    pytester.makepyfile(
        test_marked="""
        import pytest

        @pytest.mark.looplab("nowhere.yml")
        def test_marked():
            pass
        """
    )
    result = _run(pytester, "--collect-only", "-q")
    assert result.ret == 0, result.stdout.str()
    assert "test_marked.py::test_marked" in result.stdout.str()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_run_leaves_nothing(pytester: pytest.Pytester, engine, prefix: str, signum: int):
    pytester.path.joinpath("lab.yml").write_text(PRIVATE_LAB.format(name=prefix, peer_state="closed"))
    marker = pytester.path / "inside"
    pytester.makepyfile(
        test_held=f"""
        import pathlib, time, pytest

        @pytest.mark.looplab("lab.yml")
        def test_held(lab):
            pathlib.Path({str(marker)!r}).write_text(lab.name)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:  # until the signal arrives
                time.sleep(0.05)
        """
    )
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # SIGINT as a terminal delivers it, even when this session was started in the background
    # (a shell starts background jobs with SIGINT ignored, and Python then keeps it ignored)
    run_pytest = (
        "import signal, sys, pytest; signal.signal(signal.SIGINT, signal.default_int_handler); "
        "sys.exit(pytest.main(['-p', 'no:cacheprovider', '-q']))"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", run_pytest],
        cwd=pytester.path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for("the test to hold its lab", marker.exists, timeout=RUN_TIMEOUT, proc=proc)
        assert any(r.startswith("container") for r in _leftovers(engine, prefix))  # the lab runs now
        proc.send_signal(signum)
        out, _ = proc.communicate(timeout=RUN_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 2, out  # pytest's "interrupted"
    assert "KeyboardInterrupt" in out
    assert _leftovers(engine, prefix) == []


def test_a_lab_that_cannot_start_fails_its_tests_in_one_line(pytester: pytest.Pytester, engine, prefix: str):
    pytester.path.joinpath("lab.yml").write_text(
        f"name: {prefix}\nservices:\n  app:\n    image: looplab/toolbox\n    build: .\n"
    )
    pytester.makepyfile(
        test_bad="""
        import pytest

        @pytest.mark.looplab("lab.yml")
        def test_one(lab):
            pass

        @pytest.mark.looplab("lab.yml")
        def test_two(lab):
            pass
        """
    )
    result = _run(pytester)
    result.assert_outcomes(errors=2)
    out = result.stdout.str()
    assert out.count("looplab could not start") >= 2 and "build" in out
    assert "Traceback" not in out
    assert json.dumps(_leftovers(engine, prefix)) == "[]"
