"""App screens are placed among the web-derived nodes by their text.

The offline backend clusters the public site's pages only: app-only screens (inputs.load_pages
marks them `platform` 'app') are left to page_map.py's `nearest` rule. Clustered together with
web pages, they formed nodes of their own (app sessions never co-visit web pages), so that web
and app sessions shared no taxonomy node."""

from __future__ import annotations

import pandas as pd
import pyarrow.parquet as pq
import pytest

from clickintent.settings import load_settings
from clickintent.taxonomy.inputs import load_pages
from clickintent.taxonomy.io import TaxonomyPaths
from clickintent.taxonomy.model import Taxonomy
from clickintent.taxonomy.offline import generation_pages
from clickintent.taxonomy.pipeline import generate_taxonomy, map_pages
from support.taxonomy_fixtures import build_small_world

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def mapped_world(tmp_path_factory):
    root = tmp_path_factory.mktemp("app_screens_world")
    settings = load_settings(data_dir=root / "data", models_dir=root / "models")
    build_small_world(settings, target_events=40_000)
    generate_taxonomy(settings)
    result = map_pages(settings)
    paths = TaxonomyPaths.from_settings(settings)
    taxonomy = Taxonomy.load(paths.taxonomy)
    pages = load_pages(settings)
    page_map = pq.read_table(paths.page_map).to_pandas().merge(pages[["page_path", "platform", "page_title"]], on="page_path")
    return settings, taxonomy, page_map, result


def test_no_taxonomy_node_holds_only_app_screens(mapped_world) -> None:
    _, taxonomy, page_map, result = mapped_world
    app = page_map[page_map["platform"] == "app"]
    assert len(app) >= 20 and (page_map["platform"] == "web").any()  # the world has both
    for node in taxonomy.nodes:
        under = {node.id, *(child.id for child in taxonomy.descendants(node.id))}
        platforms = set(page_map.loc[page_map["node_id"].isin(under), "platform"])
        assert platforms != {"app"}, f"{node.id} holds only app screens"
    # App screens were not clustered: the page map placed each one (its schema unchanged).
    assert (result.mapping_source[app["page_path"]] == "nearest").all()
    assert set(pq.read_table(TaxonomyPaths.from_settings(mapped_world[0]).page_assignments).to_pandas()["page_path"]).isdisjoint(
        app["page_path"]
    )


def _product_pages(settings) -> pd.DataFrame:
    """Web page views per (product_id, page_path), from the raw events' product_id."""
    events = pq.read_table(settings.raw_dir / "events.parquet", columns=["platform", "event_type", "page_path", "product_id"]).to_pandas()
    views = events[(events["platform"] == "web") & (events["event_type"] == "page_view") & events["product_id"].notna()]
    return views.groupby(["product_id", "page_path"]).size().rename("views").reset_index()


def test_an_app_screen_lands_under_the_top_node_of_its_product_familys_web_pages(mapped_world) -> None:
    settings, _, page_map, _ = mapped_world
    top_of = page_map.set_index("page_path")["top_node_id"]
    products = pq.read_table(settings.raw_dir / "products.parquet", columns=["product_id", "category"]).to_pandas()
    mortgages = set(products.loc[products["category"] == "mortgage", "product_id"])
    views = _product_pages(settings)
    views = views[views["product_id"].isin(mortgages) & views["page_path"].isin(top_of.index)]
    assert len(mortgages) >= 3 and views["product_id"].nunique() == len(mortgages)
    # The family's top node: the one its web product pages are viewed under most.
    family_top = views.assign(top=views["page_path"].map(top_of)).groupby("top")["views"].sum().idxmax()
    overview = page_map.set_index("page_path").loc["/app/mortgage/overview"]
    assert overview["platform"] == "app" and "mortgage" in overview["page_title"].lower()
    assert overview["top_node_id"] == family_top

    # Each mortgage's offer screen in the app sits under the top node of its most viewed web page.
    for product_id, pages in views.groupby("product_id"):
        web_page = pages.sort_values("views", ascending=False)["page_path"].iloc[0]
        screen = f"/app/offers/{product_id}"
        assert page_map.set_index("page_path").at[screen, "platform"] == "app"
        assert top_of[screen] == top_of[web_page], (screen, top_of[screen], web_page, top_of[web_page])


def test_generation_pages_are_the_web_pages_unless_there_are_not_two() -> None:
    pages = pd.DataFrame(
        {
            "page_path": ["/a", "/b", "/404", "/app/x", "/app/y"],
            "platform": ["web", "web", "web", "app", "app"],
            "is_error_page": [False, False, True, False, False],
        }
    )
    assert generation_pages(pages)["page_path"].tolist() == ["/a", "/b"]
    app_alone = pages[pages["platform"] == "app"]
    assert generation_pages(app_alone)["page_path"].tolist() == ["/app/x", "/app/y"]
