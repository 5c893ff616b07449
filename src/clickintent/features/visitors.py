"""The visitor entity's key, for code that meets a visitor outside dbt (the live service, tests).

A visitor is one cookie on the public site or one app device: `'<platform>:<anonymous_id>'`,
prefixed because a source's cookie and device ids may come from one id space. The dbt macro
`visitor_id` (dbt_project/macros/visitor_id.sql) is the batch twin; a test holds the two equal.
"""

from __future__ import annotations

PLATFORMS = ("web", "app")


def visitor_id(platform: str, anonymous_id: str) -> str:
    """The visitor key of a cookie (platform 'web') or device ('app')."""
    if platform not in PLATFORMS:
        raise ValueError(f"platform must be one of {PLATFORMS}, got {platform!r}")
    if not isinstance(anonymous_id, str) or not anonymous_id:
        raise ValueError(f"anonymous_id must be a non-empty string, got {anonymous_id!r}")
    return f"{platform}:{anonymous_id}"
