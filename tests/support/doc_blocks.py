"""The fenced code blocks of a documentation page, so that a test runs a page's code as written."""

from __future__ import annotations

import re
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"


def fenced_blocks(page: str | Path, language: str = "python") -> list[str]:
    """The page's ```<language> blocks in order; `page` is a path or a name under docs/."""
    path = page if isinstance(page, Path) else DOCS / page
    return re.findall(rf"```{re.escape(language)}\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.DOTALL)


def fenced_block(page: str | Path, starting_with: str, language: str = "python") -> str:
    """The one block of the page whose text starts with `starting_with`."""
    found = [block for block in fenced_blocks(page, language) if block.startswith(starting_with)]
    assert len(found) == 1, f"{page}: {len(found)} ```{language} blocks start with {starting_with!r}"
    return found[0]
