"""Issue 9 without an engine: `--output` checked first, the lab-size flags, `down` of a lab that
is not running, the engine's short connect timeout, whole bind errors, non-local host IPs, and
a signal during cleanup that is raised once cleanup is done."""

from __future__ import annotations

import errno
import os
import signal
import socket
import threading
import time
from pathlib import Path

import docker.errors
import pytest
from test_cli_errors import SEED, invoke, one_line

from orchestrator import session
from orchestrator.errors import EngineError, Interrupted, LooplabError, PortInUseError
from orchestrator.labfile import load_lab
from orchestrator.runtime.base import Removal
from orchestrator.runtime.docker import engine as engine_mod
from orchestrator.runtime.docker.lifecycle import _start_error
from orchestrator.runtime.docker.preflight import check_host_ports
from orchestrator.runtime.interrupts import signals_deferred, signals_raise

# -- item 8: --output is checked before anything starts -------------------------------------


def _no_run(*_args, **_kwargs):
    pytest.fail("the run started although its report could not be written")


@pytest.mark.parametrize("where", ["/nonexistent/dir/x.json", "{tmp}/file-not-dir/x.json"])
def test_an_unwritable_output_fails_before_the_run(monkeypatch, tmp_path: Path, where: str):
    (tmp_path / "file-not-dir").write_text("")
    output = where.format(tmp=tmp_path)
    monkeypatch.setattr(session, "check", _no_run)
    done = invoke("check", str(SEED), "--format", "json", "--output", output)
    assert done.exit_code == 2 and done.stdout == ""
    line = one_line(done)
    assert line.startswith(f"looplab: error: --output {output}: cannot write there: "), line


def test_a_writable_output_is_left_as_it_was_until_the_report(monkeypatch, tmp_path: Path):
    fresh, existing = tmp_path / "new.json", tmp_path / "old.json"
    existing.write_text("kept")
    seen = []

    def fake_check(*_args, **_kwargs):
        seen.append((fresh.exists(), existing.read_text()))
        raise LooplabError("stop here")

    monkeypatch.setattr(session, "check", fake_check)
    for output in (fresh, existing):
        done = invoke("check", str(SEED), "--output", str(output))
        assert (done.exit_code, one_line(done)) == (2, "looplab: error: stop here")
    assert seen == [(False, "kept"), (False, "kept")]


# -- item 5: the flags that raise the limits -------------------------------------------------


def test_validate_refuses_a_large_lab_and_the_flag_raises_the_limit(tmp_path: Path):
    lab = tmp_path / "big.yml"
    lab.write_text("services:\n" + "".join(f"  s{i}: {{image: looplab/toolbox}}\n" for i in range(201)))
    done = invoke("validate", str(lab))
    assert done.exit_code == 2
    assert one_line(done) == (
        f"looplab: error: {lab}:1: services: 201 services is more than the limit of 200 (raise it with --max-services)"
    )
    done = invoke("validate", "--max-services", "201", str(lab))
    assert done.exit_code == 0, done.stderr


@pytest.mark.parametrize("command", ["check", "up", "validate"])
def test_every_command_that_reads_a_lab_takes_the_limit_flags(command: str):
    done = invoke(command, "--help")
    for flag in ("--max-services", "--max-networks", "--max-cells"):
        assert flag in done.stdout, (command, flag)


def test_check_passes_the_raised_limits_to_the_loader(monkeypatch):
    got = []

    def fake_check(_path, opts):
        got.append(opts.limits)
        raise LooplabError("stop here")

    monkeypatch.setattr(session, "check", fake_check)
    invoke("check", "--max-services", "7", "--max-networks", "8", "--max-cells", "9", str(SEED))
    assert [(x.services, x.networks, x.cells) for x in got] == [(7, 8, 9)]


# -- item 12: messages ------------------------------------------------------------------------


class _Runtime:
    def __init__(self, removal: Removal) -> None:
        self.removal = removal

    def down(self, _lab: str | None) -> Removal:
        return self.removal


def test_down_of_a_lab_that_is_not_running_is_an_error(monkeypatch):
    monkeypatch.setattr(session.RunOptions, "make_runtime", lambda _self: _Runtime(Removal(0, found=0)))
    done = invoke("down", "nosuchlab")
    assert (done.exit_code, one_line(done), done.stdout) == (2, "looplab: error: no lab nosuchlab is running", "")


def test_down_of_a_running_lab_and_down_of_none_still_succeed(monkeypatch):
    monkeypatch.setattr(session.RunOptions, "make_runtime", lambda _self: _Runtime(Removal(3, found=3)))
    assert session.down("lab").removed == 3
    # listed, but another command removed them first: the lab was running, so not an error
    monkeypatch.setattr(session.RunOptions, "make_runtime", lambda _self: _Runtime(Removal(0, found=2)))
    assert session.down("lab").removed == 0
    monkeypatch.setattr(session.RunOptions, "make_runtime", lambda _self: _Runtime(Removal(0, found=0)))
    assert session.down(None).removed == 0  # nothing left by `up` is not an error without a name


@pytest.fixture
def silent_engine(tmp_path: Path, monkeypatch):
    """A unix socket that accepts connections and never answers (opened here, never dialled
    anywhere else); DOCKER_HOST points at it."""
    path = tmp_path / "silent.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    worker = threading.Thread(target=accept, daemon=True)
    worker.start()
    monkeypatch.setenv("DOCKER_HOST", f"unix://{path}")
    yield path
    stop.set()
    worker.join(timeout=5)
    for conn in held:
        conn.close()
    server.close()


def test_an_engine_that_never_answers_fails_after_the_connect_timeout(silent_engine, monkeypatch):
    monkeypatch.setattr(engine_mod, "CONNECT_TIMEOUT_S", 0.5)
    monkeypatch.setattr(engine_mod.connect, "__defaults__", (30.0, 0.5))
    started = time.monotonic()
    with pytest.raises(EngineError, match=f"cannot reach the Docker engine at unix://{silent_engine}"):
        engine_mod.connect()
    assert time.monotonic() - started < 20  # a generous bound: 0.5 s, where it used to be 30 s


def test_the_connect_timeout_is_short_and_long_operations_keep_the_normal_one(monkeypatch):
    assert engine_mod.CONNECT_TIMEOUT_S <= 5
    made = []

    class Client:
        def __init__(self, timeout: float) -> None:
            self.api = type("Api", (), {"timeout": timeout})()
            made.append(self)

        def ping(self) -> bool:
            assert self.api.timeout == engine_mod.CONNECT_TIMEOUT_S
            return True

    monkeypatch.setattr(engine_mod.docker, "from_env", lambda timeout: Client(timeout))
    client = engine_mod.connect()
    assert client.api.timeout == 30.0


def test_the_cli_says_the_engine_does_not_answer_in_one_line(silent_engine):
    started = time.monotonic()
    done = invoke("down", "nosuchlab")
    assert done.exit_code == 2
    assert one_line(done).startswith(f"looplab: error: cannot reach the Docker engine at unix://{silent_engine}")
    assert time.monotonic() - started < 20  # 5 s connect timeout, generous bound on a shared machine


def test_the_whole_engine_bind_error_is_kept(tmp_path: Path):
    lab = tmp_path / "lab.yml"
    lab.write_text('services:\n  app:\n    image: looplab/toolbox\n    ports: ["127.0.0.1:8080:80"]\n')
    svc = load_lab(lab).services[0]
    cause = "driver failed programming external connectivity on endpoint x: " + "e" * 400 + " THE END"
    for text in (cause + ": address already in use", cause):
        error = _start_error(svc, docker.errors.APIError("500 Server Error", explanation=text))
        assert text in str(error), str(error)


def test_a_host_ip_that_is_not_local_is_named_so(tmp_path: Path):
    # 192.0.2.10 (TEST-NET-1) is only ever a bind address here: the bind fails before anything is sent
    lab = tmp_path / "lab.yml"
    lab.write_text('services:\n  app:\n    image: looplab/toolbox\n    ports: ["192.0.2.10:18080:80"]\n')
    with pytest.raises(PortInUseError) as info:
        check_host_ports(load_lab(lab))
    message = str(info.value)
    assert message == f"{lab}:2: services.app.ports: host IP 192.0.2.10 is not an address of this host"
    assert "in use" not in message


def test_a_port_really_in_use_is_still_in_use(tmp_path: Path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        lab = tmp_path / "lab.yml"
        lab.write_text(f'services:\n  app:\n    image: looplab/toolbox\n    ports: ["127.0.0.1:{port}:80"]\n')
        with pytest.raises(PortInUseError, match=f"127.0.0.1:{port}/tcp is already in use"):
            check_host_ports(load_lab(lab))
    assert errno.EADDRNOTAVAIL != errno.EADDRINUSE


# -- item 1, as a unit: a signal recorded during cleanup is raised after it ----------------


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_cleanup_is_raised_once_cleanup_is_done(signum):
    finished = []
    with pytest.raises(Interrupted) as info, signals_raise(), signals_deferred():
        os.kill(os.getpid(), signum)
        time.sleep(0)  # a bytecode boundary: the handler has run (it records, cleanup goes on)
        finished.append("cleanup")
    assert finished == ["cleanup"]
    assert info.value.exit_code == 128 + signum and str(info.value) == f"interrupted by {signal.Signals(signum).name}"


def test_cleanup_without_a_signal_raises_nothing():
    with signals_raise(), signals_deferred() as seen:
        pass
    assert seen == []
