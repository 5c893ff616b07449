"""The stored encoder: `<models_dir>/encoder/` with weights as safetensors and JSON for the rest.

    model.safetensors   weights (no pickle anywhere)
    config.json         EncoderConfig
    vocab.json          Vocabulary (page/node ids, page -> taxonomy map)
    model_card.json     name, version, weights_sha256, created_at, data window, features, training, metrics

Every file is written atomically (clickintent.artifacts); the model card is written last, so a
directory without a card is an unfinished save and is refused by `load_encoder_files`.

The card's version is `v<CARD_FORMAT>-<first 8 hex of sha256(model.safetensors)>`, the form of the
intent classifier's `v<N>-<hash>`: it names the weights themselves, so re-saving the same weights
(a rerun of a finished training) keeps the version and any other weights (a retrained or resumed
encoder) get a new one; a timestamp, as the rankers use, would change on every re-save. Whatever
records an encoder version (the service's `model_versions`, reports) can so tell encoders apart.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from safetensors.torch import load_file, save_file

from clickintent.artifacts import CARD_FILE, atomic_file, atomic_write_text, file_sha256, read_card, verify_weights, write_card
from clickintent.encoder.model import EncoderConfig, SessionEncoder
from clickintent.encoder.tokens import Vocabulary

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
VOCAB = "vocab.json"
# The layout of model_card.json; the number in front of every encoder version.
CARD_FORMAT = 1
TRAIN_COMMAND = "clickintent encoder train"


def weights_version(weights_sha256: str) -> str:
    """The encoder version of weights whose model.safetensors has this sha256 (hex)."""
    return f"v{CARD_FORMAT}-{weights_sha256[:8]}"


def save_encoder(directory: Path, model: SessionEncoder, vocabulary: Vocabulary, card: dict) -> dict:
    """Write the encoder into `directory`; returns `card` as written, with `version` and
    `weights_sha256` set from the bytes of the weights file (any `version` given is replaced)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    # The card marks a complete save: remove it while the files change.
    (directory / CARD_FILE).unlink(missing_ok=True)
    with atomic_file(directory / WEIGHTS) as temporary:
        save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(temporary))
        # safetensors creates its file owner-only (0600); the weights are no more private than the
        # JSON beside them, and a service running as another user must read them.
        os.chmod(temporary, 0o644)
        # Hashed as written to disk, so `sha256sum model.safetensors` confirms the card's version.
        weights_sha256 = file_sha256(temporary)
    card = {**card, "version": weights_version(weights_sha256), "weights_sha256": weights_sha256}
    atomic_write_text(directory / CONFIG, model.config.to_json() + "\n")
    atomic_write_text(directory / VOCAB, vocabulary.to_json() + "\n")
    write_card(directory, card, sort_keys=True, default=str)  # as the card always has: timestamps as text
    return card


@dataclass(frozen=True)
class StoredEncoder:
    model: SessionEncoder
    vocabulary: Vocabulary
    card: dict


def load_encoder_files(directory: Path) -> StoredEncoder:
    """Load a saved encoder (eval mode). Raises ModelCardError (a ValueError) naming what is missing or wrong."""
    directory = Path(directory)
    card = read_card(directory, name="encoder", train_command=TRAIN_COMMAND, required_files=(WEIGHTS, CONFIG, VOCAB))
    # A card names its weights (see the module docstring): weights copied over by hand would be
    # served and reported under another encoder's version. Cards written before the version was
    # a hash (version "1") have no weights_sha256 and load unchecked.
    verify_weights(directory, card, WEIGHTS, train_command=TRAIN_COMMAND)
    config = EncoderConfig.load(directory / CONFIG)
    model = SessionEncoder(config)
    model.load_state_dict(load_file(str(directory / WEIGHTS)))
    model.eval()
    vocabulary = Vocabulary.load(directory / VOCAB)
    return StoredEncoder(model=model, vocabulary=vocabulary, card=card)
