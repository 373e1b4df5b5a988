"""What the commands share: options, the run's progress and warnings, and the exit statuses."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click

from ..errors import EXIT_FAILED_CELLS
from ..probes.launchers import CHOICES
from ..session import RunOptions

Progress = Callable[[str], None]


class NotAsExpected(click.exceptions.Exit):
    """A cell, a probe or a name is not what the model expects: exit 1 (the output says which)."""

    def __init__(self) -> None:
        super().__init__(EXIT_FAILED_CELLS)


def warn(message: str) -> None:
    """A warning: one line on stderr, never on stdout (which stays machine-readable)."""
    click.echo(f"looplab: warning: {message}", err=True)


@contextmanager
def progress_display() -> Iterator[Progress]:
    """A spinner on a terminal's stderr; silence on a pipe or in CI."""
    if not sys.stderr.isatty() or os.environ.get("CI"):
        yield lambda _msg: None
        return
    from rich.console import Console

    with Console(stderr=True).status("starting") as status:
        yield lambda msg: status.update(msg)


def run_options(progress: Progress, launcher: str, pull: bool | None) -> RunOptions:
    opts = RunOptions(launcher=launcher, progress=progress, warn=warn)
    if pull is not None:
        opts.pull = pull
    return opts


launcher_option = click.option(
    "--launcher",
    type=click.Choice(CHOICES),
    default="auto",
    show_default=True,
    help="How probes enter a namespace (auto: the first of setns, agent, join that really can).",
)
pull_option = click.option(
    "--pull/--no-pull", default=None, help="Pull missing images (default: yes, unless LOOPLAB_PULL=never)."
)
lab_option = click.option("--lab", "lab_name", help="The running lab (default: the only one).")
vantage_option = click.option("--from", "vantage", required=True, help="host, a service, @NET or @outside.")


def format_option(*choices: str, default: str) -> Callable:
    return click.option("--format", "fmt", type=click.Choice(choices), default=default, show_default=True)
