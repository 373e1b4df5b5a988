"""Members that are no longer running when the matrix is about to be probed (or was).

A service that exited with a non-zero code is an error (exit 2): its cells would describe a
namespace that is gone, and pid 0 must never be taken for the host. A service that exited 0
completed by design (a one-shot job others wait for with `service_completed_successfully`):
it is no vantage and no target, the run drops it from the model and says so.
"""

from __future__ import annotations

from dataclasses import replace

from .errors import ReadinessError
from .runtime.base import LiveLab


def settle_exited(live: LiveLab) -> set[str]:
    """Raise ReadinessError for a service that exited non-zero; drop the ones that exited 0 from
    `live.lab` and `live.state` (with a warning each). The namespaces dropped with them."""
    lab, state = live.lab, live.state
    done = set(refuse_failed(live))
    if not done:
        return set()
    services = {s.name: s for s in lab.services}
    orphans = [s.name for s in lab.services if s.shares_namespace_with in done and s.name not in done]
    if orphans:
        owner = services[orphans[0]].shares_namespace_with
        raise ReadinessError(
            f"service {orphans[0]} shares the network namespace of {owner}, which exited (0): "
            "no namespace is left to probe"
        )
    for name in done:
        del state.members[name]
        state.warnings.append(f"{name} exited (0): completed by design, so it is no vantage and no target")
    live.lab = replace(
        lab,
        services=tuple(s for s in lab.services if s.name not in done),
        expectations=tuple(e for e in lab.expectations if e.vantage not in done and _host(e.target) not in done),
    )
    return done


def refuse_failed(live: LiveLab) -> list[str]:
    """ReadinessError (`file:line: service app exited with code N: <last log line>`) for the first
    service that exited non-zero; the services that exited 0."""
    services = {s.name: s for s in live.lab.services}
    completed = []
    for name, status in sorted(live.handle.stopped().items()):
        if name not in services or name not in live.state.members:
            continue  # observers are looplab's own; a one-shot already dropped
        if status.exit_code != 0:
            svc = services[name]
            where = f"{svc.location}: " if svc.location is not None else ""
            raise ReadinessError(
                f"{where}service {name} exited with code {status.exit_code}: {status.last_log_line[:200]}"
            )
        completed.append(name)
    return completed


def _host(target: str) -> str:
    return target.rpartition(":")[0]
