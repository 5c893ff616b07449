"""Credentials for a service started by the tests: two API keys and the login-signing key.

The service gets the keys' hashes (as an operator would configure it); the tests hold the keys.
"""

from __future__ import annotations

import json
import time

from clickintent.serving.auth import hash_api_key, sign_login_assertion

# A client backend allowed everything, including login pushes.
PUSH_KEY = "ck_test_push_5b1f0c9e2d7a4e3b"
# A client allowed to ask, not to write.
READ_KEY = "ck_test_read_93c2a8e1f4d6b07a"
ASSERTION_KEY = "test-identity-provider-key-7f3e2a91"


def service_auth_environment() -> dict[str, str]:
    """The environment that configures a served process with the two keys and the signing key."""
    keys = {
        "test-backend": {"sha256": hash_api_key(PUSH_KEY), "scopes": ["recommend", "push", "metrics"]},
        "test-reader": {"sha256": hash_api_key(READ_KEY), "scopes": ["recommend"]},
    }
    return {
        "CLICKINTENT_SERVING_AUTH": "api_keys",
        "CLICKINTENT_API_KEYS": json.dumps(keys),
        "CLICKINTENT_LOGIN_ASSERTION_KEY": ASSERTION_KEY,
    }


def auth_headers(key: str = PUSH_KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def login_assertion(customer_id: str, session_id: str, issued_at: int | None = None) -> str:
    """What the identity provider would send with this login."""
    return sign_login_assertion(ASSERTION_KEY, customer_id, session_id, int(time.time()) if issued_at is None else issued_at)
