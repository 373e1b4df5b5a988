"""local: the host vantage, in the orchestrator's own namespace, in-process."""

from __future__ import annotations

from collections.abc import Sequence

from ...errors import ProbeError
from .. import agent
from .base import Batch, VantageOutcome, from_response, to_request


class LocalLauncher:
    name = "local"

    def run(self, batches: Sequence[Batch], *, deadline_s: float) -> dict[str, VantageOutcome]:
        foreign = [b.vantage for b in batches if b.pid is not None]
        if foreign:
            raise ProbeError(f"the local launcher probes only the host; cannot enter {', '.join(foreign)}")
        return from_response(agent.run_request(to_request(batches, {b.vantage: None for b in batches})))
