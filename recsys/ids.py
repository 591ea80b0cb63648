"""The one rule for ids (event, user, session, item): the API and the batch quarantine share it.

An id is 1 to MAX_ID_LENGTH characters, has no control character (tabs, newlines, NUL, DEL,
the C1 range), no line or paragraph separator and no lone surrogate (which UTF-8 cannot carry:
such an id could never be written to Redis, Parquet or DuckDB), and neither starts nor ends
with a space. The API refuses such ids with a 422 naming the problem; dbt
(`int_events_validated`) trims the spaces of batch files first, then quarantines the rest with
`invalid <field>: <reason>`, reading the same rule through the vars of `dbt_vars()`.
"""

from __future__ import annotations

import re
from typing import Any

MAX_ID_LENGTH = 128

# Characters no id may contain, as a regex character-class body (Python, ECMA and Rust
# syntax). Lone surrogates are refused too (_SURROGATES) but stay out of the published
# pattern: regex engines that work on Unicode scalar values (Rust's, in jsonschema-rs, which
# schemathesis uses) reject a pattern that names them, and valid UTF-8 cannot carry them.
_FORBIDDEN = r"\x00-\x1f\x7f-\x9f\u2028\u2029"
_SURROGATES = r"\ud800-\udfff"
# The whole rule as one JSON-schema pattern (documented in /openapi.json): no forbidden
# character anywhere, no space at either end.
ID_PATTERN = rf"^[^{_FORBIDDEN}\x20](?:[^{_FORBIDDEN}]*[^{_FORBIDDEN}\x20])?$"
# The same forbidden characters in RE2 syntax (DuckDB); surrogates cannot occur in DuckDB's
# UTF-8 strings, so they need no entry there.
FORBIDDEN_RE2 = r"[\x00-\x1f\x7f-\x{9f}\x{2028}\x{2029}]"
REASON_FORBIDDEN = "control character, tab or line break"
REASON_TOO_LONG = f"longer than {MAX_ID_LENGTH} characters"

_FORBIDDEN_RE = re.compile(f"[{_FORBIDDEN}{_SURROGATES}]")


def id_problem(value: str) -> str | None:
    """Describe what is wrong with an id, or return None when it is valid."""
    if not value.strip(" "):
        return "is empty; send a non-empty string"
    if len(value) > MAX_ID_LENGTH:
        return f"is {len(value)} characters long; at most {MAX_ID_LENGTH} are allowed"
    bad = _FORBIDDEN_RE.search(value)
    if bad is not None:
        char = bad.group()
        kind = "a lone surrogate" if "\ud800" <= char <= "\udfff" else REASON_FORBIDDEN
        return f"contains {kind} ({char!r} at position {bad.start()}); ids must be printable text"
    if value != value.strip(" "):
        return "starts or ends with a space; send the id without them"
    return None


def check_id(value: str, *, field: str) -> str:
    """Return `value` when it is a valid id; raise ValueError naming `field` otherwise."""
    problem = id_problem(value)
    if problem is not None:
        raise ValueError(f"{field} {problem}")
    return value


def dbt_vars() -> dict[str, Any]:
    """The rule as the dbt vars `int_events_validated` reads (dbt_project.yml holds the same)."""
    return {
        "id_max_length": MAX_ID_LENGTH,
        "id_forbidden_re2": FORBIDDEN_RE2,
        "id_reason_forbidden": REASON_FORBIDDEN,
        "id_reason_too_long": REASON_TOO_LONG,
    }
