"""The `looplab` command: parse, ask `session` or `ondemand`, print a view, exit with the right code.

Errors are mapped once, here: every `LooplabError` raised by any command becomes one line
`looplab: error: ...` on stderr and its exit code; an interruption exits 130/143. Never a
traceback. Commands live in `lab_commands` and `ondemand_commands`, their output in `views`.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
from typing import IO, Any

import click

from .. import __version__
from ..errors import Interrupted, LooplabError
from ..runtime.interrupts import hold_for_test
from . import audit_command, compare_command, lab_commands, ondemand_commands

EXIT_SIGINT = 130


class Reported(click.ClickException):
    """An error as the person sees it: `looplab: MESSAGE`, one line on stderr, then `exit_code`."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(" ".join(part.strip() for part in message.splitlines() if part.strip()))
        self.exit_code = exit_code

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"looplab: {self.format_message()}", file=file, err=file is None)


class LooplabGroup(click.Group):
    """The command group whose `invoke` maps what any command raises to a `Reported` error."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Interrupted as exc:
            raise Reported(f"{exc}; the lab was removed" if exc.lab_removed else str(exc), exc.exit_code) from None
        except KeyboardInterrupt:
            raise Reported("interrupted by SIGINT", EXIT_SIGINT) from None
        except LooplabError as exc:
            raise Reported(f"error: {exc}", exc.exit_code) from None


@click.group(cls=LooplabGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="looplab")
def main() -> None:
    """Probe a Docker lab from every network namespace and report who reaches what."""


for _command in (
    *lab_commands.COMMANDS,
    *ondemand_commands.COMMANDS,
    *compare_command.COMMANDS,
    *audit_command.COMMANDS,
):
    main.add_command(_command)


def run() -> None:
    """The `looplab` program: `main`, then an exit that no late signal turns into a traceback.

    Once the command is over (its output written, its lab removed), the interpreter still
    shuts down: finalizers (urllib3's pools) and atexit hooks run Python code, where a
    KeyboardInterrupt would print "Exception ignored in ..." and a traceback. From then on
    SIGINT/SIGTERM end the process at once: one line, exit 130/143.
    """
    atexit.register(hold_for_test, "exit")  # test instrumentation (a no-op without its variable)
    try:
        main(prog_name="looplab")
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, _exit_now)


def _exit_now(signum: int, _frame: object) -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # a closed pipe: nothing more can be said there
            pass
    try:
        os.write(2, f"looplab: interrupted by {signal.Signals(signum).name}\n".encode())
    finally:
        os._exit(128 + signum)


__all__ = ["LooplabGroup", "Reported", "main", "run"]
