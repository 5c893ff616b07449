"""The identity_linking setting: default, environment variable, config file, a clear error, and the dbt var."""

from __future__ import annotations

import pytest

from clickintent.features.dbt import _dbt_args, dbt_vars
from clickintent.settings import SettingsError, load_settings


def test_default_links_by_login_and_the_environment_switches_it_off(tmp_path) -> None:
    assert load_settings(environ={}, data_dir=tmp_path).identity_linking == "login"
    off = load_settings(environ={"CLICKINTENT_IDENTITY_LINKING": "off"}, data_dir=tmp_path)
    assert off.identity_linking == "off"
    assert dbt_vars(off) == {"session_timeout_minutes": 30, "identity_linking": "off", "stitch_window_days": 30, "source_shape": "contract"}
    args = _dbt_args(off, "build")
    assert '"identity_linking": "off"' in args[args.index("--vars") + 1]
    # an argument wins over the environment, as for every setting
    assert load_settings(environ={"CLICKINTENT_IDENTITY_LINKING": "off"}, identity_linking="login").identity_linking == "login"


def test_config_file_sets_it(tmp_path) -> None:
    config = tmp_path / "clickintent.toml"
    config.write_text('[clickintent]\nidentity_linking = "off"\n')
    assert load_settings(environ={"CLICKINTENT_CONFIG": str(config)}).identity_linking == "off"


@pytest.mark.parametrize("value", ["none", "OFF", "false", "stitch"])
def test_a_bad_value_is_a_clear_error_naming_the_variable(value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(environ={"CLICKINTENT_IDENTITY_LINKING": value})
    message = str(caught.value)
    assert f"environment variable CLICKINTENT_IDENTITY_LINKING = {value!r}" in message
    assert "'login' or 'off'" in message


def test_a_bad_value_from_the_config_file_names_the_file(tmp_path) -> None:
    config = tmp_path / "clickintent.toml"
    config.write_text('identity_linking = "anonymous"\n')
    with pytest.raises(SettingsError, match=rf"identity_linking in {config} = 'anonymous'"):
        load_settings(environ={"CLICKINTENT_CONFIG": str(config)})


def test_an_api_key_is_never_repeated_in_an_error() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(environ={"OPENAI_API_KEY": "sk-secret", "CLICKINTENT_THREADS": "many"}, llm_api_key=["not", "a", "string"])
    message = str(caught.value)
    assert "argument llm_api_key = (hidden)" in message and "'not'" not in message and "sk-secret" not in message
    assert "environment variable CLICKINTENT_THREADS = 'many'" in str(caught.value)


def test_stitch_window_days_defaults_to_30_and_reaches_dbt(tmp_path) -> None:
    assert load_settings(environ={}, data_dir=tmp_path).stitch_window_days == 30
    settings = load_settings(environ={"CLICKINTENT_STITCH_WINDOW_DAYS": "7"}, data_dir=tmp_path)
    assert settings.stitch_window_days == 7
    args = _dbt_args(settings, "build")
    assert '"stitch_window_days": 7' in args[args.index("--vars") + 1]
    with pytest.raises(SettingsError, match="environment variable CLICKINTENT_STITCH_WINDOW_DAYS = '-1'"):
        load_settings(environ={"CLICKINTENT_STITCH_WINDOW_DAYS": "-1"})
