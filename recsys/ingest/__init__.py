"""Bring events (and optionally items and users) into the canonical landing area."""
