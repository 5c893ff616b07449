"""The record of one rank run: which tile ranker and conversion model were committed together.

Light on purpose (no XGBoost, no training code): the service checks it at start-up. The rank
stage writes it (ranker/production.py, `commit_production`): "in progress" before it swaps the
run's models in, and last the run's version with each model file's size and hash.
"""

from __future__ import annotations

from pathlib import Path

from clickintent.artifacts import verify_commit

# In the models directory, beside the model folders.
RANK_RUN_FILE = "rank_run.json"
RANK_STAGE = "clickintent rank stage"


def verify_rank_run(models_dir: Path | str) -> dict | None:
    """The production models are the set one rank run committed; UncommittedOutputError otherwise
    (None for models saved before run records)."""
    return verify_commit(models_dir, what="the tile ranker and its companion models", command=RANK_STAGE, record_file=RANK_RUN_FILE)
