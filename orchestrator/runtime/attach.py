"""Find a lab left running by `looplab up` and read back its state from the engine."""

from __future__ import annotations

from dataclasses import dataclass

import docker

from ..errors import LooplabError
from ..labfile.loader import load_lab
from ..labfile.model import Lab
from . import labels as L
from .lifecycle import LabRunner, inspect_run, observer_names
from .state import LabState
from .toolbox_image import toolbox_tag


@dataclass(frozen=True)
class AttachedLab:
    lab: Lab
    state: LabState
    net_names: dict[str, str]  # lab network name -> engine network name


def attach(client: docker.DockerClient, lab_name: str | None) -> AttachedLab:
    """The running lab named `lab_name`, or the only running one when no name is given."""
    filters = [L.MANAGED, f"{L.KEEP}=true"] + ([f"{L.LAB}={lab_name}"] if lab_name else [])
    containers = client.containers.list(all=True, filters={"label": filters})
    runs = sorted({(c.labels[L.LAB], c.labels[L.RUN]) for c in containers})
    if not runs:
        which = f"lab {lab_name!r}" if lab_name else "lab"
        raise LooplabError(f"no {which} is running; start one with: looplab up FILE")
    if len(runs) > 1:
        names = ", ".join(f"{lab} (run {run})" for lab, run in runs)
        raise LooplabError(f"several labs are running: {names}; name one with --lab (or `looplab down` the others)")
    lab_name, run_id = runs[0]
    mine = [c for c in containers if c.labels.get(L.RUN) == run_id]
    lab = load_lab(mine[0].labels[L.LAB_FILE])
    ids = {c.labels[L.MEMBER]: c.id for c in mine}
    nets = {n.attrs["Labels"][L.MEMBER]: n.name for n in client.networks.list(filters=L.run_filter(run_id))}
    return AttachedLab(lab, inspect_run(client, lab, run_id, nets, ids), nets)


def with_observers(client: docker.DockerClient, attached: AttachedLab, wanted: list[str]) -> AttachedLab:
    """Start the observers among `wanted` that `up` left for later (they start on first use)."""
    missing = [m for m in wanted if m in observer_names(attached.lab) and m not in attached.state.members]
    if not missing:
        return attached
    runner = LabRunner.resume(client, attached.lab, attached.state, attached.net_names, toolbox_tag())
    return AttachedLab(attached.lab, runner.start_observers(missing), attached.net_names)
