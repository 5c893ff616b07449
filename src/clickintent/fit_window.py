"""Which sessions the model stages are fitted on: the setting `fit_sessions_before`.

The taxonomy stage (generation, the offline teacher's statistics or the LLM teacher's sample, the
distilled classifier's training set) and the encoder (pretraining and its validation split) fit on
the sessions this window keeps; both still label and embed every session, as in production, where
a model applies to sessions it never saw. `ranker_validation_start` resolves, per data directory,
to the start of the rankers' validation split (`ranker.training_sets.ranker_validation_start`),
so that the ablation rows reading those models' outputs are a prospective test. Each stage's model
card records the window (`FitWindow.card`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clickintent.artifacts import CARD_FILE
from clickintent.settings import FIT_ALL_SESSIONS, FIT_BEFORE_RANKER_VALIDATION, Settings

# The model card field that records the window.
CARD_FIELD = "fit_sessions_before"
# The evaluation's field: the window of each model stage whose outputs the rankers read.
UPSTREAM_FIELD = "upstream_fit_sessions_before"
# Model folders of those stages (encoder.paths.ENCODER_DIRNAME, taxonomy.classifier.MODEL_NAME).
UPSTREAM_MODELS = ("encoder", "intent_classifier")


class FitWindowError(ValueError):
    """The window cannot be resolved, or keeps no session; the message says which and why."""


@dataclass(frozen=True)
class FitWindow:
    setting: str  # as configured: "all", "ranker_validation_start" or an ISO timestamp
    before: pd.Timestamp | None  # sessions ending at or after it are not fitted on; None: every session

    def keeps(self, session_end: pd.Series | np.ndarray) -> np.ndarray:
        """True for each session fitted on: it ends before `before` (every session without one)."""
        end = pd.to_datetime(pd.Series(np.asarray(session_end)), utc=True)
        if self.before is None:
            return np.ones(len(end), dtype=bool)
        return (end < self.before).to_numpy()

    def rows(self, session_end: pd.Series | np.ndarray, what: str) -> np.ndarray:
        """Indices of the sessions fitted on; a clear error when none is."""
        kept = np.flatnonzero(self.keeps(session_end))
        if len(session_end) and not len(kept):
            end = pd.to_datetime(pd.Series(np.asarray(session_end)), utc=True)
            raise FitWindowError(
                f"{CARD_FIELD} = {self.setting} ({self.before}) keeps none of the {len(end):,} sessions {what} could fit on "
                f"(they end from {end.min()} to {end.max()}); choose a later cutoff or 'all'"
            )
        return kept

    def card(self) -> dict[str, str | None]:
        """The model card's record of the window."""
        return {"setting": self.setting, "before": None if self.before is None else self.before.isoformat()}


EVERY_SESSION = FitWindow(FIT_ALL_SESSIONS, None)


def fit_window(settings: Settings) -> FitWindow:
    """The window of `settings.fit_sessions_before`, resolved for its data directory."""
    setting = settings.fit_sessions_before
    if setting == FIT_ALL_SESSIONS:
        return EVERY_SESSION
    if setting == FIT_BEFORE_RANKER_VALIDATION:
        from clickintent.ranker.training_sets import TrainingSetError, ranker_validation_start

        try:
            return FitWindow(setting, ranker_validation_start(settings))
        except TrainingSetError as error:
            raise FitWindowError(f"{CARD_FIELD} = {setting}: the rankers' validation split cannot be computed: {error}") from error
    return FitWindow(setting, pd.Timestamp(setting))


def recorded_windows(models_dir: Path) -> dict[str, Any]:
    """{model folder: the window its card records} for the stages whose outputs the rankers read;
    None for a model without a readable card or with a card written before windows were recorded."""
    out: dict[str, Any] = {}
    for name in UPSTREAM_MODELS:
        try:
            card = json.loads((Path(models_dir) / name / CARD_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            card = None
        out[name] = card.get(CARD_FIELD) if isinstance(card, dict) else None
    return out
