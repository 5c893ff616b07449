"""Three-column click files (session id, item id, unix time) for the next-item benchmark's tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def write_clicks(path: Path, sessions: list[list[str]], start: float = 1_400_000_000.0) -> Path:
    rows = []
    for number, items in enumerate(sessions):
        for position, item in enumerate(items):
            rows.append((number, item, start + number * 3600 + position * 30))
    pd.DataFrame(rows, columns=["SessionId", "ItemId", "Time"]).to_csv(path, sep="\t", index=False)
    return path


def chain_sessions(n_sessions: int, seed: int) -> list[list[str]]:
    """Walks along fixed item chains: the next item follows from the last one, popularity is flat."""
    rng = np.random.default_rng(seed)
    chains = [[f"c{c}i{i}" for i in range(8)] for c in range(6)]
    sessions = []
    for _ in range(n_sessions):
        chain = chains[rng.integers(len(chains))]
        first = int(rng.integers(0, 4))
        sessions.append(chain[first : first + int(rng.integers(2, 5))])
    return sessions
