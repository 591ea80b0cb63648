"""The try-it page in a real headless Chromium against the real API (model, Feast, Redis).

Chromium comes from Debian (`make browser`), not from `playwright install`: the machines that
run these tests have no internet beyond package registries.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    Response,
    expect,
    sync_playwright,
)

from recsys.redis_runtime import free_port
from tests.serving.conftest import LiveServer, start_server, world_settings
from tests.world import World

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--headless=new",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOT = Path("/tmp/page.png")


@dataclass
class Tab:
    """One browser page and everything it logged as an error."""

    page: Page
    errors: list[str] = field(default_factory=list)


# Session scope and autouse put this check before the (slow) world is built: a machine
# without Chromium fails in a second, with the fix in the message. Never a skip.
@pytest.fixture(scope="session", autouse=True)
def chromium() -> Path:
    """The Chromium binary, or a failure that says how to install it."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} not found: the page tests drive a real Chromium; run `make browser` "
            "to install Debian's chromium package, then run the tests again"
        )
    return CHROMIUM


@pytest.fixture(scope="module")
def browser(chromium: Path) -> Iterator[Browser]:
    """Debian's Chromium, headless, for the module's tests."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(chromium), args=CHROMIUM_ARGS, timeout=60_000
        )
        yield launched
        launched.close()


@pytest.fixture
def tab(browser: Browser) -> Iterator[Tab]:
    """A fresh browser context (no shared storage) whose console errors are collected."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(20_000)
    page = context.new_page()
    opened = Tab(page)

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            opened.errors.append(f"console: {message.text} ({message.location})")

    page.on("console", console)
    page.on("pageerror", lambda error: opened.errors.append(f"uncaught: {error}"))
    yield opened
    context.close()


def _session() -> str:
    return f"page-{uuid.uuid4().hex[:12]}"


def _sample_user(server: LiveServer) -> str:
    with server.client() as client:
        return str(client.get("/users/sample", params={"n": 1}).json()[0]["user_id"])


def _card_ids(page: Page) -> list[str]:
    return [
        str(i)
        for i in page.locator("#recs > li.card").evaluate_all("n => n.map(c => c.dataset.itemId)")
    ]


def _landed(world: World, *, session_id: str) -> list[dict[str, Any]]:
    folder = world.data_dir / "landing" / "served"
    lines = [line for f in sorted(folder.glob("*.jsonl")) for line in f.read_text().splitlines()]
    return [r for r in map(json.loads, lines) if r["session_id"] == session_id]


def _wait_render(page: Page, count: int) -> None:
    expect(page.locator("#recs")).to_have_attribute("data-render", str(count))


def _posted(response: Response) -> bool:
    return response.url.endswith("/events") and response.request.method == "POST"


def test_clicking_an_item_sends_an_event_and_changes_the_list(
    tab: Tab, live_server: LiveServer, world: World
) -> None:
    page, session = tab.page, _session()
    user = _sample_user(live_server)
    page.goto(f"{live_server.url}/?session={session}")
    _wait_render(page, 1)

    # The first sample user is picked, the list is ranked and the model is named.
    expect(page.locator("#sample-users")).to_have_value(user)
    expect(page.locator("#session-id")).to_have_text(session)
    expect(page.locator("#model-version")).to_have_text(world.model_version)
    expect(page.locator("#latency")).to_contain_text("ms")
    expect(page.locator("#timings")).to_contain_text("rank")
    expect(page.locator("#degraded")).to_be_hidden()
    before = _card_ids(page)
    assert len(before) == 10 and len(set(before)) == 10, before
    ranks = page.locator("#recs > li.card .rank").all_inner_texts()
    assert ranks == [f"#{r}" for r in range(1, 11)]
    assert page.locator("#recs").get_attribute("data-session-events") == "0"
    expect(page.locator("#history > li")).to_have_count(0)

    clicked = before[1]
    with page.expect_response(_posted) as posted:
        page.locator(f'#recs > li.card[data-item-id="{clicked}"] button.title').click()
    assert posted.value.status == 200 and posted.value.json()["accepted"] == 1
    _wait_render(page, 2)

    # The page fetched again: the server saw the click and the seen item left the list.
    assert page.locator("#recs").get_attribute("data-session-events") == "1"
    after = _card_ids(page)
    assert len(after) == 10 and clicked not in after and after != before
    history = page.locator("#history > li")
    expect(history).to_have_count(1)
    expect(history.first).to_have_attribute("data-item-id", clicked)
    expect(history.first).to_have_attribute("data-event-type", "view")
    expect(history.first).to_contain_text("viewed")

    # Independently of the page: the API counts the event and it landed for the next dbt build.
    with live_server.client() as client:
        body = client.get(f"/recommendations/{user}", params={"session_id": session}).json()
    assert body["session_events"] == 1
    landed = _landed(world, session_id=session)
    assert [(r["user_id"], r["item_id"], r["event_type"]) for r in landed] == [
        (user, clicked, "view")
    ]

    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert tab.errors == []


def test_keyboard_cold_start_cart_explain_and_new_session(
    tab: Tab, live_server: LiveServer, world: World
) -> None:
    page, session = tab.page, _session()
    visitor = f"visitor-{uuid.uuid4().hex[:8]}"
    page.goto(f"{live_server.url}/?session={session}&explain=1&k=5")
    _wait_render(page, 1)

    # An unknown user typed by keyboard: a new session, a cold-start list with explanations.
    page.locator("#user-id").fill(visitor)
    page.locator("#user-id").press("Enter")
    _wait_render(page, 2)
    expect(page.locator("#sample-users")).to_have_value("")
    visitor_session = page.locator("#session-id").inner_text()
    assert visitor_session not in ("", session)
    cards = page.locator("#recs > li.card")
    expect(cards).to_have_count(5)
    expect(page.locator("#recs > li.card .explanation").first).to_be_visible()
    assert page.locator("#recs > li.card").first.locator(".contribs > li").count() >= 1
    # Each contribution reads as "meaning in words = this item's value".
    first = page.locator("#recs > li.card").first.locator(".contribs .feature").first
    label, value = first.inner_text().rsplit(" = ", 1)
    assert " " in label and "_" not in label, label
    assert value == "missing" or float(value) == float(value)
    # The page says what it is, that the demo data is generated, and what candidates means.
    assert "generated" in page.locator("#intro").inner_text()
    assert "at most 300" in page.locator("#candidates-why").inner_text()

    # "Add to cart" activated from the keyboard sends add_to_cart and refetches.
    item = str(cards.first.get_attribute("data-item-id"))
    cart = cards.first.locator('[data-action="add_to_cart"]')
    cart.focus()
    with page.expect_response(_posted) as posted:
        page.keyboard.press("Enter")
    assert posted.value.status == 200
    _wait_render(page, 3)
    assert page.locator("#recs").get_attribute("data-session-events") == "1"
    expect(page.locator("#history > li").first).to_have_attribute("data-event-type", "add_to_cart")
    landed = _landed(world, session_id=visitor_session)
    assert [(r["user_id"], r["item_id"], r["event_type"]) for r in landed] == [
        (visitor, item, "add_to_cart")
    ]

    # "New session" starts over: another id, an empty history, no session events.
    page.get_by_role("button", name="New session").click()
    _wait_render(page, 4)
    assert page.locator("#session-id").inner_text() not in (visitor_session, session)
    expect(page.locator("#history > li")).to_have_count(0)
    assert page.locator("#recs").get_attribute("data-session-events") == "0"
    assert tab.errors == []


def test_degraded_answer_shows_a_banner_with_the_reason(tab: Tab, world: World) -> None:
    # A real fault: the server's Redis URL points at a port nobody listens on.
    settings = world_settings(world, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    live, server, thread = start_server(settings)
    try:
        page = tab.page
        page.goto(f"{live.url}/?session={_session()}")
        _wait_render(page, 1)
        expect(page.locator("#degraded")).to_be_visible()
        expect(page.locator("#degraded-reason")).to_contain_text("online store unavailable")
        expect(page.locator("#recs > li.card")).not_to_have_count(0)
        assert page.locator("#recs").get_attribute("data-degraded") == "true"
        assert tab.errors == []
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.mark.parametrize(("path", "rendered"), [("/docs", ".opblock"), ("/redoc", "h2")])
def test_api_docs_render_without_internet(
    tab: Tab, live_server: LiveServer, path: str, rendered: str
) -> None:
    page = tab.page
    outside: list[str] = []

    def only_local(route: Any) -> None:
        # Stand-in for a machine without internet: anything not on this server fails.
        if route.request.url.startswith(live_server.url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_local)
    page.goto(f"{live_server.url}{path}")
    expect(page.locator(rendered).first).to_be_visible(timeout=30_000)
    assert "/recommendations/{user_id}" in page.content()
    assert not outside, f"{path} fetched from outside the server: {outside}"
