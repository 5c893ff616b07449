"""Feast feature services: the versioned feature sets each model is trained and served with.

A model records the service it was trained on in its model card; serving fetches the same
service, so training and serving read the same features. A new feature set is a new version
(tile_ranker_v2), never an edit of a service a deployed model depends on.
"""

from feast import FeatureService

from feature_views import customer_profile_fv, customer_web_intent_fv, product_features_fv

# Homepage tile ranking, production-baseline inputs plus web intent: who the customer is, what
# they hold, what they researched on the public site in the last 30 days (through logins), and
# what the candidate product is.
tile_ranker_v1 = FeatureService(
    name="tile_ranker_v1",
    features=[customer_profile_fv, customer_web_intent_fv, product_features_fv],
    description="Tile ranker inputs: customer profile, 30-day linked web intent, product attributes.",
)

# Conversion within 14 days by product family, from the customer's side only.
conversion_v1 = FeatureService(
    name="conversion_v1",
    features=[customer_profile_fv, customer_web_intent_fv],
    description="Conversion model inputs: customer profile and 30-day linked web intent.",
)
