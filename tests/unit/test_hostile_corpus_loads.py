"""Every file of tests/hostile/ is refused by the loader in one file:line line (README there)."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.errors import LabFileError
from orchestrator.labfile import load_lab

CORPUS = Path(__file__).resolve().parents[1] / "hostile"
FILES = sorted(CORPUS.glob("*.yml"))


def expectation(path: Path) -> tuple[str, str]:
    """(fragment the refusal must contain, stage: validate or check)."""
    head = path.read_text(encoding="utf-8").splitlines()[:2]
    assert head and head[0].startswith("# expect: "), f"{path.name} has no `# expect:` line"
    stage = "check" if len(head) > 1 and head[1] == "# stage: check" else "validate"
    return head[0].removeprefix("# expect: "), stage


def test_the_corpus_has_at_least_100_files():
    assert len(FILES) >= 100


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_the_loader_refuses_it_in_one_line(path: Path):
    fragment, stage = expectation(path)
    if stage == "check":
        load_lab(path)  # a valid file: only the engine or this host can refuse it
        return
    with pytest.raises(LabFileError) as info:
        load_lab(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{path}:"), message
    assert fragment in message, message
