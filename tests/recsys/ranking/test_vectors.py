import numpy as np

from recsys.ranking.candidates import UserContext, generate
from recsys.ranking.session import session_features
from recsys.ranking.vectors import FeatureLayout, assemble
from tests.recsys.ranking.helpers import AS_OF, ITEM_FEATURES, session_of, tiny_catalog


def _matrix(catalog, items, types=None, user=None):
    layout = FeatureLayout(tuple(ITEM_FEATURES), ("events_total", "last_event_epoch_s"))
    session = session_of(catalog, items, types)
    user = user or UserContext.unknown(2)
    cands = generate(catalog, session, user)
    X = assemble(
        layout,
        catalog,
        cands,
        item_rows=catalog.item_features[cands.items],
        user=user,
        session=session,
        session_row=session_features(session),
        now_s=AS_OF.timestamp(),
    )
    rows = {str(catalog.item_ids[i]): X[n] for n, i in enumerate(cands.items)}
    return layout, rows


def test_layout_names_are_unique_and_timestamps_become_ages() -> None:
    layout = FeatureLayout(("views_7d", "first_seen_epoch_s"), ("last_event_epoch_s",))
    names = layout.names
    assert len(names) == len(set(names))
    assert "item_first_seen_days_ago" in names and "user_last_event_days_ago" in names
    assert not any(n.endswith("_epoch_s") for n in names)


def test_cross_features_on_a_hand_made_session() -> None:
    catalog = tiny_catalog()
    layout, rows = _matrix(catalog, ["a", "e", "a"], ["view", "add_to_cart", "view"])
    col = {name: i for i, name in enumerate(layout.names)}
    a, e, b = rows["a"], rows["e"], rows["b"]
    assert a[col["in_session_count"]] == 2 and e[col["in_session_count"]] == 1
    assert a[col["is_last_item"]] == 1 and e[col["is_last_item"]] == 0
    assert a[col["in_session_recency"]] == 0 and e[col["in_session_recency"]] == 1
    assert e[col["engaged_in_session"]] == 1 and a[col["engaged_in_session"]] == 0
    assert b[col["covis_last"]] == 5.0 and b[col["same_category_as_last"]] == 1
    assert e[col["same_category_as_last"]] == 0
    assert np.isclose(b[col["session_category_share"]], 2 / 3)
    # first seen 2 days before the reference time (b is the second item)
    assert np.isclose(b[col["item_first_seen_days_ago"]], 2.0)
    assert np.isnan(b[col["user_last_event_days_ago"]])  # unknown user


def test_price_relative_to_the_session() -> None:
    catalog = tiny_catalog()
    layout, rows = _matrix(catalog, ["a", "b"])  # prices 10 and 12: mean 11
    col = layout.names.index("price_vs_session")
    assert np.isclose(rows["c"][col], 8.0 / 11.0)


def test_every_cross_column_is_written_by_name() -> None:
    # A name added to CROSS_FEATURES but never computed would leave its column as it was:
    # fill the block with a sentinel first and look for it afterwards.
    from recsys.ranking.vectors import CROSS_FEATURES, _cross

    catalog = tiny_catalog()
    sentinel = np.float32(-7.25e30)
    for items in (["a", "e", "a"], []):
        session = session_of(catalog, items, ["view"] * len(items))
        user = UserContext.unknown(2)
        cands = generate(catalog, session, user)
        out = np.full((len(cands), len(CROSS_FEATURES)), sentinel, np.float32)
        _cross(out, catalog, cands, user, session, float("nan"))
        assert len(cands) and not np.any(out == sentinel)
