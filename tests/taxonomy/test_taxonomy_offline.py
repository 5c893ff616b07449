"""The offline taxonomy stage end to end on a small synthetic world: generate, map, label,
distill, batch labels, report; reruns, new pages, edits, regeneration, review, and dbt reading
the page map. Slow: MiniLM loads once per process (seconds), the world takes about a second."""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from clickintent.features.partitioned_marts import mart_location
from clickintent.settings import load_settings
from clickintent.taxonomy.diff import diff_taxonomies
from clickintent.taxonomy.distill import SESSION_INTENTS_SCHEMA
from clickintent.taxonomy.inputs import load_pages
from clickintent.taxonomy.io import TaxonomyPaths
from clickintent.taxonomy.model import Taxonomy, TaxonomyFileError
from clickintent.taxonomy.pipeline import distill_classifier, generate_taxonomy, map_pages, run_taxonomy_stage
from clickintent.taxonomy.review import render_review
from support.marts import mart_glob
from support.taxonomy_fixtures import build_session_mart, build_small_world, replace_events

pytestmark = pytest.mark.slow
TAXONOMY_PACKAGE = Path(__file__).resolve().parents[2] / "src/clickintent/taxonomy"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("taxonomy_world")
    settings = load_settings(data_dir=root / "data", models_dir=root / "models")
    build_small_world(settings, target_events=40_000)
    run = run_taxonomy_stage(settings)
    return settings, run


@pytest.fixture
def world_copy(world, tmp_path):
    """A private copy of the module's world, for tests that change it."""
    settings, _ = world
    shutil.copytree(settings.data_dir, tmp_path / "data")
    shutil.copytree(settings.models_dir, tmp_path / "models")
    return load_settings(data_dir=tmp_path / "data", models_dir=tmp_path / "models")


def _read(path: Path) -> pd.DataFrame:
    return pq.read_table(path).to_pandas()


def test_the_stage_writes_every_output_in_the_agreed_shapes(world) -> None:
    settings, run = world
    paths = TaxonomyPaths.from_settings(settings)
    taxonomy = Taxonomy.load(paths.taxonomy)
    version = taxonomy.taxonomy_version
    assert taxonomy.backend == "offline" and max(node.level for node in taxonomy.nodes) <= 3
    assert 8 <= taxonomy.nodes_per_level()[1] <= 24
    sessions = _read(mart_location(settings.marts_dir, "fct_session_sequences"))
    assert any(node.examples for node in taxonomy.nodes)
    assert {e for node in taxonomy.nodes for e in node.examples} <= set(sessions["session_id"])

    page_map = _read(paths.page_map)
    assert list(page_map.columns) == ["page_path", "node_id", "node_name", "top_node_id", "top_node_name", "taxonomy_version"]
    pages = load_pages(settings)
    assert set(page_map["page_path"]) == set(pages.loc[~pages["is_error_page"], "page_path"])  # every page and screen
    assert not set(page_map["page_path"]) & set(pages.loc[pages["is_error_page"], "page_path"])  # 404s are dbt's 'unknown'
    assert (page_map["taxonomy_version"] == version).all()
    for node_id, top_id, name in zip(page_map["node_id"], page_map["top_node_id"], page_map["node_name"]):
        assert taxonomy.top_of(node_id).id == top_id and taxonomy.node(node_id).name == name
    queries = {q for row in sessions["search_queries"] for q in row if q is not None}
    assert len(_read(paths.query_map)) == len({" ".join(q.lower().split()) for q in queries})

    labels = _read(paths.teacher_labels)
    assert list(labels.columns) == ["session_id", "primary_node_id", "node_ids", "teacher", "taxonomy_version"]
    assert (labels["teacher"] == "offline").all() and (labels["taxonomy_version"] == version).all()
    assert len(labels) >= 0.95 * len(sessions)  # the offline teacher labels (nearly) every session
    assert all(ids.split(";")[0] == primary for primary, ids in zip(labels["primary_node_id"], labels["node_ids"]))
    assert {n for ids in labels["node_ids"] for n in ids.split(";")} <= set(taxonomy.node_ids)

    intents = _read(paths.session_intents)
    assert list(intents.columns) == SESSION_INTENTS_SCHEMA.names  # the columns test_taxonomy_classifier pins
    assert sorted(intents["session_id"]) == sorted(sessions["session_id"])
    assert str(intents["session_end_ts"].dt.tz) == "UTC"
    probabilities = np.stack(intents["intent_top_node_probs"].to_numpy())
    assert probabilities.shape == (len(sessions), len(taxonomy.top_node_ids))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-4)
    assert all(taxonomy.top_of(n).id == t for n, t in zip(intents["intent_node_id"], intents["intent_top_node_id"]))
    assert ((intents["intent_confidence"] > 0) & (intents["intent_confidence"] <= 1)).all()

    report = run.report
    assert report["nodes_per_level"]["1"] == taxonomy.nodes_per_level()[1]
    assert report["page_map"]["coverage"] == 1.0
    assert report["classifier"]["agreement_with_teacher_top_node"]["accuracy"] > 0.8
    # Chance labels score about 0; this world scored about 0.66 when this test was written.
    assert report["ground_truth"]["ami_distilled_top_web"] > 0.3
    # App sessions are scored alone too; the figure is reported, not held to a target.
    assert 0 < report["ground_truth"]["sessions_app"] <= int((sessions["platform"] == "app").sum())
    assert report["ground_truth"]["ami_distilled_top_app"] is not None
    assert (settings.reports_dir / "taxonomy.json").is_file()


def test_rerunning_generate_and_map_changes_nothing(world_copy) -> None:
    paths = TaxonomyPaths.from_settings(world_copy)
    before = Taxonomy.load(paths.taxonomy)
    page_map_before = _read(paths.page_map)
    result = generate_taxonomy(world_copy)
    assert not result.changed and result.taxonomy.taxonomy_version == before.taxonomy_version
    assert Taxonomy.load(paths.taxonomy).node_ids == before.node_ids
    map_pages(world_copy)
    pd.testing.assert_frame_equal(_read(paths.page_map), page_map_before)


def test_a_page_first_seen_after_generation_is_mapped_to_the_nearest_node(world_copy) -> None:
    paths = TaxonomyPaths.from_settings(world_copy)
    events = _read(world_copy.raw_dir / "events.parquet")
    # New visits that read a new jumbo-rates page beside the existing fixed-rate mortgage page.
    template = events[events["page_path"] == "/mortgages/30-year-fixed"].sample(20, random_state=0)
    new_page = template.copy()
    new_page["page_path"] = "/mortgages/jumbo-rates-2027"
    new_page["page_title"] = "Jumbo Mortgage Rates for 2027 | Example Bank"
    new_page["event_id"] = new_page["event_id"] + "_new"
    new_page["event_ts"] = new_page["event_ts"] + pd.Timedelta(seconds=30)
    replace_events(world_copy, pd.concat([events, new_page]))
    build_session_mart(world_copy)

    result = map_pages(world_copy)
    page_map = _read(paths.page_map).set_index("page_path")
    assert result.mapping_source["/mortgages/jumbo-rates-2027"] == "nearest"
    assert result.summary["coverage"] == 1.0
    assert page_map.at["/mortgages/jumbo-rates-2027", "top_node_id"] == page_map.at["/mortgages/30-year-fixed", "top_node_id"]
    # Every other web page keeps its cluster; app-only screens are never clustered.
    platform = load_pages(world_copy).set_index("page_path")["platform"].reindex(result.mapping_source.index)
    others = result.mapping_source.drop("/mortgages/jumbo-rates-2027")
    assert (others[platform.drop("/mortgages/jumbo-rates-2027") == "web"] == "generator").all()
    assert (result.mapping_source[platform == "app"] == "nearest").all() and (platform == "app").any()


def _edit(path: Path, change) -> None:
    document = yaml.safe_load(path.read_text())
    change(document)
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def test_an_edited_taxonomy_is_validated_remapped_and_redistilled(world_copy) -> None:
    paths = TaxonomyPaths.from_settings(world_copy)
    before = Taxonomy.load(paths.taxonomy)
    page_map_before = _read(paths.page_map)
    parents = [node for node in before.nodes if node.level == 1 and len(before.children(node.id)) >= 3]
    parent = parents[0]
    deleted, moved = before.children(parent.id)[0].id, before.children(parent.id)[1].id
    target = next(node.id for node in before.nodes if node.level == 1 and node.id != parent.id)
    pages_of_deleted = set(page_map_before.loc[page_map_before["node_id"] == deleted, "page_path"])
    assert pages_of_deleted

    def change(document: dict) -> None:
        block = next(b for b in document["nodes"] if b["id"] == parent.id)
        block["name"] = "Reviewed name"
        block["children"] = [c for c in block["children"] if c["id"] != deleted]
        moved_block = next(c for c in block["children"] if c["id"] == moved)
        block["children"].remove(moved_block)
        next(b for b in document["nodes"] if b["id"] == target).setdefault("children", []).append(moved_block)

    _edit(paths.taxonomy, change)
    edited = Taxonomy.load(paths.taxonomy)
    summary = distill_classifier(world_copy)
    assert summary.taxonomy_version == edited.taxonomy_version != before.taxonomy_version

    page_map = _read(paths.page_map)
    assert (page_map["taxonomy_version"] == edited.taxonomy_version).all()
    assert deleted not in set(page_map["node_id"])
    assert set(page_map.loc[page_map["page_path"].isin(pages_of_deleted), "node_id"]) <= set(edited.node_ids)
    moved_pages = page_map[page_map["node_id"] == moved]
    assert (moved_pages["top_node_id"] == target).all() and len(moved_pages)
    intents = _read(paths.session_intents)
    assert (intents["taxonomy_version"] == edited.taxonomy_version).all()
    assert set(intents["intent_node_id"]) <= set(edited.node_ids)
    labels = _read(paths.teacher_labels)
    assert (labels["taxonomy_version"] == edited.taxonomy_version).all()

    diff = diff_taxonomies(before, edited)
    assert [n.id for n in diff.removed] == [deleted]
    assert [(a.id, b.name) for a, b in diff.renamed] == [(parent.id, "Reviewed name")]
    assert [(a.parent_id, b.parent_id) for a, b in diff.moved] == [(parent.id, target)]


def test_an_invalid_edit_stops_before_anything_is_written(world_copy) -> None:
    paths = TaxonomyPaths.from_settings(world_copy)
    outputs = [paths.page_map, paths.teacher_labels, paths.session_intents, paths.classifier_dir / "weights.safetensors"]
    before = {path: path.read_bytes() for path in outputs}
    node_id = Taxonomy.load(paths.taxonomy).nodes[0].id
    _edit(paths.taxonomy, lambda document: document["nodes"][0].update(desciption="typo"))
    with pytest.raises(TaxonomyFileError, match=rf"nodes\[0\] \(id '{node_id}'\): unknown field 'desciption'"):
        distill_classifier(world_copy)
    assert {path: path.read_bytes() for path in outputs} == before


def test_regenerating_on_new_data_keeps_the_ids_of_unchanged_nodes(world_copy) -> None:
    paths = TaxonomyPaths.from_settings(world_copy)
    before = Taxonomy.load(paths.taxonomy)
    # A later data window: drop a fifth of the visitors' events.
    events = _read(world_copy.raw_dir / "events.parquet")
    visitors = events["anonymous_id"].drop_duplicates().sample(frac=0.2, random_state=1)
    replace_events(world_copy, events[~events["anonymous_id"].isin(visitors)])
    build_session_mart(world_copy)

    result = generate_taxonomy(world_copy)
    after = result.taxonomy
    kept = set(after.node_ids) & set(before.node_ids)
    assert len(kept) >= 0.6 * len(after)
    diff = diff_taxonomies(before, after)
    assert {n.id for n in diff.added}.isdisjoint(before.node_ids)  # a new node never reuses an old id
    if result.changed:
        assert after.version == before.version + 1
        assert (paths.versions_dir / f"taxonomy.v{before.version}.yaml").is_file()


def test_review_renders_the_tree_sizes_and_redacted_example_sessions(world_copy) -> None:
    taxonomy = Taxonomy.load(TaxonomyPaths.from_settings(world_copy).taxonomy)
    markdown = render_review(world_copy, "markdown")
    assert markdown.startswith(f"# Intent taxonomy {taxonomy.taxonomy_version}")
    assert all(f"`{node.id}`" in markdown for node in taxonomy.nodes)
    assert "teacher-labelled sessions" in markdown and "% of sessions" in markdown
    assert "Example session" in markdown and "<session>" in markdown
    html = render_review(world_copy, "html")
    assert "&lt;session&gt;" in html and "<session>" not in html  # data is escaped
    with pytest.raises(ValueError, match="markdown or html"):
        render_review(world_copy, "pdf")


def test_dbt_rebuilds_the_taxonomy_mapped_features_from_the_page_map(world_copy) -> None:
    from clickintent.features.dbt import run_dbt_build

    paths = TaxonomyPaths.from_settings(world_copy)
    taxonomy = Taxonomy.load(paths.taxonomy)
    page_map = _read(paths.page_map)
    result = run_dbt_build(world_copy, quiet=True)
    assert result.success, result.summary()
    with duckdb.connect() as connection:
        node_ids = connection.execute(
            "select distinct unnest(taxonomy_node_ids) from read_parquet(?)", [mart_glob(world_copy.marts_dir, "fct_session_sequences")]
        ).fetchall()
        top_nodes = connection.execute(
            "select top_taxonomy_node_id from read_parquet(?) order by top_node_position",
            [str(world_copy.marts_dir / "dim_taxonomy_top_nodes.parquet")],
        ).fetchall()
    assert {row[0] for row in node_ids} <= set(page_map["node_id"]) | {"unknown"}
    assert [row[0] for row in top_nodes if row[0] != "unknown"] == taxonomy.top_node_ids  # same order as the probabilities


def test_only_the_evaluation_module_reads_the_ground_truth() -> None:
    for path in sorted(TAXONOMY_PACKAGE.glob("*.py")):
        text = path.read_text()
        if path.name != "evaluation.py":
            assert "ground_truth_dir" not in text and "event_sessions" not in text, path.name
        imported = set()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
                imported.update(f"{node.module}.{alias.name}" for alias in node.names)
        if path.name not in ("report.py", "pipeline.py", "evaluation.py"):
            assert not {"clickintent.taxonomy.evaluation", "clickintent.taxonomy.report"} & imported, path.name


def test_the_cli_reviews_diffs_and_refuses_a_bad_edit_with_exit_code_2(world_copy, tmp_path) -> None:
    from typer.testing import CliRunner

    from clickintent.cli.taxonomy import taxonomy_app

    runner = CliRunner()
    data = ["--data-dir", str(world_copy.data_dir)]
    html = tmp_path / "review.html"
    result = runner.invoke(taxonomy_app, ["review", "--format", "html", "-o", str(html), *data])
    assert result.exit_code == 0, result.output
    assert html.read_text().startswith("<!doctype html>")
    result = runner.invoke(taxonomy_app, ["diff", "1", "current", "--format", "json", *data])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["added"] == []

    paths = TaxonomyPaths.from_settings(world_copy)
    _edit(paths.taxonomy, lambda document: document["nodes"][1].update(name=""))
    result = runner.invoke(taxonomy_app, ["distill", *data, "--models-dir", str(world_copy.models_dir)])
    assert result.exit_code == 2
    assert "name must be a non-empty string" in result.output and "Traceback" not in result.output
