"""API keys, rate buckets and login assertions as units (the middleware is tested over HTTP in
test_serving_service.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from clickintent.serving.auth import ApiKeys, LoginAssertions, check_auth_settings, hash_api_key, sign_login_assertion
from clickintent.settings import ApiKeySetting, SettingsError, load_settings


def _keys(clock) -> ApiKeys:
    return ApiKeys(
        {
            "backend": ApiKeySetting(sha256=hash_api_key("secret-a"), scopes=("recommend", "push"), requests_per_second=2, burst=3),
            "reader": ApiKeySetting(sha256=hash_api_key("secret-b")),
        },
        clock=clock,
    )


def test_a_key_is_known_by_its_hash_and_carries_its_scopes() -> None:
    keys = _keys(lambda: 0.0)
    backend = keys.authenticate("secret-a")
    assert backend is not None and backend.key_id == "backend" and backend.may("push") and not backend.may("metrics")
    reader = keys.authenticate("secret-b")
    assert reader is not None and reader.scopes == frozenset({"recommend"})
    assert keys.authenticate("secret-c") is None and keys.authenticate("") is None


def test_the_rate_bucket_allows_the_burst_then_the_rate() -> None:
    now = [100.0]
    keys = _keys(lambda: now[0])
    caller = keys.authenticate("secret-a")
    assert [keys.wait_before(caller) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert keys.wait_before(caller) == pytest.approx(0.5)
    now[0] += 0.5
    assert keys.wait_before(caller) == 0.0


def test_assertions_verify_only_for_their_customer_session_and_time() -> None:
    key = "a-key-shared-with-the-idp"
    now = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    issued = int(now.timestamp())
    assertions = LoginAssertions(key, max_age_seconds=300, skew_seconds=60)
    good = sign_login_assertion(key, "c_1", "s_1", issued)
    assert assertions.refusal(good, "c_1", "s_1", now) is None
    assert "does not verify" in assertions.refusal(good, "c_2", "s_1", now)
    assert "does not verify" in assertions.refusal(good, "c_1", "s_2", now)
    assert "does not verify" in assertions.refusal(sign_login_assertion("another-key-entirely", "c_1", "s_1", issued), "c_1", "s_1", now)
    assert "expired" in assertions.refusal(sign_login_assertion(key, "c_1", "s_1", issued - 301), "c_1", "s_1", now)
    assert "future" in assertions.refusal(sign_login_assertion(key, "c_1", "s_1", issued + 61), "c_1", "s_1", now)
    assert "not in the form" in assertions.refusal("v2:1:ab", "c_1", "s_1", now)


def test_keys_come_from_json_in_the_environment_and_bad_ones_are_named_without_their_values() -> None:
    keys = {"app": {"sha256": hash_api_key("k"), "scopes": ["recommend", "push"]}}
    settings = load_settings({"CLICKINTENT_API_KEYS": json.dumps(keys)})
    assert settings.api_keys["app"].scopes == ("recommend", "push")
    with pytest.raises(SettingsError) as error:
        load_settings({"CLICKINTENT_API_KEYS": json.dumps({"app": {"sha256": "plain-text-key", "scopes": ["recommend"]}})})
    assert "CLICKINTENT_API_KEYS" in str(error.value) or "api_keys" in str(error.value)
    assert "plain-text-key" not in str(error.value)
    with pytest.raises(SettingsError, match="scopes"):
        load_settings({"CLICKINTENT_API_KEYS": json.dumps({"app": {"sha256": hash_api_key("k"), "scopes": ["admin"]}})})


def test_serving_with_required_keys_and_none_configured_is_refused() -> None:
    with pytest.raises(ValueError, match="no api_keys are configured"):
        check_auth_settings(load_settings({}))
    check_auth_settings(load_settings({"CLICKINTENT_SERVING_AUTH": "open"}))
