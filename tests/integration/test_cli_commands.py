"""Every `looplab` command through click's CliRunner, in-process, against the real engine.

Labs are copies of the reference labs under a unique stem (`cli-<lab>-<uuid8>.yml`): a lab's
name is its file's stem, and other people run labs on this engine at the same time. Every
lab a test brings `up` is brought `down` in a `finally`; the folder's leak check then looks
(these labs carry pytest's own pid as their owner). Nothing is pulled (LOOPLAB_PULL=never).
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from looplab_it import COMPOSE, LAB, MANAGED, MEMBER, OWNER_HOST, OWNER_PID, ROOTLESS, gc_finished, managed

from orchestrator.cli import main

# A wrong expectation for one cell, so a copy can fail on purpose (seed: peer -> app:62893 is closed).
SEED_WRONG = ('{from: peer, to: "app:62893",       state: closed}', '{from: peer, to: "app:62893", state: open}')
# localhost.yml: app's ::1 is unreachable (IPv6 off); this copy claims it is open.
LOCALHOST_WRONG = (
    '{from: app,   to: "[::1]:8081",     state: unreachable}',
    '{from: app, to: "[::1]:8081", state: open}',
)


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    """`looplab ARGS` in-process; stdout and stderr kept apart; a crash is re-raised as itself."""
    try:
        runner = CliRunner(mix_stderr=False)  # click 8.1
    except TypeError:  # click >= 8.2 keeps them apart by itself
        runner = CliRunner()
    result = runner.invoke(main, list(map(str, args)), env={"LOOPLAB_PULL": "never", **(env or {})})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert "Traceback" not in result.stdout + result.stderr
    return result


def describe(done: Result) -> str:
    return f"exit {done.exit_code}\n--- stdout ---\n{done.stdout}\n--- stderr ---\n{done.stderr}"


def copy_lab(tmp_path: Path, reference: str, *edits: tuple[str, str]) -> Path:
    """compose/REFERENCE.yml as tmp_path/cli-REFERENCE-<uuid8>.yml, with `edits` applied."""
    text = (COMPOSE / f"{reference}.yml").read_text()
    for old, new in edits:
        assert old in text, f"{reference}.yml changed: {old!r} is not in it"
        text = text.replace(old, new)
    path = tmp_path / f"cli-{reference}-{uuid.uuid4().hex[:8]}.yml"
    path.write_text(text)
    return path


def up_lab(path: Path) -> Iterator[str]:
    """`up` the lab for one test and always `down` it."""
    try:
        done = invoke("up", path)
        assert done.exit_code == 0, describe(done)
        yield path.stem
    finally:
        down = invoke("down", path.stem)
        assert down.exit_code == 0, describe(down)


@pytest.fixture
def localhost_lab(tmp_path: Path) -> Iterator[str]:
    """localhost.yml (v6app: IPv6 on lo, listens on 127.0.0.1:8080; app: IPv6 off, 127.0.0.1:8081),
    with one wrong expectation: app -> [::1]:8081 open."""
    yield from up_lab(copy_lab(tmp_path, "localhost", LOCALHOST_WRONG))


# ------------------------------------------------------------------ lab commands


# The seed lab's cells: on a rootless engine the host's cell to app's address is left out (README, "Engines").
SEED_CELLS = 15 if ROOTLESS else 16


def test_check_a_passing_lab_prints_the_matrix(tmp_path):
    path = copy_lab(tmp_path, "seed-62893")
    done = invoke("check", path)
    assert done.exit_code == 0, describe(done)
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"{path.stem} · docker ")
    assert re.search(r"│ from \\ to │ 127\.0\.0\.1:62893 │", done.stdout), done.stdout
    assert re.search(r"│ app +│ open ", done.stdout), done.stdout
    summary = rf"{SEED_CELLS} cells · {SEED_CELLS} pass · 0 fail \(0 exposed, 0 broken\)"
    assert any(re.match(summary, ln) for ln in lines), done.stdout
    assert "\x1b" not in done.stdout  # not a terminal: no colour


def test_check_a_wrong_expectation_exits_1_and_json_parses(tmp_path):
    path = copy_lab(tmp_path, "seed-62893", SEED_WRONG)
    done = invoke("check", path, "--format", "json")
    assert done.exit_code == 1, describe(done)
    report = json.loads(done.stdout)
    assert report["schema"] == "looplab/report@1" and report["lab"] == path.stem
    failed = [c for c in report["cells"] if c["verdict"] != "pass"]
    assert [(c["from"], c["to"], c["state"], c["verdict"]) for c in failed] == [
        ("peer", "app:62893", "closed", "broken")
    ]
    assert failed[0]["diagnosis"]["cause"] == "bound-to-loopback"


def test_check_output_writes_the_file_and_says_so_on_stderr(tmp_path):
    path = copy_lab(tmp_path, "seed-62893")
    out = tmp_path / "report.md"
    done = invoke("check", path, "--format", "markdown", "--output", out)
    assert done.exit_code == 0, describe(done)
    assert done.stdout == ""
    said = f"looplab: {SEED_CELLS} cells, {SEED_CELLS} pass, 0 fail; report written to {out}\n"
    assert done.stderr.endswith(said) and done.stderr.count("\n") == (2 if ROOTLESS else 1), done.stderr
    report = out.read_text()
    shown = f"looplab {path.stem}: {SEED_CELLS} cells · {SEED_CELLS} pass · 0 fail"
    assert shown in report and "| `app` | `open` |" in report, report


def test_up_prints_members_with_their_pids_and_down_removes_them(tmp_path, engine):
    path = copy_lab(tmp_path, "seed-62893")
    try:
        done = invoke("up", path)
        assert done.exit_code == 0, describe(done)
        assert done.stdout.splitlines()[0].startswith(f"lab {path.stem} is up (run ")
        rows = {ln.split()[0]: ln.split() for ln in done.stdout.splitlines()[2:] if ln.split()}
        containers, _ = managed(engine, **{LAB: path.stem})
        assert {c.member for c in containers} == {"app", "peer"}  # observers start on first use
        for c in containers:
            pid = engine.api.inspect_container(c.id)["State"]["Pid"]
            assert rows[c.member][1:3] == [c.name, str(pid)], done.stdout
        assert rows["app"][3] == "lan" and re.fullmatch(r"\d+\.\d+\.\d+\.\d+", rows["app"][4]), done.stdout
    finally:
        down = invoke("down", path.stem)
    assert down.exit_code == 0, describe(down)
    removed = int(re.fullmatch(r"removed (\d+) resource\(s\)\n", down.stdout).group(1))
    assert removed >= 3  # app, peer and the lab network
    assert managed(engine, **{LAB: path.stem}) == ([], [])


def _dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_gc_removes_what_a_dead_run_left(engine):
    """A labelled network whose owner process is gone (what a SIGKILLed run leaves): gc removes it."""
    name = f"looplab-cli-gc-{uuid.uuid4().hex[:8]}"
    labels = {
        MANAGED: "true",
        LAB: name,
        MEMBER: "lan",
        "org.looplab.run": "dead01",
        "org.looplab.role": "network",
        "org.looplab.keep": "false",
        OWNER_PID: str(_dead_pid()),
        OWNER_HOST: socket.gethostname(),
    }
    network = engine.networks.create(name, driver="bridge", labels=labels)
    try:
        done = invoke("gc")
        assert gc_finished(done.exit_code, done.stderr), describe(done)
        removed = int(re.match(r"removed (\d+) resource\(s\)", done.stdout).group(1))
        assert removed >= 1, describe(done)
        assert managed(engine, **{LAB: name}) == ([], []), "gc left the dead run's network"
    finally:
        if managed(engine, **{LAB: name})[1]:
            network.remove()


def test_toolbox_build_reports_the_image():
    done = invoke("toolbox", "build")
    assert done.exit_code == 0, describe(done)
    assert re.fullmatch(
        r"(built|up to date:) looplab/toolbox:\S+ \(content [0-9a-f]+, [\d.]+ MB, [\d.]+s\)\n", done.stdout
    ), done.stdout


# ------------------------------------------------------------------ on-demand commands

VANTAGES = "host, v6app, app, @lan, @outside, @neighbour"  # of localhost.yml, in the order the error lists them


def test_probe(localhost_lab):
    done = invoke("probe", "--lab", localhost_lab, "--from", "v6app", "127.0.0.1:8080")
    assert done.exit_code == 0, describe(done)
    assert re.fullmatch(
        r"v6app -> 127\.0\.0\.1:8080 \(tcp 127\.0\.0\.1:8080\): open in [\d.]+ ms", done.stdout.split("\n")[0]
    )
    assert "  expected open (pass): " in done.stdout

    done = invoke("probe", "--lab", localhost_lab, "--from", "v6app", "[::1]:8080")  # lo has ::1 here
    assert done.exit_code == 0, describe(done)
    assert done.stdout.startswith("v6app -> [::1]:8080 (tcp [::1]:8080): closed"), done.stdout

    done = invoke("probe", "--lab", localhost_lab, "--from", "app", "[::1]:8081")  # the copy's wrong expectation
    assert done.exit_code == 1, describe(done)
    assert done.stdout.startswith("app -> [::1]:8081 (tcp [::1]:8081): unreachable"), done.stdout
    assert "  expected open (broken): " in done.stdout

    done = invoke("probe", "--lab", localhost_lab, "--from", "app", "v6app", "--proto", "icmp")
    assert done.exit_code == 0, describe(done)
    assert re.match(r"app -> v6app \(icmp \d+\.\d+\.\d+\.\d+\): open", done.stdout), done.stdout

    done = invoke("probe", "--lab", localhost_lab, "--from", "nobody", "v6app:8080")
    assert done.exit_code == 2 and done.stdout == "", describe(done)
    assert done.stderr == f"looplab: error: unknown vantage 'nobody'; this lab has: {VANTAGES}\n"


def test_diagnose(localhost_lab):
    done = invoke("diagnose", "--lab", localhost_lab, "--from", "v6app", "localhost:8080")
    assert done.exit_code == 0, describe(done)
    lines = done.stdout.splitlines()
    assert lines[0] == "v6app -> localhost:8080 (tcp [::1]:8080): closed, expected closed (pass)"
    assert "  cause:     localhost-ipv6" in lines and any(ln.startswith("  fix:       ") for ln in lines)

    done = invoke("diagnose", "--lab", localhost_lab, "--from", "app", "v6app:8080")
    assert done.exit_code == 0, describe(done)
    assert "  cause:     bound-to-loopback" in done.stdout.splitlines(), done.stdout
    found = next(ln for ln in done.stdout.splitlines() if ln.startswith("  found:     "))
    assert "tcp 127.0.0.1:8080 (pid " in found, found


def test_resolve(localhost_lab):
    done = invoke("resolve", "--lab", localhost_lab, "--from", "v6app", "localhost")
    assert done.exit_code == 0, describe(done)
    assert done.stdout.endswith("(from hosts); a plain client dials ::1 first\n"), done.stdout  # IPv6 on lo

    done = invoke("resolve", "--lab", localhost_lab, "--from", "app", "localhost")
    assert done.stdout.endswith("a plain client dials 127.0.0.1 first\n"), describe(done)  # IPv6 off

    done = invoke("resolve", "--lab", localhost_lab, "--from", "app", "v6app")
    assert done.exit_code == 0, describe(done)
    assert re.fullmatch(r"app: v6app -> (\S+) \(from dns\); a plain client dials \1 first\n", done.stdout)

    done = invoke("resolve", "--lab", localhost_lab, "--from", "@outside", "v6app")  # no shared network
    assert done.exit_code == 1 and "was not asked" in done.stdout, describe(done)

    done = invoke("resolve", "--lab", localhost_lab, "--from", "app", "example.com")
    assert done.exit_code == 2 and done.stdout == "", describe(done)
    assert len(done.stderr.splitlines()) == 1 and "outside the lab" in done.stderr, describe(done)


def test_sockets_table_and_json(localhost_lab):
    table = invoke("sockets", "--lab", localhost_lab)
    assert table.exit_code == 0, describe(table)
    rows = [ln.split() for ln in table.stdout.splitlines()]
    assert rows[0] == ["NAMESPACE", "PROTO", "LISTENER", "PROCESS"]
    mine = [r for r in rows if r[:3] == ["v6app", "tcp", "127.0.0.1:8080"]]
    assert len(mine) == 1 and mine[0][3] == "pid", table.stdout

    done = invoke("sockets", "--lab", localhost_lab, "--format", "json")
    assert done.exit_code == 0, describe(done)
    inventory = json.loads(done.stdout)
    assert {"host", "v6app", "app"} <= set(inventory)
    (listener,) = [s for s in inventory["v6app"] if (s["proto"], s["address"], s["port"]) == ("tcp", "127.0.0.1", 8080)]
    assert mine[0][4] == str(listener["pid"]) and "serve tcp://127.0.0.1:8080" in listener["command"]

    one = invoke("sockets", "--lab", localhost_lab, "--format", "json", "app")
    assert one.exit_code == 0 and list(json.loads(one.stdout)) == ["app"], describe(one)


def test_scan_table_and_json(localhost_lab):
    args = ("scan", "--lab", localhost_lab, "--from", "app", "127.0.0.1", "--ports", "8075-8085")
    done = invoke(*args)
    assert done.exit_code == 0, describe(done)
    lines = done.stdout.splitlines()
    assert lines[0] == "app -> 127.0.0.1: tcp connect scan of 11 port(s) [8075-8085]"
    rows = [ln.split() for ln in lines if ln.startswith("  ") and ln.strip()[:1].isdigit()]  # the table's
    assert [r[:3] for r in rows] == [["8081", "127.0.0.1:8081", "pid"]], done.stdout
    assert any(ln.startswith("1 open, 10 closed, 0 filtered · 11 of 11 port(s)") for ln in lines), done.stdout

    done = invoke(*args, "--format", "json")
    assert done.exit_code == 0, describe(done)
    answer = json.loads(done.stdout)
    assert answer["schema"] == "looplab/scan@1" and answer["from"] == "app" and answer["lab"] == localhost_lab
    assert answer["open"] == [8081] and answer["closed_count"] == 10 and answer["ports_total"] == 11
    (owner,) = answer["owners"]
    assert (owner["port"], owner["address"]) == (8081, "127.0.0.1") and str(owner["pid"]) == rows[0][3]


# ------------------------------------------------------------------ errors


def test_an_unknown_lab_is_one_line_and_exit_2():
    name = f"cli-none-{uuid.uuid4().hex[:8]}"
    for args in (["probe", "--lab", name, "--from", "app", "app:1"], ["sockets", "--lab", name]):
        done = invoke(*args)
        assert done.exit_code == 2 and done.stdout == "", describe(done)
        assert done.stderr.startswith(f"looplab: error: no lab '{name}' is running"), describe(done)
        assert len(done.stderr.splitlines()) == 1, describe(done)


def test_an_unreachable_engine_is_one_line_and_exit_2(tmp_path):
    done = invoke("check", copy_lab(tmp_path, "seed-62893"), env={"DOCKER_HOST": "unix:///nonexistent.sock"})
    assert done.exit_code == 2 and done.stdout == "", describe(done)
    assert done.stderr.startswith("looplab: error: cannot reach the Docker engine at unix:///nonexistent.sock")
    assert len(done.stderr.splitlines()) == 1, describe(done)
