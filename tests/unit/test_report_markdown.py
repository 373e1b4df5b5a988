"""markdown.py: golden strings for a passing and a failing seed lab."""

from __future__ import annotations

from orchestrator.report import markdown

try:
    from .test_report_fixture import failing_report, seed_report
except ImportError:
    from test_report_fixture import failing_report, seed_report

SEED = r"""
## ✅ looplab seed-62893: 6 cells · 6 pass · 0 fail (0 exposed, 0 broken) · 1.20s

docker 28.2.2 · run `r1`

| from \\ to | `127.0.0.1:62893` | `app:62893` |
|---|---|---|
| `host` | `closed` | · |
| `app` | `open` | · |
| `peer` | `closed` | `closed` |
| `@lan` | `closed` | `closed` |
"""[1:]

FAILING = r"""
## ❌ looplab seed-62893: 7 cells · 5 pass · 2 fail (1 exposed, 1 broken) · 1.20s

docker 28.2.2 · run `r1`

| from \\ to | `127.0.0.1:62893` | `127.0.0.1:62893/udp` | `app:62893` |
|---|---|---|---|
| `host` | `closed` | · | · |
| `app` | `open` | **`open\|filtered` ≠ `open`** BROKEN | · |
| `peer` | `closed` | · | **`open` ≠ `closed`** EXPOSED |
| `@lan` | `closed` | · | `closed` |

> ⚠️ engine 20.10 predates 28.0: rule 3 may leak

### Failures

- **`app` → `127.0.0.1:62893`** (udp, `127.0.0.1:62893`): observed `open|filtered`, expected `open` — **BROKEN**
  - detail: no reply within 1s \<script\>alert(1)\</script\>
  - reason: rule 1: a listener on 127.0.0.1 is open only from its own namespace
  - cause: `nothing-listening`
  - found: nothing answers on udp 127.0.0.1:62893 inside app
  - fix: start the service
  - reproduce: `looplab probe seed.yml --from app --to 127.0.0.1:62893`
- **`peer` → `app:62893`** (tcp, `172.18.0.2:62893`): observed `open`, expected `closed` — **EXPOSED**
  - detail: handshake completed; no reset within 100 ms
  - reason: rule 1: a listener on 127.0.0.1 is open only from its own namespace
  - cause: `exposed`
  - found: app listens on 0.0.0.0:62893, not 127.0.0.1: every peer on lan reaches it
  - fix: bind app to 127.0.0.1, or expect open
  - reproduce: `looplab probe seed.yml --from peer --to app:62893`
"""[1:]


def test_seed() -> None:
    assert markdown.render(seed_report()) == SEED


def test_failing() -> None:
    assert markdown.render(failing_report()) == FAILING


def test_escaping_helpers() -> None:
    assert markdown.text("@lan *x* <b>") == "\\@lan \\*x\\* \\<b\\>"
    assert markdown.code("a`b") == "``a`b``"
    assert markdown.code("`x") == "`` `x ``"
