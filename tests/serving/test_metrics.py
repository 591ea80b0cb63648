"""What /metrics exposes: only the project's series, named routes, counters from the start."""

from __future__ import annotations

from serving.metrics import EVENT_STATUSES, FALLBACK_REASONS
from tests.serving.conftest import LiveServer


def _families(text: str) -> set[str]:
    return {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}


def test_only_recsys_series_are_exposed(live_server: LiveServer) -> None:
    with live_server.client() as client:
        client.get("/recommendations/metrics-a")
        text = client.get("/metrics").text
    families = _families(text)
    assert "recsys_request_seconds" in families
    # Feast's feature-server gauges live in the same multiprocess folder.
    assert families and all(name.startswith("recsys_") for name in families), families


def test_docs_routes_are_labelled_by_path(live_server: LiveServer) -> None:
    with live_server.client() as client:
        assert client.get("/openapi.json").status_code == 200
        client.get("/no-such-route")
        text = client.get("/metrics").text
    assert 'route="/openapi.json"' in text
    assert 'route="unmatched"' in text  # a path nothing serves still has a label


def test_fallback_and_event_counters_exist_before_the_first_one(
    live_server: LiveServer,
) -> None:
    with live_server.client() as client:
        text = client.get("/metrics").text
    for reason in FALLBACK_REASONS:
        assert f'recsys_fallbacks_total{{reason="{reason}"}}' in text
    for status in EVENT_STATUSES:
        assert f'recsys_events_total{{status="{status}"}}' in text
