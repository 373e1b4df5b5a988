"""`looplab scan`: a TCP connect scan from inside a vantage of a lab left running by `up`.

Network safety: every scan here targets the app's own loopback or the app's lab address;
the one address outside the lab (10.255.255.1) must be refused before anything is dialled,
and a DROP rule in the vantage's namespace both guards that and counts any attempt.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess

import pytest
from looplab_it import LAB, MEMBER

LAB_TEXT = """\
services:
  app:
    image: looplab/toolbox
    command: ["serve", "tcp://127.0.0.1:62893", "tcp://0.0.0.0:8080", "udp://0.0.0.0:5353"]
    networks: [lan]
    ports: ["127.0.0.1:62905:8080"]
  peer:
    image: looplab/toolbox
    command: ["idle"]
    networks: [lan]
networks:
  lan: {}
x-looplab:
  probe: {timeout: 1s}
"""
OUTSIDE_THE_LAB = "10.255.255.1"


@pytest.fixture
def lab(tmp_path, looplab):
    """The lab, up for one test; always `down` (the folder's leak check then looks)."""
    name = f"scan-it-{secrets.token_hex(3)}"
    path = tmp_path / f"{name}.yml"
    path.write_text(LAB_TEXT)
    up = looplab.run("up", str(path))
    try:
        assert up.returncode == 0, up.describe()
        yield name, looplab
    finally:
        down = looplab.run("down", name)
        assert down.returncode == 0, down.describe()


def scan(lab, *args: str):
    name, runner = lab
    return runner.run("scan", "--lab", name, *args)


def scan_json(lab, *args: str) -> dict:
    done = scan(lab, *args, "--format", "json")
    assert done.returncode == 0, done.describe()
    assert "Traceback" not in done.stderr, done.describe()
    return done.json()


def inventory(lab, member: str) -> list[dict]:
    name, runner = lab
    done = runner.run("sockets", "--lab", name, "--format", "json", member)
    assert done.returncode == 0, done.describe()
    return done.json()[member]


def tcp_ports(sockets: list[dict], addresses: set[str]) -> set[int]:
    return {s["port"] for s in sockets if s["proto"] == "tcp" and s["address"] in addresses}


def check_full_scan_of_the_apps_loopback(lab):
    answer = scan_json(lab, "--from", "app", "127.0.0.1", "--ports", "1-65535")
    assert answer["schema"] == "looplab/scan@1" and answer["address"] == "127.0.0.1"
    assert {8080, 62893} <= set(answer["open"]), answer["open"]
    # nothing else, unless the inventory says it listens there (Docker's embedded DNS
    # listens on 127.0.0.11, another address: it must not show up)
    expected = tcp_ports(inventory(lab, "app"), {"127.0.0.1", "0.0.0.0", "::", "::ffff:127.0.0.1"})
    assert set(answer["open"]) == expected, (answer["open"], expected)
    assert answer["ports_total"] == answer["scanned"] == 65535
    assert answer["closed_count"] == 65535 - len(answer["open"])
    assert answer["filtered_count"] == 0 and answer["unreachable"] is False and answer["errors"] == {}
    assert answer["seconds"] > 0
    # the owning process, from the app namespace's socket inventory
    assert answer["inventory"] is True and answer["namespace"] == "app"
    owners = {o["port"]: o for o in answer["owners"]}
    assert owners[62893]["address"] == "127.0.0.1" and "serve" in owners[62893]["command"]
    assert owners[8080]["address"] == "0.0.0.0" and owners[8080]["pid"] == owners[62893]["pid"]


def check_from_a_peer_only_the_all_interfaces_listener(lab):
    answer = scan_json(lab, "--from", "peer", "app")
    assert answer["address"] != "127.0.0.1" and answer["namespace"] == "app", answer
    assert 8080 in answer["open"] and 62893 not in answer["open"], answer["open"]
    expected = tcp_ports(inventory(lab, "app"), {answer["address"], "0.0.0.0", "::"})
    assert set(answer["open"]) == expected, (answer["open"], expected)
    # the same address written as a literal is allowed (it is the app's lab address)
    again = scan_json(lab, "--from", "peer", answer["address"], "--ports", "8000-8100,62893")
    assert again["open"] == [8080] and again["ports_total"] == 102, again


def check_table_lists_open_ports_then_counts(lab):
    done = scan(lab, "--from", "app", "127.0.0.1", "--ports", "8080,62893,1-1000")
    assert done.returncode == 0, done.describe()
    lines = done.stdout.splitlines()
    rows = [ln.split() for ln in lines if ln.strip()[:1].isdigit()]
    assert [r[0] for r in rows[:2]] == ["8080", "62893"], done.stdout
    assert "0.0.0.0:8080" in rows[0] and "127.0.0.1:62893" in rows[1], done.stdout
    assert any("2 open, 1000 closed, 0 filtered" in ln for ln in lines), done.stdout


def check_ipv6_loopback_is_unreachable_in_a_container(lab):
    answer = scan_json(lab, "--from", "app", "::1", "--ports", "1-100")
    assert answer["open"] == [] and answer["unreachable"], answer


def _app_pid(engine, name: str) -> int:
    (container,) = engine.containers.list(filters={"label": [f"{LAB}={name}", f"{MEMBER}=app"]})
    return container.attrs["State"]["Pid"]


def check_an_address_outside_the_lab_is_refused_before_any_packet(lab, engine):
    name, runner = lab
    netns = f"/proc/{_app_pid(engine, name)}/ns/net"
    guard = ["nsenter", f"--net={netns}", "iptables", "-w"]
    guarded = (
        shutil.which("nsenter")
        and shutil.which("iptables")
        and subprocess.run(
            [*guard, "-I", "OUTPUT", "-d", OUTSIDE_THE_LAB, "-j", "DROP"], capture_output=True
        ).returncode
        == 0
    )
    try:
        done = scan(lab, "--from", "app", OUTSIDE_THE_LAB, "--ports", "1-1024")
        assert done.returncode == 2, done.describe()
        assert done.stdout == "", done.describe()
        assert len(done.stderr_lines) == 1 and "refusing to scan 10.255.255.1" in done.stderr, done.describe()
        if guarded:
            listed = subprocess.run(
                [*guard, "-L", "OUTPUT", "-v", "-n", "-x"], capture_output=True, text=True, check=True
            ).stdout
            (rule,) = [ln.split() for ln in listed.splitlines() if OUTSIDE_THE_LAB in ln]
            assert rule[0] == "0", f"a packet went towards {OUTSIDE_THE_LAB}:\n{listed}"
    finally:
        if guarded:
            subprocess.run([*guard, "-D", "OUTPUT", "-d", OUTSIDE_THE_LAB, "-j", "DROP"], capture_output=True)


def check_the_host_is_scanned_only_on_the_lab_s_published_ports(lab):
    answer = scan_json(lab, "--from", "peer", "host")  # the gateway of lan: it ends on the host
    assert answer["namespace"] == "host" and answer["ports"] == "62905", answer
    assert answer["ports_total"] == answer["scanned"] == 1, answer
    wider = scan_json(lab, "--from", "peer", "host", "--ports", "62900-62909")  # asked for: allowed
    assert wider["ports_total"] == 10, wider
    from_host = scan_json(lab, "--from", "host", "127.0.0.1")
    assert from_host["ports"] == "62905" and from_host["open"] == [62905], from_host


def test_scan_a_running_lab(lab, engine):
    """One lab for every scan (starting one is the slow part): each check names what it shows."""
    check_an_address_outside_the_lab_is_refused_before_any_packet(lab, engine)
    check_full_scan_of_the_apps_loopback(lab)
    check_from_a_peer_only_the_all_interfaces_listener(lab)
    check_table_lists_open_ports_then_counts(lab)
    check_ipv6_loopback_is_unreachable_in_a_container(lab)
    check_the_host_is_scanned_only_on_the_lab_s_published_ports(lab)


@pytest.mark.parametrize("bad", ["0-5", "80,x", "70000"])
def test_bad_port_spec_is_one_line(looplab, bad):
    """Parsed before the engine is asked anything: no lab is needed to refuse it."""
    done = looplab.run("scan", "--lab", "no-such-lab", "--from", "app", "127.0.0.1", "--ports", bad)
    assert done.returncode == 2 and len(done.stderr_lines) == 1 and "--ports" in done.stderr, done.describe()
