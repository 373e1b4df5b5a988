"""`looplab audit` in every format: the findings, most severe first, each with its evidence and
fix, then what was probed (containers, cells, launcher). JSON also carries the whole matrix in
the `looplab check` report's schema, so a tool that reads one reads the other."""

from __future__ import annotations

import html
import json
from dataclasses import asdict

from ..report.json_report import to_dict
from .model import LEVELS, Audit, Finding, Socket

SCHEMA = "looplab/audit@1"
FORMATS = ("terminal", "json", "markdown", "html")
_COLOR = {"broken": "\x1b[31m", "exposed": "\x1b[33m", "info": "\x1b[36m"}
_RESET = "\x1b[0m"


def render(audit: Audit, fmt: str, *, color: bool = False) -> str:
    if fmt == "terminal":
        return terminal(audit, color=color)
    return {"json": to_json, "markdown": markdown, "html": to_html}[fmt](audit)


def summary(audit: Audit) -> str:
    """One line: what was audited and what came of it."""
    counts = audit.counts()
    found = ", ".join(f"{counts[level]} {level}" for level in reversed(LEVELS)) if audit.findings else "no findings"
    s = audit.report.summary
    observers = "" if audit.observers else "; observers off (--no-observers)"
    return (
        f"audit of {audit.subject}: {len(audit.containers)} containers, {s.cells} cells probed "
        f"({audit.report.launcher or 'launcher unknown'}){observers}: {found}"
    )


def terminal(audit: Audit, *, color: bool = False) -> str:
    lines = [summary(audit), ""]
    for f in audit.findings:
        level = f"[{f.level.upper()}]"
        if color:
            level = f"{_COLOR[f.level]}{level}{_RESET}"
        lines.append(f"{level} {f.kind} · {f.target}")
        lines.append(f"  {f.title}")
        lines += [f"    seen: {e}" for e in f.evidence]
        if f.fix:
            lines.append(f"    fix:  {f.fix}")
        lines.append("")
    if audit.sockets:
        lines.append("listening:")
        lines += [f"  {_socket(sock)}" for sock in audit.sockets]
    lines += [f"warning: {w}" for w in audit.report.warnings]
    return "\n".join(lines).rstrip() + "\n"


def _socket(sock: Socket) -> str:
    where = f"[{sock.address}]" if ":" in sock.address else sock.address
    return f"{sock.member:<12} {sock.proto}  {where}:{sock.port}" + (f"  {sock.process}" if sock.process else "")


def to_dict_audit(audit: Audit) -> dict:
    return {
        "schema": SCHEMA,
        "subject": audit.subject,
        "summary": audit.counts(),
        "observers": audit.observers,
        "containers": [
            {"member": c.member, "id": c.id, "name": c.name, "project": c.project, "image": c.image}
            for c in audit.containers
        ],
        "findings": [asdict(f) for f in audit.findings],
        "sockets": [asdict(sock) for sock in audit.sockets],
        "matrix": to_dict(audit.report),
    }


def to_json(audit: Audit) -> str:
    return json.dumps(to_dict_audit(audit), indent=2) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def markdown(audit: Audit) -> str:
    lines = [f"# looplab audit: {audit.subject}", "", summary(audit), ""]
    if audit.findings:
        lines += ["| level | finding | target | what |", "|---|---|---|---|"]
        lines += [f"| {f.level} | {f.kind} | `{f.target}` | {_md(f.title)} |" for f in audit.findings]
        lines.append("")
    for f in audit.findings:
        lines += [f"## {f.level}: {f.kind} · `{f.target}`", "", _md(f.title), ""]
        lines += [f"- seen: `{e}`" for e in f.evidence]
        if f.fix:
            lines += ["", f"**Fix:** {_md(f.fix)}"]
        lines.append("")
    if audit.sockets:
        lines += ["## listening sockets", "", "| member | proto | address | process |", "|---|---|---|---|"]
        lines += [f"| {s.member} | {s.proto} | `{s.address}:{s.port}` | {_md(s.process)} |" for s in audit.sockets]
        lines.append("")
    lines += [f"> warning: {_md(w)}" for w in audit.report.warnings]
    return "\n".join(lines).rstrip() + "\n"


def _finding_html(f: Finding) -> str:
    seen = "".join(f"<li><code>{html.escape(e)}</code></li>" for e in f.evidence)
    fix = f"<p><b>Fix:</b> {html.escape(f.fix)}</p>" if f.fix else ""
    return (
        f'<section class="{f.level}"><h2>{f.level}: {html.escape(f.kind)} · <code>{html.escape(f.target)}</code></h2>'
        f"<p>{html.escape(f.title)}</p><ul>{seen}</ul>{fix}</section>"
    )


def to_html(audit: Audit) -> str:
    body = "".join(_finding_html(f) for f in audit.findings)
    warnings = "".join(f"<p class='warning'>warning: {html.escape(w)}</p>" for w in audit.report.warnings)
    style = (
        "body{font-family:sans-serif;max-width:60em;margin:2em auto}section{border-left:4px solid #888;"
        "padding-left:1em;margin:1em 0}.broken{border-color:#c00}.exposed{border-color:#d80}.info{border-color:#08c}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>looplab audit: {html.escape(audit.subject)}"
        f"</title><style>{style}</style></head><body><h1>looplab audit: {html.escape(audit.subject)}</h1>"
        f"<p>{html.escape(summary(audit))}</p>{body}{warnings}</body></html>\n"
    )
