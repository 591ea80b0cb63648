"""What `dagster ... -m orchestration.load` loads: the definitions for RECSYS_DATA_DIR.

Kept apart from orchestration/definitions.py so importing that (tests) parses nothing.
"""

from orchestration.definitions import build_definitions

defs = build_definitions()
