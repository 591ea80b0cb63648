"""Which source column plays which role, and how source event names map to canonical ones.

A flag names a column explicitly; without one, a column whose name is a common spelling of the
role is used (`session_id`, `sessionId` and `session` all mean the session), so a plain log such
as `session_id,item_id,timestamp` loads with no flags at all. The CLI prints what it chose.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc

from recsys.ingest.errors import IngestError
from recsys.ingest.readers import missing_column_error

EVENT_TYPES: Final = ("view", "add_to_cart", "purchase")

# Spellings seen in public interaction logs, compared after lower-casing and dropping
# everything but letters and digits; earlier entries win.
ROLE_SPELLINGS: Final[Mapping[str, tuple[str, ...]]] = {
    "user": ("userid", "user", "visitorid", "visitor", "customerid", "customer", "clientid",
             "uid", "accountid", "memberid", "buyerid", "personid"),
    "session": ("sessionid", "session", "usersession", "sessionkey", "visitid", "sid"),
    "item": ("itemid", "item", "productid", "product", "sku", "articleid", "aid", "contentid",
             "movieid", "videoid", "trackid", "offerid", "listingid", "goodsid", "asin"),
    "time": ("eventtimestamp", "timestamp", "eventtime", "ts", "time", "datetime",
             "eventdatetime", "createdat", "occurredat", "eventdate", "date"),
    "type": ("eventtype", "event", "type", "action", "actiontype", "interactiontype",
             "interaction", "behavior", "behaviour", "eventname", "activity"),
    "event_id": ("eventid", "eventuuid"),
}  # fmt: skip
# The same for an item metadata file (`--items`).
ITEM_SPELLINGS: Final[Mapping[str, tuple[str, ...]]] = {
    "category": ("category", "categoryid", "categorycode", "categoryname", "cat", "catid",
                 "genre", "genres", "department", "class", "section"),
    "price": ("price", "priceusd", "unitprice", "saleprice", "listprice", "cost", "amount"),
    "title": ("title", "name", "productname", "itemname", "label"),
}  # fmt: skip
ROLE_FLAGS: Final = {
    "user": "--user",
    "session": "--session",
    "item": "--item",
    "time": "--time",
    "type": "--type",
    "event_id": "--event-id",
}
# Source event names with an unambiguous canonical meaning (matched case-insensitively after
# --type-map); anything else passes through unchanged and dbt quarantines it by name.
EVENT_SYNONYMS: Final[Mapping[str, str]] = {
    "view": "view", "views": "view", "viewed": "view", "click": "view", "clicks": "view",
    "clicked": "view", "pageview": "view", "page_view": "view", "detail": "view",
    "product_view": "view", "impression_click": "view",
    "add_to_cart": "add_to_cart", "addtocart": "add_to_cart", "add-to-cart": "add_to_cart",
    "cart": "add_to_cart", "carts": "add_to_cart", "carted": "add_to_cart",
    "add_to_basket": "add_to_cart", "addtobasket": "add_to_cart",
    "purchase": "purchase", "purchases": "purchase", "purchased": "purchase", "buy": "purchase",
    "buys": "purchase", "bought": "purchase", "order": "purchase", "orders": "purchase",
    "transaction": "purchase", "checkout": "purchase", "sale": "purchase",
}  # fmt: skip


@dataclass(frozen=True)
class ColumnRoles:
    """The source column for each role (None: the source has no such column)."""

    item: str
    time: str
    user: str | None = None
    session: str | None = None
    type: str | None = None
    event_id: str | None = None

    def columns(self) -> list[str]:
        """Return the distinct source columns to read."""
        named = [self.user, self.session, self.item, self.time, self.type, self.event_id]
        return list(dict.fromkeys(c for c in named if c))

    def describe(self) -> str:
        """Return 'user=..., session=..., ...' for the CLI's report."""
        parts = [
            f"user={self.user or '(none: user = session)'}",
            f"session={self.session or '(none: 30-minute gap)'}",
            f"item={self.item}",
            f"time={self.time}",
            f"type={self.type or '(none: every row is a view)'}",
        ]
        if self.event_id:
            parts.append(f"event_id={self.event_id}")
        return ", ".join(parts)


def resolve_roles(
    path: Path,
    found: Sequence[str],
    *,
    explicit: Mapping[str, str | None],
    no_type: bool = False,
) -> ColumnRoles:
    """Decide which column of `path` plays each role.

    Args:
        path: The file (named in errors).
        found: Its column names.
        explicit: Role -> column given by a flag (None: not given, guess from the name).
        no_type: Ignore any event-type column: every row is a view.

    Returns:
        The roles.

    Raises:
        IngestError: A named column is missing, the item or time column cannot be found, or
            there is neither a user nor a session column.
    """
    chosen: dict[str, str | None] = {}
    for role, flag in ROLE_FLAGS.items():
        column = explicit.get(role)
        if column:
            if column not in found:
                raise missing_column_error(
                    path,
                    column=column,
                    found=found,
                    flag=flag,
                    role=role,
                    suggestion=guess_column(found, ROLE_SPELLINGS[role]),
                )
            chosen[role] = column
    for role in ROLE_FLAGS:
        if role not in chosen and not (role == "type" and no_type):
            taken = {c for c in chosen.values() if c}
            chosen[role] = guess_column(found, ROLE_SPELLINGS[role], taken=taken)
    if no_type:
        chosen["type"] = None
    for role in ("item", "time"):
        if not chosen.get(role):
            shown = ", ".join(found[:20])
            raise IngestError(
                f"{path.name}: no {role} column found (columns: {shown}); "
                f"pass {ROLE_FLAGS[role]} COLUMN"
            )
    if not chosen.get("user") and not chosen.get("session"):
        shown = ", ".join(found[:20])
        raise IngestError(
            f"{path.name}: neither a user nor a session column found (columns: {shown}); "
            "pass --user COLUMN or --session COLUMN (a session-only log makes each session its "
            "own anonymous user)"
        )
    return ColumnRoles(
        item=str(chosen["item"]),
        time=str(chosen["time"]),
        user=chosen.get("user"),
        session=chosen.get("session"),
        type=chosen.get("type"),
        event_id=chosen.get("event_id"),
    )


def parse_type_map(text: str | None) -> dict[str, str]:
    """Parse `--type-map 'clicked=view,bought=purchase'` into a lower-cased mapping.

    Raises:
        IngestError: A pair is not `source=canonical` or names a non-canonical target.
    """
    mapping: dict[str, str] = {}
    if not text:
        return mapping
    for pair in text.split(","):
        if not pair.strip():
            continue
        source, sep, target = pair.partition("=")
        if not sep or not source.strip() or target.strip() not in EVENT_TYPES:
            raise IngestError(
                f"--type-map: expected pairs like 'clicked=view,bought=purchase' with targets "
                f"in {', '.join(EVENT_TYPES)}; found {pair.strip()!r}"
            )
        mapping[source.strip().lower()] = target.strip()
    return mapping


def map_event_types(values: pa.Array, type_map: Mapping[str, str]) -> pa.Array:
    """Map source event names to canonical ones: `type_map` first, then common synonyms.

    Matching ignores case and surrounding spaces; unmapped values are kept exactly as found so
    dbt's quarantine reason shows the source's own spelling.
    """
    text = pc.cast(values, pa.string())
    lookup = {**EVENT_SYNONYMS, **type_map}
    keys = pa.array(list(lookup), pa.string())
    targets = pa.array(list(lookup.values()), pa.string())
    index = pc.index_in(pc.utf8_lower(pc.utf8_trim_whitespace(text)), value_set=keys)
    return pc.if_else(pc.is_valid(index), pc.take(targets, index), text)


def guess_column(
    found: Sequence[str], spellings: Sequence[str], *, taken: set[str] | None = None
) -> str | None:
    """Return the first column of `found` whose normalized name is one of `spellings`."""
    taken = taken or set()
    normalized: dict[str, str] = {}
    for name in found:
        normalized.setdefault(normalize_name(name), name)
    for spelling in spellings:
        match = normalized.get(spelling)
        if match and match not in taken:
            return match
    return None


def normalize_name(name: str) -> str:
    """Return a column name lower-cased with everything but letters and digits dropped."""
    return re.sub(r"[^a-z0-9]", "", name.lower())
