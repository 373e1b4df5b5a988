"""Durations as Compose writes them: seconds as a number, or strings like `500ms`, `1.5s`, `1m30s`."""

from __future__ import annotations

import math
import re

_UNITS: dict[str, float] = {
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_PART = r"(\d+(?:\.\d*)?|\.\d+)(us|µs|ms|s|m|h)"
_WHOLE = re.compile(f"(?:{_PART})+")
_PARTS = re.compile(_PART)
_HINT = "expected seconds or a duration like 500ms, 1.5s, 2m"


def parse_duration(value: object) -> float:
    """Seconds as a float; raise ValueError with a readable reason for anything else."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"invalid duration {value!r} ({_HINT})")
    if isinstance(value, str):
        text = value.strip()
        if not _WHOLE.fullmatch(text):
            raise ValueError(f"invalid duration {value!r} ({_HINT})")
        seconds = sum(float(number) * _UNITS[unit] for number, unit in _PARTS.findall(text))
    else:
        seconds = float(value)
    if not math.isfinite(seconds):
        raise ValueError(f"invalid duration {value!r} ({_HINT})")
    if seconds < 0:
        raise ValueError(f"duration {value!r} must not be negative")
    return seconds
