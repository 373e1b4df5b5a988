"""The same file means the same thing under looplab and Compose, on the real engine."""

from __future__ import annotations

import uuid
from pathlib import Path

from looplab_it import ROOTLESS, free_port

WARNING = (
    "published on every host interface (Compose's default); write 127.0.0.1:HOST:CONTAINER to keep it on the "
    "host's loopback"
)


def test_a_port_without_host_ip_is_published_on_every_interface_and_warned_about(looplab, tmp_path: Path):
    port = free_port("0.0.0.0")
    path = tmp_path / f"compose-port-{uuid.uuid4().hex[:8]}.yml"
    path.write_text(
        "services:\n"
        "  web:\n"
        "    image: looplab/toolbox\n"
        '    command: ["serve", "tcp://0.0.0.0:8080"]\n'
        f'    ports: ["{port}:8080"]\n'
        "x-looplab:\n"
        "  probe: {timeout: 1s}\n"
    )
    done = looplab.run("check", str(path), "--format", "json")
    assert done.returncode == 0, done.describe()
    report = done.json()
    cells = {(c["from"], c["to"]): c for c in report["cells"]}
    outside = cells[("@outside", f"host:{port}")]
    if ROOTLESS:  # @outside's gateway is RootlessKit's namespace, where nothing is published (README, "Engines")
        assert outside["state"] == "closed" and "RootlessKit" in outside["reason"], outside
    else:
        assert outside["state"] == "open" and outside["reason"].startswith("rule 4"), outside
    assert any(w.endswith(f"{path}:5: services.web.ports[0]: {WARNING}") for w in report["warnings"]), report
    assert WARNING in done.stderr, done.describe()
