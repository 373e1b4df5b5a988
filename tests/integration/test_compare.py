"""`looplab compare` on the real engine: a loopback-bound and an all-interfaces listener in every
placement, each cell asserted; the two-engine form; a lab file; bad input. Nothing survives."""

from __future__ import annotations

import pytest
from looplab_it import EXPECT_LAUNCHER, ROOTLESS, engine_address, owned_by

LOOPBACK, WIDE = "tcp://127.0.0.1:62893", "tcp://0.0.0.0:8080"
# (placement, column) -> (state of LOOPBACK, state of WIDE), as measured on a rootful Docker 20.10
ROOTFUL = {
    ("host", "itself"): ("open", "open"),
    ("host", "host"): ("open", "open"),
    ("host", "peer"): ("closed", "closed"),  # the host process binds the host's loopback only
    ("host", "other network"): ("closed", "closed"),
    ("host", "@outside"): ("closed", "closed"),
    ("bridge", "itself"): ("open", "open"),
    ("bridge", "host"): ("closed", "open"),
    ("bridge", "peer"): ("closed", "open"),
    ("bridge", "other network"): ("unreachable", "unreachable"),
    ("bridge", "@outside"): ("unreachable", "unreachable"),
    ("published-lo", "host"): ("reset", "open"),
    ("published-lo", "peer"): ("closed", "open"),
    ("published-lo", "@outside"): ("closed", "closed"),
    ("published-all", "host"): ("reset", "open"),
    ("published-all", "@outside"): ("reset", "open"),
    ("host-mode", "itself"): ("open", "open"),
    ("host-mode", "host"): ("open", "open"),
    ("host-mode", "peer"): ("closed", "open"),
    ("host-mode", "other network"): ("closed", "open"),
    ("host-mode", "@outside"): ("closed", "open"),
    ("none", "itself"): ("open", "open"),
    ("none", "peer"): (None, None),
    ("sidecar", "itself"): ("open", "open"),
    ("sidecar", "peer"): ("closed", "open"),
    ("sidecar", "other network"): ("unreachable", "unreachable"),
}
# A rootless engine (the rules measured for issue 7): host mode is refused, the host cannot
# dial container addresses (left out), a 0.0.0.0 publish is closed from @outside, and a
# container's gateway is RootlessKit's namespace, not the host's.
ROOTLESS_DIFFERS = {
    ("bridge", "host"): (None, None),
    ("sidecar", "host"): (None, None),
    ("published-all", "@outside"): ("closed", "closed"),
}


def _states(report: dict, placement: str, column: str) -> tuple:
    (comp,) = report["comparisons"]
    (row,) = [r for r in comp["rows"] if r["placement"] == placement]
    by_listener = {c["listener"]: c["state"] for c in row["cells"] if c["column"] == column}
    return by_listener.get(LOOPBACK), by_listener.get(WIDE)


def test_every_placement_of_a_loopback_and_a_wide_listener(looplab, engine):
    done = looplab.run("compare", LOOPBACK, WIDE, "--format", "json")
    assert done.returncode == 0, done.describe()
    report = done.json()
    (comp,) = report["comparisons"]
    assert comp["launcher"].startswith(EXPECT_LAUNCHER), comp["launcher"]
    expected = {**ROOTFUL, **(ROOTLESS_DIFFERS if ROOTLESS else {})}
    if ROOTLESS:
        expected = {k: v for k, v in expected.items() if k[0] != "host-mode"}
        (mode,) = [r for r in comp["rows"] if r["placement"] == "host-mode"]
        assert mode["skipped"] and "rootless" in mode["skipped"], mode
    seen = {key: _states(report, *key) for key in expected}
    assert seen == expected
    lessons = {r["placement"]: r["lesson"] for r in comp["rows"]}
    assert "bound to the container's 127.0.0.1" in lessons["bridge"] and "`reset`" in lessons["published-lo"]
    assert owned_by(engine, done.pid) == ([], [])


def test_two_engines_side_by_side(looplab):
    """The same engine through two contexts (the environment's and its address): nothing differs."""
    done = looplab.run("compare", LOOPBACK, "--context", "default", "--context", engine_address(), "--format", "json")
    assert done.returncode == 0, done.describe()
    report = done.json()
    assert [c["context"] for c in report["comparisons"]] == ["default", engine_address()]
    assert report["differences"] == [], report["differences"]
    rows = [[(r["placement"], [c["state"] for c in r["cells"]]) for r in c["rows"]] for c in report["comparisons"]]
    assert rows[0] == rows[1]


def test_a_lab_file_compares_each_service(looplab, tmp_path):
    lab = tmp_path / "compare-lab.yml"
    lab.write_text(
        "services:\n"
        "  app: {image: looplab/toolbox, command: [serve, 'tcp://127.0.0.1:62893']}\n"
        "  web: {image: looplab/toolbox, command: [serve, 'http://0.0.0.0:8080']}\n"
        "  idle: {image: looplab/toolbox, command: [idle]}\n"
    )
    done = looplab.run("compare", str(lab), "--format", "markdown")
    assert done.returncode == 0, done.describe()
    assert (
        "### service app: tcp://127.0.0.1:62893" in done.stdout
        and "### service web: http://0.0.0.0:8080" in done.stdout
    )
    assert "service idle" not in done.stdout


@pytest.mark.parametrize(
    "args, says",
    [
        (["tcp://127.0.0.1"], "missing port"),
        (["ftp://127.0.0.1:21"], "scheme 'ftp'"),
        (["tcp://127.0.0.1:1", "--context", "no-such-context"], "no such Docker context"),
    ],
)
def test_bad_input_is_one_line(looplab, engine, args, says):
    done = looplab.run("compare", *args)
    assert done.returncode == 2, done.describe()
    assert len(done.stderr_lines) == 1 and says in done.stderr and "Traceback" not in done.stderr, done.describe()
    assert owned_by(engine, done.pid) == ([], [])
