"""The shipped Prometheus rules parse and name only metrics this server exports."""

from __future__ import annotations

import re
from pathlib import Path

import yaml  # type: ignore[import-untyped, unused-ignore]

from tests.serving.conftest import LiveServer

RULES = Path(__file__).resolve().parents[2] / "monitoring" / "prometheus-alerts.yml"
# What the rules must watch (issue 14): each named alert exists.
ALERTS = {
    "RecsysDegradedShareHigh",
    "RecsysNoImpressions",
    "RecsysLowClickThrough",
    "RecsysImpressionsDropped",
    "RecsysFeaturesStale",
    "RecsysServerErrors",
}


def _rules() -> list[dict]:
    spec = yaml.safe_load(RULES.read_text())
    return [rule for group in spec["groups"] for rule in group["rules"]]


def _metric_names(expr: str) -> set[str]:
    return set(re.findall(r"\brecsys_[a-z0-9_]+", expr))


def test_every_rule_is_complete() -> None:
    rules = _rules()
    alerts = {r["alert"]: r for r in rules if "alert" in r}
    assert set(alerts) >= ALERTS
    for name, rule in alerts.items():
        assert rule["expr"].strip() and re.fullmatch(r"\d+[smh]", rule["for"]), name
        assert rule["labels"]["severity"] in {"warning", "critical"}, name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name
    for rule in rules:
        if "record" in rule:
            assert re.fullmatch(r"[a-z_]+:[a-z_]+:[a-z0-9_]+", rule["record"]), rule["record"]
        assert _metric_names(rule["expr"]), rule


def test_rules_name_only_metrics_the_server_exports(live_server: LiveServer) -> None:
    with live_server.client() as client:
        client.get("/recommendations/alert-rules")  # request series carry route labels
        text = client.get("/metrics").text
    exported = {re.split(r"[{ ]", line, maxsplit=1)[0] for line in text.splitlines()}
    exported.discard("#")
    used = set().union(*(_metric_names(rule["expr"]) for rule in _rules()))
    assert used and used <= exported, sorted(used - exported)
