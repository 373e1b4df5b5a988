"""A lab whose expectation is wrong fails the run (exit 1) and names the cell and its verdict."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from looplab_it import COMPOSE, cell

FLIPPED_FROM = '{from: peer, to: "app:62893",       state: closed}'
FLIPPED_TO = '{from: peer, to: "app:62893",       state: open}'


@pytest.fixture
def wrong_lab(tmp_path: Path) -> Path:
    """compose/seed-62893.yml with `peer -> app:62893` expected open (it is closed)."""
    text = (COMPOSE / "seed-62893.yml").read_text()
    assert text.count(FLIPPED_FROM) == 1, "the seed lab changed: update FLIPPED_FROM"
    path = tmp_path / "wrong-expectation.yml"
    path.write_text(text.replace(FLIPPED_FROM, FLIPPED_TO))
    return path


def test_terminal_names_the_broken_cell(looplab, wrong_lab):
    done = looplab.run("check", str(wrong_lab))
    assert done.returncode == 1, done.describe()
    assert "Traceback" not in done.stdout + done.stderr, done.describe()
    lines = [
        line for line in done.stdout.splitlines() if "peer" in line and "app:62893" in line and "broken" in line.lower()
    ]
    assert lines, f"no line names peer -> app:62893 as broken:\n{done.stdout}"
    # every other cell still passes: the summary counts exactly one failure
    assert any("1 fail" in line for line in done.stdout.splitlines()), done.stdout


def test_json_says_one_failure(looplab, wrong_lab):
    done = looplab.run("check", str(wrong_lab), "--format", "json")
    assert done.returncode == 1, done.describe()
    report = done.json()
    assert report["schema"] == "looplab/report@1"
    assert report["summary"]["fail"] == 1, report["summary"]
    assert report["summary"]["broken"] == 1, report["summary"]
    assert report["summary"]["exposed"] == 0, report["summary"]
    bad = cell(report, "peer", "app:62893")
    assert bad["verdict"] == "broken", bad
    assert bad["state"] == "closed", bad
    assert bad["expected"] == "open", bad
    assert bad["reproduce"], "a failing cell carries a command that reproduces it"
    others = [c for c in report["cells"] if c is not bad and c["verdict"] != "pass"]
    assert not others, others


def test_the_reproduce_command_reproduces(looplab, wrong_lab):
    """DESIGN: each failing cell carries "a command that reproduces the probe". Run it."""
    report = looplab.run("check", str(wrong_lab), "--format", "json").json()
    bad = cell(report, "peer", "app:62893")
    steps = [shlex.split(part) for part in bad["reproduce"].split("&&")]
    assert all(step and step[0] == "looplab" for step in steps), bad["reproduce"]
    lab_name = report["lab"]
    try:
        outputs = []
        for step in steps:
            done = looplab.run(*step[1:])
            assert done.returncode in (0, 1), f"step of {bad['reproduce']!r} failed:\n{done.describe()}"
            assert "Traceback" not in done.stdout + done.stderr, done.describe()
            outputs.append(done.stdout)
        assert "closed" in outputs[-1], f"the reproduction does not show the observed state:\n{outputs[-1]}"
    finally:
        looplab.run("down", lab_name)
