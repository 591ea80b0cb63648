import logging
from io import StringIO

import pytest

from recsys.secrets import install_log_filter, mask_text, mask_url


def test_urls_and_connection_strings_lose_their_passwords() -> None:
    assert mask_url("redis://alice:s%40cret@h:6379/0") == "redis://alice:***@h:6379/0"
    assert (
        mask_url("rediss://:pw@h:6380/1?ssl_cert_reqs=none")
        == "rediss://:***@h:6380/1?ssl_cert_reqs=none"
    )
    assert mask_url("redis://h:6379/0") == "redis://h:6379/0"
    assert (
        mask_text('h:6379,db=0,username="a",password="p\\u002cw",ssl=true')
        == 'h:6379,db=0,username="a",password=***,ssl=true'
    )


def test_the_configured_password_is_masked_in_any_text_and_log_record(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://u:pa%24%24word@h:1/0")
    assert mask_text("auth failed for pa$$word and pa%24%24word") == "auth failed for *** and ***"
    install_log_filter()
    stream = StringIO()
    handler = logging.StreamHandler(stream)
    log = logging.getLogger("test_secrets")
    log.addHandler(handler)
    try:
        log.warning("connecting to %s", "redis://u:pa%24%24word@h:1/0")
        try:
            raise RuntimeError("password pa$$word rejected")
        except RuntimeError:
            log.exception("failed")
    finally:
        log.removeHandler(handler)
    text = stream.getvalue()
    assert "pa$$word" not in text and "pa%24%24word" not in text
    assert "redis://u:***@h:1/0" in text and "RuntimeError: password *** rejected" in text
