"""Steps and their expansion into events.

A step is one thing a visitor does on one page: read it (page_view), read it and click a
call to action, run a calculator a few times, search, fill in a form, log in. Each step has a
recipe, the fixed sequence of event types it produces; expanding all steps at once is a repeat
and a table lookup.
"""

from __future__ import annotations

import numpy as np

from clickintent.synth.behaviour import ET
from clickintent.synth.sampling import index_within_group

MAX_CALCULATIONS = 6

_RECIPES: list[tuple[str, tuple[str, ...]]] = [
    ("view", ("page_view",)),
    ("view_click", ("page_view", "click")),
    ("search", ("search",)),
    ("apply_abandon", ("page_view", "form_start")),
    ("apply_submit", ("page_view", "form_start", "form_submit")),
    ("login", ("login",)),
    ("screen", ("screen_view",)),
    ("screen_click", ("screen_view", "click")),
    ("tile_click", ("click",)),
    ("app_apply_abandon", ("form_start",)),
    ("app_apply_submit", ("form_start", "form_submit")),
    ("crawl", ("page_view",)),
]
_RECIPES += [(f"tool_{k}", ("page_view",) + ("calculator",) * k) for k in range(1, MAX_CALCULATIONS + 1)]

RECIPE = {name: i for i, (name, _) in enumerate(_RECIPES)}
RECIPE_LENGTH = np.array([len(types) for _, types in _RECIPES], dtype=np.int64)
_WIDTH = int(RECIPE_LENGTH.max())
RECIPE_TYPES = np.full((len(_RECIPES), _WIDTH), -1, dtype=np.int8)
for _i, (_, _types) in enumerate(_RECIPES):
    RECIPE_TYPES[_i, : len(_types)] = [ET[t] for t in _types]


def tool_recipe(calculations: np.ndarray) -> np.ndarray:
    """Recipe ids for calculator steps with the given number of calculations (clipped to 1..6)."""
    return RECIPE["tool_1"] + np.clip(calculations, 1, MAX_CALCULATIONS) - 1


def expand(recipes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For every event of every step: the step it belongs to and its event type."""
    lengths = RECIPE_LENGTH[recipes]
    step = np.repeat(np.arange(len(recipes), dtype=np.int64), lengths)
    within = index_within_group(lengths)
    return step, RECIPE_TYPES[recipes[step], within]
