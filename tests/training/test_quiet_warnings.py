"""The DuckDB deprecation Feast's offline store triggers stays hidden after Feast loads."""

import subprocess
import sys

from recsys.config import REPO_ROOT

SCRIPT = """
import warnings
from recsys.pipeline import feast_ops
feast_ops.feature_store(connect_redis=False)
warnings.warn("fetch_arrow_table() is deprecated, use to_arrow_table()", DeprecationWarning)
warnings.warn("an unrelated deprecation", DeprecationWarning)
"""


def test_fetch_arrow_table_warning_is_hidden_after_feast_import(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "RECSYS_DATA_DIR": str(tmp_path), "PYTHONWARNINGS": ""}
    done = subprocess.run(
        [sys.executable, "-W", "default::DeprecationWarning", "-c", SCRIPT],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "fetch_arrow_table" not in done.stderr
    # only that one message is hidden: other deprecations still show
    assert "an unrelated deprecation" in done.stderr
