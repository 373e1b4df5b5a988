"""YAML with line numbers."""

from __future__ import annotations

import pytest

from orchestrator.labfile.yaml_lines import YamlLinesError, format_path, parse_yaml


def test_lines_of_keys_and_items() -> None:
    doc = parse_yaml("a:\n  b:\n    - 1\n    - {c: 2}\n  yes: 22:22\n")
    assert doc.data == {"a": {"b": [1, {"c": 2}], "yes": 1342}}
    assert doc.line(("a",)) == 1
    assert doc.line(("a", "b", 1)) == 4
    assert doc.line(("a", "b", 1, "c")) == 4
    assert doc.line(("a", "yes")) == 5
    assert doc.text(("a", "yes")) == "22:22"
    assert doc.line(("a", "missing", 3)) == 1  # nearest ancestor


def test_format_path() -> None:
    assert format_path(("services", "app", "ports", 0)) == "services.app.ports[0]"
    assert format_path(()) == ""


def test_empty_document() -> None:
    assert parse_yaml("").data is None
    assert parse_yaml("# only a comment\n").data is None


@pytest.mark.parametrize(
    "text, line, fragment",
    [
        ("a: 1\nb: [\n", 2, "flow node"),
        ("a: 1\na: 2\n", 2, "duplicate key (first at line 1)"),
        ("a: &x [*x]\n", 1, "recursive"),
        ("a: !!python/object:os.system x\n", 1, "python/object"),
        ("a: b\n  c: d\n", 2, "mapping values are not allowed"),
        ("? [a]\n: 1\n", 1, "plain scalars"),
    ],
)
def test_errors(text: str, line: int, fragment: str) -> None:
    with pytest.raises(YamlLinesError) as info:
        parse_yaml(text)
    assert info.value.line == line
    assert fragment in info.value.message
    assert "\n" not in info.value.message
