"""dbt's target/ and logs/ belong to the data directory when clickintent runs dbt.

Two builds of two data directories at once (tests beside a demo, a benchmark beside a build)
must not share a manifest: the Feast definitions are generated from it. And dbt_project/ stays
as an analytics engineer's plain `dbt build` left it.
"""

from __future__ import annotations

import json
import shutil

import pytest

from clickintent.features.dbt import dbt_log_dir, dbt_target_dir, manifest_path, run_dbt_build
from clickintent.settings import load_settings
from support.raw_world import write_fixture_world

pytestmark = pytest.mark.slow


def _invocation_id(artifact) -> str:
    return json.loads(artifact.read_text())["metadata"]["invocation_id"]


def test_the_manifest_read_for_a_data_dir_is_that_data_dirs_last_build(pipeline_world):
    manifest = manifest_path(pipeline_world)  # present after the fixture's build: no parse
    assert manifest.is_relative_to(pipeline_world.data_dir)
    assert manifest == pipeline_world.data_dir / "dbt" / "target" / "manifest.json"
    # the same invocation wrote both: the manifest is the build's own, not another run's
    run_results = dbt_target_dir(pipeline_world) / "run_results.json"
    assert _invocation_id(manifest) == _invocation_id(run_results)
    built = {result["unique_id"] for result in json.loads(run_results.read_text())["results"]}
    assert "model.clickintent.fct_web_sessions" in built
    assert (dbt_log_dir(pipeline_world) / "dbt.log").is_file()


def test_a_build_writes_its_target_under_its_data_dir_only(pipeline_world, tmp_path):
    # A checkout of its own, so that nothing else (another test session, a plain `dbt build`)
    # writes into the dbt_project/ this test watches.
    checkout = tmp_path / "checkout"
    shutil.copytree(pipeline_world.dbt_project_dir, checkout / "dbt_project", ignore=shutil.ignore_patterns("target", "logs", ".user.yml"))
    other = load_settings(data_dir=tmp_path / "other_data", project_dir=checkout, threads=1)
    write_fixture_world(other.data_dir)
    project_files = sorted(other.dbt_project_dir.rglob("*"))
    first_manifest = manifest_path(pipeline_world)
    first_build = _invocation_id(first_manifest)

    result = run_dbt_build(other, select="stg_events", quiet=True)
    assert result.success, result.summary()

    # no target/, logs/ or anything else new in the project
    assert sorted(other.dbt_project_dir.rglob("*")) == project_files
    other_manifest = manifest_path(other)
    assert other_manifest.is_relative_to(other.data_dir) and other_manifest != first_manifest
    assert _invocation_id(other_manifest) == _invocation_id(dbt_target_dir(other) / "run_results.json") != first_build
    assert (dbt_target_dir(other) / "compiled" / "clickintent" / "models" / "staging" / "stg_events.sql").is_file()
    # the first data directory's manifest is untouched by the second one's build
    assert _invocation_id(first_manifest) == first_build
