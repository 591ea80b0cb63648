"""`recsys ingest ...`: one command per source of events."""

from __future__ import annotations

import typer

app = typer.Typer(help="Load events into the landing area (data/landing).", no_args_is_help=True)
