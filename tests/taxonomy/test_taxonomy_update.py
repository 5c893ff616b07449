"""`taxonomy update` and drift on a world where a product family with an intent of its own
launches mid-window: the taxonomy, fitted three weeks before the launch, gets a node for the new
intent and keeps every other id; the drift report flags the launch week and not the weeks
before it; the LLM path runs over HTTP against the loopback stub. Slow: a 120k-event world, an
offline taxonomy run and one accepted update (MiniLM once per process)."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta

import pyarrow.parquet as pq
import pytest

from clickintent.settings import Settings, load_settings
from clickintent.synth import generate_world
from clickintent.synth.launch import BNPL, Launch
from clickintent.synth.timeline import WINDOW_START
from clickintent.taxonomy.drift import write_drift_report
from clickintent.taxonomy.evaluation import true_session_intents
from clickintent.taxonomy.io import TaxonomyPaths
from clickintent.taxonomy.model import Taxonomy, TaxonomyFileError
from clickintent.taxonomy.pipeline import StageContext, TaxonomyOptions, run_taxonomy_stage
from clickintent.taxonomy.update import PROPOSAL_FILE, accept_proposal, propose_update
from support.openai_stub_server import OpenAIStubServer, StubReply
from support.taxonomy_fixtures import build_session_mart

pytestmark = pytest.mark.slow
LAUNCH_DAY = 84  # a Monday
CUTOFF = WINDOW_START + timedelta(days=LAUNCH_DAY - 21)
OFFLINE = TaxonomyOptions(backend="offline")


def _copy(settings: Settings, root) -> Settings:
    shutil.copytree(settings.data_dir, root / "data")
    shutil.copytree(settings.models_dir, root / "models")
    return settings.model_copy(update={"data_dir": root / "data", "models_dir": root / "models"})


@pytest.fixture(scope="module")
def launched(tmp_path_factory) -> Settings:
    """The world with the launch, its session mart, and a taxonomy fitted before CUTOFF."""
    root = tmp_path_factory.mktemp("launch_world")
    settings = load_settings(
        environ={}, data_dir=root / "data", models_dir=root / "models", fit_sessions_before=CUTOFF.isoformat(), threads=1
    )
    generate_world(settings, target_events=120_000, launch=Launch(BNPL.key, LAUNCH_DAY))
    build_session_mart(settings)
    run_taxonomy_stage(settings, OFFLINE, evaluate=False)
    return settings


@pytest.fixture(scope="module")
def updated(launched: Settings, tmp_path_factory):
    """A copy of `launched` after `update`, a reviewer's rename in proposal.yaml, and `accept`."""
    settings = _copy(launched, tmp_path_factory.mktemp("updated"))
    paths = TaxonomyPaths.from_settings(settings)
    before = Taxonomy.load(paths.taxonomy)
    page_map_before = pq.read_table(paths.page_map).to_pandas()
    proposal = propose_update(settings, OFFLINE)
    (added,) = proposal.diff.added
    text = proposal.proposed.to_yaml()
    edited = text.replace(f"name: {added.name}\n", "name: Buy now, pay later\n", 1)
    assert edited != text
    (paths.taxonomy_dir / PROPOSAL_FILE).write_text(edited, encoding="utf-8")
    result = accept_proposal(settings, OFFLINE)
    return settings, before, page_map_before, proposal, result


def test_drift_flags_the_launch_week_and_not_the_weeks_before_it(launched: Settings) -> None:
    document = write_drift_report(launched)
    assert (launched.reports_dir / "drift.json").is_file()
    launch_week = (WINDOW_START + timedelta(days=LAUNCH_DAY)).date().isoformat()
    assert document["first_flagged_week"] == launch_week
    weeks = {week["week_start"]: week for week in document["weeks"]}
    between = [w for start, w in weeks.items() if CUTOFF.date().isoformat() <= start < launch_week]
    assert len(between) == 3 and not any(w["flagged"] for w in between)  # after the window, before the launch
    assert weeks[launch_week]["new_page_view_share"] > document["thresholds"]["new_page_view_share"]
    assert {"pay in 4", "bnpl", "buy now pay later", "pay later"} & set(weeks[launch_week]["top_new_queries"])


def test_the_update_adds_one_node_and_keeps_every_other_id(updated) -> None:
    settings, before, _, proposal, result = updated
    assert [page for page in proposal.coverage.candidates[0].pages if page.startswith("/pay-later")]
    diff = result.diff
    assert len(diff.added) == 1 and not (diff.removed or diff.moved or diff.renamed or diff.redescribed)
    new_id = diff.added[0].id
    assert result.taxonomy.node(new_id).name == "Buy now, pay later"  # the reviewer's edit was accepted
    for node in before.nodes:
        kept = result.taxonomy.node(node.id)
        assert (kept.name, kept.parent_id, kept.description) == (node.name, node.parent_id, node.description)
    assert result.taxonomy.version == before.version + 1
    paths = TaxonomyPaths.from_settings(settings)
    assert Taxonomy.load(paths.versions_dir / f"taxonomy.v{before.version}.yaml").same_content(before)
    version = result.taxonomy.taxonomy_version
    for table in (paths.page_map, paths.teacher_labels, paths.session_intents):
        assert set(pq.read_table(table, columns=["taxonomy_version"]).column(0).to_pylist()) == {version}
    card = json.loads((paths.classifier_dir / "model_card.json").read_text())
    assert card["taxonomy_version"] == version


def test_pages_seen_before_keep_their_node_and_the_new_pages_go_to_the_new_one(updated) -> None:
    settings, _, page_map_before, _, result = updated
    new_id = result.diff.added[0].id
    after = pq.read_table(TaxonomyPaths.from_settings(settings).page_map).to_pandas().set_index("page_path")["node_id"]
    site_pages = [path for path in after.index if path.startswith(("/pay-later", "/app/pay-later"))]
    assert len(site_pages) == 10 and (after[site_pages] == new_id).all()
    launch_pages = [page.path for page in BNPL.pages] + [path for path, _ in BNPL.app_screens]
    old = page_map_before.set_index("page_path")["node_id"].drop(launch_pages, errors="ignore")
    moved = old[after.reindex(old.index) != old]
    assert moved.empty, moved


def test_the_new_nodes_sessions_are_the_new_intents(updated) -> None:
    """F1 of the new hidden intent's sessions against the new node's, by the distilled classifier."""
    settings, _, _, _, result = updated
    new_id = result.diff.added[0].id
    labels = pq.read_table(TaxonomyPaths.from_settings(settings).session_intents).to_pandas()
    joined = true_session_intents(settings).merge(labels[["session_id", "intent_top_node_id"]], on="session_id")
    for platform in ("web", None):
        rows = joined if platform is None else joined[joined["platform"] == platform]
        truth, predicted = rows["true_intent"] == BNPL.intent, rows["intent_top_node_id"] == new_id
        f1 = 2 * (truth & predicted).sum() / (truth.sum() + predicted.sum())
        assert truth.sum() > 100 and f1 >= 0.7, (platform, f1)


def test_a_broken_edit_of_the_proposal_is_refused_with_the_node_named(launched: Settings, tmp_path) -> None:
    settings = _copy(launched, tmp_path)
    paths = TaxonomyPaths.from_settings(settings)
    current = Taxonomy.load(paths.taxonomy)
    duplicated = current.to_yaml() + current.to_yaml().split("nodes:\n", 1)[1]
    (paths.taxonomy_dir / PROPOSAL_FILE).write_text(duplicated, encoding="utf-8")
    with pytest.raises(TaxonomyFileError, match="used more than once"):
        accept_proposal(settings, OFFLINE)
    assert Taxonomy.load(paths.taxonomy).same_content(current)


def test_the_llm_path_over_http_sends_a_rejected_proposal_back(launched: Settings, tmp_path) -> None:
    settings = _copy(launched, tmp_path)
    current = Taxonomy.load(TaxonomyPaths.from_settings(settings).taxonomy)
    parent = current.top_nodes[0].id
    reused = {"nodes": [{"id": parent, "parent_id": None, "level": 1, "name": "Pay later", "description": "BNPL.", "pages": []}]}
    valid = {
        "nodes": [
            {
                "id": "pay_later",
                "parent_id": None,
                "level": 2,  # a slip the parent link settles: repaired, not sent back
                "name": "Buy now, pay later",
                "description": "Splitting a purchase into instalments.",
                "pages": ["/pay-later", "/pay-later/pay-in-4"],
            },
            {
                "id": "pay_later.compare",
                "parent_id": "pay_later",
                "level": 1,
                "name": "Compare pay later",
                "description": "Pay later against a card.",
                "pages": ["/pay-later/pay-later-vs-credit-card"],
            },
        ]
    }
    with OpenAIStubServer() as stub:
        stub.enqueue(StubReply.json(reused), StubReply.json(valid))
        llm_settings = settings.model_copy(update={"llm_base_url": stub.base_url, "llm_model": "stub-model", "llm_api_key": "k"})
        context = StageContext(llm_settings, TaxonomyOptions(backend="llm"))
        try:
            proposal = propose_update(llm_settings, context=context)
        finally:
            context.close()
        requests = stub.chat_requests
    assert len(requests) == 2
    assert requests[0].body["response_format"]["type"] == "json_schema"
    assert "/pay-later/pay-in-4" in requests[0].message_contents[-1]
    assert f"{parent!r} already exists" in requests[1].message_contents[-1]
    added = {node.id: node for node in proposal.diff.added}
    assert set(added) == {"pay_later", "pay_later.compare"}
    assert (added["pay_later"].level, added["pay_later.compare"].level) == (1, 2)
    assert added["pay_later"].pinned_pages == ("/pay-later", "/pay-later/pay-in-4")
    assert set(current.node_ids) <= set(proposal.proposed.node_ids)
