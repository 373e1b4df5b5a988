"""Find a lab left running by `looplab up` and read back its state from the engine."""

from __future__ import annotations

from dataclasses import replace

import docker

from ...errors import LooplabError
from ...labfile.limits import Limits
from ...labfile.loader import load_lab
from ...labfile.model import Lab
from .. import labels as L


def find_run(
    client: docker.DockerClient, lab_name: str | None, run_id: str | None = None
) -> tuple[Lab, str, dict[str, str], dict[str, str]]:
    """The running lab named `lab_name`, or the only one: its model, run id, member -> container
    id, and lab network -> engine network name. With `run_id`, that run, kept or not (a lab
    another process started and shares, as pytest-xdist workers do)."""
    if run_id is not None:
        filters = [L.MANAGED, f"{L.RUN}={run_id}"]
    else:
        filters = [L.MANAGED, f"{L.KEEP}=true"] + ([f"{L.LAB}={lab_name}"] if lab_name else [])
    containers = client.containers.list(all=True, filters={"label": filters})
    runs = sorted({(c.labels[L.LAB], c.labels[L.RUN]) for c in containers})
    if not runs:
        which = f"lab {lab_name!r}" if lab_name else "lab"
        raise LooplabError(f"no {which} is running; start one with: looplab up FILE")
    if len(runs) > 1:
        names = ", ".join(f"{lab} (run {run})" for lab, run in runs)
        raise LooplabError(f"several labs are running: {names}; name one with --lab (or `looplab down` the others)")
    _, run_id = runs[0]
    mine = [c for c in containers if c.labels.get(L.RUN) == run_id and c.labels.get(L.ROLE) != "launcher"]
    if not mine:
        raise LooplabError(f"run {run_id} has no member left on the engine")
    unbounded = Limits(services=1 << 30, networks=1 << 30, cells=1 << 62)  # it runs already: `up` checked it
    lab = replace(load_lab(mine[0].labels[L.LAB_FILE], limits=unbounded), name=mine[0].labels[L.LAB])
    ids = {c.labels[L.MEMBER]: c.id for c in mine}
    nets = {n.attrs["Labels"][L.MEMBER]: n.name for n in client.networks.list(filters=L.run_filter(run_id))}
    return lab, run_id, ids, nets
