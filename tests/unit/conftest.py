"""Shared fixtures for the unit tests: the agent/serve modules, serve processes, netns.

Tests marked ``netns`` need root and iproute2: they create network namespaces
named ``looplab-t-<random>`` and always delete them (and kill whatever still
runs inside them) in the fixture's finalizer. All traffic stays on loopback
addresses: the host's own, or those of a namespace the test created.
"""

from __future__ import annotations

import importlib.util
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
AGENT_DIR = REPO / "orchestrator" / "probes" / "agent"
SERVE_PY = REPO / "orchestrator" / "toolbox" / "serve.py"
ENTRY_PY = REPO / "orchestrator" / "toolbox" / "entry.py"
NETNS_PREFIX = "looplab-t-"
START_TIMEOUT = 10.0  # seconds for a subprocess to report ready (generous for a loaded CI)


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "netns: needs root and iproute2; creates network namespaces looplab-t-* and removes them",
    )


def _load(name: str, path: Path):
    if path.is_dir():  # a package, loaded by path as the toolbox's entry.py loads it
        spec = importlib.util.spec_from_file_location(
            name, path / "__init__.py", submodule_search_locations=[str(path)]
        )
    else:
        spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def agent():
    """orchestrator/probes/agent/, loaded by path (it is a standalone, stdlib-only package)."""
    return _load("_looplab_test_agent", AGENT_DIR)


@pytest.fixture(scope="session")
def serve_mod():
    return _load("_looplab_test_serve", SERVE_PY)


@pytest.fixture(scope="session")
def paths():
    """Where the scripts under test live."""

    class Paths:
        agent = AGENT_DIR  # `python -I AGENT_DIR` runs it
        serve = SERVE_PY
        entry = ENTRY_PY

    return Paths


@pytest.fixture
def ipv6_loopback():
    """Skip unless this namespace has ::1."""
    if not host_has_ipv6_loopback():
        pytest.skip("this host has no ::1")


@pytest.fixture(name="free_port", scope="session")
def free_port_fixture():
    return free_port


def host_has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def free_port(host: str = "127.0.0.1", kind: int = socket.SOCK_STREAM) -> int:
    """A port nothing listens on right now (bound then released)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, kind) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------ processes


def read_lines(proc: subprocess.Popen, count: int, pattern: str, timeout: float = START_TIMEOUT) -> list:
    """Read stdout lines until ``count`` of them match ``pattern``; fail if the process dies."""
    fd = proc.stdout.fileno()
    buf = b""
    matched: list = []
    deadline = time.monotonic() + timeout
    while len(matched) < count:
        left = deadline - time.monotonic()
        if left <= 0:
            pytest.fail(f"no {count} lines matching {pattern!r} within {timeout} s; got {buf!r}")
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            proc.wait(timeout=5)
            err = proc.stderr.read() if proc.stderr else b""
            pytest.fail(f"process exited {proc.returncode} before ready; stdout {buf!r} stderr {err!r}")
        buf += chunk
        lines = buf.split(b"\n")
        matched = [ln.decode() for ln in lines[:-1] if re.search(pattern, ln.decode())]
    return matched


def wait_handler(pid: int, signum: int, timeout: float = START_TIMEOUT) -> None:
    """Wait until process ``pid`` has a handler installed for ``signum`` (SigCgt)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("SigCgt:") and int(line.split()[1], 16) & (1 << (signum - 1)):
                        return
        except FileNotFoundError:
            pytest.fail(f"process {pid} is gone")
        time.sleep(0.01)
    pytest.fail(f"process {pid} installed no handler for signal {signum} within {timeout} s")


@pytest.fixture(name="wait_handler", scope="session")
def wait_handler_fixture():
    return wait_handler


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    for stream in (proc.stdout, proc.stderr, proc.stdin):
        if stream:
            stream.close()


class Served:
    """A running serve process and the listeners it reported."""

    def __init__(self, proc: subprocess.Popen, lines: list) -> None:
        self.proc = proc
        self.urls = [ln.split("serve: listening ", 1)[1] for ln in lines]
        self.ports = [int(u.rsplit(":", 1)[1]) for u in self.urls]

    @property
    def port(self) -> int:
        return self.ports[0]


@pytest.fixture
def start_serve():
    """start_serve(URL..., netns=None, args=()) -> Served; stopped at teardown."""
    procs: list = []

    def start(*urls: str, netns=None, args=(), expect=None, script=SERVE_PY, prefix=()) -> Served:
        cmd = [sys.executable, "-I", str(script), *prefix, *args, *urls]
        if netns is not None:
            cmd = ["ip", "netns", "exec", netns.name, *cmd]
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        procs.append(proc)
        n = len(urls) if expect is None else expect
        return Served(proc, read_lines(proc, n, r"^serve: listening "))

    yield start
    for proc in procs:
        stop(proc)


@pytest.fixture
def spawn():
    """spawn(cmd...) -> Popen with pipes; terminated at teardown."""
    procs: list = []

    def run(*cmd, **kw) -> subprocess.Popen:
        kw.setdefault("stdin", subprocess.DEVNULL)
        proc = subprocess.Popen([str(c) for c in cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
        procs.append(proc)
        return proc

    yield run
    for proc in procs:
        stop(proc)


# ------------------------------------------------------------------ namespaces


def netns_available() -> str | None:
    """None if this host can run the netns tests, else the reason it cannot."""
    if os.geteuid() != 0:
        return "needs root (creates network namespaces)"
    if shutil.which("ip") is None:
        return "needs iproute2's `ip`"
    return None


class NetNS:
    def __init__(self, name: str) -> None:
        self.name = name
        self.path = f"/run/netns/{name}"

    def run(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["ip", "netns", "exec", self.name, *cmd],
            capture_output=True,
            text=True,
            check=check,
        )

    def iptables(self, *rule: str, v6: bool = False) -> None:
        """Add a rule inside this namespace; skip the test if iptables cannot run here."""
        tool = "ip6tables" if v6 else "iptables"
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed: cannot make a filtered port")
        done = self.run(tool, *rule, check=False)
        if done.returncode != 0:
            pytest.skip(f"{tool} {' '.join(rule)} failed here: {done.stderr.strip()}")


@pytest.fixture
def make_netns():
    """make_netns(lo_up=True, ipv6_lo=True) -> NetNS; deleted (processes inside killed) at teardown."""
    reason = netns_available()
    names: list = []

    def make(lo_up: bool = True, ipv6_lo: bool = True) -> NetNS:
        if reason:
            pytest.skip(reason)
        name = f"{NETNS_PREFIX}{uuid.uuid4().hex[:10]}"
        done = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            pytest.skip(f"cannot create a network namespace: {done.stderr.strip()}")
        names.append(name)
        ns = NetNS(name)
        if lo_up:
            subprocess.run(
                ["ip", "-n", name, "link", "set", "lo", "up"],
                check=True,
                capture_output=True,
            )
        if not ipv6_lo:
            ns.run("sysctl", "-qw", "net.ipv6.conf.lo.disable_ipv6=1")
        return ns

    yield make
    for name in names:
        pids = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True, check=False).stdout.split()
        for pid in pids:  # only our own test processes can live in a namespace we just made
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
