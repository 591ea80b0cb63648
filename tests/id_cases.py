"""Ids the API and the batch quarantine must judge alike (recsys/ids.py is the one rule)."""

from __future__ import annotations

from recsys.ids import MAX_ID_LENGTH, REASON_FORBIDDEN, REASON_TOO_LONG

# Refused by both: the API answers 422, dbt quarantines the row as `invalid <field>: <reason>`.
BAD_IDS: dict[str, tuple[str, str]] = {
    "newline": ("a\nb", REASON_FORBIDDEN),
    "tab": ("a\tb", REASON_FORBIDDEN),
    "carriage return": ("a\rb", REASON_FORBIDDEN),
    "NUL": ("a\x00b", REASON_FORBIDDEN),
    "DEL": ("a\x7fb", REASON_FORBIDDEN),
    "C1 next-line": ("a\x85b", REASON_FORBIDDEN),
    "line separator": ("a\u2028b", REASON_FORBIDDEN),
    "too long": ("x" * (MAX_ID_LENGTH + 1), REASON_TOO_LONG),
}
# Refused by the API only because they cannot reach a batch row as such: UTF-8 files cannot
# carry a lone surrogate (ingest refuses the file), and dbt trims the spaces batch files pad
# ids with (the API takes ids exactly as they are stored, so it refuses padding).
API_ONLY_BAD_IDS: dict[str, str] = {
    "lone surrogate": "x\ud800",
    "leading space": " u1",
    "trailing space": "u1 ",
    "empty": "",
    "blank": "   ",
}
# Accepted by both.
GOOD_IDS: dict[str, str] = {
    "plain": "u-1",
    "inner space": "a b",
    "accents": "ü_sér",
    "cjk": "名前",
    "emoji": "😀",
    "longest": "y" * MAX_ID_LENGTH,
}
