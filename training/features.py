"""Point-in-time feature rows for training sets, through Feast `get_historical_features`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa

from recsys.ranking.inputs import RankerInputs
from training.dataset import FeatureFetcher

if TYPE_CHECKING:
    from feast import FeatureStore

JOIN_KEYS = {"user": "user_id", "item": "item_id"}


def historical_fetcher(store: FeatureStore, inputs: RankerInputs) -> FeatureFetcher:
    """A point-in-time fetcher backed by Feast `get_historical_features`."""
    refs = {"user": inputs.user_refs, "item": inputs.item_refs}

    def fetch(entity: str, keys: np.ndarray, day_start_s: np.ndarray) -> pa.Table:
        entity_df = pd.DataFrame(
            {
                JOIN_KEYS[entity]: pd.Series(keys, dtype=object).astype(str),
                "event_timestamp": pd.to_datetime(
                    np.asarray(day_start_s, np.int64), unit="s", utc=True
                ),
            }
        )
        if entity_df.empty:
            return pa.table(
                {
                    JOIN_KEYS[entity]: pa.array([], pa.string()),
                    "event_timestamp": pa.array([], pa.timestamp("us", tz="UTC")),
                }
            )
        job = store.get_historical_features(entity_df=entity_df, features=refs[entity])
        return job.to_arrow()

    return fetch
