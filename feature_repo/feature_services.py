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

Projections (`view[["col", ...]]`) pick one representation per row, so that rows differ in
exactly the representation they test; `n_linked_web_sessions`, present in two views, is left
out of all of them (the dbt aggregates carry session counts in row f).
"""

from feast import FeatureService
from feature_views import (
    customer_profile_fv,
    customer_web_embedding_fv,
    customer_web_intent_fv,
    customer_web_intent_labels_fv,
    product_features_fv,
)

# The column subsets every row shares or tests. Plain lists, projected per service below.
TEACHER_LABEL_COLUMNS = ["web_teacher_top_node_id", "web_teacher_top_node_dist"]
DISTILLED_LABEL_COLUMNS = ["web_distilled_top_node_id", "web_distilled_top_node_probs"]
EMBEDDING_COLUMNS = ["web_embedding"]

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
    ],
    description="Union of the tile ablation rows (a-g), fetched once per evaluation.",
    tags={"task": "tile_ranking", "ablation_row": "all"},
)

# The production tile ranker (and the BentoML service) use this one: the features of ablation
# row (e), the paper's pairing of session embedding and distilled intent labels, both of which
# the service can compute for a live session (encoder, distilled classifier). The ablation
# report shows how it compares with the other rows on the current data; a different choice is a
# new service (tile_ranker_v2), not an edit of this one.
tile_ranker_v1 = FeatureService(
    name="tile_ranker_v1",
    features=[
        customer_profile_fv,
        product_features_fv,
        customer_web_embedding_fv[EMBEDDING_COLUMNS],
        customer_web_intent_labels_fv[DISTILLED_LABEL_COLUMNS],
    ],
    description="Tile ranker inputs: customer profile, product attributes, web session embedding, distilled web intent.",
    tags={"task": "tile_ranking", "production": "true", "ablation_row": "e_embedding_and_labels"},
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

# The union of the conversion ablation rows' features, fetched once per evaluation run.
conversion_ablation_all = FeatureService(
    name="conversion_ablation_all",
    features=[
        customer_profile_fv,
        customer_web_embedding_fv[EMBEDDING_COLUMNS],
        customer_web_intent_labels_fv[TEACHER_LABEL_COLUMNS + DISTILLED_LABEL_COLUMNS],
        customer_web_intent_fv,
    ],
    description="Union of the conversion ablation rows (a-g), fetched once per evaluation.",
    tags={"task": "conversion", "ablation_row": "all"},
)

# The production conversion model uses this one: the features of ablation row (g), embedding and
# distilled labels plus the dbt 30-day aggregates. Conversions are rarer than clicks, and counts
# such as applications started on the web are direct evidence a mean embedding can blur; all of
# it is servable online. The ablation report shows how row (g) compares on the current data.
conversion_v1 = FeatureService(
    name="conversion_v1",
    features=[
        customer_profile_fv,
        customer_web_embedding_fv[EMBEDDING_COLUMNS],
        customer_web_intent_labels_fv[DISTILLED_LABEL_COLUMNS],
        customer_web_intent_fv,
    ],
    description="Conversion model inputs: customer profile, web embedding, distilled intent, 30-day web aggregates.",
    tags={"task": "conversion", "production": "true", "ablation_row": "g_all_online"},
)
