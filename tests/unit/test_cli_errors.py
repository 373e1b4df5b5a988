"""The CLI without an engine: `--version`, `validate`, options, and errors mapped once for every command.

Commands that would reach the engine are pointed at a socket that does not exist, or their
job (`session.*`, `ondemand.*`) is replaced by one that raises or answers what the test needs.
"""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from orchestrator import __version__, ondemand, session
from orchestrator.cli import main
from orchestrator.domain import PlannedCell
from orchestrator.errors import Interrupted, LabFileError, LooplabError
from orchestrator.ondemand import ProbeAnswer, ResolveAnswer
from orchestrator.probes.launchers import LAUNCHERS
from orchestrator.probes.protocol import ProbeResult

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "compose" / "seed-62893.yml"
NO_ENGINE = "unix:///nonexistent.sock"


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    """Run `looplab ARGS` in-process; stdout and stderr kept apart; a crash is re-raised."""
    try:
        runner = CliRunner(mix_stderr=False)  # click 8.1
    except TypeError:  # click >= 8.2 keeps them apart by itself
        runner = CliRunner()
    result = runner.invoke(main, list(args), env=env, prog_name="looplab")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert "Traceback" not in result.stdout + result.stderr
    return result


def one_line(result: Result) -> str:
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].strip(), f"stderr must be one line: {result.stderr!r}"
    return lines[0]


def test_version():
    done = invoke("--version")
    assert done.exit_code == 0 and done.stdout == f"looplab, version {__version__}\n"


def test_validate_a_good_file_without_an_engine():
    done = invoke("validate", str(SEED), env={"DOCKER_HOST": NO_ENGINE})
    assert done.exit_code == 0, done.stderr
    assert done.stdout == f"{SEED}: ok (2 services, 1 networks, 1 listeners, 4 expectations)\n"
    assert done.stderr == ""


def test_validate_a_bad_file_is_one_line_and_exit_2(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text('services:\n  app:\n    image: looplab/toolbox\n    ports: ["127.0.0.1:70000:8080"]\n')
    done = invoke("validate", str(bad), env={"DOCKER_HOST": NO_ENGINE})
    assert done.exit_code == 2 and done.stdout == ""
    assert re.fullmatch(rf"looplab: error: {re.escape(str(bad))}:4: .*ports.*70000.*", one_line(done))


@pytest.mark.parametrize(
    "args",
    [
        ["check", str(SEED)],
        ["up", str(SEED)],
        ["down", "cli-unit-no-such-lab"],
        ["gc"],
        ["toolbox", "build"],
        ["probe", "--from", "app", "127.0.0.1:1"],
        ["diagnose", "--from", "app", "127.0.0.1:1"],
        ["resolve", "--from", "app", "localhost"],
        ["sockets"],
        ["scan", "--from", "app", "127.0.0.1", "--ports", "1"],
    ],
    ids=lambda a: " ".join(a[:2]) if a[0] == "toolbox" else a[0],
)
def test_an_unreachable_engine_is_one_line_and_exit_2(args):
    done = invoke(*args, env={"DOCKER_HOST": NO_ENGINE})
    assert done.exit_code == 2, done.stderr
    line = one_line(done)
    assert line.startswith("looplab: error: cannot reach the Docker engine at unix:///nonexistent.sock"), line
    assert done.stdout == ""


@pytest.mark.parametrize(
    "raised, code, line",
    [
        (Interrupted("interrupted by SIGINT", signum=2), 130, "looplab: interrupted by SIGINT; the lab was removed"),
        (Interrupted("interrupted by SIGTERM", signum=15), 143, "looplab: interrupted by SIGTERM; the lab was removed"),
        (KeyboardInterrupt(), 130, "looplab: interrupted by SIGINT"),
        (LabFileError("unknown key", path="lab.yml", line=3), 2, "looplab: error: lab.yml:3: unknown key"),
        (LooplabError("first\n  second\n"), 2, "looplab: error: first second"),  # always one line
    ],
    ids=["SIGINT", "SIGTERM", "KeyboardInterrupt", "lab-file", "multi-line"],
)
def test_errors_are_mapped_once_for_every_command(monkeypatch, raised, code, line):
    def fail(*_args, **_kwargs):
        raise raised

    monkeypatch.setattr(session, "check", fail)
    monkeypatch.setattr(ondemand, "sockets", fail)
    for args in (["check", str(SEED)], ["sockets"]):
        done = invoke(*args)
        assert done.exit_code == code and one_line(done) == line and done.stdout == "", args


def test_the_exit_code_is_the_errors_own(monkeypatch):
    error = LooplabError("odd")
    error.exit_code = 7

    def fail(*_args, **_kwargs):
        raise error

    monkeypatch.setattr(session, "gc", fail)
    done = invoke("gc")
    assert (done.exit_code, one_line(done)) == (7, "looplab: error: odd")


def _answer(state: str, accepted: frozenset[str]) -> ProbeAnswer:
    cell = PlannedCell("app", "[::1]:8081", "tcp", "loopback", "::1", 8081, "open", accepted, "the model")
    return ProbeAnswer("app", "tcp", cell, ProbeResult("0", "tcp", state), "pass" if state in accepted else "broken")


@pytest.mark.parametrize("state, code", [("open", 0), ("unreachable", 1)])
def test_probe_exits_1_when_the_model_expected_otherwise(monkeypatch, state, code):
    monkeypatch.setattr(ondemand, "probe", lambda *a, **kw: _answer(state, frozenset({"open"})))
    done = invoke("probe", "--from", "app", "[::1]:8081")
    assert done.exit_code == code
    assert done.stdout.splitlines()[0] == f"app -> [::1]:8081 (tcp [::1]:8081): {state}"


@pytest.mark.parametrize("state, code", [("ok", 0), ("unresolved", 1)])
def test_resolve_exits_1_when_the_name_does_not_resolve(monkeypatch, state, code):
    addresses = ("127.0.0.1",) if state == "ok" else ()
    answer = ResolveAnswer("app", "localhost", state, "hosts", addresses, addresses, "not in /etc/hosts")
    monkeypatch.setattr(ondemand, "resolve", lambda *a: answer)
    done = invoke("resolve", "--from", "app", "localhost")
    assert done.exit_code == code and done.stderr == ""
    assert ("does not resolve" in done.stdout) == (code == 1)


NAMESPACE_COMMANDS = {"check", "up", "probe", "diagnose", "resolve", "sockets", "scan", "compare", "audit"}


def test_launcher_option_on_every_namespace_command_from_the_registry():
    for name, command in main.commands.items():
        options = {p.name: p for p in command.params}
        assert ("launcher" in options) == (name in NAMESPACE_COMMANDS), name
        if name in NAMESPACE_COMMANDS:
            choice = options["launcher"].type
            assert isinstance(choice, click.Choice) and list(choice.choices) == ["auto", *LAUNCHERS], name
            assert options["launcher"].default == "auto", name


def test_an_unknown_launcher_is_a_usage_error():
    done = invoke("sockets", "--launcher", "ssh")
    assert done.exit_code == 2 and "'ssh' is not one of" in done.stderr
