"""Feature services: one per model version, so training and serving ask for the same features."""

from feast import FeatureService
from feature_views import item_features_fv, session_state_fv, user_features_fv

from recsys.contract import FEATURE_SERVICE

ranker_v1_service = FeatureService(
    name=FEATURE_SERVICE,
    features=[user_features_fv, item_features_fv, session_state_fv],
    description=(
        "Features of the LightGBM ranker v1. user_features and item_features share column "
        "names (views_1d, ...): read with full_feature_names=True."
    ),
    tags={"model": "ranker", "version": "1"},
)
