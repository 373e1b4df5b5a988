"""YAML with line numbers: plain data plus a map from key paths to 1-based lines.

PyYAML's `compose` keeps a mark on every node; we walk the node tree ourselves so that
each mapping key and sequence item remembers the line it was written on. Mapping keys
are kept as their source text (YAML 1.1 would turn `yes:` into True); scalar values are
constructed as usual, and their source text is kept too (`22:22` stays "22:22").
`Reader` gives typed access to the data with errors that name file, line and key path.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

import yaml

from orchestrator.errors import LabFileError
from orchestrator.labfile.durations import parse_duration
from orchestrator.labfile.limits import MAX_DEPTH
from orchestrator.labfile.model import Location

Key = str | int
KeyPath = tuple[Key, ...]

MAX_NODES = 100_000
_COLLECTION_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")
_MERGE_TAG = "tag:yaml.org,2002:merge"
_SAFE_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")

Warn = Callable[[str], None]


class YamlLinesError(Exception):
    """The text is not YAML we can read; `line` is 1-based when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


@dataclass(frozen=True)
class Document:
    """Parsed YAML: `data`, the line of every key path, and the source text of scalars."""

    data: Any
    lines: Mapping[KeyPath, int]
    raw: Mapping[KeyPath, str]

    def line(self, path: KeyPath) -> int | None:
        """The line of `path`, or of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None

    def text(self, path: KeyPath) -> str | None:
        """The scalar at `path` as written in the file (None for collections)."""
        return self.raw.get(path)


def format_path(path: KeyPath) -> str:
    """`("services", "app", "ports", 0)` -> `services.app.ports[0]`."""
    out = ""
    for key in path:
        if isinstance(key, int):
            out += f"[{key}]"
        else:
            out += f".{key}" if out else key
    return out


def parse_yaml(text: str, sizes: Callable[[Mapping[str, tuple[int, int]]], None] | None = None) -> Document:
    """Parse one YAML document; raise YamlLinesError with a one-line reason and its line.

    `sizes`, if given, sees each top-level collection's (line, entry count) before the document is
    composed, and may refuse it (a lab too large to be worth reading)."""
    loader: yaml.SafeLoader | None = None
    try:
        found = _scan(text)
        if sizes is not None:
            sizes(found)
        loader = yaml.SafeLoader(text)  # checks for unprintable characters here
        node = loader.get_single_node()
        if node is None:
            return Document(None, {(): 1}, {})
        return _Builder(loader).document(node)
    except yaml.MarkedYAMLError as exc:
        raise YamlLinesError(_describe(exc), _error_line(exc, text)) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        raise YamlLinesError(f"YAML syntax error: {exc.reason}", line) from None
    except yaml.YAMLError as exc:
        raise YamlLinesError(f"YAML syntax error: {str(exc).splitlines()[0]}") from None
    finally:
        if loader is not None:
            loader.dispose()


def _events(text: str) -> Iterable[yaml.Event]:
    """The parser's events: libyaml's when present (fast), else PyYAML's. A file libyaml rejects is
    scanned again by PyYAML, whose error messages (and lines) are the ones looplab reports."""
    fast = getattr(yaml, "CSafeLoader", None)
    if fast is not None:
        try:
            return list(yaml.parse(text, Loader=fast))
        except yaml.YAMLError:
            pass
    return yaml.parse(text, Loader=yaml.SafeLoader)


def _scan(text: str) -> dict[str, tuple[int, int]]:
    """Before composing (PyYAML's composer recurses once per level, and is slow on a huge file):
    collections nested deeper than MAX_DEPTH raise YamlLinesError; returns, for each top-level
    key whose value is a collection, its line and how many entries that collection has."""
    sizes: dict[str, tuple[int, int]] = {}
    stack: list[list[int]] = []  # per open collection: [is a mapping, children so far]
    key, key_line, top = "", 0, ""
    for event in _events(text):
        if isinstance(event, (yaml.ScalarEvent, yaml.AliasEvent, yaml.CollectionStartEvent)) and stack:
            parent = stack[-1]
            if len(stack) == 1 and parent[0] and parent[1] % 2 == 0 and isinstance(event, yaml.ScalarEvent):
                key, key_line = event.value, event.start_mark.line + 1
            parent[1] += 1
        if isinstance(event, yaml.CollectionStartEvent):
            if len(stack) >= MAX_DEPTH:
                raise YamlLinesError(f"nested too deeply (more than {MAX_DEPTH} levels)", event.start_mark.line + 1)
            if len(stack) == 1:
                top = key
            stack.append([isinstance(event, yaml.MappingStartEvent), 0])
        elif isinstance(event, yaml.CollectionEndEvent):
            is_mapping, children = stack.pop()
            if len(stack) == 1 and top:
                sizes[top] = (key_line, children // 2 if is_mapping else children)
                top = ""
    return sizes


def _error_line(exc: yaml.MarkedYAMLError, text: str) -> int | None:
    """The problem's line; at end of file, the construct left open or the last written line."""
    mark = exc.problem_mark or exc.context_mark
    if mark is None:
        return None
    end = len(text.rstrip())
    if mark.index < end:
        return mark.line + 1
    if exc.context_mark is not None and exc.context_mark.index < end:
        return exc.context_mark.line + 1
    return text.count("\n", 0, end) + 1


def _describe(exc: yaml.MarkedYAMLError) -> str:
    parts = []
    if exc.context:
        where = exc.context_mark
        same = where is None or exc.problem_mark is None or where.line == exc.problem_mark.line
        parts.append(exc.context if same else f"{exc.context} (line {where.line + 1})")
    if exc.problem:
        parts.append(exc.problem)
    return "YAML syntax error: " + ": ".join(parts or ["invalid YAML"])


class _Builder:
    """Walks composed nodes into Python data, recording lines and scalar source text."""

    def __init__(self, loader: yaml.SafeLoader) -> None:
        self.loader = loader
        self.lines: dict[KeyPath, int] = {}
        self.raw: dict[KeyPath, str] = {}
        self.count = 0
        self.active: set[int] = set()

    def document(self, node: yaml.Node) -> Document:
        self.lines[()] = node.start_mark.line + 1
        data = self.build(node, ())
        return Document(data, self.lines, self.raw)

    def build(self, node: yaml.Node, path: KeyPath) -> Any:
        if len(path) > MAX_DEPTH:  # aliases can stack nesting the parser saw level by level
            raise YamlLinesError(f"nested too deeply (more than {MAX_DEPTH} levels)", node.start_mark.line + 1)
        self.count += 1
        if self.count > MAX_NODES:
            raise YamlLinesError(
                f"document too large (more than {MAX_NODES} nodes)",
                node.start_mark.line + 1,
            )
        if isinstance(node, yaml.ScalarNode):
            self.raw[path] = node.value
            return self.loader.construct_object(node)
        if node.tag not in _COLLECTION_TAGS:
            raise YamlLinesError(f"unsupported YAML tag {node.tag!r}", node.start_mark.line + 1)
        if id(node) in self.active:
            raise YamlLinesError("recursive YAML alias", node.start_mark.line + 1)
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return self._sequence(node, path)
            return self._mapping(node, path)
        finally:
            self.active.discard(id(node))

    def _sequence(self, node: yaml.SequenceNode, path: KeyPath) -> list[Any]:
        items = []
        for index, item in enumerate(node.value):
            self.lines[path + (index,)] = item.start_mark.line + 1
            items.append(self.build(item, path + (index,)))
        return items

    def _mapping(self, node: yaml.MappingNode, path: KeyPath) -> dict[str, Any]:
        seen: dict[str, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                raise YamlLinesError("mapping keys must be plain scalars", key_node.start_mark.line + 1)
            line = key_node.start_mark.line + 1
            if key_node.value in seen:
                shown = format_path(path + (key_node.value,))
                raise YamlLinesError(
                    f"{shown}: duplicate key (first at line {seen[key_node.value]})",
                    line,
                )
            seen[key_node.value] = line
        self.loader.flatten_mapping(node)  # expands `<<: *anchor` merges; own keys come last
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise YamlLinesError("mapping keys must be plain scalars", key_node.start_mark.line + 1)
            key = key_node.value
            self.lines[path + (key,)] = key_node.start_mark.line + 1
            out[key] = self.build(value_node, path + (key,))
        return out


class Reader:
    """Typed access to a Document; every mismatch raises LabFileError with file:line and key path."""

    reasons: Mapping[str, str] = {}  # why a key is unsupported, shown after "unsupported key 'k'"

    def __init__(self, path: str, doc: Document, warn: Warn) -> None:
        self.path = path
        self.doc = doc
        self._warn = warn

    def fail(self, at: KeyPath, message: str) -> NoReturn:
        detail = f"{format_path(at)}: {message}" if at else message
        raise LabFileError(detail, path=self.path, line=self.doc.line(at))

    def warn(self, at: KeyPath, message: str) -> None:
        self._warn(f"{self.loc(at)}: {format_path(at)}: {message}")

    def loc(self, at: KeyPath) -> Location:
        return Location(self.path, self.doc.line(at))

    def mapping(self, at: KeyPath, value: Any) -> dict[str, Any]:
        """A mapping; null counts as empty."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(at, f"expected a mapping, got {kind_of(value)}")
        return value

    def sequence(self, at: KeyPath, value: Any) -> list[Any]:
        """A list; null counts as empty."""
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(at, f"expected a list, got {kind_of(value)}")
        return value

    def string(self, at: KeyPath, value: Any) -> str:
        """A scalar as written in the file (`8080` -> "8080", `yes` -> "yes")."""
        if value is None or isinstance(value, (dict, list)):
            self.fail(at, f"expected a string, got {kind_of(value)}")
        text = self.doc.text(at)
        return text if text is not None else str(value)

    def strings(self, at: KeyPath, value: Any) -> tuple[str, ...]:
        return tuple(self.string(at + (i,), item) for i, item in enumerate(self.sequence(at, value)))

    def boolean(self, at: KeyPath, value: Any) -> bool:
        if not isinstance(value, bool):
            self.fail(at, f"expected true or false, got {kind_of(value)}")
        return value

    def integer(self, at: KeyPath, value: Any, minimum: int = 0) -> int:
        text = self.string(at, value).strip()
        if isinstance(value, bool) or not text.isdigit() or int(text) < minimum:
            self.fail(at, f"expected an integer >= {minimum}, got {text!r}")
        return int(text)

    def duration(self, at: KeyPath, value: Any, *, positive: bool = False, maximum: float | None = None) -> float:
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            self.fail(at, str(exc))
        if positive and seconds <= 0:
            self.fail(at, "duration must be greater than zero")
        if maximum is not None and seconds > maximum:
            self.fail(at, f"{self.string(at, value)} is out of range (at most {maximum:g}s)")
        return seconds

    def command(self, at: KeyPath, value: Any) -> tuple[str, ...] | None:
        """A string (split like a shell would) or a list of words; null -> None."""
        if value is None:
            return None
        if isinstance(value, list):
            return self.strings(at, value)
        if not isinstance(value, str):
            self.fail(at, f"expected a string or a list of strings, got {kind_of(value)}")
        try:
            return tuple(shlex.split(self.string(at, value)))
        except ValueError as exc:
            self.fail(at, f"cannot split command: {exc}")

    def keys(
        self,
        at: KeyPath,
        body: Mapping[str, Any],
        supported: Iterable[str],
        ignored: Iterable[str] = (),
    ) -> None:
        """Reject unknown keys; warn about harmless ignored ones; `x-*` extensions pass silently."""
        supported, ignored = tuple(supported), tuple(ignored)
        for key in body:
            if key in supported or key.startswith("x-"):
                continue
            if key in ignored:
                self.warn(at + (key,), "ignored by looplab")
                continue
            reason = self.reasons.get(key)
            self.fail(
                at + (key,),
                f"unsupported key {key!r}" + (f" ({reason})" if reason else ""),
            )

    def safe_name(self, at: KeyPath, name: str, what: str) -> None:
        if not _SAFE_NAME.fullmatch(name):
            self.fail(
                at,
                f"invalid {what} name {name!r} (use letters, digits, '_', '.', '-'; start with a letter or digit)",
            )


def kind_of(value: Any) -> str:
    """How a value is described in messages: "a list", "a number (3)", "nothing (null)"."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, (int, float)):
        return f"a number ({value})"
    return f"{value!r}"
