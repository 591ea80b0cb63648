"""`recsys build | apply | materialize | features`: the offline feature pipeline steps."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the pipeline commands to the top-level CLI."""
