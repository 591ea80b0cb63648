"""Replay logged sessions through a live API, as a client would: post, then ask."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

# (session_id, user_id, item_id, event_type, ISO event time) of one logged event
Event = tuple[str, str, str, str, str]


def replay_sessions(
    client: httpx.Client, sessions: Sequence[Sequence[Event]], *, prefix: str, k: int
) -> tuple[list[dict[str, Any]], int]:
    """Post each session's events in order and ask for `k` recommendations after each but
    the last. An event on an item of the last answer carries that answer's request_id (a
    click on a recommendation). Returns (the answers, the events that carried a request_id).
    """
    answers: list[dict[str, Any]] = []
    clicks = 0
    for events in sessions:
        web_session = f"{prefix}-{events[0][0]}"
        answer = None
        for number, (_, user, item, kind, at) in enumerate(events):
            event = {
                "event_id": f"{web_session}-{number}",
                "user_id": user,
                "session_id": web_session,
                "item_id": item,
                "event_type": kind,
                # the log's own time: session features and the request's reference time
                # (the session's last event) are then those of training
                "event_timestamp": at,
            }
            if answer is not None and item in {i["item_id"] for i in answer["items"]}:
                event["request_id"] = answer["request_id"]
                clicks += 1
            posted = client.post("/events", json=event)
            assert posted.status_code == 200, posted.text
            if number + 1 < len(events):
                got = client.get(
                    f"/recommendations/{user}", params={"k": k, "session_id": web_session}
                )
                assert got.status_code == 200, got.text
                answer = got.json()
                answers.append(answer)
    return answers, clicks
