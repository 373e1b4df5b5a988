"""The JSON report: the versioned contract of docs/ARCHITECTURE.md, plus extension keys; and its parser."""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from typing import Any

from ..domain import Cell, Diagnosis, Engine, Report

SCHEMA = "looplab/report@1"

_CELL_FIELDS = (  # (json key, Cell attribute); contract keys first, then extensions
    ("from", "vantage"),
    ("to", "target"),
    ("proto", "proto"),
    ("address", "address"),
    ("port", "port"),
    ("state", "state"),
    ("expected", "expected"),
    ("verdict", "verdict"),
    ("latency_ms", "latency_ms"),
    ("diagnosis", "diagnosis"),  # {"cause", "found", "fix"} or null
    ("reproduce", "reproduce"),
    ("kind", "target_kind"),
    ("detail", "detail"),
    ("reason", "reason"),
    ("cause", "cause"),  # = diagnosis.cause; written for readers of the flat form
    ("diagnosis_text", "diagnosis"),  # deprecated: the flat "FOUND Fix: FIX" string that `diagnosis` was
    ("observations", "observations"),  # each probe of a cell probed twice: ["filtered", "open"]
    ("suspect", "suspect"),  # "CAUSE: why" a kernel limit may have forged the state; such a cell never passes
)
_CONTRACT_KEYS = frozenset(key for key, _ in _CELL_FIELDS[:11])
_EXTENSION_DEFAULTS: dict[str, Any] = {
    "kind": "explicit",
    "detail": None,
    "reason": None,
    "observations": (),
    "suspect": None,
}


def _json_value(key: str, value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, Diagnosis):
        return str(value) if key == "diagnosis_text" else {"cause": value.cause, "found": value.found, "fix": value.fix}
    return value


def cell_dict(c: Cell) -> dict[str, Any]:
    """One cell as plain data, keys in contract order."""
    return {key: _json_value(key, getattr(c, attr)) for key, attr in _CELL_FIELDS}


def to_dict(report: Report, *, cells: bool = True) -> dict[str, Any]:
    """The report as plain data, keys in contract order (`cells=False`: an empty list in their place)."""
    s = report.summary
    return {
        "schema": SCHEMA,
        "lab": report.lab,
        "engine": asdict(report.engine),
        "cells": [cell_dict(c) for c in report.cells] if cells else [],
        "summary": {
            "cells": s.cells,
            "pass": s.passed,
            "fail": s.failed,
            "exposed": s.exposed,
            "broken": s.broken,
            "flaky": s.flaky,
        },
        "run_id": report.run_id,
        "duration_s": report.duration_s,
        "warnings": list(report.warnings),
        "launcher": report.launcher,
    }


def render(report: Report) -> str:
    """The report as JSON text: indent 2, contract key order, trailing newline.

    The same text `json.dumps(to_dict(report), indent=2)` gives, written one cell at a time: with
    an indent the json module encodes in Python and holds every fragment of the whole document
    at once, which for a 34,400-cell matrix was most of `check`'s peak memory."""
    head = json.dumps(to_dict(report, cells=False), indent=2, ensure_ascii=False)
    if not report.cells:
        return head + "\n"
    before, after = head.split('\n  "cells": [],\n', 1)
    parts = [before, '\n  "cells": [\n']
    last = len(report.cells) - 1
    for i, c in enumerate(report.cells):
        text = json.dumps(cell_dict(c), indent=2, ensure_ascii=False)
        parts.append("    " + text.replace("\n", "\n    ") + (",\n" if i < last else "\n"))
    parts += ["  ],\n", after, "\n"]
    return "".join(parts)


def _diagnosis(raw: dict[str, Any]) -> Diagnosis | None:
    """The cell's diagnosis: the object, or the flat string of reports written before it was one."""
    value = raw.get("diagnosis")
    if value is None:
        return None
    if isinstance(value, str):
        found, _, fix = value.partition(" Fix: ")
        return Diagnosis(raw.get("cause") or "", found, fix)
    return Diagnosis(value["cause"], value["found"], value["fix"])


def _cell(raw: dict[str, Any]) -> Cell:
    fields = {attr: raw[key] for key, attr in _CELL_FIELDS if key in _CONTRACT_KEYS}
    attrs = dict(_CELL_FIELDS)
    fields.update({attrs[key]: raw.get(key, default) for key, default in _EXTENSION_DEFAULTS.items()})
    fields["diagnosis"] = _diagnosis(raw)
    fields["observations"] = tuple(fields["observations"] or ())
    return Cell(**fields)


def _engine(raw: dict[str, Any]) -> Engine:
    """The engine object; reports written before the context was added have only kind and version."""
    known = {f.name for f in fields(Engine)}
    return Engine(**{k: v for k, v in raw.items() if k in known})


def parse_report(text: str) -> Report:
    """Read a JSON report back into a Report (the summary is derived, so it is not read).

    Missing extension keys take defaults (`kind` "explicit"); `cause` and `diagnosis_text`
    are not read (the `diagnosis` object holds both), except that a `diagnosis` string from a
    report written before it was an object is split into found and fix, with `cause`. Raises
    ValueError for another schema or a missing contract key.
    """
    data = json.loads(text)
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        found = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise ValueError(f"not a {SCHEMA} report (schema: {found!r})")
    try:
        return Report(
            lab=data["lab"],
            engine=_engine(data["engine"]),
            launcher=data.get("launcher") or "",
            cells=tuple(_cell(raw) for raw in data["cells"]),
            run_id=data.get("run_id"),
            duration_s=data.get("duration_s"),
            warnings=tuple(data.get("warnings") or ()),
        )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"malformed {SCHEMA} report: missing or bad {exc}") from None
