"""`looplab gc` and `looplab down` on a busy engine: other runs come and go while they list.

Both list every labelled container and then look at each one. A container that another
run removes in between must simply not count — never a traceback (DESIGN: exit codes).
The churn here is lab-like containers this test makes and removes itself (kept, so gc
leaves them alone; no network, never started; `down it-churn` may remove some first).
"""

from __future__ import annotations

import os
import socket
import threading
import uuid

import docker.errors
import pytest
from looplab_it import KEEP, LAB, MANAGED, OWNER_HOST, OWNER_PID, gc_finished

CHURNERS = 4
ATTEMPTS = 10


@pytest.fixture
def churn(engine):
    """Threads that create and remove labelled containers in a loop until the test ends."""
    stop = threading.Event()
    errors: list[str] = []
    labels = {
        MANAGED: "true",
        KEEP: "true",
        LAB: "it-churn",
        OWNER_PID: str(os.getpid()),
        OWNER_HOST: socket.gethostname(),
    }

    def loop() -> None:
        while not stop.is_set():
            try:
                cid = engine.api.create_container(
                    "looplab/toolbox",
                    ["idle"],
                    name=f"looplab-it-churn-{uuid.uuid4().hex[:10]}",
                    labels=labels,
                    host_config=engine.api.create_host_config(network_mode="none"),
                )["Id"]
                try:
                    engine.api.remove_container(cid, force=True)
                except docker.errors.NotFound:  # `looplab down it-churn` got there first
                    pass
            except docker.errors.APIError as exc:  # keep churning; report at the end
                errors.append(str(exc))

    threads = [threading.Thread(target=loop, daemon=True) for _ in range(CHURNERS)]
    for t in threads:
        t.start()
    yield
    stop.set()
    for t in threads:
        t.join(timeout=60)
    assert len(errors) < 10, errors[:10]


@pytest.mark.parametrize("command", [("gc",), ("down", "it-churn")], ids=["gc", "down"])
def test_listing_survives_containers_vanishing(looplab, churn, command):
    for attempt in range(ATTEMPTS):
        done = looplab.run(*command)
        assert "Traceback" not in done.stderr, (
            f"attempt {attempt + 1}: a container removed by another run while "
            f"`looplab {' '.join(command)}` listed crashed it:\n{done.describe()}"
        )
        if command[0] == "down" and done.returncode == 2:
            # the churn had no container at the instant `down` listed: no such lab was running
            assert done.stderr.splitlines() == ["looplab: error: no lab it-churn is running"], done.describe()
            continue
        assert gc_finished(done.returncode, done.stderr), done.describe()
