"""terminal.py: golden strings (color off, width 100) for the matrix and the long layout."""

from __future__ import annotations

from dataclasses import replace

from orchestrator.report import terminal

try:
    from .test_report_fixture import failing_report, seed_report, wide_report
except ImportError:
    from test_report_fixture import failing_report, seed_report, wide_report

SEED = r"""
seed-62893 · docker 28.2.2
╭───────────┬─────────────────┬───────────╮
│ from \ to │ 127.0.0.1:62893 │ app:62893 │
├───────────┼─────────────────┼───────────┤
│ host      │ closed          │ ·         │
│ app       │ open            │ ·         │
│ peer      │ closed          │ closed    │
│ @lan      │ closed          │ closed    │
╰───────────┴─────────────────┴───────────╯
6 cells · 6 pass · 0 fail (0 exposed, 0 broken) · 1.20s
"""[1:]

FAILING = r"""
seed-62893 · docker 28.2.2
╭───────────┬─────────────────┬─────────────────────────────┬───────────────────────╮
│ from \ to │ 127.0.0.1:62893 │ 127.0.0.1:62893/udp         │ app:62893             │
├───────────┼─────────────────┼─────────────────────────────┼───────────────────────┤
│ host      │ closed          │ ·                           │ ·                     │
│ app       │ open            │ open|filtered ≠ open BROKEN │ ·                     │
│ peer      │ closed          │ ·                           │ open ≠ closed EXPOSED │
│ @lan      │ closed          │ ·                           │ closed                │
╰───────────┴─────────────────┴─────────────────────────────┴───────────────────────╯
7 cells · 5 pass · 2 fail (1 exposed, 1 broken) · 1.20s
warning: engine 20.10 predates 28.0: rule 3 may leak

✗ app → 127.0.0.1:62893 (udp, 127.0.0.1:62893): open|filtered, expected open · BROKEN
  detail:    no reply within 1s <script>alert(1)</script>
  reason:    rule 1: a listener on 127.0.0.1 is open only from its own namespace
  cause:     nothing-listening
  found:     nothing answers on udp 127.0.0.1:62893 inside app
  fix:       start the service
  reproduce: looplab probe seed.yml --from app --to 127.0.0.1:62893

✗ peer → app:62893 (tcp, 172.18.0.2:62893): open, expected closed · EXPOSED
  detail:    handshake completed; no reset within 100 ms
  reason:    rule 1: a listener on 127.0.0.1 is open only from its own namespace
  cause:     exposed
  found:     app listens on 0.0.0.0:62893, not 127.0.0.1: every peer on lan reaches it
  fix:       bind app to 127.0.0.1, or expect open
  reproduce: looplab probe seed.yml --from peer --to app:62893
"""[1:]

WIDE = r"""
wide · docker 28.2.2
from  to         proto  state   expected  verdict
─────────────────────────────────────────────────
host  app:62890  tcp    closed  closed    pass
host  app:62891  tcp    closed  closed    pass
host  app:62892  tcp    closed  closed    pass
host  app:62893  tcp    closed  closed    pass
host  app:62894  tcp    closed  closed    pass
host  app:62895  tcp    closed  closed    pass
host  app:62896  tcp    closed  closed    pass
host  app:62897  tcp    closed  closed    pass
peer  app:62890  tcp    closed  closed    pass
peer  app:62891  tcp    closed  closed    pass
peer  app:62892  tcp    closed  closed    pass
peer  app:62893  tcp    closed  closed    pass
peer  app:62894  tcp    closed  closed    pass
peer  app:62895  tcp    closed  closed    pass
peer  app:62896  tcp    closed  closed    pass
peer  app:62897  tcp    closed  closed    pass

16 cells · 16 pass · 0 fail (0 exposed, 0 broken)
"""[1:]

FAILING_LONG = r"""
seed-62893 · docker 28.2.2
from  to               proto  state          expected  verdict
──────────────────────────────────────────────────────────────
host  127.0.0.1:62893  tcp    closed         closed    pass
app   127.0.0.1:62893  tcp    open           open      pass
app   127.0.0.1:62893  udp    open|filtered  open      BROKEN
peer  127.0.0.1:62893  tcp    closed         closed    pass
peer  app:62893        tcp    open           closed    EXPOSED
@lan  127.0.0.1:62893  tcp    closed         closed    pass
@lan  app:62893        tcp    closed         closed    pass

7 cells · 5 pass · 2 fail (1 exposed, 1 broken) · 1.20s
warning: engine 20.10 predates 28.0: rule 3 may leak

✗ app → 127.0.0.1:62893 (udp, 127.0.0.1:62893): open|filtered, expected open ·
BROKEN
  detail:    no reply within 1s <script>alert(1)</script>
  reason:    rule 1: a listener on 127.0.0.1 is open only from its own namespace
  cause:     nothing-listening
  found:     nothing answers on udp 127.0.0.1:62893 inside app
  fix:       start the service
  reproduce: looplab probe seed.yml --from app --to 127.0.0.1:62893

✗ peer → app:62893 (tcp, 172.18.0.2:62893): open, expected closed · EXPOSED
  detail:    handshake completed; no reset within 100 ms
  reason:    rule 1: a listener on 127.0.0.1 is open only from its own namespace
  cause:     exposed
  found:     app listens on 0.0.0.0:62893, not 127.0.0.1: every peer on lan reaches
             it
  fix:       bind app to 127.0.0.1, or expect open
  reproduce: looplab probe seed.yml --from peer --to app:62893
"""[1:]


def test_seed_matrix() -> None:
    assert terminal.render(seed_report(), color=False, width=100) == SEED


def test_failing_matrix_with_failure_blocks() -> None:
    assert terminal.render(failing_report(), color=False, width=100) == FAILING


def test_too_many_columns_falls_back_to_long_layout() -> None:
    assert terminal.render(wide_report(), color=False, width=100) == WIDE


def test_long_layout_just_below_the_matrix_width() -> None:
    assert terminal.render(failing_report(), color=False, width=84) == FAILING_LONG
    assert terminal.render(failing_report(), color=False, width=85).splitlines()[1].startswith("╭")


def test_default_width_is_100() -> None:
    assert terminal.render(failing_report(), color=False, width=None) == FAILING


def test_color_adds_ansi_only_when_asked() -> None:
    plain = terminal.render(failing_report(), color=False, width=100)
    colored = terminal.render(failing_report(), color=True, width=100)
    assert "\x1b[" not in plain
    assert "\x1b[1;31mopen ≠ closed\x1b[0m" in colored and "\x1b[32mopen" in colored


def test_reproduce_never_wraps() -> None:
    text = terminal.render(failing_report(), color=False, width=40)
    assert "  reproduce: looplab probe seed.yml --from peer --to app:62893\n" in text


def test_markup_in_data_is_literal() -> None:
    r = failing_report()
    cell = replace(r.cells[4], detail="[bold]x[/bold] :smile:")
    text = terminal.render(replace(r, cells=r.cells[:4] + (cell,) + r.cells[5:]), color=False, width=100)
    assert "detail:    [bold]x[/bold] :smile:" in text


def test_empty_report() -> None:
    text = terminal.render(replace(seed_report(), cells=(), duration_s=None), color=False, width=100)
    assert text == "seed-62893 · docker 28.2.2\n0 cells · 0 pass · 0 fail (0 exposed, 0 broken)\n"


def test_a_matrix_too_big_for_rich_is_listed_as_plain_aligned_text():
    from orchestrator.domain import Cell, Engine, Report
    from orchestrator.report import render
    from orchestrator.report.terminal import PLAIN_LISTING_CELLS

    cells = [
        Cell(f"s{i // 100:02d}", f"t{i % 100}:{8000 + i % 100}", "tcp", "network", "10.0.0.2", 8000 + i % 100,
             "open" if i == 7 else "closed", "closed", "exposed" if i == 7 else "pass")
        for i in range(PLAIN_LISTING_CELLS + 1)
    ]  # fmt: skip
    report = Report("big", Engine("docker", "20.10"), tuple(cells))
    plain = render(report, "terminal").splitlines()
    assert plain[1].split() == ["from", "to", "proto", "state", "expected", "verdict"]
    assert plain[2].split() == ["s00", "t0:8000", "tcp", "closed", "closed", "pass"]
    assert len({line.index("tcp") for line in plain[2:50]}) == 1  # aligned
    assert plain[9].split() == ["s00", "t7:8007", "tcp", "open", "closed", "EXPOSED"]
    colored = render(report, "terminal", color=True)
    assert "\x1b[1;31ms00  t7:8007" in colored
