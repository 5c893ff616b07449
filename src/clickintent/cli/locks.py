"""The guard every writing command runs under: the data directory's lock, and clean refusals.

A second stage on the same data directory, or a stage whose inputs a killed run left
half-written, is one red line and a non-zero exit (3: another stage holds the lock; 2: inputs
to rebuild first), never a traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.text import Text

from clickintent.artifacts import UncommittedOutputError
from clickintent.locking import DataDirLocked, data_dir_lock
from clickintent.settings import Settings

console = Console(stderr=True)
# The exit status of a command refused because another stage holds the data directory.
LOCKED_EXIT_CODE = 3


@contextmanager
def stage_guard(settings: Settings, stage: str) -> Iterator[None]:
    """Hold `settings.data_dir`'s lock as `stage` for the block (clickintent.locking)."""
    try:
        with data_dir_lock(settings.data_dir, stage):
            yield
    except DataDirLocked as error:
        console.print(Text(str(error), style="red"), soft_wrap=True)
        raise typer.Exit(code=LOCKED_EXIT_CODE) from None
    except UncommittedOutputError as error:
        console.print(Text(str(error), style="red"), soft_wrap=True)
        raise typer.Exit(code=2) from None
