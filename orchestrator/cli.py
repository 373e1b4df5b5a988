"""The `looplab` command: parse, call the session, render, exit with the right code."""

from __future__ import annotations

import functools
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from . import __version__, session
from .addresses import host_port, owner_text
from .errors import EXIT_FAILED_CELLS, EXIT_OK, Interrupted, LooplabError
from .probes.agent import cli_kinds  # the probe-kind registry (stdlib only, imported anyway)
from .probes.launchers import CHOICES
from .report import FORMATS, render
from .runtime.state import observer_names


def _fail(message: str, code: int) -> None:
    click.echo(f"looplab: {message}", err=True)
    sys.exit(code)


def reports_errors(func: Callable) -> Callable:
    """Every LooplabError becomes one line on stderr and its exit code; no traceback."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except Interrupted as exc:
            _fail(f"{exc}; the lab was removed", exc.exit_code)
        except KeyboardInterrupt:
            _fail("interrupted; the lab was removed", 130)
        except LooplabError as exc:
            _fail(f"error: {exc}", exc.exit_code)

    return wrapper


@contextmanager
def progress_display() -> Iterator[Callable[[str], None]]:
    """A spinner on a terminal's stderr; silence on a pipe (output stays machine-readable)."""
    if not sys.stderr.isatty() or os.environ.get("CI"):
        yield lambda _msg: None
        return
    from rich.console import Console

    console = Console(stderr=True)
    with console.status("starting") as status:
        yield lambda msg: status.update(msg)


def _warn(msg: str) -> None:
    click.echo(f"looplab: warning: {msg}", err=True)


def _options(progress: Callable[[str], None], launcher: str, pull: bool | None) -> session.RunOptions:
    opts = session.RunOptions(launcher=launcher, progress=progress, warn=_warn)
    if pull is not None:
        opts.pull = pull
    return opts


launcher_option = click.option(
    "--launcher",
    type=click.Choice(CHOICES),
    default="auto",
    show_default=True,
    help="How probes enter a namespace.",
)
pull_option = click.option(
    "--pull/--no-pull", default=None, help="Pull missing images (default: yes, unless LOOPLAB_PULL=never)."
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="looplab")
def main() -> None:
    """Probe a Docker lab from every network namespace and report who reaches what."""


@main.command()
@click.argument("lab_file", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="terminal", show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, writable=True), help="Write the report here.")
@launcher_option
@pull_option
@reports_errors
def check(lab_file: str, fmt: str, output: str | None, launcher: str, pull: bool | None) -> None:
    """Start LAB_FILE, probe the whole matrix, tear it down; exit 0 if every cell is as expected."""
    with progress_display() as progress:
        report = session.check(lab_file, _options(progress, launcher, pull))
    color = output is None and sys.stdout.isatty() and "NO_COLOR" not in os.environ
    text = render(report, fmt, color=color, width=_width() if fmt == "terminal" else None)
    if output:
        Path(output).write_text(text)
        summary = report.summary
        click.echo(
            f"looplab: {summary.cells} cells, {summary.passed} pass, {summary.failed} fail; report written to {output}",
            err=True,
        )
    else:
        click.echo(text, nl=not text.endswith("\n"))
    sys.exit(EXIT_OK if report.ok else EXIT_FAILED_CELLS)


def _width() -> int:
    """The terminal's width (COLUMNS wins); 120 on a pipe, so saved output stays stable."""
    return shutil.get_terminal_size((120, 24)).columns if sys.stdout.isatty() else 120


@main.command()
@click.argument("lab_file", type=click.Path(dir_okay=False))
@launcher_option
@pull_option
@reports_errors
def up(lab_file: str, launcher: str, pull: bool | None) -> None:
    """Start LAB_FILE and leave it running; print how to reach it."""
    with progress_display() as progress:
        started = session.up(lab_file, _options(progress, launcher, pull))
    state, lab = started.state, started.lab
    click.echo(f"lab {lab.name} is up (run {state.run_id}); remove it with: looplab down {lab.name}")
    for member in state.members.values():
        where = ", ".join(f"{net} {addr}" for net, addr in member.addresses.items()) or member.namespace
        click.echo(f"  {member.name:<14} {member.container_name}  [{where}]  pid {member.pid}")
    for pub in state.published:
        click.echo(f"  published      {pub.host_ip}:{pub.host_port} -> {pub.service}:{pub.container_port}/{pub.proto}")
    later = ", ".join(o for o in observer_names(lab) if o not in state.members)
    if later:
        click.echo(f"  observers {later} start when a probe first needs them")
    click.echo("  shell into a namespace: nsenter --net=/proc/<pid>/ns/net <command>")


def _report_removal(removal: session.Removal) -> None:
    click.echo(f"removed {removal.removed} resource(s)")
    for msg in removal.warnings():
        _warn(msg)


@main.command()
@click.argument("lab", required=False)
@reports_errors
def down(lab: str | None) -> None:
    """Remove a lab left running by `up` (all of them when LAB is omitted)."""
    _report_removal(session.down(lab))


@main.command()
@click.option("--all", "everything", is_flag=True, help="Also remove labs left by `up` and live runs.")
@reports_errors
def gc(everything: bool) -> None:
    """Remove containers and networks that killed runs left behind."""
    _report_removal(session.gc(everything=everything))


@main.command()
@click.argument("lab_file", type=click.Path(dir_okay=False))
@reports_errors
def validate(lab_file: str) -> None:
    """Read LAB_FILE and report problems without touching the engine."""
    from .labfile.loader import load_lab

    lab = load_lab(lab_file, warn=_warn)
    click.echo(
        f"{lab_file}: ok ({len(lab.services)} services, {len(lab.networks)} networks, "
        f"{len(lab.listeners)} listeners, {len(lab.expectations)} expectations)"
    )


@main.command()
@click.option("--lab", "lab_name", help="The running lab (default: the only one).")
@click.option("--from", "vantage", required=True, help="host, a service, @NET or @outside.")
@click.option("--proto", "kind", type=click.Choice(cli_kinds()), default="tcp", show_default=True)
@click.argument("target")
@launcher_option
@reports_errors
def probe(lab_name: str | None, vantage: str, kind: str, target: str, launcher: str) -> None:
    """Dial TARGET from one vantage of a running lab (telnet/ping, from inside the namespace)."""
    from . import ondemand

    answer = ondemand.probe(lab_name, vantage, target, kind, launcher)
    r, cell = answer.result, answer.cell
    where = f"{cell.address}:{cell.port}" if kind != "icmp" else cell.address
    latency = f" in {r.latency_ms:.2f} ms" if r.latency_ms is not None else ""
    label = cell.target.rsplit(":", 1)[0] if kind == "icmp" else cell.target
    click.echo(f"{vantage} -> {label} ({kind} {where}): {r.state}{latency}")
    for key, value in (("status", r.status), ("banner", r.banner), ("detail", r.detail)):
        if value:
            click.echo(f"  {key}: {str(value).strip()[:200]}")
    if answer.verdict is not None:
        click.echo(f"  expected {cell.expected} ({answer.verdict}): {cell.reason}")
    sys.exit(EXIT_FAILED_CELLS if answer.verdict not in (None, "pass") else EXIT_OK)


@main.command()
@click.option("--lab", "lab_name", help="The running lab (default: the only one).")
@click.option("--from", "vantage", required=True, help="host, a service, @NET or @outside.")
@click.option("--proto", "kind", type=click.Choice(["tcp", "udp"]), default="tcp", show_default=True)
@click.argument("target")
@launcher_option
@reports_errors
def diagnose(lab_name: str | None, vantage: str, kind: str, target: str, launcher: str) -> None:
    """Probe TARGET from one vantage of a running lab and explain why it is what it is."""
    from . import ondemand

    answer, found = ondemand.diagnose(lab_name, vantage, target, kind, launcher)
    r, cell = answer.result, answer.cell
    click.echo(
        f"{vantage} -> {cell.target} ({kind} {cell.address}:{cell.port}): {r.state}"
        + (f", expected {cell.expected} ({answer.verdict})" if answer.verdict else "")
    )
    if cell.reason:
        click.echo(f"  model:     {cell.reason}")
    if r.detail:
        click.echo(f"  detail:    {r.detail}")
    if found is not None:
        click.echo(f"  cause:     {found.cause}")
        click.echo(f"  found:     {found.found}")
        click.echo(f"  fix:       {found.fix}")
    else:
        click.echo("  cause:     nothing unusual: the model explains this cell")


@main.command()
@click.option("--lab", "lab_name", help="The running lab (default: the only one).")
@click.option("--from", "vantage", required=True, help="host, a service, @NET or @outside.")
@click.argument("name")
@launcher_option
@reports_errors
def resolve(lab_name: str | None, vantage: str, name: str, launcher: str) -> None:
    """What NAME means inside one vantage: its /etc/hosts, then Docker's DNS (127.0.0.11) only."""
    from . import ondemand

    r = ondemand.resolve(lab_name, vantage, name, launcher)
    if not r.ok:
        click.echo(f"{vantage}: {name} does not resolve: {r.detail}")
        sys.exit(EXIT_FAILED_CELLS)
    click.echo(
        f"{vantage}: {name} -> {', '.join(r.addresses)} (from {r.source}); a plain client dials {r.dial_order[0]} first"
    )


@main.command()
@click.option("--lab", "lab_name", help="The running lab (default: the only one).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.argument("member", required=False)
@launcher_option
@reports_errors
def sockets(lab_name: str | None, fmt: str, member: str | None, launcher: str) -> None:
    """Listening sockets with their process, per namespace of a running lab (netstat/lsof)."""
    import json

    from . import ondemand

    inventory = ondemand.sockets(lab_name, member, launcher)
    if fmt == "json":
        click.echo(json.dumps(inventory, indent=2, sort_keys=True))
        return
    for namespace, socks in inventory.items():
        click.echo(f"{namespace}:")
        for s in socks:
            owner = owner_text(s) or "-"
            click.echo(f"  {s['proto']:<4} {host_port(s['address'], s['port']):<28} {owner[:90]}")


@main.command()
@click.option("--lab", "lab_name", help="The running lab (default: the only one).")
@click.option("--from", "vantage", required=True, help="host, a service, @NET or @outside.")
@click.option("--ports", "ports", default="1-65535", show_default=True, help="Ports and ranges: 22,80,8000-8100.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.argument("address")
@launcher_option
@reports_errors
def scan(lab_name: str | None, vantage: str, ports: str, fmt: str, address: str, launcher: str) -> None:
    """TCP connect scan of ADDRESS from one vantage of a running lab (like nmap -sT).

    ADDRESS: 127.0.0.1, ::1, a service or observer of the lab, `host`, or a lab address or
    gateway; anything outside the lab is refused. Open = the handshake completed.
    """
    import json

    from . import ondemand

    answer = ondemand.scan(lab_name, vantage, address, ports, launcher).to_json()
    if fmt == "json":
        click.echo(json.dumps(answer, indent=2, sort_keys=True))
        return
    for line in _scan_lines(answer):
        click.echo(line)


def _scan_lines(a: dict) -> list[str]:
    """The table rendering of `ondemand.scan`'s answer: open ports first, then the counts."""
    shown = a["target"] if a["target"] == a["address"] else f"{a['target']} ({a['address']})"
    lines = [f"{a['from']} -> {shown}: tcp connect scan of {a['ports_total']} port(s) [{a['ports']}]"]
    owners: dict[int, list[dict]] = {}
    for o in a["owners"] or []:
        owners.setdefault(o["port"], []).append(o)
    if a["open"]:
        lines.append(f"  {'PORT':<7}{'LISTENER':<28}PROCESS")
    for port in a["open"]:
        found = owners.get(port) or [None]
        for o in found:
            if o is None:
                listener, process = ("?" if a["owners"] is None else "-"), ""
            else:
                listener = host_port(o["address"], port)
                process = owner_text(o) or "-"
            lines.append(f"  {port:<7}{listener:<28}{process[:90]}".rstrip())
    if not a["open"]:
        lines.append("  no open port")
    if a["owners"] is None and a["open"]:
        lines.append("  (no socket inventory for this address's namespace: processes unknown)")
    counts = f"{len(a['open'])} open, {a['closed_count']} closed, {a['filtered_count']} filtered"
    errors = sum(a["errors"].values())
    if errors:
        counts += f", {errors} error(s)"
    lines.append(
        f"{counts} · {a['scanned']} of {a['ports_total']} port(s) in {a['seconds']:.2f}s ({a['elapsed_s']:.2f}s in all)"
    )
    if a["filtered"]:
        more = a["filtered_count"] - min(len(a["filtered"]), 20)
        listed = ", ".join(str(p) for p in a["filtered"][:20]) + (f" and {more} more" if more > 0 else "")
        reasons = "; ".join(f"{why}: {n}" for why, n in a["filtered_reasons"].items())
        lines.append(f"  filtered: {listed} ({reasons})")
    for why, n in a["errors"].items():
        lines.append(f"  error: {why} ({n} port(s))")
    if a["unreachable"]:
        lines.append(f"  unreachable: {a['unreachable']}; the scan stopped")
    if a["self_connects"]:
        lines.append(f"  ({a['self_connects']} TCP self-connect(s) discarded and re-dialled)")
    return lines


@main.group()
def toolbox() -> None:
    """The looplab/toolbox image (built locally, no registry needed)."""


@toolbox.command("build")
@click.option("--force", is_flag=True, help="Rebuild even if the content is unchanged.")
@reports_errors
def toolbox_build(force: bool) -> None:
    """Build looplab/toolbox from this machine's Python, offline."""
    from .runtime import get_runtime

    result = get_runtime().build_toolbox(force=force)
    verb = "built" if result.built else "up to date:"
    click.echo(
        f"{verb} {result.tag} (content {result.digest}, {result.size_bytes / 1e6:.1f} MB, {result.seconds:.2f}s)"
    )


if __name__ == "__main__":  # pragma: no cover
    main()
