"""`looplab audit` on a stack docker-compose started: findings, untouched containers, the written
lab replayed by `check`, and bad input. docker-compose (Debian's 1.29) is installed when missing
and this runs as root; in CI a missing one fails these tests."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from looplab_it import ENGINE_REQUIRED, EXPECT_LAUNCHER, HERE, Looplab, free_port, neighbours, owned_by, wait_for

STACK = HERE / "stacks" / "audit-stack.yml"
LISTENING = {"web": [8080], "app": [8081], "api": [9000, 5678], "db": [5432]}


def _compose_binary() -> str:
    found = shutil.which("docker-compose")
    if found is None and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=False, capture_output=True, timeout=600)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "docker-compose"],
            env=env,
            check=False,
            capture_output=True,
            timeout=900,
        )
        found = shutil.which("docker-compose")
    if found is None:
        message = "docker-compose is not installed (apt-get install docker-compose) and cannot be installed here"
        if ENGINE_REQUIRED:
            pytest.fail(message)
        pytest.skip(message)
    return found


class Stack:
    """A Compose project started by docker-compose itself, as its user would."""

    def __init__(self, binary: str, project: str, folder: Path) -> None:
        self.binary, self.project, self.folder = binary, project, folder
        self.web_port, self.app_port = free_port(), free_port()
        self.file = folder / "docker-compose.yml"
        self.file.write_text(STACK.read_text())

    def compose(self, *args: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "WEB_PORT": str(self.web_port), "APP_PORT": str(self.app_port)}
        done = subprocess.run(
            [self.binary, "-p", self.project, "-f", str(self.file), *args],
            cwd=self.folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, f"docker-compose {' '.join(args)} failed:\n{done.stderr[-2000:]}"
        return done

    def containers(self, client: docker.DockerClient) -> dict[str, docker.models.containers.Container]:
        listed = client.containers.list(all=True, filters={"label": f"com.docker.compose.project={self.project}"})
        return {c.labels["com.docker.compose.service"]: c for c in listed}

    def wait_listening(self, client: docker.DockerClient) -> None:
        """Every listener of the stack is in its namespace's socket table (read inside, no probe)."""
        deadline = time.monotonic() + 60
        for service, ports in LISTENING.items():
            container = self.containers(client)[service]
            wanted = {f":{port:04X} " for port in ports}
            while True:
                table = container.exec_run(["python3", "-I", "-c", "print(open('/proc/net/tcp').read())"]).output
                rows = [line for line in table.decode().splitlines()[1:] if line.split()[3:4] == ["0A"]]
                if all(any(w in row for row in rows) for w in wanted):
                    break
                assert time.monotonic() < deadline, f"{service} never listened on {ports}"
                time.sleep(0.1)


def _snapshot(client: docker.DockerClient, stack: Stack) -> dict:
    """What the user's containers and networks look like: ids, state, start time, endpoints."""
    out = {}
    for service, c in stack.containers(client).items():
        c.reload()
        out[service] = (c.id, c.status, c.attrs["State"]["StartedAt"], sorted(c.attrs["NetworkSettings"]["Networks"]))
    for net in client.networks.list(filters={"label": f"com.docker.compose.project={stack.project}"}):
        net.reload()
        out[net.name] = sorted(net.attrs.get("Containers") or {})
    return out


@pytest.fixture(scope="module")
def stack(tmp_path_factory, _session_engine_ready) -> Iterator[Stack]:
    binary = _compose_binary()
    s = Stack(binary, f"llaudit{os.getpid()}", tmp_path_factory.mktemp("audit-stack"))
    client = docker.from_env()
    try:
        s.compose("up", "-d")
        s.wait_listening(client)
        yield s
    finally:
        s.compose("down", "-t", "0")


@pytest.fixture(scope="module")
def audited(stack: Stack, tmp_path_factory, spawned_pids: set[int]):
    """One audit of the stack (JSON), its exit code, and the containers before and after it."""
    client = docker.from_env()
    before = _snapshot(client, stack)
    lab_file = tmp_path_factory.mktemp("audit-lab") / "lab.yml"
    runner = Looplab(spawned_pids)
    try:
        result = runner.run("audit", "--project", stack.project, "--format", "json", "--write-lab", str(lab_file))
    finally:
        runner.close()
    return result, before, _snapshot(client, stack), lab_file


def _finding(doc: dict, kind: str, target: str) -> dict:
    found = [f for f in doc["findings"] if f["kind"] == kind and f["target"] == target]
    assert len(found) == 1, f"no single {kind} on {target}: {[(f['kind'], f['target']) for f in doc['findings']]}"
    return found[0]


def test_each_exposure_of_the_stack_is_a_finding_with_evidence(audited, stack: Stack):
    result, *_ = audited
    assert result.returncode == 1, result.describe()
    doc = result.json()
    web = _finding(doc, "published-all-interfaces", f"host:{stack.web_port}/tcp")
    assert web["level"] == "exposed", web
    if doc["matrix"]["engine"]["rootless"]:  # @outside dials RootlessKit's namespace: the finding says why
        assert "RootlessKit" in web["evidence"][-1], web
    else:
        assert f"@outside -> host:{stack.web_port}/tcp: open" in web["evidence"], web
    app = _finding(doc, "publish-to-loopback", f"host:{stack.app_port}/tcp")
    assert app["level"] == "broken" and any(
        e.startswith(f"host -> host:{stack.app_port}/tcp: reset") for e in app["evidence"]
    )
    debug = _finding(doc, "undeclared-listener", "api:5678/tcp")
    assert debug["level"] == "exposed" and any(e.startswith("client -> api:5678/tcp: open") for e in debug["evidence"])
    assert not [f for f in doc["findings"] if f["kind"] == "undeclared-listener" and f["target"] == "api:9000/tcp"]
    peers = _finding(doc, "reachable-by-peers", "api:9000/tcp")
    assert "client" in peers["title"]
    sockets = {(s["member"], s["address"], s["port"]): s["process"] for s in doc["sockets"]}
    assert {("api", "0.0.0.0", 5678), ("app", "127.0.0.1", 8081), ("db", "0.0.0.0", 5432)} <= set(sockets), sockets
    assert "serve" in sockets[("api", "0.0.0.0", 5678)], sockets  # with its process


def test_a_firewall_rule_that_drops_is_a_finding_with_the_rule(audited):
    result, *_ = audited
    drop = _finding(result.json(), "firewall-drop", "db:5432/tcp")
    rule = [e for e in drop["evidence"] if e.startswith("rule: ")]
    assert rule and "DROP" in rule[0] and "5432" in rule[0], drop
    assert any(e.startswith("api -> db:5432/tcp: filtered") for e in drop["evidence"]), drop


def test_no_failing_cell_is_left_without_a_finding(audited):
    result, *_ = audited
    doc = result.json()
    failing = [c for c in doc["matrix"]["cells"] if c["verdict"] != "pass"]
    shown = " ".join(e for f in doc["findings"] for e in f["evidence"])
    for c in failing:
        assert f"{c['from']} -> {c['to']}/{c['proto']}: {c['state']}" in shown, c


def test_the_users_containers_and_networks_are_untouched(audited):
    _, before, after, _ = audited
    assert after == before


def test_the_written_lab_replays_under_check(audited, stack: Stack, looplab):
    result, _, _, lab_file = audited
    assert result.returncode == 1, result.describe()
    text = lab_file.read_text()
    assert "x-looplab:" in text and f"host:{stack.web_port}" in text
    stack.compose("stop", "-t", "0")  # the written lab publishes the same host ports
    try:
        replay = looplab.run("check", str(lab_file), "--format", "json")
    finally:
        stack.compose("start")
        stack.wait_listening(docker.from_env())
    assert replay.returncode == 0, replay.describe()  # every pinned state seen again
    seen = {(c["from"], c["to"], c["proto"]): c["state"] for c in result.json()["matrix"]["cells"]}
    again = {(c["from"], c["to"], c["proto"]): c["state"] for c in replay.json()["cells"]}
    for key in [
        ("@outside", f"host:{stack.web_port}", "tcp"),
        ("api", "db:5432", "tcp"),
        ("client", "api:5678", "tcp"),
    ]:
        assert again[key] == seen[key], key
    assert again[("api", "db:5432", "tcp")] == "filtered"


def test_fail_on_decides_the_exit_code_and_no_observers_adds_none(stack: Stack, looplab):
    quiet = looplab.run("audit", "--project", stack.project, "--fail-on", "never", "--no-observers", "--format", "json")
    assert quiet.returncode == 0, quiet.describe()
    doc = quiet.json()
    assert not [c for c in doc["matrix"]["cells"] if c["from"].startswith("@")]
    web = _finding(doc, "published-all-interfaces", f"host:{stack.web_port}/tcp")
    assert web["level"] == "exposed" and "--no-observers" in web["evidence"][0]


def _one_line(result, *words: str) -> None:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.describe()
    assert all(w in lines[0] for w in words) and "Traceback" not in result.stderr, result.describe()


def test_a_project_that_does_not_exist_is_one_line(looplab):
    _one_line(looplab.run("audit", "--project", f"nosuch{os.getpid()}"), "no container belongs to Compose project")


def test_a_stopped_or_host_network_container_is_one_line(looplab, _session_engine_ready):
    client = docker.from_env()
    stopped = client.containers.create("looplab/toolbox", ["idle"], network_mode="none")
    hosted = client.containers.run("looplab/toolbox", ["idle"], network_mode="host", detach=True)
    try:
        _one_line(looplab.run("audit", "--containers", stopped.id), "is not running", "start it first")
        _one_line(looplab.run("audit", "--containers", hosted.name), "uses the host's network")
        _one_line(looplab.run("audit", "--containers", f"nosuch{os.getpid()}"), "does not exist")
    finally:
        stopped.remove(force=True)
        hosted.remove(force=True)


def test_lan_adds_the_neighbour_where_it_can_be_made_and_is_one_line_where_not(stack: Stack, looplab):
    done = looplab.run("audit", "--project", stack.project, "--lan", "--format", "json")
    if EXPECT_LAUNCHER != "setns":  # not root next to a rootful engine: refused before anything starts
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2 and len(lines) == 1, done.describe()
        assert "the LAN neighbour @neighbour cannot be made here" in lines[0], done.describe()
        return
    assert done.returncode == 1, done.describe()
    doc = done.json()
    web = _finding(doc, "published-all-interfaces", f"host:{stack.web_port}/tcp")
    assert f"@neighbour -> host:{stack.web_port}/tcp: open" in web["evidence"], web
    lan = [f for f in doc["findings"] if f["kind"] == "lan-exposure"]
    assert all(f["target"] != f"host:{stack.web_port}/tcp" for f in lan), "the publish is one finding, not two"
    assert neighbours(done.pid) == [], "the neighbour is removed with the run"


def test_all_audits_every_running_container_looplab_did_not_start(stack: Stack, looplab):
    done = looplab.run("audit", "--all", "--no-observers", "--fail-on", "never", "--format", "json")
    assert done.returncode == 0, done.describe()
    names = {c["name"] for c in done.json()["containers"]}
    assert {c.name for c in stack.containers(docker.from_env()).values()} <= names, names
    assert not [n for n in names if n.startswith("looplab-")], "looplab's own containers are never audited"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_mid_audit_removes_what_looplab_added_and_leaves_the_stack(stack: Stack, looplab, engine, signum):
    client = docker.from_env()
    before = _snapshot(client, stack)
    proc = looplab.start("audit", "--project", stack.project, "--format", "json")
    # its observers exist: the audit has adopted the stack and is about to probe (db's dropped
    # cells alone keep it probing for two probe timeouts, so the signal lands before the end)
    wait_for("the audit's observers", lambda: owned_by(engine, proc.pid)[0], proc=proc)
    assert proc.poll() is None, "the audit ended before it could be interrupted"
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=120)
    lines = [line for line in err.splitlines() if not line.startswith("looplab: warning: ")]
    assert proc.returncode == 128 + signum, f"exit {proc.returncode}\n{err}"
    assert len(lines) == 1 and "interrupt" in lines[0].lower() and "Traceback" not in err, err
    assert owned_by(engine, proc.pid) == ([], []), f"left behind: {owned_by(engine, proc.pid)}"
    assert _snapshot(client, stack) == before
