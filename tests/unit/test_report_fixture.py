"""Fixed reports shared by the report tests (the seed lab), and checks of their shape."""

from __future__ import annotations

from dataclasses import replace

from orchestrator.domain import Cell, Diagnosis, Engine, Report

LOOP, APP = "127.0.0.1:62893", "app:62893"


def _cell(vantage: str, target: str, state: str, expected: str, **kw: object) -> Cell:
    kind = "loopback" if target.startswith("127.") else "network"
    address = "127.0.0.1" if kind == "loopback" else "172.18.0.2"
    defaults: dict[str, object] = {
        "proto": "tcp",
        "target_kind": kind,
        "address": address,
        "port": 62893,
        "state": state,
        "expected": expected,
        "verdict": "pass",
        "latency_ms": 0.2,
        "reproduce": f"looplab probe seed.yml --from {vantage} --to {target}",
        "reason": "rule 1: a listener on 127.0.0.1 is open only from its own namespace",
    }
    defaults.update(kw)
    return Cell(vantage=vantage, target=target, **defaults)  # type: ignore[arg-type]


def seed_report() -> Report:
    """The seed lab, every cell as expected: app listens on its own 127.0.0.1:62893."""
    cells = (
        _cell("host", LOOP, "closed", "closed", reason="nothing listens on the host's loopback"),
        _cell("app", LOOP, "open", "open", reason="rule 1: own namespace"),
        _cell("peer", LOOP, "closed", "closed"),
        _cell("@lan", LOOP, "closed", "closed"),
        _cell("peer", APP, "closed", "closed"),
        _cell("@lan", APP, "closed", "closed"),
    )
    return Report(lab="seed-62893", engine=Engine("docker", "28.2.2"), cells=cells, run_id="r1", duration_s=1.2)


def failing_report() -> Report:
    """The seed lab gone wrong: app bound to 0.0.0.0 (exposed) and a broken UDP echo."""
    base = seed_report()
    exposed = _cell(
        "peer",
        APP,
        "open",
        "closed",
        verdict="exposed",
        latency_ms=0.31,
        detail="handshake completed; no reset within 100 ms",
        diagnosis=Diagnosis(
            "exposed",
            "app listens on 0.0.0.0:62893, not 127.0.0.1: every peer on lan reaches it",
            "bind app to 127.0.0.1, or expect open",
        ),
    )
    broken = _cell(
        "app",
        "127.0.0.1:62893",
        "open|filtered",
        "open",
        proto="udp",
        verdict="broken",
        latency_ms=None,
        detail="no reply within 1s <script>alert(1)</script>",
        diagnosis=Diagnosis(
            "nothing-listening", "nothing answers on udp 127.0.0.1:62893 inside app", "start the service"
        ),
    )
    cells = tuple(exposed if (c.vantage, c.target) == ("peer", APP) else c for c in base.cells) + (broken,)
    return replace(base, cells=cells, warnings=("engine 20.10 predates 28.0: rule 3 may leak",))


def flaky_report() -> Report:
    """The seed lab where app's own loopback was filtered once, then open: flaky."""
    base = seed_report()
    flaky = _cell(
        "app",
        LOOP,
        "open",
        "open",
        verdict="flaky",
        detail="flaky: the first probe saw filtered (no answer within 1s); a second saw open",
        observations=("filtered (no answer within 1s)", "open"),
    )
    return replace(base, cells=tuple(flaky if (c.vantage, c.target) == ("app", LOOP) else c for c in base.cells))


def wide_report(ports: int = 8) -> Report:
    """Many targets: too wide for a 100-column matrix."""
    cells = tuple(
        _cell(v, f"app:{p}", "closed", "closed", port=p) for p in range(62890, 62890 + ports) for v in ("host", "peer")
    )
    return Report(lab="wide", engine=Engine("docker", "28.2.2"), cells=cells)


def test_fixture_summaries() -> None:
    assert seed_report().ok
    s = failing_report().summary
    assert (s.cells, s.passed, s.failed, s.exposed, s.broken) == (7, 5, 2, 1, 1)


def test_flaky_summary() -> None:
    report = flaky_report()
    s = report.summary
    assert (s.cells, s.passed, s.flaky, s.failed) == (6, 5, 1, 0)
    assert report.ok and not report.ok_strict
