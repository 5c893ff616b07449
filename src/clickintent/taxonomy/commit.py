"""One commit for the taxonomy stage's outputs, and the check its readers make.

The outputs belong together: taxonomy.yaml, the generator's page assignments, the page and query
maps, the teacher and distilled labels, and the Feast intent tables made of them. A taxonomy
command marks them "in progress" (`taxonomy/_commit.json`) before its first write and, last,
records every file with its hash and the taxonomy version. dbt (the page map is its source),
Feast apply and the service check the record (`verify_taxonomy`), so a page map and a YAML that
a killed run left from two versions are refused with what to run, never built on; the rerun
writes the set again. Light on purpose: the service imports it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from clickintent.artifacts import (
    COMMIT_FILE,
    UncommittedOutputError,
    atomic_write_bytes,
    mark_in_progress,
    verify_commit,
    write_commit,
)
from clickintent.settings import Settings
from clickintent.taxonomy.io import TaxonomyPaths

TAXONOMY_COMMAND = "clickintent taxonomy run"


def taxonomy_output_files(settings: Settings) -> list[Path]:
    """The files one taxonomy commit covers (those that exist): what dbt, Feast and the service read."""
    from clickintent.features.model_outputs import CUSTOMER_WEB_INTENT_LABELS, SESSION_INTENT

    paths = TaxonomyPaths.from_settings(settings)
    candidates = [
        paths.taxonomy,
        paths.page_assignments,
        paths.page_map,
        paths.query_map,
        paths.taxonomy_dir / "page_map_summary.json",
        paths.teacher_labels,
        paths.session_intents,
        SESSION_INTENT.path(settings),
        CUSTOMER_WEB_INTENT_LABELS.path(settings),
    ]
    return [path for path in candidates if path.is_file()]


@contextmanager
def committing_taxonomy(settings: Settings, step: str, *, resumable: bool = False) -> Iterator[None]:
    """Mark the taxonomy outputs in progress for the block; commit them if it ends without error.

    `resumable`: the step finishes an interrupted run of itself when run again, so a reader of
    half-written outputs is told to rerun the step rather than the whole taxonomy stage."""
    from clickintent.taxonomy.model import Taxonomy

    paths = TaxonomyPaths.from_settings(settings)
    stage = f"clickintent taxonomy {step}"
    paths.taxonomy_dir.mkdir(parents=True, exist_ok=True)
    previous = paths.taxonomy_dir / COMMIT_FILE
    previous_record = previous.read_bytes() if previous.is_file() else None
    resume = {"resume_command": stage} if resumable else {}
    mark_in_progress(paths.taxonomy_dir, stage, **resume)
    try:
        yield
    except BaseException:
        # A step that failed before changing any file leaves the previous commit standing.
        if previous_record is not None:
            atomic_write_bytes(previous, previous_record)
            try:
                verify_taxonomy(settings)
            except UncommittedOutputError:
                mark_in_progress(paths.taxonomy_dir, stage, **resume)
        raise
    version = Taxonomy.load(paths.taxonomy).taxonomy_version if paths.taxonomy.is_file() else None
    write_commit(paths.taxonomy_dir, stage, taxonomy_output_files(settings), taxonomy_version=version)


def verify_taxonomy(settings: Settings) -> dict | None:
    """The taxonomy outputs are the set the last taxonomy command committed; UncommittedOutputError
    otherwise (None when the stage has not run, or ran before commit records)."""
    return verify_commit(settings.taxonomy_dir, what="the taxonomy outputs", command=TAXONOMY_COMMAND)
