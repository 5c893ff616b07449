"""Feast feature services: the versioned feature sets each model is trained and served with.

A model records the service it was trained on in its model card; serving fetches the same
service, so training and serving read the same features. A new feature set is a new version
(tile_ranker_v2), never an edit of a service a deployed model depends on.

Two tasks, two label tables: the tile ranker joins on (customer, product) rows of
fct_tile_impressions, the conversion model on customer rows of fct_conversion_labels (no
product). Each ablation row of the evaluation is one feature service per
task (clickintent.ranker.ablation), so the report's table is regenerated from exactly these:

    a  production baseline: app-side customer profile (+ product attributes for tiles)
    b  a + teacher intent labels of the customer's linked web sessions
    c  a + distilled intent labels (the online classifier's)
    d  a + session embeddings of linked web sessions (self-supervised encoder)
    e  a + embeddings + distilled labels
    f  a + the dbt 30-day web aggregates (counts and taxonomy shares; no model involved)
    g  e + f: everything that can be served online

The in-app rows read the customer's own app sessions (the app's sign-in, no link from the web;
the same in the identity-free mode), which meet the web only in the shared intent space:

    h  a + the recency-weighted embedding of the customer's app sessions
    i  a + in-app embedding + in-app distilled labels
    j  i + the linked web features of row e (identity: login link, stitched journeys)
    l  a + the dbt 30-day in-app aggregates (counts, taxonomy shares; no model), apart from i so
       that i tests the paper's two outputs alone, as e does for the web
    m  i + l: everything identity-free
    n  g + i: everything servable online from both platforms (linked web and in-app)
    k  no service of its own: the identity-free row (h, i, l, m) best on validation, per task

Projections (`view[["col", ...]]`) pick one representation per row, so that rows differ in
exactly the representation they test; `n_linked_web_sessions`, present in two views, is left
out of all of them (the dbt aggregates carry session counts in row f), and so is
`n_app_sessions` of the in-app embedding view (row l carries `n_app_sessions_30d`).
"""

from feast import FeatureService

from clickintent.feast_repo.feature_views import (
    customer_app_embedding_fv,
    customer_app_intent_fv,
    customer_profile_fv,
    customer_web_embedding_fv,
    customer_web_intent_fv,
    customer_web_intent_labels_fv,
    product_features_fv,
    session_embedding_fv,
    session_intent_fv,
    visitor_journey_embedding_fv,
    visitor_journey_fv,
    web_session_stats_fv,
)

# The column subsets every row shares or tests. Plain lists, projected per service below.
TEACHER_LABEL_COLUMNS = ["web_teacher_top_node_id", "web_teacher_top_node_dist"]
DISTILLED_LABEL_COLUMNS = ["web_distilled_top_node_id", "web_distilled_top_node_probs"]
EMBEDDING_COLUMNS = ["web_embedding"]
APP_EMBEDDING_COLUMNS = ["app_embedding"]
APP_EMBEDDING_AND_LABEL_COLUMNS = ["app_embedding", "app_distilled_top_node_probs"]

# ---- homepage tile ranking: one row per (impression, tile) ---------------------------------

# (a) The production baseline: what the app knows without the website. Who the customer is and
# holds, and what the candidate product is.
tile_ranker_a_baseline = FeatureService(
    name="tile_ranker_a_baseline",
    features=[customer_profile_fv, product_features_fv],
    description="Ablation (a): customer profile and product attributes only (app-side baseline).",
    tags={"task": "tile_ranking", "ablation_row": "a_baseline"},
)

# (b) Baseline + the teacher's intent labels (LLM or offline backend) of linked web sessions.
tile_ranker_b_teacher_labels = FeatureService(
    name="tile_ranker_b_teacher_labels",
    features=[customer_profile_fv, product_features_fv, customer_web_intent_labels_fv[TEACHER_LABEL_COLUMNS]],
    description="Ablation (b): baseline + teacher intent labels of the customer's linked web sessions.",
    tags={"task": "tile_ranking", "ablation_row": "b_teacher_labels"},
)

# (c) Baseline + the distilled classifier's labels: what serving can compute per live session.
tile_ranker_c_distilled_labels = FeatureService(
    name="tile_ranker_c_distilled_labels",
    features=[customer_profile_fv, product_features_fv, customer_web_intent_labels_fv[DISTILLED_LABEL_COLUMNS]],
    description="Ablation (c): baseline + distilled intent labels of the customer's linked web sessions.",
    tags={"task": "tile_ranking", "ablation_row": "c_distilled_labels"},
)

# (d) Baseline + the recency-weighted session embedding of linked web sessions.
tile_ranker_d_embedding = FeatureService(
    name="tile_ranker_d_embedding",
    features=[customer_profile_fv, product_features_fv, customer_web_embedding_fv[EMBEDDING_COLUMNS]],
    description="Ablation (d): baseline + session embedding of the customer's linked web sessions.",
    tags={"task": "tile_ranking", "ablation_row": "d_embedding"},
)

# (e) Baseline + embedding + distilled labels: both of the paper's outputs.
tile_ranker_e_embedding_and_labels = FeatureService(
    name="tile_ranker_e_embedding_and_labels",
    features=[
        customer_profile_fv,
        product_features_fv,
        customer_web_embedding_fv[EMBEDDING_COLUMNS],
        customer_web_intent_labels_fv[DISTILLED_LABEL_COLUMNS],
    ],
    description="Ablation (e): baseline + session embedding + distilled intent labels.",
    tags={"task": "tile_ranking", "ablation_row": "e_embedding_and_labels"},
)

# (f) Baseline + dbt's 30-day aggregates of linked web sessions (counts, taxonomy shares): web
# behaviour mapped through the taxonomy page map in SQL, with no learned model.
tile_ranker_f_web_aggregates = FeatureService(
    name="tile_ranker_f_web_aggregates",
    features=[customer_profile_fv, product_features_fv, customer_web_intent_fv],
    description="Ablation (f): baseline + dbt 30-day web aggregates (counts and taxonomy shares).",
    tags={"task": "tile_ranking", "ablation_row": "f_web_aggregates"},
)

# (g) Everything servable online: embedding, distilled labels and the dbt aggregates.
tile_ranker_g_all_online = FeatureService(
    name="tile_ranker_g_all_online",
    features=[
        customer_profile_fv,
        product_features_fv,
        customer_web_embedding_fv[EMBEDDING_COLUMNS],
        customer_web_intent_labels_fv[DISTILLED_LABEL_COLUMNS],
        customer_web_intent_fv,
    ],
    description="Ablation (g): (e) + dbt 30-day web aggregates.",
    tags={"task": "tile_ranking", "ablation_row": "g_all_online"},
)

# (h) Baseline + the recency-weighted embedding of the customer's own app sessions: in-app
# intent with no identity link, in the encoder's one space for web and app.
tile_ranker_h_app_embedding = FeatureService(
    name="tile_ranker_h_app_embedding",
    features=[customer_profile_fv, product_features_fv, customer_app_embedding_fv[APP_EMBEDDING_COLUMNS]],
    description="Ablation (h): baseline + the embedding of the customer's app sessions.",
    tags={"task": "tile_ranking", "ablation_row": "h_app_embedding", "identity_free": "true"},
)

# (i) + the distilled classifier's labels of those app sessions: both of the paper's outputs, in-app.
tile_ranker_i_app_embedding_and_labels = FeatureService(
    name="tile_ranker_i_app_embedding_and_labels",
    features=[customer_profile_fv, product_features_fv, customer_app_embedding_fv[APP_EMBEDDING_AND_LABEL_COLUMNS]],
    description="Ablation (i): baseline + in-app embedding + in-app distilled intent labels.",
    tags={"task": "tile_ranking", "ablation_row": "i_app_embedding_and_labels", "identity_free": "true"},
)

# (j) (i) + the linked web features of row (e): what the login link (with stitched journeys) adds
# on top of in-app intent.
_TILE_APP_AND_LINKED_WEB = (
    customer_profile_fv,
    product_features_fv,
    customer_app_embedding_fv[APP_EMBEDDING_AND_LABEL_COLUMNS],
    customer_web_embedding_fv[EMBEDDING_COLUMNS],
    customer_web_intent_labels_fv[DISTILLED_LABEL_COLUMNS],
)
tile_ranker_j_app_and_linked_web = FeatureService(
    name="tile_ranker_j_app_and_linked_web",
    features=list(_TILE_APP_AND_LINKED_WEB),
    description="Ablation (j): (i) + linked web embedding and distilled labels (login link, stitched journeys).",
    tags={"task": "tile_ranking", "ablation_row": "j_app_and_linked_web"},
)

# (l) Baseline + dbt's 30-day in-app aggregates (counts, taxonomy shares; no learned model).
tile_ranker_l_app_aggregates = FeatureService(
    name="tile_ranker_l_app_aggregates",
    features=[customer_profile_fv, product_features_fv, customer_app_intent_fv],
    description="Ablation (l): baseline + dbt 30-day in-app aggregates (counts and taxonomy shares).",
    tags={"task": "tile_ranking", "ablation_row": "l_app_aggregates", "identity_free": "true"},
)

# (m) (i) + (l): every identity-free customer feature.
tile_ranker_m_app_all = FeatureService(
    name="tile_ranker_m_app_all",
    features=[customer_profile_fv, product_features_fv, customer_app_embedding_fv[APP_EMBEDDING_AND_LABEL_COLUMNS], customer_app_intent_fv],
    description="Ablation (m): (i) + (l), every identity-free customer feature.",
    tags={"task": "tile_ranking", "ablation_row": "m_app_all", "identity_free": "true"},
)

# (n) (g) + (i): everything servable online from both platforms, the linked web (embedding,
# labels, dbt aggregates) beside the customer's own app sessions (embedding, labels).
tile_ranker_n_both_platforms = FeatureService(
    name="tile_ranker_n_both_platforms",
    features=[
        customer_profile_fv,
        product_features_fv,
        customer_web_embedding_fv[EMBEDDING_COLUMNS],
        customer_web_intent_labels_fv[DISTILLED_LABEL_COLUMNS],
        customer_web_intent_fv,
        customer_app_embedding_fv[APP_EMBEDDING_AND_LABEL_COLUMNS],
    ],
    description="Ablation (n): (g) + (i), every feature servable online from both platforms.",
    tags={"task": "tile_ranking", "ablation_row": "n_both_platforms"},
)

# The union of the tile ablation rows' features, fetched once per evaluation run; each row then
# reads only its own service's columns (the same point-in-time values a separate fetch gives:
# Feast joins every feature view independently).
tile_ranker_ablation_all = FeatureService(
    name="tile_ranker_ablation_all",
    features=[
        customer_profile_fv,
        product_features_fv,
        customer_web_embedding_fv[EMBEDDING_COLUMNS],
        customer_web_intent_labels_fv[TEACHER_LABEL_COLUMNS + DISTILLED_LABEL_COLUMNS],
        customer_web_intent_fv,
        customer_app_embedding_fv[APP_EMBEDDING_AND_LABEL_COLUMNS],
        customer_app_intent_fv,
    ],
    description="Union of the tile ablation rows (a-m), fetched once per evaluation.",
    tags={"task": "tile_ranking", "ablation_row": "all"},
)

# The first production tile ranker, kept for the models trained on it: the features of ablation
# row (e), the paper's pairing of session embedding and distilled intent labels of linked web
# sessions. Superseded by tile_ranker_v2 (a new service, not an edit of this one).
tile_ranker_v1 = FeatureService(
    name="tile_ranker_v1",
    features=[
        customer_profile_fv,
        product_features_fv,
        customer_web_embedding_fv[EMBEDDING_COLUMNS],
        customer_web_intent_labels_fv[DISTILLED_LABEL_COLUMNS],
    ],
    description="Tile ranker inputs: customer profile, product attributes, web session embedding, distilled web intent.",
    tags={"task": "tile_ranking", "superseded_by": "tile_ranker_v2", "ablation_row": "e_embedding_and_labels"},
)

# The production tile ranker since the in-app features: the features of ablation row (j), picked
# by the rule row (k) picks by (the figures: docs/measurements.md, "Production v2 services"). A
# signed-in app session joins the in-app embedding and labels live (serving/recommender.py), a web
# session the linked-web ones; in the identity-free mode the linked-web columns are empty in
# training and dropped in serving, which leaves row (i). Its own service, so that a later edit of
# the row does not change what the deployed model reads.
tile_ranker_v2 = FeatureService(
    name="tile_ranker_v2",
    features=list(_TILE_APP_AND_LINKED_WEB),
    description="Tile ranker inputs: customer profile, product attributes, in-app embedding and intent, linked web embedding and intent.",
    tags={"task": "tile_ranking", "production": "true", "ablation_row": tile_ranker_j_app_and_linked_web.tags["ablation_row"]},
)

# ---- conversion within 14 days by product family: one row per customer observation ---------

# (a) The production baseline: customer profile only.
conversion_a_baseline = FeatureService(
    name="conversion_a_baseline",
    features=[customer_profile_fv],
    description="Ablation (a): customer profile only (app-side baseline).",
    tags={"task": "conversion", "ablation_row": "a_baseline"},
)

# (b) Baseline + teacher intent labels.
conversion_b_teacher_labels = FeatureService(
    name="conversion_b_teacher_labels",
    features=[customer_profile_fv, customer_web_intent_labels_fv[TEACHER_LABEL_COLUMNS]],
    description="Ablation (b): baseline + teacher intent labels of the customer's linked web sessions.",
    tags={"task": "conversion", "ablation_row": "b_teacher_labels"},
)

# (c) Baseline + distilled intent labels.
conversion_c_distilled_labels = FeatureService(
    name="conversion_c_distilled_labels",
    features=[customer_profile_fv, customer_web_intent_labels_fv[DISTILLED_LABEL_COLUMNS]],
    description="Ablation (c): baseline + distilled intent labels of the customer's linked web sessions.",
    tags={"task": "conversion", "ablation_row": "c_distilled_labels"},
)

# (d) Baseline + session embedding.
conversion_d_embedding = FeatureService(
    name="conversion_d_embedding",
    features=[customer_profile_fv, customer_web_embedding_fv[EMBEDDING_COLUMNS]],
    description="Ablation (d): baseline + session embedding of the customer's linked web sessions.",
    tags={"task": "conversion", "ablation_row": "d_embedding"},
)

# (e) Baseline + embedding + distilled labels.
conversion_e_embedding_and_labels = FeatureService(
    name="conversion_e_embedding_and_labels",
    features=[
        customer_profile_fv,
        customer_web_embedding_fv[EMBEDDING_COLUMNS],
        customer_web_intent_labels_fv[DISTILLED_LABEL_COLUMNS],
    ],
    description="Ablation (e): baseline + session embedding + distilled intent labels.",
    tags={"task": "conversion", "ablation_row": "e_embedding_and_labels"},
)

# (f) Baseline + dbt 30-day web aggregates.
conversion_f_web_aggregates = FeatureService(
    name="conversion_f_web_aggregates",
    features=[customer_profile_fv, customer_web_intent_fv],
    description="Ablation (f): baseline + dbt 30-day web aggregates (counts and taxonomy shares).",
    tags={"task": "conversion", "ablation_row": "f_web_aggregates"},
)

# (g) Everything servable online.
conversion_g_all_online = FeatureService(
    name="conversion_g_all_online",
    features=[
        customer_profile_fv,
        customer_web_embedding_fv[EMBEDDING_COLUMNS],
        customer_web_intent_labels_fv[DISTILLED_LABEL_COLUMNS],
        customer_web_intent_fv,
    ],
    description="Ablation (g): (e) + dbt 30-day web aggregates.",
    tags={"task": "conversion", "ablation_row": "g_all_online"},
)

# (h) Baseline + the recency-weighted embedding of the customer's own app sessions: in-app
# intent with no identity link, in the encoder's one space for web and app.
conversion_h_app_embedding = FeatureService(
    name="conversion_h_app_embedding",
    features=[customer_profile_fv, customer_app_embedding_fv[APP_EMBEDDING_COLUMNS]],
    description="Ablation (h): baseline + the embedding of the customer's app sessions.",
    tags={"task": "conversion", "ablation_row": "h_app_embedding", "identity_free": "true"},
)

# (i) + the distilled classifier's labels of those app sessions: both of the paper's outputs, in-app.
conversion_i_app_embedding_and_labels = FeatureService(
    name="conversion_i_app_embedding_and_labels",
    features=[customer_profile_fv, customer_app_embedding_fv[APP_EMBEDDING_AND_LABEL_COLUMNS]],
    description="Ablation (i): baseline + in-app embedding + in-app distilled intent labels.",
    tags={"task": "conversion", "ablation_row": "i_app_embedding_and_labels", "identity_free": "true"},
)

# (j) (i) + the linked web features of row (e): what the login link (with stitched journeys) adds
# on top of in-app intent.
conversion_j_app_and_linked_web = FeatureService(
    name="conversion_j_app_and_linked_web",
    features=[
        customer_profile_fv,
        customer_app_embedding_fv[APP_EMBEDDING_AND_LABEL_COLUMNS],
        customer_web_embedding_fv[EMBEDDING_COLUMNS],
        customer_web_intent_labels_fv[DISTILLED_LABEL_COLUMNS],
    ],
    description="Ablation (j): (i) + linked web embedding and distilled labels (login link, stitched journeys).",
    tags={"task": "conversion", "ablation_row": "j_app_and_linked_web"},
)

# (l) Baseline + dbt's 30-day in-app aggregates (counts, taxonomy shares; no learned model).
conversion_l_app_aggregates = FeatureService(
    name="conversion_l_app_aggregates",
    features=[customer_profile_fv, customer_app_intent_fv],
    description="Ablation (l): baseline + dbt 30-day in-app aggregates (counts and taxonomy shares).",
    tags={"task": "conversion", "ablation_row": "l_app_aggregates", "identity_free": "true"},
)

# (m) (i) + (l): every identity-free customer feature.
conversion_m_app_all = FeatureService(
    name="conversion_m_app_all",
    features=[customer_profile_fv, customer_app_embedding_fv[APP_EMBEDDING_AND_LABEL_COLUMNS], customer_app_intent_fv],
    description="Ablation (m): (i) + (l), every identity-free customer feature.",
    tags={"task": "conversion", "ablation_row": "m_app_all", "identity_free": "true"},
)

# (n) (g) + (i): everything servable online from both platforms.
_CONVERSION_BOTH_PLATFORMS = (
    customer_profile_fv,
    customer_web_embedding_fv[EMBEDDING_COLUMNS],
    customer_web_intent_labels_fv[DISTILLED_LABEL_COLUMNS],
    customer_web_intent_fv,
    customer_app_embedding_fv[APP_EMBEDDING_AND_LABEL_COLUMNS],
)
conversion_n_both_platforms = FeatureService(
    name="conversion_n_both_platforms",
    features=list(_CONVERSION_BOTH_PLATFORMS),
    description="Ablation (n): (g) + (i), every feature servable online from both platforms.",
    tags={"task": "conversion", "ablation_row": "n_both_platforms"},
)

# The union of the conversion ablation rows' features, fetched once per evaluation run.
conversion_ablation_all = FeatureService(
    name="conversion_ablation_all",
    features=[
        customer_profile_fv,
        customer_web_embedding_fv[EMBEDDING_COLUMNS],
        customer_web_intent_labels_fv[TEACHER_LABEL_COLUMNS + DISTILLED_LABEL_COLUMNS],
        customer_web_intent_fv,
        customer_app_embedding_fv[APP_EMBEDDING_AND_LABEL_COLUMNS],
        customer_app_intent_fv,
    ],
    description="Union of the conversion ablation rows (a-m), fetched once per evaluation.",
    tags={"task": "conversion", "ablation_row": "all"},
)

# The first production conversion model, kept for the models trained on it: the features of
# ablation row (g), linked web embedding and distilled labels plus the dbt 30-day web aggregates.
# Superseded by conversion_v2.
conversion_v1 = FeatureService(
    name="conversion_v1",
    features=[
        customer_profile_fv,
        customer_web_embedding_fv[EMBEDDING_COLUMNS],
        customer_web_intent_labels_fv[DISTILLED_LABEL_COLUMNS],
        customer_web_intent_fv,
    ],
    description="Conversion model inputs: customer profile, web embedding, distilled intent, 30-day web aggregates.",
    tags={"task": "conversion", "superseded_by": "conversion_v2", "ablation_row": "g_all_online"},
)

# The production conversion model since the in-app features: the features of ablation row (n),
# everything servable online from both platforms, picked by the rule row (k) picks by
# (ranker.ablation.SELECTION_METRIC; the figures: docs/measurements.md, "Production v2 services").
conversion_v2 = FeatureService(
    name="conversion_v2",
    features=list(_CONVERSION_BOTH_PLATFORMS),
    description="Conversion model inputs: customer profile, linked web embedding, intent and 30-day aggregates, in-app embedding and intent.",
    tags={"task": "conversion", "production": "true", "ablation_row": conversion_n_both_platforms.tags["ablation_row"]},
)

# ---- anonymous visitors: one row per (anonymous web session, product family) ---------------
#
# The anonymous-visitor ranker (clickintent.ranker.anonymous_model) answers a visitor without a
# login from the session alone. Entity rows are the sessions of fct_anonymous_session_outcomes,
# joined as of the session's end; the family is a column of the row, not a feature view. Its
# ablation (clickintent.ranker.anonymous_training):
#
#     a  popularity: each family's outcome rate in the training sessions (no features, no service)
#     b  the session's dbt aggregates (web_session_stats)
#     c  b + the session's distilled intent labels (session_intent)
#     d  c + the session embedding (session_embedding)
#     e  d + the visitor's 30-day journey (visitor_journey, visitor_journey_embedding)
#
# has_login and ends_in_login are false in every anonymous session, and the platform columns
# are always web: left out. The teacher's labels are not servable and are left out too.
SESSION_AGGREGATE_COLUMNS = [
    "n_events",
    "n_page_views",
    "n_clicks",
    "n_searches",
    "n_calculator_events",
    "n_form_starts",
    "n_form_submits",
    "n_product_events",
    "total_dwell_s",
    "mean_dwell_s",
    "median_dwell_s",
    "max_dwell_s",
    "depth",
    "duration_s",
    "device_type",
    "entry_page_path",
    "entry_source",
    "top_taxonomy_node_id",
    "top_taxonomy_node_share",
    "taxonomy_node_shares",
]
SESSION_LABEL_COLUMNS = [
    "distilled_intent_node_id",
    "distilled_intent_top_node_id",
    "distilled_intent_confidence",
    "distilled_intent_top_node_probs",
]
SESSION_EMBEDDING_COLUMNS = ["embedding"]
# The journey's platform is always web for a cookie: left out.
JOURNEY_COLUMNS = [
    "n_sessions_30d",
    "days_since_first_session_30d",
    "days_since_previous_session",
    "n_events_30d",
    "n_calculator_events_30d",
    "n_form_starts_30d",
    "n_form_submits_30d",
    "n_product_events_30d",
    "n_searches_30d",
    "taxonomy_node_shares_30d",
    "top_taxonomy_node_id_30d",
    "has_logged_in_before",
]

# (b) What dbt knows of the session: counts, dwell, depth, entry, taxonomy shares.
anonymous_b_session_aggregates = FeatureService(
    name="anonymous_b_session_aggregates",
    features=[web_session_stats_fv[SESSION_AGGREGATE_COLUMNS]],
    description="Anonymous ablation (b): the session's dbt aggregates.",
    tags={"task": "anonymous_ranking", "ablation_row": "b_session_aggregates"},
)

# (c) + the distilled classifier's labels of the session.
anonymous_c_distilled_labels = FeatureService(
    name="anonymous_c_distilled_labels",
    features=[web_session_stats_fv[SESSION_AGGREGATE_COLUMNS], session_intent_fv[SESSION_LABEL_COLUMNS]],
    description="Anonymous ablation (c): (b) + the session's distilled intent labels.",
    tags={"task": "anonymous_ranking", "ablation_row": "c_distilled_labels"},
)

# (d) + the session embedding: everything a live session gives without stored state.
anonymous_d_embedding = FeatureService(
    name="anonymous_d_embedding",
    features=[
        web_session_stats_fv[SESSION_AGGREGATE_COLUMNS],
        session_intent_fv[SESSION_LABEL_COLUMNS],
        session_embedding_fv[SESSION_EMBEDDING_COLUMNS],
    ],
    description="Anonymous ablation (d): (c) + the session embedding.",
    tags={"task": "anonymous_ranking", "ablation_row": "d_embedding"},
)

# (e) + the visitor's journey: its last 30 days of sessions up to this one (dbt aggregates) and
# their recency-weighted embedding and distilled labels. Each row's service holds the previous
# row's features, so this one is also the union the ablation fetches once per run.
anonymous_e_journey = FeatureService(
    name="anonymous_e_journey",
    features=[
        web_session_stats_fv[SESSION_AGGREGATE_COLUMNS],
        session_intent_fv[SESSION_LABEL_COLUMNS],
        session_embedding_fv[SESSION_EMBEDDING_COLUMNS],
        visitor_journey_fv[JOURNEY_COLUMNS],
        visitor_journey_embedding_fv,
    ],
    description="Anonymous ablation (e): (d) + the visitor's 30-day journey.",
    tags={"task": "anonymous_ranking", "ablation_row": "e_journey"},
)

# The first anonymous ranker: the features of row (d), all computable from the live session's
# events (aggregates by dbt's rules, the distilled classifier, the encoder). Kept for models that
# name it; the production one is v2.
anonymous_ranker_v1 = FeatureService(
    name="anonymous_ranker_v1",
    features=[
        web_session_stats_fv[SESSION_AGGREGATE_COLUMNS],
        session_intent_fv[SESSION_LABEL_COLUMNS],
        session_embedding_fv[SESSION_EMBEDDING_COLUMNS],
    ],
    description="Anonymous-visitor ranker inputs: the session's dbt aggregates, distilled intent labels and embedding.",
    tags={"task": "anonymous_ranking", "ablation_row": "d_embedding"},
)

# The production anonymous ranker uses this one: the features of row (e), the session and the
# visitor's 30-day journey, which the service reads from the online store by the cookie and adds
# the live session to (clickintent.serving.live_features.journey_row); the journey helps most in
# the ablation (docs/measurements.md, "Anonymous visitors"). A first visit has a journey of one session.
anonymous_ranker_v2 = FeatureService(
    name="anonymous_ranker_v2",
    features=[
        web_session_stats_fv[SESSION_AGGREGATE_COLUMNS],
        session_intent_fv[SESSION_LABEL_COLUMNS],
        session_embedding_fv[SESSION_EMBEDDING_COLUMNS],
        visitor_journey_fv[JOURNEY_COLUMNS],
        visitor_journey_embedding_fv,
    ],
    description="Anonymous-visitor ranker inputs: the session's aggregates, intent and embedding, and the visitor's 30-day journey.",
    tags={"task": "anonymous_ranking", "production": "true", "ablation_row": "e_journey"},
)
