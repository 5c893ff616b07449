"""Reason texts for the real features of the tile ranker and the conversion model.

Keys are the Feast feature names of the clickintent.feast_repo package (customer_profile,
product_features, customer_web_intent, customer_web_intent_labels, customer_web_embedding) and
the derived features of `layout`. Vector elements are `<feature>.<taxonomy top node id>`; a node id reads
as words (`mortgage_loan` -> "mortgage loan"). Texts must stay true for the value shown: a web
share only reads "researched X" from a share of 0.2 up (`min_value`); below that the text says
there was little interest, which is what raised the score then.

`{row[...]}` placeholders take another feature of the same row; when that feature is missing
the next, less specific template is used.
"""

from __future__ import annotations

from clickintent.ranker.reasons import ReasonTemplates

RESEARCHED_SHARE = 0.2  # a share of web activity (or an intent probability) that counts as research

FEATURE_REASON_TEMPLATES = ReasonTemplates()
_register = FEATURE_REASON_TEMPLATES.register

# ---- web intent: dbt 30-day aggregates of linked web sessions (customer_web_intent) ----------
_register(
    r"top_taxonomy_node_id_30d=(?P<node>.+)",
    "researched {node} on the web (web sessions in the last 30 days: {row[n_linked_sessions_30d]})",
)
_register(r"top_taxonomy_node_id_30d=(?P<node>.+)", "researched {node} on the web in the last 30 days")
_register(
    r"taxonomy_node_shares_30d\.(?P<node>[^=]+)",
    "researched {node} on the web (web sessions in the last 30 days: {row[n_linked_sessions_30d]})",
    min_value=RESEARCHED_SHARE,
)
_register(r"taxonomy_node_shares_30d\.(?P<node>[^=]+)", "researched {node} on the web in the last 30 days", min_value=RESEARCHED_SHARE)
_register(r"taxonomy_node_shares_30d\.(?P<node>[^=]+)", "little web activity on {node} in the last 30 days")
_register(r"top_taxonomy_node_share_30d", "focused web research: {value} of recent web activity on one topic", min_value=0.5)
_register(r"n_linked_sessions_30d", "logged-in web sessions in the last 30 days: {value}", min_value=1)
_register(r"n_calculator_events_30d", "used calculators on the web {value} times in the last 30 days", min_value=1)
_register(r"n_form_starts_30d", "started {value} applications on the web in the last 30 days", min_value=1)
_register(r"n_form_starts_30d", "no application started on the web in the last 30 days")
_register(r"n_form_submits_30d", "submitted {value} applications on the web in the last 30 days", min_value=1)
_register(r"n_searches_30d", "searched the website {value} times in the last 30 days", min_value=1)
_register(r"n_product_events_30d", "looked at product pages {value} times on the web in the last 30 days", min_value=1)
_register(r"n_page_views_30d", "viewed {value} web pages in the last 30 days", min_value=1)
_register(r"n_events_30d", "{value} web interactions in the last 30 days", min_value=1)
_register(r"total_dwell_s_30d", "spent {value} seconds reading the website in the last 30 days", min_value=1)
_register(r"mean_session_duration_s_30d", "web visits of {value} seconds on average in the last 30 days", min_value=1)
_register(r"max_session_depth_30d", "explored up to {value} pages in one web visit in the last 30 days", min_value=1)
_register(r"active_span_days_30d", "has been researching on the web for {value} days", min_value=1)

# ---- web intent: labels of linked web sessions (customer_web_intent_labels) ------------------
_register(r"web_distilled_top_node_id=(?P<node>.+)", "latest web visit was about {node}")
_register(
    r"web_distilled_top_node_probs\.(?P<node>[^=]+)",
    "researched {node} on the web recently (intent of linked web sessions)",
    min_value=RESEARCHED_SHARE,
)
_register(r"web_distilled_top_node_probs\.(?P<node>[^=]+)", "little recent web interest in {node}")
_register(r"web_teacher_top_node_id=(?P<node>.+)", "latest web visit was about {node}")
_register(
    r"web_teacher_top_node_dist\.(?P<node>[^=]+)",
    "researched {node} on the web recently (intent of linked web sessions)",
    min_value=RESEARCHED_SHARE,
)
_register(r"web_teacher_top_node_dist\.(?P<node>[^=]+)", "little recent web interest in {node}")

# ---- web intent: session embedding of linked web sessions (customer_web_embedding) -----------
_register(
    r"web_embedding",
    "recent web browsing resembles customers who chose this (web sessions in the last 30 days: {row[n_linked_sessions_30d]})",
)
_register(r"web_embedding", "recent web browsing resembles customers who chose this")

# ---- in-app intent of the customer's own app sessions (customer_app_intent, customer_app_embedding)
_register(r"app_top_taxonomy_node_id_30d=(?P<node>.+)", "used the app most for {node} in the last 30 days")
_register(r"app_taxonomy_node_shares_30d\.(?P<node>[^=]+)", "used the app for {node} in the last 30 days", min_value=RESEARCHED_SHARE)
_register(r"app_taxonomy_node_shares_30d\.(?P<node>[^=]+)", "little app activity on {node} in the last 30 days")
_register(r"n_app_sessions_30d", "app sessions in the last 30 days: {value}", min_value=1)
_register(r"n_app_events_30d", "{value} app interactions in the last 30 days", min_value=1)
_register(r"n_app_calculator_events_30d", "used calculators in the app {value} times in the last 30 days", min_value=1)
_register(r"n_app_form_starts_30d", "started {value} applications in the app in the last 30 days", min_value=1)
_register(r"n_app_form_starts_30d", "no application started in the app in the last 30 days")
_register(r"n_app_form_submits_30d", "submitted {value} applications in the app in the last 30 days", min_value=1)
_register(
    r"app_distilled_top_node_probs\.(?P<node>[^=]+)", "recent app use was about {node} (intent of app sessions)", min_value=RESEARCHED_SHARE
)
_register(r"app_distilled_top_node_probs\.(?P<node>[^=]+)", "little recent app interest in {node}")
_register(
    r"app_embedding", "recent app use resembles customers who chose this (app sessions in the last 30 days: {row[n_app_sessions_30d]})"
)
_register(r"app_embedding", "recent app use resembles customers who chose this")

# ---- the candidate product (product_features, derived) --------------------------------------
_register(r"holds_candidate_product=no", "does not hold this product yet")
_register(r"holds_candidate_product=yes", "already holds this product")
_register(r"holds_candidate_family=no", "has no {row[product_family]} product with us yet")
_register(r"holds_candidate_family=no", "has no product of this kind with us yet")
_register(r"holds_candidate_family=yes", "already banks with us for {row[product_family]}")
_register(r"product_id=(?P<product>.+)", "a popular choice with customers")
_register(r"product_family=(?P<family>.+)", "from our {family} range")
_register(r"product_category=(?P<category>.+)", "one of our {category} products")
_register(r"target_segment=(?P<segment>.+)", "designed for {segment} customers")
_register(r"annual_fee_usd=0", "no annual fee")
_register(r"annual_fee_usd", "annual fee of ${value}")
_register(r"interest_rate_pct", "rate of {value}%")
_register(r"min_opening_usd=0", "no minimum to open")
_register(r"min_opening_usd", "opens from ${value}")
_register(r"complexity=1", "opens in minutes")
_register(r"complexity", "complexity level {value} of 3")

# ---- the customer (customer_profile) --------------------------------------------------------
_register(r"held_product_families\.(?P<family>[^=]+)=yes", "already holds {family} products with us")
_register(r"held_product_families\.(?P<family>[^=]+)=no", "holds no {family} products with us yet")
_register(r"customer_segment=(?P<segment>.+)", "in the {segment} customer segment")
_register(r"age_band", "in the {value} age band")
_register(r"tenure_months", "a customer for {value} months")
_register(r"total_balance_usd", "balances of ${value}")
_register(r"n_held_products", "holds {value} of our products")
_register(r"n_conversions_before_snapshot=0", "has not opened a product with us recently")
_register(r"n_conversions_before_snapshot", "opened {value} products with us before")
