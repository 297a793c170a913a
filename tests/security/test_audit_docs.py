"""The threat table of docs/security.md ("Audit log") names tests that exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_given_the_audit_threat_table_then_every_test_it_names_exists() -> None:
    text = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    section = text[text.index("## Audit log"):]
    section = section[: section.index("\n## ", 1)] if "\n## " in section[1:] else section
    named = re.findall(r"`(tests/[\w/]+\.py)(?:::(\w+?)\*?)?`", section)
    assert len(named) >= 10
    for path, prefix in named:
        source = (ROOT / path).read_text(encoding="utf-8")
        assert not prefix or f"def {prefix}" in source, f"{path} has no test starting {prefix}"
