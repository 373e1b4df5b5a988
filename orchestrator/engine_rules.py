"""Isolation rules that depend on the engine, applied on top of the plan (README, "Engines").

- rootless (measured here): the containers' addresses live in RootlessKit's network namespace.
  The real host has no route to them, and on this kind of machine the same subnets may belong
  to the rootful engine's bridges, so the host never dials them: those cells are not planned
  and the report says so. Published ports still reach the host through RootlessKit's port driver.
  From `@outside`, a port published on 0.0.0.0 is closed: its gateway is RootlessKit's
  namespace, and the port driver binds published ports on the real host, not there.
- Docker >= 28 (from Docker's documentation, not measured here): an internal network has no
  route out, so its members see `unreachable` rather than `filtered`.
"""

from __future__ import annotations

from dataclasses import replace

from .domain import PlannedCell
from .errors import LooplabError, lab_file_error_at
from .labfile.model import Lab
from .runtime.state import HOST, OUTSIDE, LabState

ROOTLESS_HOST_NOTE = (
    "rootless engine: the host has no route to container addresses (they live in RootlessKit's network "
    "namespace), so {n} host cell(s) to SERVICE:P were not probed; ports published on the host still are"
)
ROOTLESS_GATEWAY = (
    "rootless engine: the gateway is RootlessKit's namespace, and its port driver binds published ports on the "
    "real host, not there (measured)"
)
INTERNAL_28 = "Docker >= 28: an internal network has no route (per Docker's documentation; not measured here)"


def apply_engine_rules(cells: list[PlannedCell], state: LabState) -> list[PlannedCell]:
    """The cells as this engine makes them: some left out (with a warning in `state`), some re-expected."""
    engine = state.engine
    if engine is None:
        return cells
    if engine.rootless:
        member_addresses = {a for m in state.members.values() for a in m.addresses.values()}
        skipped = [c for c in cells if state.namespace_of(c.vantage) == HOST and c.address in member_addresses]
        if skipped:
            state.warnings.append(ROOTLESS_HOST_NOTE.format(n=len(skipped)))
            cells = [c for c in cells if c not in skipped]
        cells = [_rootless_gateway(c) if c.vantage == OUTSIDE and c.target_kind == "published" else c for c in cells]
    if engine.major >= 28:
        cells = [_internal_unreachable(c) if c.reason.startswith("rule 6") else c for c in cells]
    return cells


def _rootless_gateway(cell: PlannedCell) -> PlannedCell:
    if cell.expected != "open":
        return cell
    return replace(
        cell,
        expected="closed",
        accepted=frozenset({"closed", "filtered", "unreachable"}),
        reason=f"{cell.reason}; {ROOTLESS_GATEWAY}",
    )


def _internal_unreachable(cell: PlannedCell) -> PlannedCell:
    if "unreachable" not in cell.accepted:
        return cell
    return replace(cell, expected="unreachable", reason=f"{cell.reason}; {INTERNAL_28}")


def refuse_host_dial(state: LabState, vantage: str, address: str) -> None:
    """On a rootless engine the host never dials a container address (see the module's docstring)."""
    engine = state.engine
    if engine is None or not engine.rootless or state.namespace_of(vantage) != HOST:
        return
    if any(address in m.addresses.values() for m in state.members.values()):
        raise LooplabError(
            f"not dialling {address} from the host: on a rootless engine container addresses live in "
            "RootlessKit's network namespace, not on this host's routes; probe from a lab member instead"
        )


def refuse_host_mode(lab: Lab, rootless: bool) -> None:
    """`network_mode: host` on a rootless engine is RootlessKit's namespace, which looplab does not model."""
    if not rootless:
        return
    for svc in lab.services:
        if svc.is_host_mode:
            raise lab_file_error_at(
                svc.location,
                f"services.{svc.name}.network_mode: on a rootless engine `host` means RootlessKit's network "
                "namespace, not this host's; looplab cannot probe it as the host (use a rootful engine)",
            )
