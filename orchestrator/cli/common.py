"""What the commands share: options, the run's progress and warnings, and the exit statuses."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from ..errors import EXIT_FAILED_CELLS, LooplabError
from ..labfile.limits import DEFAULT_LIMITS, Limits
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


def run_options(
    progress: Progress, launcher: str, pull: bool | None, limits: Limits = DEFAULT_LIMITS, *, lan: bool = False
) -> RunOptions:
    opts = RunOptions(launcher=launcher, progress=progress, warn=warn, limits=limits, lan=lan)
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
vantage_option = click.option(
    "--from", "vantage", required=True, help="host, a service, @NET, @outside, or @neighbour (with --lan)."
)
lan_option = click.option(
    "--lan",
    is_flag=True,
    help="Make the LAN neighbour @neighbour for this command (root and the setns launcher only).",
)


def format_option(*choices: str, default: str) -> Callable:
    return click.option("--format", "fmt", type=click.Choice(choices), default=default, show_default=True)


def limit_options(command: Callable) -> Callable:
    """`--max-services`, `--max-networks`, `--max-cells`: the lab size looplab refuses beyond
    (before anything starts); the command receives them as one `limits` argument."""
    for key in ("cells", "networks", "services"):
        command = click.option(
            f"--max-{key}",
            f"max_{key}",
            type=click.IntRange(min=1),
            default=getattr(DEFAULT_LIMITS, key),
            show_default=True,
            help=f"Refuse a lab with more {key} than this.",
        )(command)
    return command


def limits_from(max_services: int, max_networks: int, max_cells: int) -> Limits:
    return Limits(services=max_services, networks=max_networks, cells=max_cells)


def deliver(text: str, output: str | None, what: str) -> None:
    """`text` on stdout, or written to `output` (one line naming what could not be written)."""
    if not output:
        click.echo(text, nl=not text.endswith("\n"))
        return
    try:
        Path(output).write_text(text)
    except OSError as exc:
        raise LooplabError(f"--output {output}: cannot write the {what}: {exc.strerror or exc}") from None
