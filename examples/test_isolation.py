"""Gate a test suite on a lab's isolation: one pytest test per cell, failing with the diagnosis.

pytest examples/test_isolation.py
"""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.session import RunOptions, check

LAB = Path(__file__).resolve().parents[1] / "compose" / "seed-62893.yml"


@pytest.fixture(scope="module")
def report():
    return check(str(LAB), RunOptions())


def test_app_loopback_is_private(report):
    failing = [c for c in report.cells if not c.passed]
    assert not failing, "\n".join(f"{c.vantage} -> {c.target}: {c.state} ({c.diagnosis})" for c in failing)


def test_only_app_reaches_its_loopback(report):
    reach = {c.vantage for c in report.cells if c.target == "127.0.0.1:62893" and c.state == "open"}
    assert reach == {"app"}
