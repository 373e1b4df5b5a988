"""run_wave: a failure or an interruption stops the wave at once (issue 9, item 2).

Real threads, no engine: each task stands for one engine call (10 ms) and, as LabRunner's
tasks do, checks the stop event before it makes anything. The interruption is a real signal
delivered to the calling thread, whose handler raises, as runtime/interrupts.py does.
"""

from __future__ import annotations

import signal
import threading
import time

import pytest

from orchestrator.runtime.docker.waves import run_wave

CALL_S = 0.01


class Interrupted(BaseException):
    """Stands for runtime.interrupts' exception."""


class Calls:
    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.made: list[int] = []
        self.finished: list[int] = []
        self.lock = threading.Lock()

    def task(self, i: int, before=None):
        def run() -> int:
            if self.stop.is_set():
                return -1
            with self.lock:
                self.made.append(i)
            if before is not None:
                before()
            time.sleep(CALL_S)  # the engine call in flight
            with self.lock:
                self.finished.append(i)
            return i

        return run


def test_results_come_back_in_order():
    stop = threading.Event()
    calls = Calls(stop)
    assert run_wave([calls.task(i) for i in range(40)], stop, workers=4) == list(range(40))
    assert not stop.is_set()


@pytest.fixture
def raising_sigusr1():
    def handler(_signum, _frame):
        raise Interrupted

    old = signal.signal(signal.SIGUSR1, handler)
    yield
    signal.signal(signal.SIGUSR1, old)


def test_a_signal_cancels_what_is_queued_and_waits_for_what_is_in_flight(raising_sigusr1):
    stop = threading.Event()
    calls = Calls(stop)
    caller = threading.main_thread().ident

    def signal_the_caller() -> None:
        signal.pthread_kill(caller, signal.SIGUSR1)

    tasks = [calls.task(0, before=signal_the_caller)] + [calls.task(i) for i in range(1, 200)]
    with pytest.raises(Interrupted):
        run_wave(tasks, stop, workers=4)
    assert stop.is_set()
    assert sorted(calls.made) == sorted(calls.finished), "the wave returned before the calls in flight ended"
    assert len(calls.made) < 20, f"calls went on after the signal: {len(calls.made)} of 200 made"


def test_a_failing_task_stops_the_wave_wherever_it_is():
    stop = threading.Event()
    calls = Calls(stop)

    def fail() -> None:
        raise RuntimeError("the engine refused")

    slow_first = calls.task(0, before=lambda: time.sleep(0.3))  # the caller waits on this one first
    tasks = [slow_first, *[calls.task(i) for i in range(1, 10)], fail, *[calls.task(i) for i in range(11, 200)]]
    with pytest.raises(RuntimeError, match="refused"):
        run_wave(tasks, stop, workers=4)
    assert stop.is_set()
    assert sorted(calls.made) == sorted(calls.finished)
    assert len(calls.made) < 40, f"calls went on after the failure: {len(calls.made)} of 199 made"
