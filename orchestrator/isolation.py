"""Cells across networks that share nothing: what an app dialling SERVICE:P sees (rules 2 and 6).

An app dials a name. Where the vantage and the service share no network, Docker's embedded
DNS does not know the name there, so the app gets no address at all: `unreachable`. That is
decided from the engine's records (the networks both ends are on, in LabState), never by
sending the query: Docker forwards a name it does not know to the host's resolver, which is
outside the lab. The service's address is probed all the same: if it answers open, the
isolation rests only on DNS, and the cell is exposed.
"""

from __future__ import annotations

from .domain import PlannedCell, TargetKind
from .labfile.model import Expectation
from .runtime.state import LabState

NOT_OPEN_STATES = frozenset({"closed", "reset", "filtered", "unreachable"})


def isolation_reason(state: LabState, namespace: str, owner: str) -> str:
    nets = list(state.members[namespace].addresses)
    internal = [n for n in nets if n in state.networks and state.networks[n].internal]
    if nets and len(internal) == len(nets):
        return f"rule 6: {', '.join(internal)} is internal; no way out of it to {owner}"
    return f"rule 2: no network shared with {owner}"


def unresolved_cell(
    vantage: str, owner: str, state: LabState, port: int, proto: str, target: str, target_kind: TargetKind
) -> PlannedCell:
    """`owner:P` from a vantage that shares no network with owner: the name does not resolve."""
    net, address = next(iter(state.members[owner].addresses.items()))
    return PlannedCell(
        vantage,
        target,
        proto,
        target_kind,
        address,
        port,
        "unreachable",
        frozenset({"unreachable"}),
        f"{isolation_reason(state, state.namespace_of(vantage), owner)}; {owner} does not resolve from {vantage}"
        f" (its address is probed too: open would be a leak that only DNS hides)",
        unresolved=f"{owner} does not resolve from {vantage}; its address {address} on {net}",
    )


def expected_by(exp: Expectation, derived: frozenset[str]) -> tuple[str, frozenset[str]]:
    """(expected, accepted) an `x-looplab.expect` entry sets: its exact `state`, or the coarse
    `reachable` (true = open; false = any state that is not open, with UDP's `open|filtered`
    counted as not open only where the model already accepts it for this cell)."""
    if exp.state is not None:
        return exp.state, frozenset({exp.state})
    if exp.reachable:
        return "open", frozenset({"open"})
    silent = {"open|filtered"} if exp.proto == "udp" and "open|filtered" in derived else set()
    return "not open", NOT_OPEN_STATES | silent
