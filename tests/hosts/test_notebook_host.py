"""docs/notebook.md run as written: its Python blocks in order, in one namespace, on a served world."""

from __future__ import annotations

import numpy as np
import pytest

from clickintent.settings import load_settings
from support.doc_blocks import DOCS, fenced_blocks

pytestmark = pytest.mark.slow

PAGE = DOCS / "notebook.md"


def test_the_notebook_page_runs_and_its_rows_are_the_services(serving_world, monkeypatch):
    monkeypatch.setenv("CLICKINTENT_DATA_DIR", str(serving_world.data_dir))
    monkeypatch.setenv("CLICKINTENT_MODELS_DIR", str(serving_world.models_dir))
    blocks = fenced_blocks(PAGE)
    assert len(blocks) >= 5

    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(PAGE), "exec"), namespace)

    assert namespace["settings"] == load_settings()
    assert namespace["history"].tenure_months.tolist() == namespace["latest"].tenure_months.tolist()
    assert namespace["online"]["tenure_months"][0] is not None
    embedding = namespace["embedding"]
    assert embedding.ndim == 1 and embedding.size > 0 and np.isfinite(embedding).all()
    assert abs(sum(namespace["intent"].top_node_probs) - 1.0) < 1e-6
    assert namespace["answer"]["mode"] == "customer"
    # The helper's rows score as the service scores the same customer without a live session.
    recommender_class = namespace["Recommender"]
    recommender = recommender_class.load(load_settings(), push_on_login=False)
    try:
        candidates = namespace["candidates"]
        served = recommender.recommend(
            customer_id=namespace["customer_id"], candidates=candidates, k=len(candidates), tile_ranker_alone=True
        )
        by_product = {product["product_id"]: product["click_probability"] for product in served["products"]}
        np.testing.assert_allclose([by_product[p] for p in candidates], namespace["click_probabilities"], rtol=1e-5)
    finally:
        recommender.close()
