"""The LAN neighbour `@neighbour` (issue 8, section 4) on the real engine.

A named network namespace joined to the host by a veth pair on a link-local /30, made by the
run and removed by it (success, SIGTERM) or by `gc` (a hard kill). As root with the setns
launcher it probes; in the configurations where looplab cannot make namespaces (a non-root
user: the agent launcher; a rootless engine: join) asking for it is refused in one line.
"""

from __future__ import annotations

import ipaddress
import signal
import subprocess
from pathlib import Path

import pytest
from looplab_it import COMPOSE, EXPECT_LAUNCHER, RUN_TIMEOUT, cell, gc_finished, neighbours, owned_by, wait_for

CAN_MAKE = EXPECT_LAUNCHER == "setns"  # root next to a rootful engine
REFUSED = "the LAN neighbour @neighbour cannot be made here"
POOL = ipaddress.IPv4Network("169.254.224.0/20")

LAB = """\
services:
  app:
    image: looplab/toolbox
    command: ["serve", "tcp://0.0.0.0:8080"]
    networks: [front, back]
  peer:
    image: looplab/toolbox
    command: ["idle"]
    networks: [front]
networks:
  front: {}
  back: {}
x-looplab:
  probe: {timeout: 1s, lan: true}
"""


def _refused_instead(looplab, engine, *args: str) -> bool:
    """Where the neighbour cannot be made, the same command is refused in one line (asserted here,
    never skipped); True then, and the test has nothing more to check."""
    if CAN_MAKE:
        return False
    _assert_refused(looplab.run(*args), engine)
    return True


def _lab(tmp_path: Path, text: str = LAB, stem: str = "neighbour") -> Path:
    path = tmp_path / f"{stem}.yml"
    path.write_text(text)
    return path


def _assert_refused(done, engine) -> None:
    assert done.returncode == 2, done.describe()
    assert REFUSED in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.describe()
    assert "Traceback" not in done.stderr, done.describe()
    assert owned_by(engine, done.pid) == ([], []), "a refused run must leave nothing behind"
    assert neighbours(done.pid) == [], "a refused run must leave no namespace"


def _routes(netns: str) -> list[str]:
    out = subprocess.run(["ip", "-n", netns, "-4", "route", "show"], capture_output=True, text=True, check=True)
    return [line.split()[0] for line in out.stdout.splitlines() if line.strip()]


def _subnets(engine, pid: int) -> set[str]:
    """The lab's own networks' subnets (not @outside's: the neighbour has no business there)."""
    _, networks = owned_by(engine, pid)
    lab = [n for n in networks if n.member != "@outside"]
    assert len(lab) == 2, networks
    return {engine.api.inspect_network(n.id)["IPAM"]["Config"][0]["Subnet"] for n in lab}


def _finish(proc: subprocess.Popen) -> tuple[str, str]:
    try:
        return proc.communicate(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"the run did not exit within {RUN_TIMEOUT:g}s\n{out}\n{err}")


def test_a_lab_that_asks_for_the_neighbour_is_refused_where_it_cannot_be_made(looplab, engine, tmp_path: Path):
    """agent/join configurations: `lan: true` in the file is refused in one line (exit 2), never
    silently dropped; as root, `--launcher join` (which cannot enter a named namespace) is."""
    args = ("check", str(_lab(tmp_path)), "--format", "json")
    done = looplab.run(*args, "--launcher", "join") if CAN_MAKE else looplab.run(*args)
    _assert_refused(done, engine)
    if CAN_MAKE:
        assert "--launcher join" in done.stderr, done.describe()
    else:
        assert ("rootless" if EXPECT_LAUNCHER == "join" else "needs root") in done.stderr, done.describe()


def test_the_lan_flag_is_refused_where_the_neighbour_cannot_be_made(looplab, engine):
    if CAN_MAKE:
        done = looplab.run("check", "--lan", "--launcher", "agent", str(COMPOSE / "seed-62893.yml"))
    else:
        done = looplab.run("check", "--lan", str(COMPOSE / "seed-62893.yml"))
    _assert_refused(done, engine)
    assert done.stderr.startswith("looplab: --lan:") or "--lan:" in done.stderr, done.describe()


def test_the_lan_flag_adds_the_neighbours_row(looplab, engine):
    """seed-62893 has no neighbour of its own; `--lan` adds the row, and its cells pass there
    (app listens on its container's 127.0.0.1 only and publishes nothing)."""
    if _refused_instead(looplab, engine, "check", "--lan", str(COMPOSE / "seed-62893.yml")):
        return
    plain = looplab.run("check", str(COMPOSE / "seed-62893.yml"), "--format", "json")
    assert "Traceback" not in plain.stderr, plain.describe()
    assert not [c for c in plain.json()["cells"] if c["from"] == "@neighbour"], "no --lan, no neighbour"
    done = looplab.run("check", "--lan", str(COMPOSE / "seed-62893.yml"), "--format", "json")
    assert done.returncode in (0, 1) and "Traceback" not in done.stderr, done.describe()
    row = [c for c in done.json()["cells"] if c["from"] == "@neighbour"]
    assert [c["to"] for c in row] == ["app:62893"], row
    assert row[0]["state"] in ("closed", "filtered") and row[0]["verdict"] == "pass", row
    assert neighbours(done.pid) == []


def test_the_neighbour_routes_only_the_lab_and_is_removed_after_the_run(looplab, engine, tmp_path: Path):
    """Held at teardown: one namespace named with the run's pid, on a /30 of the pool, routing the
    lab's own subnets and the host's 127.0.0.1 via the host, and nothing else (no default route)."""
    if _refused_instead(looplab, engine, "check", "--format", "json", str(_lab(tmp_path))):
        return
    marker = tmp_path / "teardown.held"
    env = looplab.env(LOOPLAB_TEST_HOLD=f"teardown:{marker}")
    proc = looplab.start("check", "--format", "json", str(_lab(tmp_path)), env=env)
    wait_for("the run to reach its teardown", marker.exists, proc=proc)
    made = neighbours(proc.pid)
    assert len(made) == 1, made
    routes = _routes(made[0])
    link = [r for r in routes if "/30" in r]
    assert len(link) == 1 and ipaddress.IPv4Network(link[0]).subnet_of(POOL), routes
    assert "default" not in routes, routes
    assert set(routes) - set(link) == _subnets(engine, proc.pid) | {"127.0.0.1"}, routes
    (tmp_path / "teardown.held.go").write_text("")
    out, err = _finish(proc)
    assert proc.returncode == 0, f"{out}\n{err}"
    assert neighbours(proc.pid) == [], "the run must remove its neighbour"


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_a_signal_removes_the_neighbour(looplab, engine, tmp_path: Path, signum, code):
    if _refused_instead(looplab, engine, "check", "--format", "json", str(_lab(tmp_path))):
        return
    proc = looplab.start("check", "--format", "json", str(_lab(tmp_path)))
    wait_for("the neighbour to be made", lambda: neighbours(proc.pid), proc=proc)
    proc.send_signal(signum)
    out, err = _finish(proc)
    assert proc.returncode == code, f"{out}\n{err}"
    assert neighbours(proc.pid) == [], "Ctrl-C and SIGTERM must remove the neighbour"
    assert owned_by(engine, proc.pid) == ([], [])


def test_gc_removes_the_neighbour_a_hard_kill_left(looplab, engine, tmp_path: Path):
    if _refused_instead(looplab, engine, "check", "--format", "json", str(_lab(tmp_path))):
        return
    proc = looplab.start("check", "--format", "json", str(_lab(tmp_path)))
    made = wait_for("the neighbour to be made", lambda: neighbours(proc.pid), proc=proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert neighbours(proc.pid) == made, "a hard kill leaves the namespace: gc's job"
    done = looplab.run("gc")
    assert gc_finished(done.returncode, done.stderr), done.describe()  # engine zombies (moby#42119) aside
    assert neighbours(proc.pid) == [], f"gc must remove the neighbour {made}\n{done.describe()}"
    assert owned_by(engine, proc.pid) == ([], [])


def test_without_the_pins_the_leaks_are_exposed_and_explained(looplab, engine, tmp_path: Path):
    """compose/lan-neighbour.yml pins what Docker 20.10 does; without the two pins both leaks of
    leaky are reported exposed, with the cause, the engine's version and the fixes."""
    text = (COMPOSE / "lan-neighbour.yml").read_text()
    unpinned = "\n".join(line for line in text.splitlines() if "the leak, pinned" not in line) + "\n"
    assert unpinned.count("\n") == text.count("\n") - 2
    if _refused_instead(looplab, engine, "check", str(_lab(tmp_path, unpinned, "lan-neighbour"))):
        return
    done = looplab.run("check", str(_lab(tmp_path, unpinned, "lan-neighbour")), "--format", "json")
    assert done.returncode == 1, done.describe()
    report = done.json()
    version = report["engine"]["version"]
    direct = cell(report, "@neighbour", "leaky:8080")
    assert direct["verdict"] == "exposed" and direct["state"] == "open", direct
    assert direct["diagnosis"]["cause"] == "direct-routing", direct
    assert version in direct["diagnosis"]["found"] and "before 28" in direct["diagnosis"]["found"], direct
    for fix in ("bind the service inside its container", "Docker >= 28", "DOCKER-USER"):
        assert fix in direct["diagnosis"]["fix"], direct
    dnat = cell(report, "@neighbour", "127.0.0.1:62887")
    assert dnat["verdict"] == "exposed" and dnat["diagnosis"]["cause"] == "localhost-dnat", dnat
    assert version in dnat["diagnosis"]["found"] and "DOCKER-USER" in dnat["diagnosis"]["fix"], dnat
    failing = sorted((c["from"], c["to"]) for c in report["cells"] if c["verdict"] != "pass")
    assert failing == [("@neighbour", "127.0.0.1:62887"), ("@neighbour", "leaky:8080")], failing
    assert neighbours(done.pid) == []


def test_probe_from_the_neighbour_on_a_running_lab(looplab, engine):
    """`probe --from @neighbour` needs `--lan`; with it the command makes its own neighbour and
    removes it, leaving the lab to `down`. Where it cannot be made: the one-line refusal."""
    lab = COMPOSE / "lan-neighbour.yml"
    up = looplab.run("up", str(lab))
    assert up.returncode == 0, up.describe()
    try:
        bare = looplab.run("probe", "--lab", "lan-neighbour", "--from", "@neighbour", "leaky:8080")
        assert bare.returncode == 2 and "add --lan" in bare.stderr, bare.describe()
        assert len(bare.stderr.strip().splitlines()) == 1, bare.describe()
        done = looplab.run("probe", "--lab", "lan-neighbour", "--lan", "--from", "@neighbour", "leaky:8080")
        if not CAN_MAKE:
            assert done.returncode == 2 and REFUSED in done.stderr, done.describe()
            assert len(done.stderr.strip().splitlines()) == 1, done.describe()
            return
        assert done.returncode == 0, done.describe()  # open, as the lab pins it on this engine
        assert "open" in done.stdout, done.describe()
        assert neighbours(done.pid) == [], "the probe must remove the neighbour it made"
    finally:
        down = looplab.run("down", "lan-neighbour")
        assert down.returncode == 0, down.describe()


def test_a_neighbour_that_cannot_be_made_fails_in_one_line_and_leaves_nothing(looplab, engine, tmp_path: Path):
    """A lab with no network of its own gives the neighbour nothing to route to: exit 2, one line,
    and the lab that was already running is removed with it."""
    text = 'services:\n  app:\n    image: looplab/toolbox\n    command: ["idle"]\n    network_mode: none\n'
    args = ("check", "--lan", str(_lab(tmp_path, text, "no-networks")))
    if _refused_instead(looplab, engine, *args):
        return
    done = looplab.run(*args)
    assert done.returncode == 2 and "nothing to route to" in done.stderr, done.describe()
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr, done.describe()
    assert owned_by(engine, done.pid) == ([], []) and neighbours(done.pid) == []
