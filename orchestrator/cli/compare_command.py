"""`looplab compare`: the same listeners in every placement, side by side (and engine by engine)."""

from __future__ import annotations

import click

from ..compare.render import FORMATS, render
from ..compare.run import compare as run_compare
from . import views
from .common import deliver, launcher_option, progress_display, pull_option, run_options
from .lab_commands import check_writable


@click.command()
@click.argument("targets", nargs=-1, required=True, metavar="LISTENER... | LAB_FILE")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="terminal", show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, writable=True), help="Write the comparison here.")
@click.option(
    "--context",
    "contexts",
    multiple=True,
    help="Run on this Docker context or engine URL (repeat to compare engines; differences are marked).",
)
@launcher_option
@pull_option
def compare(
    targets: tuple[str, ...], fmt: str, output: str | None, contexts: tuple[str, ...], launcher: str, pull: bool | None
) -> None:
    """Run LISTENER URLs (tcp://127.0.0.1:62893 …) in every placement — the host, a bridge
    container, published on 127.0.0.1 and on 0.0.0.0, host mode, no network, a sidecar — and show
    who reaches them from where. Given a lab file, each service's listeners are compared."""
    if output:
        check_writable(output)
    with progress_display() as progress:
        report = run_compare(list(targets), run_options(progress, launcher, pull), list(contexts), progress)
    color = output is None and views.use_color()
    text = render(report, fmt, color=color, width=views.width() if fmt == "terminal" else None)
    deliver(text, output, "comparison")
    if output:
        click.echo(f"looplab: comparison written to {output}", err=True)


COMMANDS = (compare,)
