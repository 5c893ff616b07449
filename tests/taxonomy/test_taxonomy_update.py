"""`taxonomy update` and drift on a world where a product family with an intent of its own
launches mid-window: the taxonomy, fitted three weeks before the launch, gets a node for the new
intent and keeps every other id; the drift report flags the launch week and not the weeks
before it; the LLM path runs over HTTP against the loopback stub; an accept is refused before
any write for a bad --fit-until or a stale proposal, resumed after a failure, and done once; a
reviewer's edits are not overwritten. Slow: a 120k-event world, an offline taxonomy run and a
few accepted updates (MiniLM once per process)."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta

import pyarrow.parquet as pq
import pytest

from clickintent.artifacts import UncommittedOutputError
from clickintent.settings import Settings, load_settings
from clickintent.synth import generate_world
from clickintent.synth.launch import BNPL, Launch
from clickintent.synth.timeline import WINDOW_START
from clickintent.taxonomy import pipeline
from clickintent.taxonomy.commit import verify_taxonomy
from clickintent.taxonomy.drift import compute_drift, write_drift_report
from clickintent.taxonomy.evaluation import true_session_intents
from clickintent.taxonomy.io import TaxonomyPaths
from clickintent.taxonomy.model import Taxonomy, TaxonomyFileError
from clickintent.taxonomy.pipeline import StageContext, TaxonomyOptions, run_taxonomy_stage
from clickintent.taxonomy.update import PROPOSAL_FILE, TaxonomyUpdateError, accept_proposal, propose_update
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


def _outputs(paths: TaxonomyPaths) -> dict[str, bytes]:
    """Every file of the taxonomy directory and the classifier, by name."""
    return {
        str(path.relative_to(root)): path.read_bytes()
        for root in (paths.taxonomy_dir, paths.classifier_dir)
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_a_broken_edit_of_the_proposal_is_refused_with_the_node_named(launched: Settings, tmp_path) -> None:
    settings = _copy(launched, tmp_path)
    paths = TaxonomyPaths.from_settings(settings)
    proposal = propose_update(settings, OFFLINE)
    (added,) = proposal.diff.added
    taken = proposal.current.top_nodes[0].id
    text = proposal.proposed.to_yaml()
    broken = text.replace(f"id: {added.id}\n", f"id: {taken}\n", 1)
    assert broken != text
    (paths.taxonomy_dir / PROPOSAL_FILE).write_text(broken, encoding="utf-8")
    before = _outputs(paths)
    with pytest.raises(TaxonomyFileError, match=f"node id '{taken}' is used more than once"):
        accept_proposal(settings, OFFLINE)
    assert _outputs(paths) == before  # the proposal stays for the reviewer to fix; nothing else moved


def test_a_bad_fit_until_is_refused_before_anything_is_written_and_a_time_without_offset_is_utc(launched: Settings, tmp_path) -> None:
    settings = _copy(launched, tmp_path)
    paths = TaxonomyPaths.from_settings(settings)
    propose_update(settings, OFFLINE)
    before = _outputs(paths)
    with pytest.raises(TaxonomyUpdateError, match="--fit-until '2026-13-01'"):
        accept_proposal(settings, OFFLINE, fit_until="2026-13-01")
    assert _outputs(paths) == before
    result = accept_proposal(settings, OFFLINE, fit_until=CUTOFF.date().isoformat())
    assert result.changed
    card = json.loads((paths.classifier_dir / "model_card.json").read_text())
    assert card["fit_sessions_before"]["before"] == CUTOFF.isoformat()


def test_an_accept_that_failed_part_way_is_resumed_by_running_it_again(launched: Settings, tmp_path, monkeypatch) -> None:
    settings = _copy(launched, tmp_path)
    paths = TaxonomyPaths.from_settings(settings)
    propose_update(settings, OFFLINE)

    def killed(refit: Settings, *, context: StageContext):
        raise RuntimeError(f"killed while labelling on {refit.fit_sessions_before} for {context.paths.taxonomy}")

    with monkeypatch.context() as patched:
        patched.setattr(pipeline, "label_sessions", killed)
        with pytest.raises(RuntimeError, match="killed"):
            accept_proposal(settings, OFFLINE)
    interrupted = Taxonomy.load(paths.taxonomy)  # already the new version
    with pytest.raises(UncommittedOutputError, match=r"run `clickintent taxonomy accept`"):
        verify_taxonomy(settings)
    result = accept_proposal(settings, OFFLINE)
    assert result.changed and result.taxonomy.taxonomy_version == interrupted.taxonomy_version
    assert len(result.diff.added) == 1
    verify_taxonomy(settings)
    for table in (paths.page_map, paths.teacher_labels, paths.session_intents):
        assert set(pq.read_table(table, columns=["taxonomy_version"]).column(0).to_pylist()) == {interrupted.taxonomy_version}


def test_an_accepted_proposal_is_archived_and_a_second_accept_changes_nothing(updated) -> None:
    settings, _, _, _, result = updated
    paths = TaxonomyPaths.from_settings(settings)
    assert not (paths.taxonomy_dir / PROPOSAL_FILE).exists()
    archived = Taxonomy.load(paths.versions_dir / f"proposal.v{result.taxonomy.version}.yaml")
    assert archived.node(result.diff.added[0].id).name == "Buy now, pay later"
    before = _outputs(paths)
    again = accept_proposal(settings, OFFLINE)
    assert not again.changed and again.taxonomy.taxonomy_version == result.taxonomy.taxonomy_version
    assert _outputs(paths) == before


def test_a_proposal_made_against_an_older_taxonomy_is_refused(launched: Settings, tmp_path) -> None:
    settings = _copy(launched, tmp_path)
    paths = TaxonomyPaths.from_settings(settings)
    proposal = propose_update(settings, OFFLINE)
    later = proposal.current.with_version(proposal.current.version + 1)  # as a later `taxonomy run` leaves it
    later.save(paths.taxonomy)
    before = _outputs(paths)
    with pytest.raises(TaxonomyUpdateError, match=f"made against taxonomy {proposal.current.taxonomy_version}"):
        accept_proposal(settings, OFFLINE)
    assert _outputs(paths) == before


def test_update_does_not_overwrite_a_reviewers_edits_unless_forced(launched: Settings, tmp_path) -> None:
    settings = _copy(launched, tmp_path)
    path = TaxonomyPaths.from_settings(settings).taxonomy_dir / PROPOSAL_FILE
    first = propose_update(settings, OFFLINE)
    assert propose_update(settings, OFFLINE).path == str(path)  # an unedited proposal is simply rewritten
    edited = path.read_text(encoding="utf-8").replace(f"name: {first.diff.added[0].name}\n", "name: Pay later\n", 1)
    path.write_text(edited, encoding="utf-8")
    with pytest.raises(TaxonomyUpdateError, match="--force"):
        propose_update(settings, OFFLINE)
    assert path.read_text(encoding="utf-8") == edited
    propose_update(settings, OFFLINE, force=True)
    assert "name: Pay later\n" not in path.read_text(encoding="utf-8")


def test_after_an_accept_on_every_session_nothing_is_due_and_nothing_new_is_proposed(updated, tmp_path) -> None:
    """The accepted taxonomy's window is every session: drift has no later week, and an update
    from the old window's end finds the launch's pages pinned already, so it writes nothing."""
    settings = _copy(updated[0], tmp_path)
    document = compute_drift(settings)
    assert document["training_window_end"] is None and not document["update_due"]
    assert not any(week["flagged"] for week in document["weeks"])
    with pytest.raises(TaxonomyUpdateError, match="--since"):
        propose_update(settings, OFFLINE)
    proposal = propose_update(settings, OFFLINE, since=CUTOFF)
    assert proposal.diff.unchanged and proposal.path is None
    assert not (TaxonomyPaths.from_settings(settings).taxonomy_dir / PROPOSAL_FILE).exists()


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
