"""Helpers for the integration tests: run the CLI, look at the engine, poll without sleeping blind.

Imported by conftest.py and the test modules (pytest puts this folder on sys.path because
its conftest.py is not inside a package).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
COMPOSE = REPO / "compose"

MANAGED = "org.looplab.managed"
OWNER_PID = "org.looplab.owner-pid"
OWNER_HOST = "org.looplab.owner-host"
LAB = "org.looplab.lab"
RUN = "org.looplab.run"
ROLE = "org.looplab.role"
MEMBER = "org.looplab.member"
KEEP = "org.looplab.keep"

RUN_TIMEOUT = 240.0  # seconds for one CLI run; generous for 2 noisy cores
POLL_TIMEOUT = 120.0  # seconds to wait for something to appear on the engine


def _flag(name: str) -> bool:
    return bool(os.environ.get(name))


ENGINE_REQUIRED = _flag("CI") or _flag("LOOPLAB_REQUIRE_ENGINE")
# LOOPLAB_SHARED_ENGINE: the engine is required but shared (a nested configuration run while
# its parent session, or a colleague, has labs of its own): only this session's resources count.
EXCLUSIVE_ENGINE = (ENGINE_REQUIRED or _flag("LOOPLAB_TEST_EXCLUSIVE_ENGINE")) and not _flag("LOOPLAB_SHARED_ENGINE")


# The launcher `auto` must pick in this configuration (see test_engine_configs.py), and what
# follows from it: a rootless engine runs `network_mode: host` in RootlessKit's namespace,
# not this host's, and the host never dials its containers' addresses.
EXPECT_LAUNCHER = os.environ.get("LOOPLAB_EXPECT_LAUNCHER", "setns")
ROOTLESS = EXPECT_LAUNCHER == "join"


def engine_address() -> str:
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


_engine_problem_cache: list[str | None] = []


def engine_problem() -> str | None:
    """None when the engine answers a ping, else why not (computed once per session)."""
    if not _engine_problem_cache:
        problem: str | None = None
        try:
            import docker

            client = docker.from_env(timeout=15)
            try:
                client.ping()
            finally:
                client.close()
        except Exception as exc:
            text = str(exc).strip().splitlines()
            problem = f"{type(exc).__name__}: {text[-1] if text else ''}"
        _engine_problem_cache.append(problem)
    return _engine_problem_cache[0]


# --------------------------------------------------------------------------- the CLI


@dataclass
class Result:
    """One finished CLI run."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    pid: int

    @property
    def stderr_lines(self) -> list[str]:
        return self.stderr.splitlines()

    def json(self) -> dict[str, Any]:
        try:
            return json.loads(self.stdout)
        except ValueError as exc:
            pytest.fail(f"stdout is not JSON ({exc})\n{self.describe()}")

    def describe(self) -> str:
        return (
            f"$ looplab {' '.join(self.args)}\nexit {self.returncode} (pid {self.pid})\n"
            f"--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}"
        )


class Looplab:
    """Runs `python -m orchestrator ...` and remembers every pid (they own the labels)."""

    def __init__(self, pids: set[int]) -> None:
        self._pids = pids
        self._live: list[subprocess.Popen] = []

    @staticmethod
    def env(**overrides: str) -> dict[str, str]:
        env = dict(os.environ)
        env["LOOPLAB_PULL"] = "never"
        env["NO_COLOR"] = "1"
        env.update(overrides)
        return env

    def start(self, *args: str, env: dict[str, str] | None = None, **popen_kw: Any) -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, "-m", "orchestrator", *map(str, args)],
            cwd=REPO,
            env=env or self.env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            **popen_kw,
        )
        self._pids.add(proc.pid)
        self._live.append(proc)
        return proc

    def run(self, *args: str, env: dict[str, str] | None = None, timeout: float = RUN_TIMEOUT) -> Result:
        proc = self.start(*args, env=env)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop(proc)
            out, err = proc.communicate()
            pytest.fail(
                f"looplab {' '.join(map(str, args))} did not finish within {timeout:g}s\nstdout: {out}\nstderr: {err}"
            )
        return Result(tuple(map(str, args)), proc.returncode, out, err, proc.pid)

    @staticmethod
    def stop(proc: subprocess.Popen) -> None:
        """SIGTERM first so the run can clean up after itself; SIGKILL if it will not."""
        if proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)

    def close(self) -> None:
        for proc in self._live:
            self.stop(proc)
            for stream in (proc.stdout, proc.stderr):
                if stream:
                    stream.close()
        self._live.clear()


# --------------------------------------------------------------------------- the engine


@dataclass(frozen=True)
class Resource:
    """A container or network as the engine's list call shows it (no per-item inspect,
    so a colleague's resource vanishing mid-listing cannot break the listing)."""

    kind: str  # "container" | "network"
    id: str
    name: str
    labels: dict
    status: str = ""  # containers: running, exited, created, ...

    @property
    def member(self) -> str | None:
        return self.labels.get(MEMBER)


def managed(client: Any, **label_values: str) -> tuple[list[Resource], list[Resource]]:
    """(containers, networks) labelled org.looplab.managed, and with these label values."""
    wanted = [MANAGED] + [f"{k}={v}" for k, v in label_values.items()]
    containers = [
        Resource(
            "container", c["Id"], (c.get("Names") or ["?"])[0].lstrip("/"), c.get("Labels") or {}, c.get("State") or ""
        )
        for c in client.api.containers(all=True, filters={"label": wanted})
    ]
    networks = [
        Resource("network", n["Id"], n.get("Name", "?"), n.get("Labels") or {})
        for n in client.api.networks(filters={"label": wanted})
    ]
    return containers, networks


def owned_by(client: Any, pid: int) -> tuple[list[Resource], list[Resource]]:
    """What the CLI process `pid` made: its resources carry owner-pid and owner-host."""
    return managed(client, **{OWNER_PID: str(pid), OWNER_HOST: socket.gethostname()})


def counts_for(client: Any, pid: int) -> str:
    containers, networks = owned_by(client, pid)
    return (
        f"{len(containers)} container(s) {[c.name for c in containers]}, "
        f"{len(networks)} network(s) {[n.name for n in networks]}"
    )


NETNS_DIR = Path("/run/netns")
NEIGHBOUR_NAME = re.compile(r"^looplab-nb-(?P<run>[0-9a-f]+)-(?P<tag>[0-9a-f]{6})-(?P<pid>\d+)-(?P<host>[a-z0-9-]+)$")


def neighbours(pid: int | None = None) -> list[str]:
    """The LAN neighbours' namespaces on this host (named `looplab-nb-RUN-TAG-PID-HOST`, as
    runtime/neighbour.py makes them: a namespace has no labels), those of `pid` if given."""
    try:
        names = sorted(p.name for p in NETNS_DIR.iterdir())
    except OSError:
        return []
    found = [(n, NEIGHBOUR_NAME.match(n)) for n in names]
    return [n for n, m in found if m is not None and (pid is None or m["pid"] == str(pid))]


def neighbour_is_ours(name: str, pids: set[int]) -> bool:
    """Does the leak check answer for this neighbour? (All of them on an exclusive engine.)"""
    m = NEIGHBOUR_NAME.match(name)
    return m is not None and (EXCLUSIVE_ENGINE or m["pid"] in {str(p) for p in pids})


def remove_neighbour(name: str) -> None:
    """Delete a neighbour's namespace (its veth pair goes with it); already gone is fine."""
    subprocess.run(["ip", "netns", "delete", name], capture_output=True, check=False)


def is_ours(resource: Resource, pids: set[int]) -> bool:
    """Does the leak check answer for this resource? (All of them on an exclusive engine.)"""
    if EXCLUSIVE_ENGINE:
        return True
    return resource.labels.get(OWNER_HOST) == socket.gethostname() and resource.labels.get(OWNER_PID) in {
        str(p) for p in pids
    }


def describe(resource: Resource) -> str:
    labels = resource.labels
    kind = f"container ({resource.status})" if resource.kind == "container" else "network"
    return (
        f"{kind} {resource.name} lab={labels.get(LAB)} run={labels.get(RUN)} "
        f"member={labels.get(MEMBER)} keep={labels.get(KEEP)} owner-pid={labels.get(OWNER_PID)}"
    )


def remove_all(client: Any, containers: list[Resource], networks: list[Resource]) -> None:
    """Force-remove containers, then networks; already gone is fine."""
    import docker.errors

    for c in containers:
        try:
            client.api.remove_container(c.id, force=True, v=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:  # e.g. removal already in progress
            print(f"leak check: could not remove container {c.name}: {exc}")
    for n in networks:
        try:
            client.api.remove_network(n.id)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            print(f"leak check: could not remove network {n.name}: {exc}")


def wait_for(
    what: str,
    predicate: Callable[[], Any],
    *,
    timeout: float = POLL_TIMEOUT,
    interval: float = 0.02,
    proc: subprocess.Popen | None = None,
) -> Any:
    """Poll `predicate` until it returns something truthy; fail if `proc` exits first."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the run exited ({proc.returncode}) before {what}\nstdout: {out}\nstderr: {err}")
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


def gc_finished(returncode: int, stderr: str) -> bool:
    """`gc`/`down` did its job: exit 0, or exit 2 naming only networks the engine keeps with a
    stale endpoint count and no container attached (moby#42119; only a daemon restart removes
    them, and a shared engine may hold some from before this session)."""
    if returncode == 0:
        return True
    lines = stderr.splitlines()
    parts = lines[0].removeprefix("looplab: error: ").split("; network ") if len(lines) == 1 else []
    return returncode == 2 and bool(parts) and all("no container is attached" in p and "moby#42119" in p for p in parts)


# --------------------------------------------------------------------------- reports


def cell(report: dict[str, Any], frm: str, to: str, proto: str = "tcp") -> dict[str, Any]:
    """The one cell of a JSON report probed from `frm` to `to`."""
    found = [c for c in report["cells"] if c["from"] == frm and c["to"] == to and c["proto"] == proto]
    if len(found) != 1:
        have = sorted({(c["from"], c["to"], c["proto"]) for c in report["cells"]})
        pytest.fail(
            f"expected exactly one cell {frm} -> {to}/{proto} in lab {report.get('lab')}, "
            f"found {len(found)}; cells: {have}"
        )
    return found[0]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing is bound to right now on `host` (a loopback address)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]
