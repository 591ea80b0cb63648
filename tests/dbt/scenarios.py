"""Hand-made datasets shared by the dbt tests; their expected values live in the tests."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

from tests.dbt.landing_files import at, write_events, write_items, write_users

SESSION_EVENTS = [
    # u1 has no session ids: split where the gap exceeds 30 minutes.
    {"event_id": "a1", "user_id": "u1", "item_id": "i1", "event_type": "view",
     "event_timestamp": "2024-05-01T10:00:00"},
    {"event_id": "a2", "user_id": "u1", "item_id": "i2", "event_type": "view",
     "event_timestamp": "2024-05-01T10:20:00"},
    # exactly 30 minutes later: still the same session (the gap must be *more* than 30)
    {"event_id": "a3", "user_id": "u1", "item_id": "i2", "event_type": "add_to_cart",
     "event_timestamp": "2024-05-01T10:50:00"},
    # 30 minutes and 1 microsecond later: a new session
    {"event_id": "a5", "user_id": "u1", "item_id": "i3", "event_type": "view",
     "event_timestamp": "2024-05-01T11:20:00.000001"},
    # same timestamp as a5: ordered by event_id, so a4 comes first
    {"event_id": "a4", "user_id": "u1", "item_id": "i3", "event_type": "purchase",
     "event_timestamp": "2024-05-01T11:20:00.000001"},
    # u2 gives its session id: a two-hour pause does not split it
    {"event_id": "b1", "user_id": "u2", "session_id": "web-1", "item_id": "i1",
     "event_type": "view", "event_timestamp": "2024-05-01T08:00:00"},
    {"event_id": "b2", "user_id": "u2", "session_id": "web-1", "item_id": "i1",
     "event_type": "view", "event_timestamp": "2024-05-01T10:00:00"},
    # u3 mixes: one event in a given session, the other sessionized by gap
    {"event_id": "c1", "user_id": "u3", "session_id": "app-9", "item_id": "i4",
     "event_type": "view", "event_timestamp": "2024-05-02T09:00:00"},
    {"event_id": "c2", "user_id": "u3", "item_id": "i4", "event_type": "view",
     "event_timestamp": "2024-05-02T09:01:00"},
]  # fmt: skip

# User fu over four days (D1 Apr 1, D2 Apr 3, D3 Apr 10, D4 May 5), fv once on D2.
FEATURE_EVENTS = [
    ("f01", "fu", "fs1", "book-a", "view", "2024-04-01T10:00:00"),
    ("f02", "fu", "fs1", "book-b", "view", "2024-04-01T10:05:00"),
    ("f03", "fu", "fs1", "book-b", "add_to_cart", "2024-04-01T10:10:00"),
    ("f04", "fu", "fs2", "toy-c", "view", "2024-04-03T09:00:00"),
    ("f05", "fv", "fs9", "book-b", "view", "2024-04-03T09:15:00"),
    ("f06", "fu", "fs2", "book-b", "purchase", "2024-04-03T09:30:00"),
    ("f07", "fu", "fs3", "misc-d", "view", "2024-04-10T12:00:00"),
    ("f08", "fu", "fs3", "book-a", "view", "2024-04-10T13:00:00"),
    ("f09", "fu", "fs4", "toy-c", "view", "2024-05-05T08:00:00"),
]
FEATURE_ITEMS = [
    {"item_id": "book-a", "category": "books", "price": 10.0, "title": "A"},
    {"item_id": "book-b", "category": "books", "price": 20.0, "title": "B"},
    {"item_id": "toy-c", "category": "toys", "price": 5.0, "title": "C"},
]


def write_sessions(data_dir: Path) -> None:
    """Sessionization cases: gaps, ties, given and mixed session ids."""
    write_events(data_dir, "sessions", SESSION_EVENTS, source_file="sessions.csv")


def write_features(data_dir: Path) -> None:
    """The feature scenario: events, an item file without misc-d, a user file with a ghost."""
    fields = ("event_id", "user_id", "session_id", "item_id", "event_type", "event_timestamp")
    rows = [dict(zip(fields, row, strict=True)) for row in FEATURE_EVENTS]
    write_events(data_dir, "features", rows, source_file="features.csv")
    write_items(data_dir, FEATURE_ITEMS)
    write_users(data_dir, [{"user_id": "fu", "attributes": {"region": "eu"}}, {"user_id": "ghost"}])


def write_event_only(data_dir: Path, *, events: int, seed: int) -> None:
    """An anonymous, view-only log of one day: user_id = session_id, no item or user file."""
    rng = random.Random(seed)
    start = at("2024-07-01T00:00:00")
    rows: list[dict[str, object]] = []
    session = 0
    while len(rows) < events:
        session += 1
        moment = start + timedelta(seconds=rng.randrange(0, 86_000))
        for _ in range(rng.randint(1, 8)):
            moment += timedelta(seconds=rng.randint(5, 120))
            if moment.date() != start.date():
                break
            rows.append(
                {
                    "event_id": None,
                    "user_id": f"sess-{session}",
                    "session_id": f"sess-{session}",
                    "item_id": f"item-{int(rng.paretovariate(1.2)) % 150}",
                    "event_type": "view",
                    "event_timestamp": moment,
                    "event_timestamp_raw": moment.isoformat(),
                }
            )
    write_events(data_dir, "anonymous", rows[:events], source_file="clicks.tsv")
