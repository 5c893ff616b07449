"""Sessions stored flat: every event of every session in one array, session k at rows [offsets[k], offsets[k+1])."""

from __future__ import annotations

import numpy as np


class RaggedSessions:
    """What the flat layout gives any session collection (clicks for next-item, tokens for the encoder)."""

    offsets: np.ndarray

    @property
    def n_sessions(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)
