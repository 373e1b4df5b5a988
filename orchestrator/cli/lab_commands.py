"""Commands over a whole lab: check, up, down, gc, validate, and the toolbox image."""

from __future__ import annotations

import os
from pathlib import Path

import click

from .. import session
from ..errors import LooplabError, ResourcesLeft
from ..report import FORMATS, render
from ..runtime.state import observer_names
from . import views
from .common import (
    NotAsExpected,
    deliver,
    lan_option,
    launcher_option,
    limit_options,
    limits_from,
    progress_display,
    pull_option,
    run_options,
    warn,
)

lab_file_argument = click.argument("lab_file", type=click.Path())  # the loader says what is wrong, in one line


@click.command()
@lab_file_argument
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="terminal", show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, writable=True), help="Write the report here.")
@click.option("--strict", is_flag=True, help="Flaky cells (failed once, then passed) fail the run too.")
@launcher_option
@lan_option
@pull_option
@limit_options
def check(
    lab_file: str,
    fmt: str,
    output: str | None,
    strict: bool,
    launcher: str,
    lan: bool,
    pull: bool | None,
    **limits: int,
) -> None:
    """Start LAB_FILE, probe the whole matrix, tear it down; exit 0 if every cell is as expected."""
    if output:
        check_writable(output)  # before the run: a report nobody can write is a run wasted
    with progress_display() as progress:
        report = session.check(lab_file, run_options(progress, launcher, pull, limits_from(**limits), lan=lan))
    color = output is None and views.use_color()
    text = render(report, fmt, color=color, width=views.width() if fmt == "terminal" else None)
    deliver(text, output, "report")
    if output:
        s = report.summary
        flaky = f", {s.flaky} flaky" if s.flaky else ""
        click.echo(
            f"looplab: {s.cells} cells, {s.passed} pass{flaky}, {s.failed} fail; report written to {output}", err=True
        )
    if not (report.ok_strict if strict else report.ok):
        raise NotAsExpected()


@click.command()
@lab_file_argument
@launcher_option
@pull_option
@limit_options
def up(lab_file: str, launcher: str, pull: bool | None, **limits: int) -> None:
    """Start LAB_FILE and leave it running; print how to reach it."""
    with progress_display() as progress:
        started = session.up(lab_file, run_options(progress, launcher, pull, limits_from(**limits)))
    views.show(views.up_view(started, observer_names(started.lab)))


def check_writable(output: str) -> None:
    """`--output` can be written: opened for append (never truncated) if it exists, else created
    and removed again. LooplabError in one line otherwise."""
    target = Path(output)
    try:
        if target.exists() or target.is_symlink():
            if not target.is_file():
                raise LooplabError(f"--output {output}: not a regular file")
            with target.open("a"):
                pass
        else:
            os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
            target.unlink()
    except OSError as exc:
        raise LooplabError(f"--output {output}: cannot write there: {exc.strerror or exc}") from None


def _report_removal(removal: session.Removal) -> None:
    """What was removed; what the engine kept is an error (exit 2) that names each and its cause."""
    click.echo(f"removed {removal.removed} resource(s)")
    if removal.stuck:
        raise ResourcesLeft("; ".join(removal.warnings()))


@click.command()
@click.argument("lab", required=False)
def down(lab: str | None) -> None:
    """Remove a lab left running by `up` (all of them when LAB is omitted)."""
    _report_removal(session.down(lab))


@click.command()
@click.option("--all", "everything", is_flag=True, help="Also remove labs left by `up` and live runs.")
def gc(everything: bool) -> None:
    """Remove containers and networks that killed runs left behind."""
    _report_removal(session.gc(everything=everything))


@click.command()
@lab_file_argument
@limit_options
def validate(lab_file: str, **limits: int) -> None:
    """Read LAB_FILE and report problems without touching the engine."""
    from ..labfile.loader import load_lab

    views.show([views.validate_line(lab_file, load_lab(lab_file, warn=warn, limits=limits_from(**limits)))])


@click.group()
def toolbox() -> None:
    """The looplab/toolbox image (built locally, no registry needed)."""


@toolbox.command("build")
@click.option("--force", is_flag=True, help="Rebuild even if the content is unchanged.")
def toolbox_build(force: bool) -> None:
    """Build looplab/toolbox from this machine's Python, offline."""
    from ..runtime import get_runtime

    result = get_runtime().build_toolbox(force=force)
    verb = "built" if result.built else "up to date:"
    click.echo(
        f"{verb} {result.tag} (content {result.digest}, {result.size_bytes / 1e6:.1f} MB, {result.seconds:.2f}s)"
    )


COMMANDS = (check, up, down, gc, validate, toolbox)
