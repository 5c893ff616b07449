"""Model folders as BentoML model references, declared at class level on the service.

    class ClickIntent:
        encoder_model = ModelFolder.of("encoder", MODELS_DIR)   # -> Path of the folder, on the instance

Serving reads the model directory (`<models_dir>/<folder>`, docs/design.md "Model directory"),
resolved once by the service module (serving/service.py's MODELS_DIR). `bentoml build` asks
every class-level model reference for its BentoML model info; `ModelFolder` answers by
importing the folder into BentoML's local model store (named `clickintent-<folder>`, versioned
by a hash of its files, so an unchanged folder is imported once) and the build bundles that
copy into the Bento like any BentoML model. A service started from a built Bento has no model
directory of its own; the reference then resolves to the bundled copy.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

import attrs
import bentoml
from bentoml.exceptions import NotFound

from clickintent.artifacts import CARD_FILE, ModelCardError, is_temporary, read_card

TAG_PREFIX = "clickintent-"


def folder_digest(directory: Path) -> str:
    """A content hash of a model folder (file names and bytes), 16 hex digits."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file() and not is_temporary(p)):
        digest.update(str(path.relative_to(directory)).encode("utf-8"))
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _temporary_files(_directory: str, names: list[str]) -> list[str]:
    return [name for name in names if is_temporary(Path(name))]


def import_folder(directory: Path, name: str) -> Any:
    """The folder as a model in BentoML's local store (imported once per content)."""
    directory = Path(directory)
    try:
        card = read_card(directory)
    except ModelCardError as error:
        raise NotFound(f"no model in {directory} ({error}): train it before `bentoml build`") from error
    tag = f"{name}:{folder_digest(directory)}"
    try:
        return bentoml.models.get(tag)
    except NotFound:
        pass
    labels = {"project": "clickintent", "model_version": str(card.get("version", ""))}
    with bentoml.models.create(tag, labels=labels, metadata={"model_card": _without_nulls(card)}) as model:
        # Kept under its folder name: the loaders take a models directory and find <folder>/ in it.
        shutil.copytree(directory, Path(model.path) / directory.name, ignore=_temporary_files)
    return bentoml.models.get(tag)


def _without_nulls(value: Any) -> Any:
    """The card as BentoML metadata, which refuses None: null entries left out (the card itself,
    with them, is bundled beside the model)."""
    if isinstance(value, dict):
        return {key: _without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value if item is not None]
    return value


@attrs.frozen
class ModelFolder(bentoml.models.BentoModel):
    """A `<models_dir>/<folder>` model, or its bundled copy inside a Bento."""

    folder: str = attrs.field(kw_only=True)
    # The model directory as the service module resolved it when imported: `bentoml build`
    # imports the service inside the build context and asks for its models after changing back
    # to where it was started.
    models_dir: str = attrs.field(kw_only=True)

    @classmethod
    def of(cls, folder: str, models_dir: Path) -> ModelFolder:
        return cls(tag=TAG_PREFIX + folder, folder=folder, models_dir=str(models_dir))

    def local_path(self) -> Path:
        return Path(self.models_dir) / self.folder

    def resolve(self, base_path: Any = None) -> Path:  # type: ignore[override]  # noqa: ARG002 - BentoML passes it; folders need none
        local = self.local_path()
        if (local / CARD_FILE).is_file():
            return local
        try:
            return Path(bentoml.models.get(f"{self.tag.name}:latest").path) / self.folder
        except NotFound:
            # Neither exists: the service's card check names the missing folder and what to run.
            return local

    def to_info(self, alias: str | None = None):  # type: ignore[override]
        """The info of the folder's copy in the local model store (imported first if new)."""
        local = self.local_path()
        if local.name != self.folder:
            raise NotFound(f"model folder {local} must be named {self.folder}/")
        stored = import_folder(local, self.tag.name)
        # A plain BentoModel of the imported version describes it as BentoML describes any model.
        return bentoml.models.BentoModel(stored.tag).to_info(alias)
