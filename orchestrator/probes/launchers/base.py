"""The launcher contract: run one batch of agent probes per vantage, all vantages at once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Batch:
    """Probes (agent protocol dicts) to run from one vantage.

    `pid` names the namespace (/proc/PID/ns/net); None is the orchestrator's own (the host).
    `container_id` lets launchers that cannot setns (a sidecar) find the same namespace.
    """

    vantage: str
    pid: int | None
    container_id: str | None
    probes: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class VantageOutcome:
    vantage: str
    error: str | None
    results: list[dict]


class Launcher(Protocol):
    name: str

    def run(self, batches: Sequence[Batch], *, deadline_s: float) -> dict[str, VantageOutcome]:
        """Run every batch; never longer than `deadline_s`. Keys are vantage ids."""
        ...


def to_request(batches: Sequence[Batch], netns: dict[str, str | None]) -> dict:
    return {"vantages": [{"id": b.vantage, "netns": netns[b.vantage], "probes": b.probes} for b in batches]}


def from_response(response: dict) -> dict[str, VantageOutcome]:
    return {
        v["id"]: VantageOutcome(v["id"], v.get("error"), list(v.get("results") or []))
        for v in response.get("vantages", [])
    }
