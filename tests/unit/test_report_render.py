"""orchestrator.report.render: one entry point for every format."""

from __future__ import annotations

import json

import pytest

from orchestrator.report import FORMATS, render

try:
    from .test_report_fixture import failing_report, seed_report
except ImportError:
    from test_report_fixture import failing_report, seed_report


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_renders_text(fmt: str) -> None:
    text = render(failing_report(), fmt, color=False, width=100)
    assert text.endswith("\n") and "app:62893" in text


def test_unknown_format() -> None:
    with pytest.raises(ValueError, match="unknown report format 'yaml'"):
        render(failing_report(), "yaml", color=False, width=None)


def test_engine_context_reaches_every_format():
    from dataclasses import replace

    from orchestrator.domain import Engine

    engine = Engine(
        "docker", "20.10.24", api_version="1.41", os_type="linux", rootless=True, userland_proxy=False,
        firewall_backend="iptables (nf_tables)", cgroup_version="2", local=True,
    )  # fmt: skip
    report = replace(seed_report(), engine=engine, launcher="join: entered app's namespace (setns: not root)")
    for fmt in (f for f in FORMATS if f != "json"):
        text = render(report, fmt)
        for shown in ("1.41", "rootless", "userland-proxy", "iptables", "v2", "local", "join: entered app"):
            assert shown in text, (fmt, shown)
    data = json.loads(render(report, "json"))
    assert data["engine"]["rootless"] is True and data["engine"]["userland_proxy"] is False
    assert data["engine"]["firewall_backend"] == "iptables (nf_tables)" and data["launcher"].startswith("join:")
