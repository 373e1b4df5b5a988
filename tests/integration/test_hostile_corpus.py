"""`looplab check` on hostile input (tests/hostile/, and special files made here): exit 2, one
line on stderr that says what, no traceback, within a generous 5 s, nothing left on the engine."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from looplab_it import Result, owned_by

FILES = sorted((Path(__file__).resolve().parents[1] / "hostile").glob("*.yml"))
BOUND_S = 5.0  # the bound; the machine is shared, so nothing tighter is asserted


def _refused(looplab, engine, path: Path | str, fragment: str) -> None:
    started = time.monotonic()
    done: Result = looplab.run("check", str(path), timeout=60)
    elapsed = time.monotonic() - started
    where = done.describe()
    assert done.returncode == 2, where
    assert "Traceback" not in done.stdout + done.stderr, where
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("looplab: error: "), where
    assert fragment in lines[0], where
    assert done.stdout == "", where
    assert elapsed < BOUND_S, f"took {elapsed:.1f}s\n{where}"
    containers, networks = owned_by(engine, done.pid)
    assert not containers and not networks, f"left: {[c.name for c in containers]} {[n.name for n in networks]}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_corpus_file(looplab, engine, path: Path):
    fragment = path.read_text(encoding="utf-8").splitlines()[0].removeprefix("# expect: ")
    _refused(looplab, engine, path, fragment)


def test_a_fifo(looplab, engine, tmp_path: Path):
    fifo = tmp_path / "hostile-fifo.yml"
    os.mkfifo(fifo)
    _refused(looplab, engine, fifo, "not a regular file (a FIFO)")


def test_dev_zero(looplab, engine):
    _refused(looplab, engine, "/dev/zero", "not a regular file (a character device)")


def test_a_directory(looplab, engine, tmp_path: Path):
    _refused(looplab, engine, tmp_path, "not a regular file (a directory)")


def test_a_file_over_4_mib(looplab, engine, tmp_path: Path):
    big = tmp_path / "hostile-big.yml"
    big.write_text("services: {a: {image: looplab/toolbox}}\n" + "#" * (5 * 1024 * 1024) + "\n")
    _refused(looplab, engine, big, "file too large (more than 4 MiB)")


def test_not_utf8(looplab, engine, tmp_path: Path):
    path = tmp_path / "hostile-latin1.yml"
    path.write_bytes(b"services:\n  caf\xe9: {image: x}\n")
    _refused(looplab, engine, path, "not UTF-8 text")


def test_down_of_a_lab_that_is_not_running(looplab):
    done = looplab.run("down", "hostile-nosuchlab", timeout=60)
    assert done.returncode == 2, done.describe()
    assert done.stderr.splitlines() == ["looplab: error: no lab hostile-nosuchlab is running"], done.describe()
    assert done.stdout == "", done.describe()


def test_an_unwritable_output_is_refused_before_anything_starts(looplab, engine, tmp_path: Path):
    lab = tmp_path / "hostile-output.yml"
    lab.write_text("services:\n  app:\n    image: looplab/toolbox\n    command: [idle]\n")
    done = looplab.run("check", str(lab), "--output", "/nonexistent/dir/x.json", timeout=60)
    assert done.returncode == 2, done.describe()
    assert done.stderr.splitlines() == [
        "looplab: error: --output /nonexistent/dir/x.json: cannot write there: No such file or directory"
    ], done.describe()
    containers, networks = owned_by(engine, done.pid)
    assert not containers and not networks
