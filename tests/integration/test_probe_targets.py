"""Probes go only where the user pointed them: a container's rewritten /etc/hosts cannot steer
`localhost` off loopback, and Docker's DNS is asked only for names a running container of the
lab carries on the vantage's networks (it forwards every other name outside the lab)."""

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
    command: ["serve", "tcp://127.0.0.1:62893"]
    networks: [lan]
  peer:
    image: looplab/toolbox
    command: ["serve", "tcp://0.0.0.0:8080"]
    networks: [lan]
networks:
  lan: {}
x-looplab:
  probe: {timeout: 1s}
"""
DOCKER_DNS = "127.0.0.11"


@pytest.fixture
def lab(tmp_path, looplab, engine):
    name = f"targets-it-{secrets.token_hex(3)}"
    path = tmp_path / f"{name}.yml"
    path.write_text(LAB_TEXT)
    up = looplab.run("up", str(path))
    try:
        assert up.returncode == 0, up.describe()
        yield name
    finally:
        down = looplab.run("down", name)
        assert down.returncode == 0, down.describe()


def _member(engine, lab: str, member: str):
    (container,) = engine.containers.list(all=True, filters={"label": [f"{LAB}={lab}", f"{MEMBER}={member}"]})
    return container


def test_a_rewritten_hosts_file_cannot_steer_localhost_off_loopback(lab, looplab, engine):
    peer_address = next(iter(_member(engine, lab, "peer").attrs["NetworkSettings"]["Networks"].values()))["IPAddress"]
    hosts = f"{peer_address} localhost\\n127.0.0.1 localhost\\n"
    rewrite = _member(engine, lab, "app").exec_run(
        ["/usr/local/bin/python3", "-c", f"open('/etc/hosts', 'w').write('{hosts}')"]
    )
    assert rewrite.exit_code == 0, rewrite.output
    done = looplab.run("probe", "--lab", lab, "--from", "app", "localhost:8080")
    assert "Traceback" not in done.stderr, done.describe()
    head = done.stdout.splitlines()[0]
    assert "(tcp 127.0.0.1:8080)" in head and peer_address not in done.stdout, done.describe()
    assert "closed" in head, done.describe()  # app has nothing on 8080; peer's 0.0.0.0:8080 was not dialled


def test_docker_dns_is_not_asked_for_a_stopped_service(lab, looplab, engine):
    _member(engine, lab, "app").stop(timeout=5)
    peer = _member(engine, lab, "peer")
    guard = ["nsenter", f"--net=/proc/{peer.attrs['State']['Pid']}/ns/net", "iptables", "-w"]
    rule = ["OUTPUT", "-d", DOCKER_DNS, "-p", "udp", "-j", "DROP"]
    guarded = (
        bool(shutil.which("nsenter")) and subprocess.run([*guard, "-I", *rule], capture_output=True).returncode == 0
    )
    try:
        done = looplab.run("resolve", "--lab", lab, "--from", "peer", "app")
        assert done.returncode == 1, done.describe()
        assert "no running container has it" in done.stdout and "was not asked" in done.stdout, done.describe()
        if guarded:
            listed = subprocess.run([*guard, "-L", "OUTPUT", "-v", "-n", "-x"], capture_output=True, text=True).stdout
            (counted,) = [ln.split() for ln in listed.splitlines() if DOCKER_DNS in ln]
            assert counted[0] == "0", f"a query went to Docker's DNS:\n{listed}"
    finally:
        if guarded:
            subprocess.run([*guard, "-D", *rule], capture_output=True)
