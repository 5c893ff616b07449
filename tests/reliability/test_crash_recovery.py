"""kill -9 of each writing stage at several points: what is left is the previous or the new complete
state, a reader refuses anything else by name, and a rerun restores the stage's outputs.

Each kill point is a condition on the files the stage writes (its staging directory appearing, a
view done), polled while the stage runs as a real `clickintent` process; the whole process group
is killed, as an operator's kill -9 or an out-of-memory kill would.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from clickintent.artifacts import UncommittedOutputError
from clickintent.features.mart_equality import marts_in
from clickintent.settings import Settings, load_settings
from support.marts import mart_hashes

PROJECT = Path(__file__).resolve().parents[2]


def run_stage(settings: Settings, *arguments: str, kill_when: Callable[[], bool] | None = None, timeout: float = 600) -> bool:
    """`clickintent ARGUMENTS` for these settings; with `kill_when`, SIGKILL its process group as soon
    as the condition holds. True if it was killed, False if it finished (successfully: asserted)."""
    environment = {
        **os.environ,
        "CLICKINTENT_DATA_DIR": str(settings.data_dir),
        "CLICKINTENT_MODELS_DIR": str(settings.models_dir),
        "CLICKINTENT_THREADS": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "clickintent.cli.main", *arguments],
        cwd=str(PROJECT),
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        if kill_when is not None and kill_when():
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            return True
        time.sleep(0.02)
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        pytest.fail(f"clickintent {' '.join(arguments)} did not finish in {timeout:.0f} s")
    stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
    assert process.returncode == 0, f"clickintent {' '.join(arguments)} failed:\n{stderr[-3000:]}"
    return False


def copy_world(world: Settings, root: Path, *, models: bool = False) -> Settings:
    shutil.copytree(world.data_dir, root / "data", ignore=shutil.ignore_patterns("reports", ".lock"))
    if models:
        shutil.copytree(world.models_dir, root / "models")
    return load_settings(data_dir=root / "data", models_dir=root / "models", threads=1)


def _staged_marts(settings: Settings, at_least: int) -> bool:
    return any(len(marts_in(staging)) >= at_least for staging in settings.data_dir.glob(".marts.tmp-*"))


def test_build_killed_at_any_point_leaves_the_previous_marts(pipeline_world: Settings, tmp_path: Path) -> None:
    from clickintent.features.dbt import verify_marts

    settings = copy_world(pipeline_world, tmp_path)
    before = mart_hashes(settings.marts_dir)
    assert verify_marts(settings) is not None

    # as the build starts writing marts, then half-way through them
    for kill_point in (lambda: _staged_marts(settings, 1), lambda: _staged_marts(settings, 6)):
        assert run_stage(settings, "build", kill_when=kill_point), "the build ended before the kill point"
        assert mart_hashes(settings.marts_dir) == before
        verify_marts(settings)  # the previous set, complete: a reader accepts it

    assert not run_stage(settings, "build")
    assert mart_hashes(settings.marts_dir) == before  # the same raw tables build the same marts
    verify_marts(settings)
    assert not list(settings.data_dir.glob(".marts.*")), "the killed builds' staging sets were not cleaned"


def test_marts_a_tool_rewrote_behind_the_build_are_refused_by_feast_apply(pipeline_world: Settings, tmp_path: Path) -> None:
    from clickintent.features.store import apply_feature_repo

    settings = copy_world(pipeline_world, tmp_path)
    shutil.copyfile(settings.marts_dir / "dim_products.parquet", settings.marts_dir / "dim_products_copy.parquet")
    (settings.marts_dir / "fct_session_filter_counts.parquet").write_bytes(b"not the committed mart")
    with pytest.raises(
        UncommittedOutputError, match=r"changed: fct_session_filter_counts.*not part of it: dim_products_copy.*clickintent build"
    ):
        apply_feature_repo(settings)


def test_materialize_killed_midway_is_refused_by_the_service_until_rerun(serving_world: Settings, tmp_path: Path) -> None:
    from clickintent.features.store import apply_feature_repo, materialize_state_path, unfinished_materialize
    from clickintent.serving.artifacts import ArtifactError
    from clickintent.serving.recommender import Recommender

    settings = copy_world(serving_world, tmp_path, models=True)
    apply_feature_repo(settings)  # the registry's sources: the copy's own
    materialize_state_path(settings).unlink()  # no record of what was loaded: every view is loaded in full

    def some_views_done() -> bool:
        try:
            state = json.loads(materialize_state_path(settings).read_text())
        except (FileNotFoundError, ValueError):
            return False
        return state["state"] == "in progress" and 0 < len(state["sources"]) and len(state["pending_views"]) > 0

    assert run_stage(settings, "features", "materialize", kill_when=some_views_done), "materialize ended before the kill point"
    reason = unfinished_materialize(settings)
    assert reason is not None and "partly materialized" in reason and "clickintent features materialize" in reason
    pending = json.loads(materialize_state_path(settings).read_text())["pending_views"]
    assert all(view in reason for view in pending)
    with pytest.raises(ArtifactError, match="partly materialized"):
        Recommender.load(settings, push_on_login=False)

    assert not run_stage(settings, "features", "materialize")
    assert unfinished_materialize(settings) is None
    Recommender.load(settings, push_on_login=False).close()


def test_rank_train_killed_keeps_the_previous_models_and_a_mixed_set_is_refused(serving_world: Settings, tmp_path: Path) -> None:
    from clickintent.features.store import apply_feature_repo
    from clickintent.ranker.run_record import verify_rank_run

    settings = copy_world(serving_world, tmp_path, models=True)
    apply_feature_repo(settings)
    before = verify_rank_run(settings.models_dir)
    assert before is not None and before["state"] == "complete"
    card = json.loads((settings.models_dir / "tile_ranker" / "model_card.json").read_text())

    def tile_ranker_staged() -> bool:
        return any((staging / "tile_ranker" / "model_card.json").is_file() for staging in settings.models_dir.glob(".rank_run.tmp-*"))

    assert run_stage(settings, "rank", "train", kill_when=tile_ranker_staged), "rank train ended before the kill point"
    assert verify_rank_run(settings.models_dir)["version"] == before["version"]
    assert json.loads((settings.models_dir / "tile_ranker" / "model_card.json").read_text())["version"] == card["version"]

    # a tile ranker beside companions of another run (what a kill between the swaps would leave)
    (settings.models_dir / "tile_ranker" / "model_card.json").write_text(json.dumps({**card, "version": "another-run"}))
    with pytest.raises(UncommittedOutputError, match=r"tile ranker and its companion models.*changed: tile_ranker/model_card.json"):
        verify_rank_run(settings.models_dir)

    assert not run_stage(settings, "rank", "train")
    after = verify_rank_run(settings.models_dir)
    assert after["version"] != before["version"]
    assert not list(settings.models_dir.glob(".rank_run.*")) and not list(settings.models_dir.glob(".tile_ranker.*"))
