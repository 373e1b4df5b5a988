"""The probe-kind registry, the Vantage a probe runs in, and the agent's own errors.

A kind registers itself with :func:`probe`; the registry (:data:`KINDS`) keeps the
order of registration, which is the order of the kind imports in ``__init__``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

AGENT = "looplab-agent/1"


class ProbeFailed(Exception):
    """A probe that cannot run as asked (bad parameters); reported as state "error"."""


class Vantage:
    """What a probe coroutine may use: the loop, the concurrency bound, who we are."""

    def __init__(self, vid: str, netns: str | None, root: str | None, limit: int, ns_id) -> None:
        self.id = vid
        self.netns = netns
        self.root = root
        self.loop = asyncio.get_running_loop()
        self.slots = asyncio.Semaphore(limit)
        self.ns_id = ns_id  # (st_dev, st_ino) of this thread's network namespace


ProbeFn = Callable[[Vantage, dict], Awaitable[dict]]
"""``async def run(vantage, spec) -> dict``: the fields the probe observed."""


@dataclass(frozen=True)
class Probe:
    """One registered probe kind."""

    kind: str
    run: ProbeFn
    defaults: Mapping[str, Any]  # the kind's result fields, valued as when nothing was observed
    listener: bool = False  # also a listener scheme: `serve` runs it, lab files write KIND://ADDRESS:PORT
    cli: bool = False  # offered by `looplab probe --proto`


KINDS: dict[str, Probe] = {}
"""kind -> :class:`Probe`, in registration order."""


def probe(kind: str, *, listener: bool = False, cli: bool = False, **defaults: Any) -> Callable[[ProbeFn], ProbeFn]:
    """Register the decorated coroutine as probe kind ``kind``, with its result fields' defaults."""

    def register(fn: ProbeFn) -> ProbeFn:
        if kind in KINDS:
            raise ValueError(f"probe kind {kind!r} is registered twice")
        KINDS[kind] = Probe(kind, fn, defaults, listener, cli)
        return fn

    return register


def listener_schemes() -> tuple[str, ...]:
    """The kinds that are also listener schemes (``tcp://``, ``udp://``, ``http://``)."""
    return tuple(name for name, p in KINDS.items() if p.listener)


def cli_kinds() -> tuple[str, ...]:
    """The kinds a user may ask for with ``looplab probe --proto``."""
    return tuple(name for name, p in KINDS.items() if p.cli)
