"""Durations: numbers are seconds; strings carry units."""

from __future__ import annotations

import pytest

from orchestrator.labfile.durations import parse_duration


@pytest.mark.parametrize(
    "value, seconds",
    [(1, 1.0), (0.25, 0.25), (0, 0.0), ("500ms", 0.5), ("1s", 1.0), ("1.5s", 1.5), ("2m", 120.0),
     ("1m30s", 90.0), ("1h", 3600.0), ("250us", 0.00025), (" 2s ", 2.0)],
)  # fmt: skip
def test_good(value: object, seconds: float) -> None:
    assert parse_duration(value) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "value",
    ["", "1", "1 s", "s", "1.5.2s", "-1s", "1d", "fast", True, None, [1], float("inf")],
)
def test_bad(value: object) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(value)


def test_negative_number() -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        parse_duration(-1)
