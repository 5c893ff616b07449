"""Worlds shared by the feature tests that need a web -> customer link built two ways."""

from __future__ import annotations

import pytest

from clickintent.settings import Settings


@pytest.fixture(scope="session")
def identity_worlds(tmp_path_factory) -> dict[str, Settings]:
    """The stitching world (tests/support/identity_worlds.py) built with identity_linking "login"
    (stitch window 30 days) and "off", each with the model stages' tables written from stand-ins."""
    from clickintent.features.dbt import run_dbt_build
    from clickintent.settings import load_settings
    from support.identity_worlds import write_stage_outputs, write_stitch_world

    built = {}
    for mode in ("login", "off"):
        data_dir = tmp_path_factory.mktemp(f"identity_{mode}") / "data"
        write_stitch_world(data_dir)
        settings = load_settings(environ={}, data_dir=data_dir, threads=1, identity_linking=mode)
        result = run_dbt_build(settings, quiet=True)
        assert result.success, result.summary()
        write_stage_outputs(settings)
        built[mode] = settings
    return built
