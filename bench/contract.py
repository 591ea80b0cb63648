"""API contract: schemathesis generates requests from /openapi.json against a live server.

    .venv/bin/python -m bench.contract [--cases 5000] [--world DIR] [--no-record]

A world (the soak's, bench/world.py) on a Redis of our own, `recsys serve --workers 2` with
an API key set (so the keys' 401s are part of the contract), then schemathesis over every
operation with every check it has (server errors, status codes, content types, response
schemas and headers, negative data rejection, missing auth, ...), except the two that judge
data the spec cannot describe: `positive_data_acceptance` (a valid-looking category may be
unknown to this catalog, a valid date may be older than RECSYS_MAX_EVENT_AGE_DAYS, both 422
by design) and `use_after_free`/`ensure_resource_availability` (the API creates no resources).
Figures in benchmarks.json / BENCHMARKS.md, section "contract"; a short run is a test
(tests/bench/test_contract.py).
"""

from __future__ import annotations

import argparse
import json
import secrets
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.load import start_server
from bench.world import SMALL_WORLD, cli_env, prepare_world
from recsys.config import REPO_ROOT
from recsys.redis_runtime import free_port, start_redis

OPERATIONS = 7  # every route in /openapi.json
_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}
EXCLUDED_CHECKS = ("positive_data_acceptance", "use_after_free", "ensure_resource_availability")


@dataclass(frozen=True)
class ContractResult:
    """What one schemathesis run found."""

    cases: int
    operations: int
    failures: int
    server_errors: int
    seconds: float
    exit_code: int
    summary: str

    @property
    def passed(self) -> bool:
        return self.exit_code == 0 and self.failures == 0 and self.server_errors == 0


def run_schemathesis(
    url: str, *, max_examples: int, api_key: str | None, report_dir: Path, seed: int = 7
) -> ContractResult:
    """Run schemathesis against `url` and count cases and failures from its ndjson events."""
    report_dir.mkdir(parents=True, exist_ok=True)
    events_path = report_dir / "events.ndjson"
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"{url}/openapi.json",
        "--checks",
        "all",
        "--exclude-checks",
        ",".join(EXCLUDED_CHECKS),
        "--max-examples",
        str(max_examples),
        "--seed",
        str(seed),
        "--workers",
        "2",
        "--request-timeout",
        "30",
        "--no-color",
        "--suppress-health-check",
        "all",
        "--generation-database",
        "none",  # no .schemathesis/ folder in the repository; the seed makes runs repeatable
        "--report",
        "ndjson",
        "--report-ndjson-path",
        str(events_path),
    ]
    if api_key is not None:
        command += ["--header", f"Authorization: Bearer {api_key}"]
    done = subprocess.run(
        command, cwd=REPO_ROOT, capture_output=True, text=True, check=False, timeout=3600
    )
    return _summarize(events_path, done.returncode, done.stdout + done.stderr)


def _summarize(events_path: Path, exit_code: int, output: str) -> ContractResult:
    cases = failures = server_errors = 0
    operations: set[str] = set()
    seconds = 0.0
    for line in events_path.read_text().splitlines() if events_path.exists() else []:
        event = json.loads(line)
        for kind, body in event.items():
            if kind == "ScenarioFinished":
                recorder = body.get("recorder", {})
                label = str(recorder.get("label", ""))
                if label.split(" ", 1)[0] in _METHODS:  # "GET /health"; not stateful links
                    operations.add(label)
                cases += len(recorder.get("cases", {}))
                for checks in recorder.get("checks", {}).values():
                    for check in checks:
                        if str(check.get("status", "")).lower() == "failure":
                            failures += 1
                            server_errors += check.get("name") == "not_a_server_error"
            elif kind == "EngineFinished":
                seconds = float(body.get("running_time", 0.0))
    tail = "\n".join(output.strip().splitlines()[-25:])
    return ContractResult(
        cases=cases,
        operations=len(operations),
        failures=failures,
        server_errors=server_errors,
        seconds=round(seconds, 1),
        exit_code=exit_code,
        summary=tail,
    )


def main() -> None:
    """Build or reuse the world, serve it, run schemathesis, print and record the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=5_000, help="generated cases, at least")
    parser.add_argument("--world", type=Path, help="build the world here once, reuse it after")
    parser.add_argument("--no-record", action="store_true", help="do not write BENCHMARKS.md")
    parser.add_argument("--report-dir", type=Path, help="keep schemathesis' reports here")
    args = parser.parse_args()
    api_key = secrets.token_hex(16)
    with tempfile.TemporaryDirectory(prefix="recsys-contract-") as tmp:
        root = Path(tmp)
        redis = start_redis(root / "redis")
        server = None
        try:
            world = args.world or root / "world"
            env = cli_env(redis.url, world)
            prepare_world(SMALL_WORLD, args.world is not None, env, root / "cli.log")
            env["RECSYS_API_KEY"] = api_key
            env["RECSYS_READ_API_KEY"] = secrets.token_hex(16)  # every route checks a key
            port = free_port()
            command = [sys.executable, "-m", "ops", "serve", "--workers", "2", "--port", str(port)]
            server = start_server(
                "contract server", command, port=port, env=env, cwd=REPO_ROOT, log=root / "s.log"
            )
            server.wait_ready("/health")
            per_operation = -(-args.cases // OPERATIONS)
            result = run_schemathesis(
                server.url,
                max_examples=per_operation,
                api_key=api_key,
                report_dir=args.report_dir or root,
            )
        finally:
            if server is not None:
                server.stop()
            redis.stop()
    print(result.summary)
    print(
        f"{result.cases:,} cases over {result.operations} operations in {result.seconds} s: "
        f"{result.failures} check failures, {result.server_errors} server errors "
        f"(schemathesis exit code {result.exit_code})"
    )
    if not args.no_record:
        from bench.results import record

        record(
            "contract",
            title="API contract: schemathesis against a live server",
            command=f"make contract  (python -m bench.contract --cases {args.cases})",
            columns=["cases", "operations", "failures", "server_errors", "seconds"],
            rows=[
                {
                    "cases": result.cases,
                    "operations": result.operations,
                    "failures": result.failures,
                    "server_errors": result.server_errors,
                    "seconds": result.seconds,
                }
            ],
            notes=(
                "schemathesis 4.32 (all phases, all checks but "
                f"{', '.join(EXCLUDED_CHECKS)}: see bench/contract.py), 2 server workers, "
                "RECSYS_API_KEY set and sent, so missing-auth cases are part of the run."
            ),
        )
    if not result.passed or result.cases < args.cases:
        sys.exit(1)


if __name__ == "__main__":
    main()
