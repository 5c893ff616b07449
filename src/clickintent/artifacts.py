"""Files that are written whole or not at all, and the model cards beside every stored model.

Every stage that writes a file a later stage or the service reads goes through here, so a crash
mid-write leaves the previous file (or none), never a torn one: the bytes go to a hidden sibling
temporary name and are renamed over the target in one step (POSIX `rename` is atomic within a
directory). A directory is built the same way, as a hidden sibling swapped in by rename.

A model lives in `<models_dir>/<name>/` beside `model_card.json`, which is written last, so a
folder without a card is an unfinished save. `read_card` checks a card and says what is wrong
and which command writes the model; the service's start-up checks and every loader use it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CARD_FILE = "model_card.json"


class ModelCardError(ValueError):
    """A model directory that is missing, incomplete, or whose card does not fit what reads it."""


def _temporary_sibling(path: Path, kind: str = "tmp") -> Path:
    # Hidden and unique: two writers never share a temporary name, and globs over the
    # directory (`*.parquet`, a Bento's model copy) never pick one up.
    return path.with_name(f".{path.name}.{kind}-{uuid.uuid4().hex}")


@contextmanager
def atomic_file(path: Path | str) -> Iterator[Path]:
    """Yield a temporary path to write `path`'s content to; on success it replaces `path`.

    For writers that want a file name (Parquet, safetensors, XGBoost). A failure inside the
    block removes the temporary file and leaves `path` as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = _temporary_sibling(path)
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def atomic_write_bytes(path: Path | str, data: bytes) -> None:
    with atomic_file(path) as temporary:
        with temporary.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())


def atomic_write_text(path: Path | str, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def json_text(
    payload: Any,
    *,
    sort_keys: bool = False,
    indent: int | None = 2,
    ensure_ascii: bool = True,
    default: Callable[[Any], Any] | None = None,
) -> str:
    """The one JSON layout of every file the project writes: indented, UTF-8, newline-ended.

    `ensure_ascii=False` keeps non-ASCII text readable (taxonomy labels); `default` turns what
    JSON has no type for into something it has (the taxonomy's writes NumPy scalars as numbers).
    Without one, such a value is a TypeError rather than a string written in its place.
    """
    return json.dumps(payload, indent=indent, sort_keys=sort_keys, ensure_ascii=ensure_ascii, default=default) + "\n"


def atomic_write_json(
    path: Path | str,
    payload: Any,
    *,
    sort_keys: bool = False,
    indent: int | None = 2,
    ensure_ascii: bool = True,
    default: Callable[[Any], Any] | None = None,
) -> None:
    atomic_write_text(path, json_text(payload, sort_keys=sort_keys, indent=indent, ensure_ascii=ensure_ascii, default=default))


@contextmanager
def atomic_directory(path: Path | str) -> Iterator[Path]:
    """Yield a fresh sibling directory to fill; on success it replaces `path` in one rename.

    A failure inside the block removes the half-filled directory and leaves `path` untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    recover_directory(path)
    staging = _temporary_sibling(path)
    staging.mkdir()
    try:
        yield staging
        swap_directory(staging, path)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def swap_directory(staging: Path | str, path: Path | str) -> None:
    """Put the complete directory `staging` in the place of `path` (two renames; see recover_directory)."""
    staging, path = Path(staging), Path(path)
    retired = None
    if path.exists():
        retired = _temporary_sibling(path, "old")
        os.replace(path, retired)
    os.replace(staging, path)
    if retired is not None:
        shutil.rmtree(retired, ignore_errors=True)


def recover_directory(path: Path | str) -> None:
    """Undo what a writer of directory `path` killed mid-way left: the previous directory is put
    back if the kill fell between swap_directory's two renames, and half-filled staging
    directories (`.<name>.tmp-*`) and retired ones (`.<name>.old-*`) are removed.

    Call it only while no other writer of `path` runs (the stages hold the data directory's lock).
    """
    path = Path(path)
    if not path.parent.is_dir():
        return
    retired = sorted(path.parent.glob(f".{path.name}.old-*"), key=lambda candidate: candidate.stat().st_mtime)
    if not path.exists() and retired:
        os.replace(retired.pop(), path)
    for leftover in [*retired, *path.parent.glob(f".{path.name}.tmp-*")]:
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)


def staging_sibling(path: Path | str, *, fixed: bool = False) -> Path:
    """A fresh hidden sibling directory of `path` to build its next content in (see recover_directory).

    fixed: the same name every time (`.<name>.tmp-build`; recover_directory removes it first),
    for a writer that hands the path to a tool that notices when it changes (dbt parses the
    whole project again when its profile does)."""
    staging = Path(path).with_name(f".{Path(path).name}.tmp-build") if fixed else _temporary_sibling(Path(path))
    staging.mkdir(parents=True)
    return staging


def is_temporary(path: Path) -> bool:
    """A leftover of an interrupted atomic write (never content to read or copy)."""
    name = Path(path).name
    return name.startswith(".") and (".tmp-" in name or ".old-" in name or ".staging-" in name)


def file_sha256(path: Path | str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_card(
    directory: Path | str,
    card: Mapping[str, Any],
    *,
    sort_keys: bool = False,
    ensure_ascii: bool = True,
    default: Callable[[Any], Any] | None = None,
) -> Path:
    """Write `directory/model_card.json` atomically; the caller writes it after the model files."""
    path = Path(directory) / CARD_FILE
    atomic_write_json(path, dict(card), sort_keys=sort_keys, ensure_ascii=ensure_ascii, default=default)
    return path


def read_card(
    directory: Path | str,
    *,
    name: str | None = None,
    train_command: str | None = None,
    required_files: Iterable[str] = (),
    required_fields: Iterable[str] = (),
    expected: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The card of model folder `directory`, checked; ModelCardError says what is wrong and what to run.

    `name`: the model the caller expects (the card's `name`, when the card has one);
    `required_files`: files that must sit beside the card; `required_fields`: keys that must be
    present and non-empty; `expected`: keys whose values must be equal (a card `format`).
    """
    directory = Path(directory)
    label = f"model '{name}'" if name else f"model in {directory}"
    hint = f"; run `{train_command}`" if train_command else ""
    if not directory.is_dir():
        raise ModelCardError(f"{label} not found: {directory} does not exist{hint}")
    missing = [file for file in (*required_files, CARD_FILE) if not (directory / file).is_file()]
    if missing:
        raise ModelCardError(f"{label} in {directory} is incomplete: missing {', '.join(missing)}{hint}")
    path = directory / CARD_FILE
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelCardError(f"{label}: {path} is not readable JSON ({error}){hint}") from error
    if not isinstance(card, dict):
        raise ModelCardError(f"{label}: {path} is not a JSON object{hint}")
    for key, value in (expected or {}).items():
        if card.get(key) != value:
            raise ModelCardError(f"{label}: {path} has {key} {card.get(key)!r}; this version of clickintent reads {value!r}{hint}")
    absent = [key for key in required_fields if card.get(key) in (None, "")]
    if absent:
        raise ModelCardError(f"{label}: {path} lacks {', '.join(absent)}{hint}")
    if name is not None and "name" in card and card["name"] != name:
        raise ModelCardError(f"{label}: {path} is the card of model '{card['name']}', not '{name}'{hint}")
    return card


def verify_weights(directory: Path | str, card: Mapping[str, Any], weights_file: str, *, train_command: str) -> None:
    """The weights file is the one the card was written with (its `weights_sha256`, when recorded)."""
    recorded = card.get("weights_sha256")
    path = Path(directory) / weights_file
    if recorded is not None and file_sha256(path) != recorded:
        raise ModelCardError(
            f"{path} is not the weights its model card {card.get('version')!r} was written with "
            f"(weights_sha256 differs); run `{train_command}` again"
        )


# ---- commit records ------------------------------------------------------------------------
#
# A stage whose outputs are several files that belong together (the marts of one build, the
# taxonomy with its page map and labels, the rankers of one run) writes a commit record last:
# `_commit.json` in its output directory, naming each file with its size and hash. A reader
# checks the record before it trusts the files, so a set that a kill -9 left half-written (or
# that a plain tool rewrote behind the stage's back) is refused with what to run, never read.

COMMIT_FILE = "_commit.json"
COMMITTED = "complete"
IN_PROGRESS = "in progress"


class UncommittedOutputError(RuntimeError):
    """A stage's outputs that are not the complete set its last run committed."""


def file_fingerprint(path: Path | str) -> dict[str, Any]:
    """Size, modification time and content hash of one file, as a commit record holds it."""
    stat = os.stat(path)
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": file_sha256(path)}


def _same_file(path: Path, recorded: Mapping[str, Any]) -> bool:
    stat = path.stat()
    if stat.st_size != recorded.get("size"):
        return False
    # Unchanged size and time: the file the record was written for (hashing is the slow path,
    # taken only for a copied or touched directory).
    return stat.st_mtime_ns == recorded.get("mtime_ns") or file_sha256(path) == recorded.get("sha256")


def write_commit(
    directory: Path | str,
    stage: str,
    files: Iterable[Path | str],
    *,
    record: str = COMMIT_FILE,
    reuse: Mapping[str, Mapping[str, Any]] | None = None,
    **fields: Any,
) -> Path:
    """Record `files` (paths under or beside `directory`) as the complete output of `stage`; call it last.

    reuse: an earlier record's files; one of them with the same size and modification time (a
    file carried over by a hard link) keeps its hash rather than being read again."""
    directory = Path(directory)
    reuse = reuse or {}

    def fingerprint(file: str, name: str) -> dict[str, Any]:
        stat = os.stat(file)
        known = reuse.get(name, {})
        if known.get("size") == stat.st_size and known.get("mtime_ns") == stat.st_mtime_ns and known.get("sha256"):
            return dict(known)
        return file_fingerprint(file)

    names = {file: os.path.relpath(Path(file), directory) for file in sorted(map(str, files))}
    entries = {name: fingerprint(file, name) for file, name in names.items()}
    path = directory / record
    atomic_write_json(path, {"state": COMMITTED, "stage": stage, "committed_at": _now(), **fields, "files": entries}, default=str)
    return path


def mark_in_progress(directory: Path | str, stage: str, *, record: str = COMMIT_FILE, **fields: Any) -> None:
    """Record that `stage` is rewriting the outputs of `directory`; write_commit ends it."""
    atomic_write_json(Path(directory) / record, {"state": IN_PROGRESS, "stage": stage, "started_at": _now(), **fields}, default=str)


def read_commit(directory: Path | str, record: str = COMMIT_FILE) -> dict[str, Any] | None:
    path = Path(directory) / record
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise UncommittedOutputError(f"{path} is not readable JSON ({error})") from error


def verify_commit(
    directory: Path | str,
    *,
    what: str,
    command: str,
    unlisted: Iterable[str] = (),
    required: bool = False,
    record_file: str = COMMIT_FILE,
) -> dict[str, Any] | None:
    """The commit record of `directory`, checked against the files; UncommittedOutputError otherwise.

    `unlisted`: glob patterns of files that must all be in the record (a mart the build did not
    commit is a file of another build). No record: None, or an error when `required` (outputs
    written before records existed, or by a plain tool, are accepted when not required).
    """
    directory = Path(directory)
    hint = f"; run `{command}`"
    record = read_commit(directory, record_file)
    if record is None:
        if required:
            raise UncommittedOutputError(f"{what} in {directory} were never committed (no {record_file}){hint}")
        return None
    if record.get("state") != COMMITTED:
        # A stage that resumes its own interrupted run (taxonomy accept) names itself as the fix.
        resume = f"; run `{record['resume_command']}`" if record.get("resume_command") else hint
        raise UncommittedOutputError(
            f"{what} in {directory} are half-written: {record.get('stage', 'a stage')} started at "
            f"{record.get('started_at', '?')} did not finish{resume}"
        )
    files: Mapping[str, Any] = record.get("files", {})
    missing = [name for name in files if not (directory / name).is_file()]
    changed = [name for name in files if name not in missing and not _same_file(directory / name, files[name])]
    listed = {os.path.normpath(directory / name) for name in files}
    foreign = sorted(
        str(path.relative_to(directory))
        for pattern in unlisted
        for path in directory.glob(pattern)
        if path.is_file() and not is_temporary(path) and os.path.normpath(path) not in listed
    )
    problems = [
        f"{label}: {', '.join(sorted(names)[:5])}" + (" ..." if len(names) > 5 else "")
        for label, names in (("missing", missing), ("changed", changed), ("not part of it", foreign))
        if names
    ]
    if problems:
        raise UncommittedOutputError(
            f"{what} in {directory} are not the set {record.get('stage', 'the stage')} committed at "
            f"{record.get('committed_at', '?')} ({'; '.join(problems)}){hint}"
        )
    return record


def _now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat(timespec="seconds")
