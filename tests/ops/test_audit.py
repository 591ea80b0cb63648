"""`make audit` says plainly whether the locked set was audited, and what it found.

Real pip-audit runs: against the real (here unreachable) vulnerability data, and against a
local OSV database that lists one vulnerability of a locked package.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from ops.audit import REPO_ROOT, verdict
from recsys.redis_runtime import free_port


def _audit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ops.audit", "--timeout", "3", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _locked(name: str) -> str:
    text = (REPO_ROOT / "uv.lock").read_text()
    found = re.search(rf'\[\[package\]\]\nname = "{name}"\nversion = "([^"]+)"', text)
    assert found, name
    return found.group(1)


def test_unreachable_vulnerability_data_is_not_audited_never_clean() -> None:
    # nothing listens on this port: the OSV service cannot be reached
    done = _audit("--osv-url", f"http://127.0.0.1:{free_port()}/v1/query")
    assert done.returncode == 2, done.stdout + done.stderr
    assert re.search(
        r"^NOT AUDITED: no vulnerability data reachable .*\(\d+ packages\)$", done.stdout, re.M
    )
    assert "No known vulnerabilities found" not in done.stdout


def test_the_default_run_never_reports_skipped_packages_as_clean() -> None:
    # Here PyPI's vulnerability data is unreachable and pip-audit skips every package
    # (while printing "No known vulnerabilities found"); with data, the verdict has counts.
    done = _audit()
    status = done.stdout.splitlines()[1]
    expected = {"NOT AUDITED": 2, "AUDITED": 0, "VULNERABLE": 1}[status.split(":")[0]]
    assert done.returncode == expected, done.stdout
    assert "No known vulnerabilities found" not in done.stdout


def test_a_local_osv_database_finds_a_vulnerable_locked_package(tmp_path: Path) -> None:
    version = _locked("requests")
    records = {
        "GHSA-test-0001.json": {
            "id": "GHSA-test-0001",
            "summary": "test record: this exact version",
            "affected": [
                {"package": {"name": "requests", "ecosystem": "PyPI"}, "versions": [version]}
            ],
        },
        "GHSA-test-0002.json": {
            "id": "GHSA-test-0002",
            "summary": "test record: a range that includes it",
            "affected": [
                {
                    "package": {"name": "requests", "ecosystem": "PyPI"},
                    "ranges": [
                        {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "999"}]}
                    ],
                }
            ],
        },
        "GHSA-test-0003.json": {
            "id": "GHSA-test-0003",
            "summary": "test record: fixed long ago, must not match",
            "affected": [
                {
                    "package": {"name": "requests", "ecosystem": "PyPI"},
                    "ranges": [
                        {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "0.1"}]}
                    ],
                }
            ],
        },
    }
    for name, record in records.items():
        (tmp_path / name).write_text(json.dumps(record))
    done = _audit("--osv-dir", str(tmp_path))
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert re.match(r"VULNERABLE: 2 known vulnerabilities in 1 of \d+ packages$", lines[1])
    assert f"  requests {version}: GHSA-test-0001 (fixed in no release yet)" in lines
    assert f"  requests {version}: GHSA-test-0002 (fixed in 999)" in lines
    assert "GHSA-test-0003" not in done.stdout


def test_verdicts_from_pip_audit_reports() -> None:
    clean = {"dependencies": [{"name": "a", "version": "1", "vulns": []}]}
    assert verdict(clean, packages=1).lines() == ["AUDITED: 0 known vulnerabilities in 1 packages"]
    partial = {
        "dependencies": [
            {"name": "a", "version": "1", "vulns": []},
            {"name": "b", "skip_reason": "Dependency not found on PyPI"},
        ]
    }
    result = verdict(partial, packages=2)
    assert result.exit_code == 2 and result.lines()[0].startswith("NOT AUDITED: 1 packages could")
    assert verdict(None, packages=3, error="timed out").exit_code == 2
