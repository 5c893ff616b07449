"""Feast entities: what features are about. Identifiers are pseudonymous strings."""

from feast import Entity, ValueType

# A web session on the public site: 30 minutes of inactivity per anonymous visitor ends it
# (dbt model int_sessionized_events). Same key space as `session`, web rows only.
web_session = Entity(
    name="web_session",
    join_keys=["web_session_id"],
    value_type=ValueType.STRING,
    description="A web session (30-minute inactivity rule per anonymous_id).",
)

# Any session, web or app; the encoder embeds both into one platform-agnostic space.
session = Entity(
    name="session",
    join_keys=["session_id"],
    value_type=ValueType.STRING,
    description="A web or app session (platform says which).",
)

# An authenticated customer (pseudonymous key). Web sessions reach a customer only through a
# login inside the session (dbt model fct_web_login_links).
customer = Entity(
    name="customer",
    join_keys=["customer_id"],
    value_type=ValueType.STRING,
    description="A customer, by pseudonymous customer key.",
)

# A catalog product (dbt model dim_products).
product = Entity(
    name="product",
    join_keys=["product_id"],
    value_type=ValueType.STRING,
    description="A catalog product.",
)

# A visitor: one cookie on the public site or one app device, keyed '<platform>:<anonymous_id>'
# (dbt macro visitor_id; clickintent.features.visitors.visitor_id online). Keyed by the cookie,
# not by a customer: a visitor's journey needs no identity link (dbt model fct_visitor_journeys).
visitor = Entity(
    name="visitor",
    join_keys=["visitor_id"],
    value_type=ValueType.STRING,
    description="A cookie (web) or app device, by '<platform>:<anonymous_id>'.",
)
