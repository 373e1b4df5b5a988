"""A session lab shared by pytest-xdist workers: started once behind a file lock, removed by the last worker.

The workers of one run share a folder: xdist gives each worker the base temp
`<controller's basetemp>/popen-gwN`, so the parent is common to all of them. In it,
`looplab-shared/` holds one small JSON record per shared lab (its run id) and the list of
workers that have finished. The first worker to need a lab starts it under the lock and
writes the record; the others attach to that run. Each worker records that it has finished
at its session's end; the one that completes the count removes every shared lab. The
controller removes whatever is still recorded after all workers are gone (a crashed worker).
Everything carries looplab's labels, so `looplab gc` removes what a hard kill left.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from filelock import FileLock

_DIR = "looplab-shared"
_FINISHED = "finished-workers"


def shared_root(config: pytest.Config) -> Path:
    """The folder every worker of this run sees (created on first use)."""
    base = config._tmp_path_factory.getbasetemp()  # type: ignore[attr-defined]
    root = (base.parent if hasattr(config, "workerinput") else base) / _DIR
    root.mkdir(parents=True, exist_ok=True)
    config._looplab_shared_root = root  # type: ignore[attr-defined]
    return root


def _lock(root: Path) -> FileLock:
    return FileLock(str(root / "lock"))


def shared_lab(config: pytest.Config, path: str, opts):  # -> OpenLab (imported lazily)
    """The lab of `path` this run's workers share: started here if no worker started it yet."""
    from ..inprocess import OpenLab

    root = shared_root(config)
    record = root / f"{hashlib.sha256(f'{path}:{opts.launcher}'.encode()).hexdigest()[:16]}.json"
    with _lock(root):
        if record.exists():
            data = json.loads(record.read_text())
            return OpenLab.attach(data["run_id"], opts, shown=data["shown"])
        lab = OpenLab.start(path, opts)
        lab.owner = False  # the last worker removes it, not the one that happened to start it
        record.write_text(
            json.dumps({"run_id": lab.live.state.run_id, "name": lab.name, "shown": lab.shown, "path": path})
        )
        return lab


def finish_session(config: pytest.Config, *, worker: str | None) -> None:
    """A worker records that it finished; the last one (or the controller) removes the shared labs."""
    root = shared_root(config)
    with _lock(root):
        if worker is not None:
            finished_file = root / _FINISHED
            with finished_file.open("a") as out:
                out.write(f"{worker}\n")
            finished = set(finished_file.read_text().split())
            if len(finished) < int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")):
                return
        removed = remove_shared(root)
        if removed:  # who removed what, for the curious (and the plugin's tests)
            with (root / "removed-by").open("a") as out:
                out.write(f"{worker or 'controller'} {' '.join(removed)}\n")


def remove_shared(root: Path) -> list[str]:
    """Remove every lab recorded in `root` (the caller holds the lock); the names removed."""
    records = sorted(root.glob("*.json"))
    if not records:
        return []
    from ..errors import LooplabError
    from ..runtime import get_runtime
    from ..runtime.interrupts import signals_deferred

    removed = []
    runtime = get_runtime()
    for record in records:
        data = json.loads(record.read_text())
        try:
            live = runtime.attach(None, data["run_id"])
        except LooplabError:  # already gone
            record.unlink()
            continue
        with signals_deferred():
            live.handle.teardown()
        record.unlink()
        removed.append(data["name"])
    return removed
