"""The stored encoder: `<models_dir>/encoder/` with weights as safetensors and JSON for the rest.

    model.safetensors   weights (no pickle anywhere)
    config.json         EncoderConfig
    vocab.json          Vocabulary (page/node ids, page -> taxonomy map)
    model_card.json     name, version, weights_sha256, created_at, data window, features, training, metrics

Every file is written to a temporary name and renamed; the model card is written last, so a
directory without a card is an unfinished save and is refused by `load_encoder_files`.

The card's version is `v<CARD_FORMAT>-<first 8 hex of sha256(model.safetensors)>`, the form of the
intent classifier's `v<N>-<hash>`: it names the weights themselves, so re-saving the same weights
(a rerun of a finished training) keeps the version and any other weights (a retrained or resumed
encoder) get a new one; a timestamp, as the rankers use, would change on every re-save. Whatever
records an encoder version (the service's `model_versions`, reports) can so tell encoders apart.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from safetensors.torch import load_file, save_file

from clickintent.encoder.model import EncoderConfig, SessionEncoder
from clickintent.encoder.tokens import Vocabulary

ENCODER_DIRNAME = "encoder"
WEIGHTS = "model.safetensors"
CONFIG = "config.json"
VOCAB = "vocab.json"
CARD = "model_card.json"
# The layout of model_card.json; the number in front of every encoder version.
CARD_FORMAT = 1


def weights_version(weights_sha256: str) -> str:
    """The encoder version of weights whose model.safetensors has this sha256 (hex)."""
    return f"v{CARD_FORMAT}-{weights_sha256[:8]}"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def encoder_dir(models_dir: Path) -> Path:
    return Path(models_dir) / ENCODER_DIRNAME


def _replace_text(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def save_encoder(directory: Path, model: SessionEncoder, vocabulary: Vocabulary, card: dict) -> dict:
    """Write the encoder into `directory`; returns `card` as written, with `version` and
    `weights_sha256` set from the bytes of the weights file (any `version` given is replaced)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    card_path = directory / CARD
    if card_path.exists():
        card_path.unlink()  # the card marks a complete save: remove it while the files change
    temporary = directory / (WEIGHTS + ".tmp")
    save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(temporary))
    # safetensors creates its file owner-only (0600); the weights are no more private than the
    # JSON beside them, and a service running as another user must read them.
    os.chmod(temporary, 0o644)
    # Hashed as written to disk, so `sha256sum model.safetensors` confirms the card's version.
    weights_sha256 = file_sha256(temporary)
    card = {**card, "version": weights_version(weights_sha256), "weights_sha256": weights_sha256}
    os.replace(temporary, directory / WEIGHTS)
    _replace_text(directory / CONFIG, model.config.to_json() + "\n")
    _replace_text(directory / VOCAB, vocabulary.to_json() + "\n")
    _replace_text(card_path, json.dumps(card, indent=2, sort_keys=True, default=str) + "\n")
    return card


@dataclass(frozen=True)
class StoredEncoder:
    model: SessionEncoder
    vocabulary: Vocabulary
    card: dict


def load_encoder_files(directory: Path) -> StoredEncoder:
    """Load a saved encoder (eval mode). Raises FileNotFoundError naming what is missing."""
    directory = Path(directory)
    missing = [name for name in (WEIGHTS, CONFIG, VOCAB, CARD) if not (directory / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"no complete encoder in {directory} (missing {', '.join(missing)}); run `clickintent encoder train`"
        )
    card = json.loads((directory / CARD).read_text(encoding="utf-8"))
    # A card names its weights (see the module docstring): weights copied over by hand would be
    # served and reported under another encoder's version. Cards written before the version was
    # a hash (version "1") have no weights_sha256 and load unchecked.
    recorded = card.get("weights_sha256")
    if recorded is not None and file_sha256(directory / WEIGHTS) != recorded:
        raise ValueError(
            f"{directory / WEIGHTS} is not the weights its model card {card.get('version')!r} was written with "
            f"(weights_sha256 differs); run `clickintent encoder train` again"
        )
    config = EncoderConfig.load(directory / CONFIG)
    model = SessionEncoder(config)
    model.load_state_dict(load_file(str(directory / WEIGHTS)))
    model.eval()
    vocabulary = Vocabulary.load(directory / VOCAB)
    return StoredEncoder(model=model, vocabulary=vocabulary, card=card)
