"""Members that stop, and Compose's `depends_on` conditions (issue 9, items 10 and 11).

A service that exits non-zero before (or while) the matrix is probed fails the run in one line,
exit 2, naming its exit code and last log line — never probed as if it were the host. A
one-shot that exits 0 by design is no vantage and no target. `service_healthy` and
`service_completed_successfully` order the start on the dependency's own state.
"""

from __future__ import annotations

import secrets

import pytest
from looplab_it import LAB, MEMBER, owned_by


def _lab(tmp_path, stem: str, text: str):
    name = f"{stem}-{secrets.token_hex(3)}"
    path = tmp_path / f"{name}.yml"
    path.write_text(text)
    return name, path


def _one_line_exit_2(done) -> str:
    assert done.returncode == 2, done.describe()
    assert len(done.stderr_lines) == 1 and "Traceback" not in done.stderr, done.describe()
    return done.stderr_lines[0]


@pytest.mark.parametrize("command", ['["bogus"]', "[7]"])
def test_a_service_that_exits_at_start_fails_the_run(tmp_path, looplab, engine, command):
    _name, path = _lab(
        tmp_path,
        "exits-at-start",
        f"""\
services:
  app:
    image: looplab/toolbox
    command: {command}
    networks: [lan]
  peer:
    image: looplab/toolbox
    command: ["serve", "tcp://0.0.0.0:8080"]
    networks: [lan]
networks:
  lan: {{}}
""",
    )
    done = looplab.run("check", str(path))
    line = _one_line_exit_2(done)
    assert f"{path.name}:2: service app exited with code 2: entry: unknown command" in line, done.describe()
    assert owned_by(engine, done.pid) == ([], []), "everything the run made is gone"


ONE_SHOT = """\
services:
  job:
    image: looplab/toolbox
    command: ["--help"]
    networks: [lan]
  app:
    image: looplab/toolbox
    command: ["serve", "tcp://0.0.0.0:8080"]
    networks: [lan]
    depends_on:
      job: {condition: service_completed_successfully}
networks:
  lan: {}
x-looplab:
  expect:
    - {from: job, to: "app:8080", state: open}
"""


def test_a_one_shot_that_exits_0_is_listed_and_not_probed(tmp_path, looplab):
    _name, path = _lab(tmp_path, "one-shot", ONE_SHOT)
    done = looplab.run("check", str(path), "--format", "json")
    assert done.returncode == 0, done.describe()
    report = done.json()
    assert any(w.startswith("job exited (0): completed by design") for w in report["warnings"]), report["warnings"]
    cells = report["cells"]
    assert cells and not [c for c in cells if c["from"] == "job" or c["to"].startswith("job:")], cells
    assert any(c["from"] == "@lan" and c["to"] == "app:8080" for c in cells), cells  # app itself is probed


def test_a_one_shot_that_fails_stops_what_waits_for_it(tmp_path, looplab, engine):
    _name, path = _lab(tmp_path, "one-shot-fails", ONE_SHOT.replace('["--help"]', '["bogus"]'))
    done = looplab.run("check", str(path))
    line = _one_line_exit_2(done)
    assert "services.app.depends_on.job: it exited with code 2 (service_completed_successfully needs 0)" in line, (
        done.describe()
    )
    assert owned_by(engine, done.pid) == ([], [])


def test_an_unhealthy_dependency_is_one_line(tmp_path, looplab, engine):
    _name, path = _lab(
        tmp_path,
        "unhealthy",
        """\
services:
  db:
    image: looplab/toolbox
    command: ["idle"]
    networks: [lan]
    healthcheck:
      test: ["CMD", "/usr/local/bin/python3", "-c", "print('db is not ready'); raise SystemExit(1)"]
      interval: 100ms
      retries: 1
  app:
    image: looplab/toolbox
    command: ["idle"]
    networks: [lan]
    depends_on:
      db: {condition: service_healthy}
networks:
  lan: {}
""",
    )
    done = looplab.run("check", str(path))
    line = _one_line_exit_2(done)
    assert "services.app.depends_on.db: it is unhealthy: db is not ready" in line, done.describe()
    assert owned_by(engine, done.pid) == ([], [])


def _first_event(engine, since: float, container: str, status: str) -> int:
    """The engine's time (ns) of the first event `status` of `container` since `since`."""
    import time

    events = engine.events(since=int(since), until=int(time.time()) + 1, decode=True, filters={"container": container})
    stamps = [e["timeNano"] for e in events if e.get("status") == status]
    assert stamps, f"no {status!r} event for {container[:12]}"
    return min(stamps)


def test_port_conflict_starts_the_sidecar_only_once_app_listens(looplab, engine, tmp_path):
    """compose/port-conflict.yml is deterministic: the sidecar is created after app's healthcheck
    saw 127.0.0.1:8080 answer, so app always holds the port (about 1 run in 30 it did not)."""
    import time

    from looplab_it import COMPOSE

    name, path = _lab(tmp_path, "port-conflict-order", (COMPOSE / "port-conflict.yml").read_text())
    before = time.time() - 1
    assert looplab.run("up", str(path)).returncode == 0
    try:

        def member(m: str) -> str:
            (c,) = engine.containers.list(filters={"label": [f"{LAB}={name}", f"{MEMBER}={m}"]})
            return c.id

        healthy = _first_event(engine, before, member("app"), "health_status: healthy")
        created = _first_event(engine, before, member("sidecar"), "create")
        assert created > healthy, (created, healthy)
    finally:
        assert looplab.run("down", name).returncode == 0
