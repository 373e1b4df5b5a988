"""The labs behind the plugin's fixtures: started once per scope, named uniquely, removed at the end.

Imported when a fixture is first used (never by the plugin's entry module), so this may
import looplab's engine code. See docs/ARCHITECTURE.md, "In-process labs".
"""

from __future__ import annotations

import os
import re
import secrets
import signal
from pathlib import Path
from typing import Any, NoReturn

import pytest

from ..domain import Report
from ..errors import Interrupted, LooplabError
from ..inprocess import OpenLab, ProbeOutcome, failure_text
from ..session import RunOptions
from .reporting import publish

_SAFE = re.compile(r"[^a-z0-9_.-]+")
_OPTIONS = ("scope", "launcher")


def worker_id() -> str:
    """The pytest-xdist worker (`gw0`...), or `main` without xdist."""
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def testrun_uid(config: pytest.Config) -> str:
    """One id per test run, the same in every xdist worker (xdist's `testrunuid`), else made here."""
    workerinput = getattr(config, "workerinput", None)
    if workerinput and workerinput.get("testrunuid"):
        return str(workerinput["testrunuid"])[:6]
    uid = getattr(config, "_looplab_uid", None)
    if uid is None:
        uid = config._looplab_uid = secrets.token_hex(3)  # type: ignore[attr-defined]
    return uid


def name_suffix(config: pytest.Config, *, shared: bool = False) -> str:
    """The suffix that makes a lab's name (and so its resources' names) unique: per worker and run;
    a lab the workers share is unique per run."""
    return _SAFE.sub("-", f"x{testrun_uid(config)}" if shared else f"{worker_id()}-{testrun_uid(config)}".lower())


def resolve_path(path: str | os.PathLike[str], request: pytest.FixtureRequest) -> str:
    """A lab file path as written in a test: absolute, or relative to the rootdir, the test's folder or the cwd."""
    given = Path(path)
    if given.is_absolute():
        return str(given)
    places = [request.config.rootpath, Path(str(request.node.path)).parent, Path.cwd()]
    for base in places:
        if (base / given).is_file():
            return str((base / given).resolve())
    _usage(f"{request.node.nodeid}: lab file {str(given)!r} not found (looked in {', '.join(str(p) for p in places)})")


def marker_options(marker: pytest.Mark, request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    """The lab file and options of a `looplab` marker; a bad marker is one clear usage error."""
    where = request.node.nodeid
    if len(marker.args) != 1 or not isinstance(marker.args[0], str | os.PathLike):
        _usage(f"{where}: write @pytest.mark.looplab('path/to/lab.yml', scope=..., launcher=...)")
    unknown = sorted(set(marker.kwargs) - set(_OPTIONS))
    if unknown:
        _usage(f"{where}: unknown looplab marker option(s) {', '.join(unknown)} ({', '.join(_OPTIONS)})")
    return resolve_path(marker.args[0], request), dict(marker.kwargs)


class LabRegistry:
    """The labs of one fixture scope, by lab file and options; each started on first use."""

    def __init__(self, config: pytest.Config, scope: str) -> None:
        self.config = config
        self.scope = scope
        self.labs: dict[tuple[str, str], OpenLab] = {}
        self.failed: dict[tuple[str, str], str] = {}

    def get(self, path: str, *, launcher: str | None = None) -> OpenLab:
        launcher = launcher or self.config.getoption("looplab_launcher") or os.environ.get("LOOPLAB_LAUNCHER") or "auto"
        key = (path, launcher)
        if key in self.failed:  # one failed start is reported by every test that needs the lab, once
            pytest.fail(self.failed[key], pytrace=False)
        if key not in self.labs:
            try:
                self.labs[key] = self._open(path, launcher)
            except Interrupted as exc:
                raise KeyboardInterrupt(str(exc)) from None
            except LooplabError as exc:
                self.failed[key] = f"looplab could not start {path}: {exc}"
                pytest.fail(self.failed[key], pytrace=False)
        return self.labs[key]

    def _open(self, path: str, launcher: str) -> OpenLab:
        _terminate_like_interrupt()
        shared = self.scope == "session" and os.environ.get("PYTEST_XDIST_WORKER") is not None
        opts = RunOptions(launcher=launcher, name_suffix=name_suffix(self.config, shared=shared))
        if shared:
            from .sharing import shared_lab

            return shared_lab(self.config, path, opts)
        return OpenLab.start(path, opts)

    def close(self) -> None:
        """Remove the labs this process owns (a shared lab goes with the last worker)."""
        labs, self.labs = list(self.labs.values()), {}
        for lab in labs:
            lab.close()


class TestLab:
    """The `lab` fixture's value: one running lab, seen from one test."""

    __test__ = False  # not a test class, whatever its name

    def __init__(self, lab: OpenLab, request: pytest.FixtureRequest) -> None:
        self._lab = lab
        self._request = request

    def __repr__(self) -> str:
        return f"<looplab lab {self.name} (run {self.run_id})>"

    @property
    def name(self) -> str:
        """The lab's name on the engine (unique per worker and test run)."""
        return self._lab.name

    @property
    def run_id(self) -> str:
        return self._lab.live.state.run_id

    def published(self, service: str, port: int, proto: str = "tcp") -> int:
        """The host port `service`'s container `port` is published on (the engine picks it for `127.0.0.1::P`)."""
        for pub in self._lab.live.state.published:
            if pub.service == service and pub.container_port == port and pub.proto == proto:
                return pub.host_port
        raise LooplabError(f"{service} publishes no container port {port}/{proto} on the host")

    def probe(self, vantage: str, target: str, proto: str = "tcp") -> ProbeOutcome:
        """Dial `target` (127.0.0.1:P, [::1]:P, localhost:P, SERVICE:P, host:P, host:SERVICE:P) from
        inside `vantage`; `proto` is tcp, udp, http or icmp."""
        return self._lab.probe(vantage, target, proto)

    def matrix(self) -> Report:
        """Probe the whole matrix now (failing cells diagnosed), without asserting."""
        return self._lab.matrix()

    def assert_matrix(self, *, strict: bool = False) -> Report:
        """Every cell as the lab file expects, or a failure listing each failing cell with its
        diagnosis and a command that reproduces it. The JSON report goes to the test's tmp path,
        its summary to JUnit properties and, with pytest-html, the matrix to the HTML report."""
        __tracebackhide__ = True
        report = self._lab.matrix()
        publish(report, self._request)
        if not (report.ok_strict if strict else report.ok):
            pytest.fail(failure_text(report) if not report.ok else _flaky_text(report), pytrace=False)
        return report


def _flaky_text(report: Report) -> str:
    flaky = [c for c in report.cells if c.flaky]
    return f"lab {report.lab}: {len(flaky)} flaky cell(s) (strict): " + "; ".join(
        f"{c.vantage} -> {c.target}: {', '.join(c.observations)}" for c in flaky
    )


def _terminate_like_interrupt() -> None:
    """SIGTERM (a CI job cancelled) unwinds like Ctrl-C, so the fixtures' teardown removes the labs."""
    try:
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _raise_interrupt)
    except ValueError:  # not the main thread: leave signals alone
        pass


def _raise_interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"interrupted by {signal.Signals(signum).name}")


def _usage(message: str) -> NoReturn:
    """A mistake in how a test uses the plugin: one clear line on that test, no traceback."""
    pytest.fail(message, pytrace=False)
