"""The feast CLI as a user runs it in a repo folder, with CLICKINTENT_DATA_DIR set or not."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from clickintent.features.store import DATA_DIR_VARIABLE

FEAST = str(Path(sys.executable).with_name("feast"))


def run_feast(args: list[str], repo_dir: Path, data_dir: Path | None) -> subprocess.CompletedProcess:
    """`feast <args>` in `repo_dir`, with CLICKINTENT_DATA_DIR=`data_dir` (unset for None)."""
    environment = {key: value for key, value in os.environ.items() if key != DATA_DIR_VARIABLE}
    if data_dir is not None:
        environment[DATA_DIR_VARIABLE] = str(data_dir)
    return subprocess.run([FEAST, *args], cwd=repo_dir, env=environment, capture_output=True, text=True, timeout=300)


def repo_listing(repo_dir: Path) -> list[str]:
    """Every path under `repo_dir`: what a feast command must not add to a repo."""
    return sorted(str(path.relative_to(repo_dir)) for path in repo_dir.rglob("*"))


def listed_names(listing: subprocess.CompletedProcess) -> set[str]:
    """The names of a `feast ... list` table (first column, header left out)."""
    return {line.split()[0] for line in listing.stdout.splitlines()[1:] if line.strip()}
