"""One wave of engine calls in parallel, stopped at once when the run ends early.

A `with ThreadPoolExecutor` block waits for every queued call on the way out, so a Ctrl-C
during the start of a 150-service lab used to go on creating all 150 containers before the
teardown began (issue 9, item 2). Here a fixed set of workers takes the calls one at a time,
and none is taken once `stop` is set: by a failed call, or by the calling thread when a
signal raises there. The wave returns only when no call is in flight any more, so whatever
the calls made exists by then and the teardown that follows finds it (docs/ARCHITECTURE.md,
"Signals").
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from ...errors import EngineError

T = TypeVar("T")
WORKERS = 16  # engine calls in flight at once: also the most a signal can find half-done


def run_wave(tasks: Sequence[Callable[[], T]], stop: threading.Event, *, workers: int = WORKERS) -> list[T]:
    """Run `tasks` on up to `workers` threads and return their results in order.

    When a task raises, or the calling thread is interrupted (a signal raises there), `stop`
    is set, no further task starts, and the exception propagates once the tasks already
    running have returned. Tasks should also check `stop` between their own engine calls.
    """
    if not tasks:
        return []
    wave = _Wave(list(tasks), stop, min(workers, len(tasks)))
    try:
        for _ in range(wave.workers):
            threading.Thread(target=wave.work, daemon=True).start()
        return wave.outcome()
    except BaseException:
        stop.set()  # before anything waits: no worker takes another call
        raise
    finally:
        wave.settle()


class _Wave(Generic[T]):
    def __init__(self, tasks: list[Callable[[], T]], stop: threading.Event, workers: int) -> None:
        self.tasks = tasks
        self.stop = stop
        self.workers = workers
        self.results: list[T | None] = [None] * len(tasks)
        self.error: BaseException | None = None
        self.taken = self.done = self.in_flight = self.exited = 0
        self.cond = threading.Condition()

    def work(self) -> None:
        while True:
            with self.cond:
                if self.stop.is_set() or self.taken == len(self.tasks):
                    self.exited += 1
                    self.cond.notify_all()
                    return
                index = self.taken
                self.taken += 1
                self.in_flight += 1
            error: BaseException | None = None
            try:
                result = self.tasks[index]()
            except BaseException as exc:  # handed to the caller, raised there
                error = exc
            with self.cond:
                self.in_flight -= 1
                self.done += 1
                if error is None:
                    self.results[index] = result
                elif self.error is None:
                    self.error = error
                    self.stop.set()
                self.cond.notify_all()

    def outcome(self) -> list[T]:
        with self.cond:
            self.cond.wait_for(
                lambda: self.error is not None or self.done == len(self.tasks) or self.exited == self.workers
            )
            if self.error is not None:
                raise self.error
            if self.done < len(self.tasks):
                raise EngineError("the lab's start was stopped")  # `stop` was set before this wave
            return list(self.results)  # type: ignore[arg-type]

    def settle(self) -> None:
        """Wait until no task is running (none starts any more once `stop` is set)."""
        with self.cond:
            self.cond.wait_for(lambda: self.in_flight == 0)
