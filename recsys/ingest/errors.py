"""The one error a loader raises for bad input: the CLI prints it without a traceback."""

from __future__ import annotations


class IngestError(Exception):
    """Input that cannot be loaded: an unreadable file, a missing column, a bad option.

    The message is complete on its own: it names the file, the column or option, what was
    expected, what was found, and the flag that fixes it.
    """
