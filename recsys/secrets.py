"""Keep secrets out of everything the project prints: URLs, connection strings, logs.

A Redis URL may carry a password (`redis://user:secret@host:6379/0`) and Feast's connection
string one too (`host:6379,password="secret"`). Every message that names a Redis goes
through `mask_url` / `mask_text`, and `install_log_filter` masks log records on the way out,
so an exception text that quotes a URL (redis-py's do, now and then) cannot leak it either.
"""

from __future__ import annotations

import logging
import os
import re
from urllib.parse import unquote, urlsplit

MASK = "***"

# scheme://[user][:password]@  -> keeps the user, hides the password
_URL_CREDENTIALS = re.compile(r"(?P<head>\b[a-z][a-z0-9+.-]*://[^:/@\s]*):(?P<secret>[^@\s/]*)@")
# password=... inside a Feast connection string or a query string, up to the next separator
_PASSWORD_ITEM = re.compile(r"(?P<head>\bpassword=)(?P<secret>\"(?:[^\"\\]|\\.)*\"|[^,&\s]*)")


def mask_url(url: str) -> str:
    """The URL with its password replaced by *** (user, host, port and db kept)."""
    return mask_text(url)


def mask_text(text: str) -> str:
    """`text` with every URL password, `password=` item and known secret replaced by ***."""
    text = _URL_CREDENTIALS.sub(lambda m: f"{m['head']}:{MASK}@", text)
    text = _PASSWORD_ITEM.sub(lambda m: f"{m['head']}{MASK}", text)
    for secret in _known_secrets():
        text = text.replace(secret, MASK)
    return text


def _known_secrets() -> list[str]:
    """The password of the configured REDIS_URL, raw and URL-decoded (if it has one)."""
    url = os.environ.get("REDIS_URL", "")
    try:
        raw = urlsplit(url).password if url else None
    except ValueError:
        return []
    if not raw:
        return []
    return sorted({raw, unquote(raw)} - {""}, key=len, reverse=True)


class SecretFilter(logging.Filter):
    """Masks secrets in a record: its message, each argument, and any exception text.

    Arguments are masked one by one rather than merged into the message, because formatters
    may read them (uvicorn's access log unpacks `record.args`).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = mask_text(record.msg)
        elif record.msg is not None:
            record.msg = mask_text(str(record.msg))
        if isinstance(record.args, tuple):
            record.args = tuple(_mask_arg(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: _mask_arg(v) for k, v in record.args.items()}
        if record.exc_info and record.exc_info[1] is not None:
            # format the traceback now, masked; handlers print exc_text when it is set
            record.exc_text = mask_text(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        return True


def _mask_arg(value: object) -> object:
    if isinstance(value, str | bytes | BaseException):
        text = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
        masked = mask_text(text)
        return value if masked == text else masked
    return value


def install_log_filter() -> None:
    """Mask secrets in every log record this process creates, whoever logs it.

    A record factory rather than a handler filter: records from any logger (uvicorn's, Feast's,
    ours) and any handler added later all pass through it. Installing twice is a no-op.
    """
    previous = logging.getLogRecordFactory()
    if getattr(previous, "_masks_secrets", False):
        return
    secret_filter = SecretFilter()

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        secret_filter.filter(record)
        return record

    factory._masks_secrets = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
