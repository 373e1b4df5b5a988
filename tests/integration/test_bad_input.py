"""A lab that cannot be checked: exit 2, one line on stderr saying what and where, no traceback,
and nothing left on the engine."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest
from looplab_it import COMPOSE, Result, owned_by

# name -> (lab text, regex the one stderr line must match; {path} is the lab file)
BAD_LABS: dict[str, tuple[str, str]] = {
    "yaml-syntax": (
        (
            "services:\n"
            "  app:\n"
            "    image: looplab/toolbox\n"
            '    command: ["serve", "tcp://127.0.0.1:62893"\n'
            "    networks: [lan]\n"
        ),
        r"{path}:[45]: .*(?i:yaml|syntax)",
    ),
    "unknown-service-key": (
        ("services:\n  app:\n    image: looplab/toolbox\n    frobnicate: true\n"),
        r"{path}:4: .*services\.app\.frobnicate\b",
    ),
    "port-0": (
        (
            "services:\n"
            "  app:\n"
            "    image: looplab/toolbox\n"
            '    command: ["serve", "tcp://0.0.0.0:8080"]\n'
            '    ports: ["127.0.0.1:0:8080"]\n'
        ),
        r"{path}:5: .*services\.app\.ports\b.*\b0\b",
    ),
    "port-70000": (
        (
            "services:\n"
            "  app:\n"
            "    image: looplab/toolbox\n"
            '    command: ["serve", "tcp://0.0.0.0:8080"]\n'
            '    ports: ["127.0.0.1:70000:8080"]\n'
        ),
        r"{path}:5: .*services\.app\.ports\b.*\b70000\b",
    ),
    "expect-unknown-service": (
        (
            "services:\n"
            "  app:\n"
            "    image: looplab/toolbox\n"
            '    command: ["serve", "tcp://0.0.0.0:8080"]\n'
            "x-looplab:\n"
            "  expect:\n"
            '    - {from: ghost, to: "app:8080", state: open}\n'
        ),
        r"{path}:7: .*x-looplab\.expect\[0\].*\bghost\b",
    ),
    "image-absent": (
        ('services:\n  app:\n    image: looplab/absent:1\n    command: ["idle"]\n'),
        r"{path}(:\d+)?: .*services\.app\.image\b.*looplab/absent:1",
    ),
}


def assert_cannot_check(done: Result, pattern: str) -> str:
    """Exit 2; stderr is exactly one non-empty line matching `pattern`; no traceback."""
    assert done.returncode == 2, done.describe()
    assert "Traceback" not in done.stdout and "Traceback" not in done.stderr, done.describe()
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].strip(), f"stderr must be one non-empty line:\n{done.describe()}"
    assert re.search(pattern, lines[0]), f"{lines[0]!r} does not match {pattern!r}"
    return lines[0]


def assert_nothing_left(engine, done: Result) -> None:
    containers, networks = owned_by(engine, done.pid)
    assert not containers and not networks, (
        f"left on the engine: {[c.name for c in containers]} {[n.name for n in networks]}"
    )


@pytest.mark.parametrize("case", sorted(BAD_LABS))
def test_bad_lab_file(looplab, engine, tmp_path: Path, case: str):
    text, pattern = BAD_LABS[case]
    path = tmp_path / f"{case}.yml"
    path.write_text(text)
    done = looplab.run("check", str(path))
    assert_cannot_check(done, pattern.format(path=re.escape(str(path))))
    assert_nothing_left(engine, done)


def test_engine_unreachable(looplab, engine):
    address = "unix:///nonexistent/docker.sock"
    done = looplab.run("check", str(COMPOSE / "seed-62893.yml"), env=looplab.env(DOCKER_HOST=address))
    line = assert_cannot_check(done, re.escape(address))
    assert "engine" in line.lower(), line
    assert_nothing_left(engine, done)


def test_host_port_already_taken(looplab, engine, tmp_path: Path):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        path = tmp_path / "port-taken.yml"
        path.write_text(
            "services:\n"
            "  app:\n"
            "    image: looplab/toolbox\n"
            '    command: ["serve", "tcp://0.0.0.0:8080"]\n'
            f'    ports: ["127.0.0.1:{port}:8080"]\n'
        )
        done = looplab.run("check", str(path))
    line = assert_cannot_check(done, rf"127\.0\.0\.1:{port}\b")
    assert "in use" in line.lower() or "taken" in line.lower(), line
    assert str(path) in line, f"the line should say which lab file: {line}"
    assert_nothing_left(engine, done)


def test_validate_good_file(looplab):
    # validate never touches the engine: it works with none
    done = looplab.run(
        "validate", str(COMPOSE / "seed-62893.yml"), env=looplab.env(DOCKER_HOST="unix:///nonexistent/docker.sock")
    )
    assert done.returncode == 0, done.describe()
    assert "ok" in done.stdout, done.describe()
    assert not done.stderr.strip(), done.describe()


def test_validate_bad_file(looplab, tmp_path: Path):
    text, pattern = BAD_LABS["port-70000"]
    path = tmp_path / "bad.yml"
    path.write_text(text)
    done = looplab.run("validate", str(path), env=looplab.env(DOCKER_HOST="unix:///nonexistent/docker.sock"))
    assert_cannot_check(done, pattern.format(path=re.escape(str(path))))
    assert not done.stdout.strip(), done.describe()
