"""The toolbox image: built offline, cached by content, and its `serve` program runs."""

from __future__ import annotations

import os
import re
import socket
import uuid

from looplab_it import MANAGED, OWNER_HOST, OWNER_PID, wait_for

TOOLBOX = "looplab/toolbox"
DIGEST_LABEL = "org.looplab.toolbox.digest"


def test_build_twice_second_is_up_to_date(looplab, engine):
    first = looplab.run("toolbox", "build")
    assert first.returncode == 0, first.describe()
    second = looplab.run("toolbox", "build")
    assert second.returncode == 0, second.describe()
    assert "up to date" in second.stdout, second.describe()
    assert "Traceback" not in first.stderr + second.stderr

    labels = engine.images.get(TOOLBOX).labels or {}
    assert labels.get(DIGEST_LABEL), f"{TOOLBOX} has no {DIGEST_LABEL} label: {labels}"
    shown = re.search(r"content ([0-9a-f]+)", second.stdout)
    assert shown, second.stdout
    assert labels[DIGEST_LABEL] == shown.group(1), (labels, second.stdout)


def test_serve_runs_in_the_image(engine):
    """`serve tcp://127.0.0.1:9` inside a container with no network: it says it listens."""
    container = engine.containers.run(
        TOOLBOX,
        ["serve", "tcp://127.0.0.1:9"],
        detach=True,
        network_mode="none",
        name=f"looplab-it-toolbox-{uuid.uuid4().hex[:8]}",
        labels={
            MANAGED: "true",
            OWNER_PID: str(os.getpid()),
            OWNER_HOST: socket.gethostname(),
            "org.looplab.lab": "it-toolbox",
        },
    )
    try:

        def logs() -> str:
            container.reload()
            text = container.logs().decode(errors="replace")
            assert container.status in ("created", "running"), f"serve exited: {container.status}\n{text}"
            return text if "listening" in text else ""

        text = wait_for("serve to say it listens", logs, interval=0.05)
        assert "127.0.0.1:9" in text, text
    finally:
        container.remove(force=True)
