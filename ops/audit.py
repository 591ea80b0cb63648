"""`make audit`: check the locked dependency set for known vulnerabilities, and say plainly
whether it could be checked at all.

pip-audit prints "No known vulnerabilities found" and exits 0 even when it could not reach any
vulnerability data and skipped every package, which reads as a clean bill of health. This
wrapper runs it on the exact locked set (`uv export --frozen`), reads its JSON and prints one
of three verdicts:

    AUDITED: 0 known vulnerabilities in 155 packages                               exit 0
    VULNERABLE: 2 known vulnerabilities in 1 of 155 packages, then one line each  exit 1
    NOT AUDITED: no vulnerability data reachable (155 packages)                   exit 2

(a set where only some packages could be checked is NOT AUDITED too, with the counts).
Without internet, `--osv-dir` audits against a local copy of the OSV database (a folder or a
.zip of OSV JSON records, e.g. the PyPI export from osv.dev): it is served to pip-audit on
loopback as the OSV query API.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from recsys.config import REPO_ROOT

EXIT_CLEAN, EXIT_VULNERABLE, EXIT_NOT_AUDITED = 0, 1, 2


@dataclass
class Verdict:
    status: str
    exit_code: int
    packages: int
    audited: int
    vulnerable: list[tuple[str, str, str, str]] = field(default_factory=list)
    """(package, version, vulnerability id, fixed in) per finding."""
    detail: str = ""

    def lines(self) -> list[str]:
        if self.status == "NOT AUDITED":
            return [f"NOT AUDITED: {self.detail} ({self.packages} packages)"]
        if self.status == "VULNERABLE":
            packages = len({name for name, *_ in self.vulnerable})
            head = (
                f"VULNERABLE: {len(self.vulnerable)} known vulnerabilities in {packages} of "
                f"{self.packages} packages"
            )
            return [head] + [
                f"  {name} {version}: {vuln_id} (fixed in {fixed or 'no release yet'})"
                for name, version, vuln_id, fixed in self.vulnerable
            ]
        return [f"AUDITED: 0 known vulnerabilities in {self.audited} packages{self.detail}"]


def locked_requirements(target: Path) -> int:
    """Write the locked set (every group, no hashes, not the project itself); return its size."""
    uv = REPO_ROOT / ".tools" / "bin" / "uv"
    command = [str(uv) if uv.exists() else (shutil.which("uv") or "uv"), "export", "--frozen"]
    command += ["--no-hashes", "--no-emit-project", "--all-groups", "--project", str(REPO_ROOT)]
    text = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    target.write_text(text)
    return sum(1 for line in text.splitlines() if "==" in line and not line.startswith("#"))


def verdict(report: dict[str, Any] | None, *, packages: int, error: str = "") -> Verdict:
    """Classify pip-audit's JSON report (None: it produced none)."""
    if report is None:
        reason = "no vulnerability data reachable" + (f" ({error})" if error else "")
        return Verdict("NOT AUDITED", EXIT_NOT_AUDITED, packages, 0, detail=reason)
    dependencies = report.get("dependencies", [])
    skipped = [d for d in dependencies if d.get("skip_reason")]
    audited = [d for d in dependencies if not d.get("skip_reason")]
    findings = [
        (d["name"], d.get("version", "?"), v["id"], ", ".join(v.get("fix_versions") or []))
        for d in audited
        for v in d.get("vulns") or []
    ]
    if findings:
        return Verdict("VULNERABLE", EXIT_VULNERABLE, packages, len(audited), findings)
    if not audited:
        return Verdict(
            "NOT AUDITED", EXIT_NOT_AUDITED, packages, 0, detail="no vulnerability data reachable"
        )
    if skipped:
        names = ", ".join(d["name"] for d in skipped[:5]) + (", ..." if len(skipped) > 5 else "")
        return Verdict(
            "NOT AUDITED",
            EXIT_NOT_AUDITED,
            packages,
            len(audited),
            detail=f"{len(skipped)} packages could not be checked ({names}); "
            f"{len(audited)} checked, 0 known vulnerabilities",
        )
    return Verdict("AUDITED", EXIT_CLEAN, packages, len(audited))


def run_pip_audit(
    requirements: Path, *, timeout_s: float, osv_url: str | None
) -> tuple[dict[str, Any] | None, str]:
    """Run pip-audit on a requirements file; return its JSON report (or None) and an error."""
    command = [sys.executable, "-m", "pip_audit", "-r", str(requirements), "--no-deps"]
    command += ["--disable-pip", "--format", "json", "--progress-spinner", "off"]
    command += ["--timeout", f"{timeout_s:g}"]
    if osv_url:
        command += ["--vulnerability-service", "osv", "--osv-url", osv_url]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout_s * 20 + 60, check=False
        )
    except subprocess.TimeoutExpired:
        return None, "pip-audit timed out"
    try:
        return json.loads(done.stdout), ""
    except json.JSONDecodeError:
        last = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        return None, last[:200]


# -- a local OSV database, served as the OSV query API ------------------------------------


def load_osv(source: Path) -> dict[str, list[dict[str, Any]]]:
    """OSV records of PyPI packages in a folder or .zip of JSON files, by package name."""
    records: list[dict[str, Any]] = []
    if source.is_file() and source.suffix == ".zip":
        with zipfile.ZipFile(source) as archive:
            for name in archive.namelist():
                if name.endswith(".json"):
                    records.append(json.loads(archive.read(name)))
    elif source.is_dir():
        records = [json.loads(p.read_text()) for p in sorted(source.rglob("*.json"))]
    else:
        raise FileNotFoundError(
            f"--osv-dir {source}: expected a folder or .zip of OSV JSON records (e.g. the "
            "PyPI export of osv.dev), found nothing there"
        )
    by_package: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        for affected in record.get("affected", []):
            package = affected.get("package", {})
            if package.get("ecosystem") == "PyPI":
                by_package.setdefault(canonicalize_name(package["name"]), []).append(record)
    return by_package


def affects(record: dict[str, Any], name: str, version: str) -> bool:
    """Whether an OSV record lists this package version (explicitly or in a range)."""
    for affected in record.get("affected", []):
        package = affected.get("package", {})
        if package.get("ecosystem") != "PyPI" or canonicalize_name(package["name"]) != name:
            continue
        if version in affected.get("versions", []):
            return True
        for span in affected.get("ranges", []):
            if span.get("type") == "ECOSYSTEM" and _in_range(span.get("events", []), version):
                return True
    return False


def _in_range(events: list[dict[str, str]], version: str) -> bool:
    try:
        current = Version(version)
        inside = False
        for event in events:  # OSV lists events in order: introduced, then fixed / last_affected
            if "introduced" in event:
                inside = event["introduced"] == "0" or current >= Version(event["introduced"])
            elif inside and "fixed" in event:
                inside = current < Version(event["fixed"])
            elif inside and "last_affected" in event:
                inside = current <= Version(event["last_affected"])
        return inside
    except InvalidVersion:
        return False


@contextmanager
def serve_osv(database: dict[str, list[dict[str, Any]]]) -> Iterator[str]:
    """Answer OSV's /v1/query on loopback from `database`; yield the URL for pip-audit."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            query = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            name = canonicalize_name(query["package"]["name"])
            version = query["version"]
            vulns = [r for r in database.get(name, []) if affects(r, name, version)]
            body = json.dumps({"vulns": vulns} if vulns else {}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/query"
    finally:
        server.shutdown()
        server.server_close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="make audit", description="Audit the locked dependency set."
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="Seconds per request.")
    parser.add_argument(
        "--osv-dir", type=Path, help="Audit against a local OSV database (folder or .zip)."
    )
    parser.add_argument("--osv-url", help="Use this OSV query API instead of PyPI's data.")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="recsys-audit-") as scratch:
        requirements = Path(scratch) / "requirements.txt"
        packages = locked_requirements(requirements)
        print(f"Auditing the locked set: {packages} packages (uv.lock, all groups)...")
        if args.osv_dir:
            with serve_osv(load_osv(args.osv_dir)) as url:
                report, error = run_pip_audit(requirements, timeout_s=args.timeout, osv_url=url)
        else:
            report, error = run_pip_audit(
                requirements, timeout_s=args.timeout, osv_url=args.osv_url
            )
    result = verdict(report, packages=packages, error=error)
    print("\n".join(result.lines()))
    if result.status == "NOT AUDITED":
        print(
            "  Nothing was checked against vulnerability data. Run `make audit` where PyPI's "
            "JSON API is reachable, or pass a local OSV database: "
            "`.venv/bin/python -m ops.audit --osv-dir <folder or PyPI all.zip from osv.dev>`."
        )
    return result.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
