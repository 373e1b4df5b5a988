"""The agent package: its kind registry, what is derived from it, and what keeps it portable."""

from __future__ import annotations

import ast
import importlib.util
import json
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

AGENT_DIR = Path(__file__).resolve().parents[2] / "orchestrator" / "probes" / "agent"


def test_registry_kinds_and_flags(agent):
    assert list(agent.KINDS) == ["tcp", "udp", "http", "icmp", "sockets", "resolve", "scan", "iptables"]
    assert agent.listener_schemes() == ("tcp", "udp", "http")
    assert agent.cli_kinds() == ("tcp", "udp", "http", "icmp")


def test_cli_proto_choices_come_from_the_registry():
    from orchestrator.cli import main
    from orchestrator.probes.agent import cli_kinds

    (proto,) = [p for p in main.commands["probe"].params if p.name == "kind"]
    assert tuple(proto.type.choices) == cli_kinds()


def test_every_module_imports_only_the_stdlib_and_its_siblings():
    """It runs as `python -I -S` inside network namespaces and in the toolbox image."""
    for path in sorted(AGENT_DIR.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom):
                if node.level == 0 and node.module != "__future__":
                    assert node.module.split(".")[0] in sys.stdlib_module_names, (path.name, node.module)
                assert node.level <= 1, (path.name, node.module)  # nothing outside the package
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    assert alias.name.split(".")[0] in sys.stdlib_module_names, (path.name, alias.name)


def test_the_toolbox_image_ships_every_module_and_rekeys_on_a_change(monkeypatch, tmp_path):
    from orchestrator.runtime.docker import toolbox_image

    assert {f"agent/{p.name}" for p in AGENT_DIR.glob("*.py")} <= set(toolbox_image.PROGRAMS)
    copy = tmp_path / "core.py"
    shutil.copy(AGENT_DIR / "core.py", copy)
    monkeypatch.setitem(toolbox_image.PROGRAMS, "agent/core.py", copy)
    before = toolbox_image.content_key()
    copy.write_text(copy.read_text() + "\n# changed\n")
    assert toolbox_image.content_key() != before


def test_a_new_kind_is_one_module_and_one_import_line(tmp_path):
    """A copy of the package plus kind `noop`: registered, dispatched, offered to the CLI."""
    pkg = tmp_path / "agent"
    shutil.copytree(AGENT_DIR, pkg, ignore=shutil.ignore_patterns("__pycache__"))
    (pkg / "noop.py").write_text(
        "from .core import probe\n\n\n"
        "@probe('noop', cli=True, answer=None)\n"
        "async def probe_noop(v, spec):\n"
        "    return {'state': 'ok', 'answer': spec.get('say')}\n"
    )
    init = pkg / "__init__.py"
    init.write_text(init.read_text().replace("# isort: on\n", "from . import noop  # noqa: F401\n# isort: on\n", 1))
    name = f"_looplab_test_agent_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(name, pkg / "__init__.py", submodule_search_locations=[str(pkg)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
        assert module.cli_kinds()[-1] == "noop"
        response = module.run_request(
            {"vantages": [{"id": "v", "netns": None, "probes": [{"id": "n", "kind": "noop", "say": "hi"}]}]}
        )
        assert response["vantages"][0]["results"] == [
            {"id": "n", "kind": "noop", "state": "ok", "answer": "hi", "detail": None}
        ]
    finally:
        for loaded in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
            del sys.modules[loaded]


@pytest.mark.parametrize("script", [AGENT_DIR, AGENT_DIR / "__main__.py"], ids=["folder", "__main__.py"])
def test_runs_by_path_with_no_site_packages(script):
    done = subprocess.run(
        [sys.executable, "-I", "-S", str(script)], input=b'{"vantages": []}', capture_output=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"agent": "looplab-agent/1", "vantages": []}
