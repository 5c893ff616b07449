"""Product families come from the data, never from a list in code: the one rule.

The families are those of the catalogue (the products table, dbt's `dim_products` mart), in
sorted order. The marts carry them as names (`held_product_families`, `converted_product_families`,
one `fct_anonymous_session_outcomes` row per family), so no schema changes with the catalogue;
each ranker takes its families from the data it is trained on and stores them in its card
(the conversion model's classes, the anonymous ranker's families, the tile ranker's expansion
of `held_product_families`). A model that meets data with other families fails with
`FamilyMismatch`, naming both sets, rather than scoring with misaligned columns.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

FAMILIES_MART = "dim_products"
FAMILY_FIELD = "product_family"
# The customer_profile feature listing the families a customer holds (dim_customer_profiles).
HELD_FAMILIES = "held_product_families"
RETRAIN = "retrain the rankers on the current marts (`clickintent rank stage`, or `clickintent rank train`)"


class FamilyMismatch(ValueError):
    """A model's families are not the data's; the message names both."""


def families_of(values: Iterable[Any]) -> tuple[str, ...]:
    """The distinct non-null families among `values`, sorted (the one order)."""
    return tuple(sorted({str(value) for value in values if isinstance(value, str)}))


def catalogue_families(marts_dir: Path) -> tuple[str, ...]:
    """The families of the dim_products mart in `marts_dir`, sorted."""
    import pandas as pd

    path = Path(marts_dir) / f"{FAMILIES_MART}.parquet"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; run `clickintent build` first (the product families are the catalogue's)")
    families = families_of(pd.read_parquet(path, columns=[FAMILY_FIELD])[FAMILY_FIELD])
    if not families:
        raise FamilyMismatch(f"{path} has no product family: the rankers need at least one")
    return families


def check_families(model_families: Iterable[str], data_families: Iterable[str], *, model: str, data: str) -> None:
    """FamilyMismatch unless `model` (trained on `model_families`) and `data` have the same families."""
    trained, found = tuple(sorted(model_families)), tuple(sorted(data_families))
    if trained == found:
        return
    new = [family for family in found if family not in trained]
    gone = [family for family in trained if family not in found]
    differences = "; ".join(
        part
        for part in (
            f"new in the data: {', '.join(new)}" if new else "",
            f"missing from the data: {', '.join(gone)}" if gone else "",
        )
        if part
    )
    raise FamilyMismatch(
        f"{model} was trained on the product families {', '.join(trained)}, but {data} has {', '.join(found)} ({differences}); {RETRAIN}"
    )
