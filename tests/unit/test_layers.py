"""The layering of docs/ARCHITECTURE.md, checked on the code's own imports (ast, not text)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "orchestrator"


def _modules(folder: Path = PKG) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def _imports(path: Path) -> set[str]:
    """Absolute dotted names a module imports (relative imports resolved against the package)."""
    rel = path.relative_to(PKG.parent).with_suffix("")
    package = list(rel.parts[:-1]) if rel.name != "__init__" else list(rel.parts[:-1])
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, node.module] if node.module else base)
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _offending(paths: list[Path], forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{p.relative_to(PKG.parent)} imports {name}"
        for p in paths
        for name in sorted(_imports(p))
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    ]


def test_runtime_imports_no_layer_above_it():
    above = tuple(
        f"orchestrator.{m}"
        for m in (
            "plan",
            "probing",
            "diagnosis",
            "report",
            "session",
            "ondemand",
            "cli",
            "inprocess",
            "testcontainers",
            "pytest_plugin",
        )
    )
    assert _offending(_modules(PKG / "runtime"), above) == []


def test_docker_is_imported_only_under_runtime_docker():
    outside = [p for p in _modules() if (PKG / "runtime" / "docker") not in p.parents]
    assert _offending(outside, ("docker",)) == []


def test_the_jobs_never_import_the_plugin_or_the_cli():
    jobs = [
        PKG / "session.py",
        PKG / "inprocess.py",
        PKG / "testcontainers.py",
        *_modules(PKG / "ondemand"),
        *_modules(PKG / "audit"),
    ]
    assert _offending(jobs, ("orchestrator.pytest_plugin", "orchestrator.cli", "testcontainers")) == []


def test_the_plugin_entry_module_imports_only_pytest_and_the_stdlib_at_load():
    """Its fixtures import the rest when first used (a function-level import is not in this walk)."""
    tree = ast.parse((PKG / "pytest_plugin" / "__init__.py").read_text())
    top = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    names = {a.name for n in top if isinstance(n, ast.Import) for a in n.names} | {
        n.module or "" for n in top if isinstance(n, ast.ImportFrom) and n.level == 0
    }
    relative = [n.module for n in top if isinstance(n, ast.ImportFrom) and n.level]
    assert names <= {"__future__", "os", "collections.abc", "typing", "pytest"}, names
    assert relative == [], relative


def test_diagnosis_reads_through_injected_reads_only():
    engine = ("docker", "subprocess", "orchestrator.runtime.docker", "orchestrator.probes")
    assert _offending(_modules(PKG / "diagnosis"), engine) == []


def test_the_domain_model_depends_on_nothing_of_looplab_but_errors():
    lower = ("orchestrator.runtime", "orchestrator.plan", "orchestrator.report", "orchestrator.labfile")
    assert _offending([PKG / "domain.py", PKG / "addresses.py"], lower) == []


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PKG)))
def test_no_module_exceeds_500_lines(path):
    assert len(path.read_text().splitlines()) <= 500


def test_namespaces_are_made_only_in_the_runtime_layer():
    """The LAN neighbour's netns and veth (`ip`) belong to runtime/, never to the plan or the probing
    logic: those modules run no commands; runtime/neighbour.py needs no Docker."""
    names = ("plan", "neighbour_cells", "probing", "engine_rules", "isolation", "lan_vantage")
    logic = [PKG / f"{m}.py" for m in names]
    assert _offending(logic, ("subprocess", "os.system")) == []
    assert _offending([PKG / "runtime" / "neighbour.py"], ("docker", "orchestrator.runtime.docker")) == []


def test_no_two_test_modules_share_a_basename():
    """pytest imports test modules by basename (no packages under tests/): a clash stops collection."""
    tests = PKG.parent / "tests"
    names = [p.name for p in tests.rglob("test_*.py") if "__pycache__" not in p.parts]
    assert sorted(n for n in set(names) if names.count(n) > 1) == []
