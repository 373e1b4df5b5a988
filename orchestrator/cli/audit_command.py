"""`looplab audit`: probe a running stack looplab did not start and report what it exposes."""

from __future__ import annotations

from pathlib import Path

import click

from ..audit.model import FAIL_ON
from ..audit.render import FORMATS, render
from ..audit.run import audit as run_audit
from ..audit.write_lab import lab_text
from ..errors import LooplabError
from ..runtime.foreign import Selection
from . import views
from .common import NotAsExpected, deliver, lan_option, launcher_option, progress_display, run_options
from .lab_commands import check_writable


def selection_of(project: str | None, containers: bool, refs: tuple[str, ...], everything: bool) -> Selection:
    """The one selection asked for, or one line saying what is wrong with the arguments."""
    chosen = [name for name, on in (("--project", project), ("--containers", containers), ("--all", everything)) if on]
    if len(chosen) != 1:
        raise LooplabError(
            "audit needs exactly one of --project NAME, --containers ID..., --all"
            + (f" (got {', '.join(chosen)})" if chosen else "")
        )
    if refs and not containers:
        raise LooplabError(f"container names are taken only with --containers (got {' '.join(refs)})")
    if containers and not refs:
        raise LooplabError("--containers needs at least one container id or name")
    return Selection(project=project, containers=refs, everything=everything)


@click.command()
@click.argument("refs", nargs=-1, metavar="[ID...]")
@click.option("--project", help="The Compose project (its com.docker.compose.project label).")
@click.option("--containers", is_flag=True, help="Audit the containers named as arguments.")
@click.option("--all", "everything", is_flag=True, help="Audit every running container looplab did not start.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="terminal", show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, writable=True), help="Write the audit here.")
@click.option(
    "--write-lab", "write_lab", type=click.Path(dir_okay=False), help="Write a lab file that pins what was seen."
)
@click.option(
    "--fail-on",
    type=click.Choice(FAIL_ON),
    default="exposed",
    show_default=True,
    help="Exit 1 when a finding is at this level or above (info < exposed < broken).",
)
@click.option("--no-observers", is_flag=True, help="Add no observer containers to the stack's networks.")
@lan_option
@launcher_option
def audit(
    refs: tuple[str, ...],
    project: str | None,
    containers: bool,
    everything: bool,
    fmt: str,
    output: str | None,
    write_lab: str | None,
    fail_on: str,
    no_observers: bool,
    lan: bool,
    launcher: str,
) -> None:
    """Probe a running stack that looplab did not start — a Compose project, some containers, or
    all — from every vantage, and report what it exposes, each finding with evidence and a fix.
    The containers are not changed; observers looplab adds are removed afterwards. Exit 0: no
    finding at --fail-on or above; 1: some; 2: could not run."""
    selection = selection_of(project, containers, refs, everything)
    for path in (output, write_lab):
        if path:
            check_writable(path)
    with progress_display() as progress:
        result = run_audit(selection, run_options(progress, launcher, None, lan=lan), observers=not no_observers)
    deliver(render(result, fmt, color=output is None and views.use_color()), output, "audit")
    if write_lab:
        try:
            Path(write_lab).write_text(lab_text(result, project or "audit"))
        except OSError as exc:
            raise LooplabError(f"--write-lab {write_lab}: cannot write the lab: {exc.strerror or exc}") from None
        click.echo(f"looplab: lab written to {write_lab}; `looplab check {write_lab}` replays it", err=True)
    if output:
        click.echo(f"looplab: audit written to {output}", err=True)
    if result.failing(fail_on):
        raise NotAsExpected()


COMMANDS = (audit,)
