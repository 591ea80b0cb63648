"""Champion / challenger: a second model beside `current`, served to a fixed share of users.

The registry records the experiment in one file beside the versions:

    data/models/challenger.json         {"version", "share", "salt", "started_at"}
    data/models/challenger.ended.json   the last ended one (its report can still be made)

Each user is assigned to an arm by a hash of the experiment's salt and the user id, so the
same user always sees the same arm (on every worker and replica, across restarts), and a new
experiment (a new salt) reshuffles users instead of reusing the last one's split. The server
and the experiment report both assign through `arm_of`, so they can never disagree.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

CHALLENGE_FILE = "challenger.json"
ENDED_FILE = "challenger.ended.json"  # the last ended experiment, for its report
CHAMPION = "champion"
CHALLENGER = "challenger"


@dataclass(frozen=True)
class Challenge:
    """A running experiment: which version challenges `current`, for which share of users."""

    version: str
    share: float  # 0 < share < 1: the challenger's share of users
    salt: str
    started_at: str  # ISO-8601 UTC

    def arm_of(self, user_id: str) -> str:
        return arm_of(user_id, salt=self.salt, share=self.share)


def arm_of(user_id: str, *, salt: str, share: float) -> str:
    """CHALLENGER for a `share` of users (by hash of salt and user id), else CHAMPION."""
    digest = hashlib.sha256(f"{salt}\x00{user_id}".encode()).digest()
    position = int.from_bytes(digest[:8], "big") / 2.0**64  # uniform in [0, 1)
    return CHALLENGER if position < share else CHAMPION


def read_challenge(models: Path, *, ended: bool = False) -> Challenge | None:
    """The running experiment (`ended`: the last ended one), None when there is none.

    Raises:
        ValueError: The file does not parse (the message says which and how to fix it).
    """
    path = models / (ENDED_FILE if ended else CHALLENGE_FILE)
    if not path.exists():
        return None
    try:
        raw = json.loads(path.read_text())
        return Challenge(
            version=str(raw["version"]),
            share=float(raw["share"]),
            salt=str(raw["salt"]),
            started_at=str(raw["started_at"]),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(
            f"{path}: expected JSON with version, share, salt, started_at ({exc}); "
            "end the experiment with `recsys models end-challenge` and start it again"
        ) from exc


def start_challenge(
    models: Path, version: str, *, share: float, salt: str | None = None
) -> Challenge:
    """Record `version` as the challenger for `share` of users (replacing any experiment)."""
    if not 0 < share < 1:
        raise ValueError(f"share {share}: expected a fraction of users between 0 and 1, e.g. 0.1")
    challenge = Challenge(
        version=version,
        share=share,
        salt=salt or secrets.token_hex(8),
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    _write(models / CHALLENGE_FILE, json.dumps(asdict(challenge), indent=2))
    return challenge


def end_challenge(models: Path) -> Challenge | None:
    """Stop the experiment (every user back on `current`); return what was running.

    The file moves to ENDED_FILE, so `recsys experiment report --ended` can still read it.
    """
    path = models / CHALLENGE_FILE
    running = read_challenge(models) if path.exists() else None
    if path.exists():
        path.replace(models / ENDED_FILE)
    return running


def _write(path: Path, text: str) -> None:
    """Write then rename: the server polling the file sees the old one or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
