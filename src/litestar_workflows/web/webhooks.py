"""Signed webhook deliveries: how an outside system proves a callback comes from it.

A :class:`~litestar_workflows.steps.webhook.WebhookStep` with a ``secret`` accepts deliveries
over HTTP. The sender puts two headers on its ``POST``:

* ``X-Workflows-Timestamp``: the time of sending, whole seconds since the Unix epoch;
* ``X-Workflows-Signature``: ``sha256=`` and the hex HMAC-SHA256, keyed with the step's secret,
  of the timestamp, a dot, and the raw body bytes (``b"1717000000." + body``).

The timestamp is signed with the body and required, so a captured delivery cannot be replayed
once it is older than the step's ``max_age`` (five minutes by default), nor re-dated. The
signature is compared in constant time (:func:`hmac.compare_digest`) over the body exactly as
received, before anything is parsed or changed. :func:`signature_headers` builds the headers for
a sender written in Python (and for tests).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Final

__all__ = (
    "SIGNATURE_HEADER",
    "SIGNATURE_PREFIX",
    "TIMESTAMP_HEADER",
    "BadSignatureError",
    "sign",
    "signature_headers",
    "verify",
)

SIGNATURE_HEADER: Final = "X-Workflows-Signature"
TIMESTAMP_HEADER: Final = "X-Workflows-Timestamp"
SIGNATURE_PREFIX: Final = "sha256="


class BadSignatureError(Exception):
    """A delivery's signature headers are missing, malformed, stale or wrong (the message says which)."""


def sign(key: bytes, timestamp: int, body: bytes) -> str:
    """The signature header value for ``body`` sent at ``timestamp`` (``sha256=<hex>``)."""
    digest = hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


def signature_headers(key: str | bytes, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
    """The two headers a sender puts on a delivery of ``body`` (signed now unless ``timestamp``)."""
    raw_key = key.encode() if isinstance(key, str) else key
    moment = int(time.time()) if timestamp is None else timestamp
    return {TIMESTAMP_HEADER: str(moment), SIGNATURE_HEADER: sign(raw_key, moment, body)}


def verify(
    key: bytes,
    body: bytes,
    signature: str | None,
    timestamp: str | None,
    *,
    max_age: float,
    now: float | None = None,
) -> None:
    """Check a delivery's headers against ``key`` and the raw ``body``.

    Raises:
        BadSignatureError: A header is missing or malformed, the timestamp is further than
            ``max_age`` seconds from ``now`` (either way), or the signature does not match.
    """
    if not signature or not timestamp:
        missing = [
            name
            for name, value in ((TIMESTAMP_HEADER, timestamp), (SIGNATURE_HEADER, signature))
            if not value
        ]
        raise BadSignatureError(f"the delivery is not signed: {' and '.join(missing)} missing")
    if not timestamp.isascii() or not timestamp.isdigit():
        raise BadSignatureError(f"{TIMESTAMP_HEADER} must be whole seconds since the Unix epoch")
    sent = int(timestamp)
    current = time.time() if now is None else now
    if abs(current - sent) > max_age:
        raise BadSignatureError(
            f"{TIMESTAMP_HEADER} is more than {max_age:g} seconds away from now: a stale or replayed delivery"
        )
    if not signature.startswith(SIGNATURE_PREFIX):
        raise BadSignatureError(f"{SIGNATURE_HEADER} must be '{SIGNATURE_PREFIX}<hex digest>'")
    if not hmac.compare_digest(sign(key, sent, body).encode(), signature.strip().encode()):
        raise BadSignatureError("the signature does not match the body and the step's secret")
