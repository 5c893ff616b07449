"""The stored encoder: `<models_dir>/encoder/` with weights as safetensors and JSON for the rest.

    model.safetensors   weights (no pickle anywhere)
    config.json         EncoderConfig
    vocab.json          Vocabulary (page/node ids, page -> taxonomy map)
    model_card.json     name, version, created_at, data window, features, training, metrics

Every file is written to a temporary name and renamed; the model card is written last, so a
directory without a card is an unfinished save and is refused by `load_encoder_files`.
"""

from __future__ import annotations

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


def encoder_dir(models_dir: Path) -> Path:
    return Path(models_dir) / ENCODER_DIRNAME


def _replace_text(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def save_encoder(directory: Path, model: SessionEncoder, vocabulary: Vocabulary, card: dict) -> Path:
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
    os.replace(temporary, directory / WEIGHTS)
    _replace_text(directory / CONFIG, model.config.to_json() + "\n")
    _replace_text(directory / VOCAB, vocabulary.to_json() + "\n")
    _replace_text(card_path, json.dumps(card, indent=2, sort_keys=True, default=str) + "\n")
    return directory


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
    config = EncoderConfig.load(directory / CONFIG)
    model = SessionEncoder(config)
    model.load_state_dict(load_file(str(directory / WEIGHTS)))
    model.eval()
    vocabulary = Vocabulary.load(directory / VOCAB)
    card = json.loads((directory / CARD).read_text(encoding="utf-8"))
    return StoredEncoder(model=model, vocabulary=vocabulary, card=card)
