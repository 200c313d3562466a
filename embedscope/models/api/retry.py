"""Retries for API calls (tenacity): exponential backoff with jitter on 429, 5xx and timeouts; Retry-After wins.

A provider that says how long to wait (Retry-After seconds or HTTP date, or retry-after-ms) is waited for at least
that long; otherwise the wait grows base, 2*base, 4*base... up to max_delay, with random jitter so that parallel
workers do not retry in lockstep.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

RETRY_STATUSES = {408, 409, 429}  # and every 5xx
MAX_RETRY_AFTER = 300.0  # a provider asking for more than five minutes is treated as asking for five


def status_of(exc: BaseException) -> int | None:
    for holder in (exc, getattr(exc, "response", None)):
        for attr in ("status_code", "http_status", "status"):
            value = getattr(holder, attr, None)
            if isinstance(value, int):
                return value
    return None


def headers_of(exc: BaseException) -> dict:
    for holder in (exc, getattr(exc, "response", None)):
        headers = getattr(holder, "headers", None)
        if headers:
            try:
                return {str(k).lower(): str(v) for k, v in dict(headers).items()}
            except (TypeError, ValueError):
                continue
    return {}


def retry_after(exc: BaseException) -> float | None:
    """Seconds the server asked us to wait, from Retry-After (seconds or HTTP date) or retry-after-ms."""
    headers = headers_of(exc)
    if "retry-after-ms" in headers:
        try:
            return min(MAX_RETRY_AFTER, float(headers["retry-after-ms"]) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return min(MAX_RETRY_AFTER, max(0.0, float(value)))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return min(MAX_RETRY_AFTER, max(0.0, when.timestamp() - time.time()))


def is_transient(exc: BaseException, transient_types: tuple[type[BaseException], ...] = ()) -> bool:
    """Worth another try: rate limits, server errors, timeouts and dropped connections; never 4xx like 400/401."""
    status = status_of(exc)
    if status is not None:
        return status in RETRY_STATUSES or status >= 500
    return isinstance(exc, (TimeoutError, ConnectionError, *transient_types))


def retrying(
    *,
    max_retries: int,
    base_delay: float,
    max_delay: float,
    transient_types: tuple[type[BaseException], ...] = (),
    on_retry: Callable[[BaseException, float], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Retrying:
    backoff = wait_exponential_jitter(multiplier=base_delay, max=max_delay, jitter=base_delay)

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        delay = backoff(state)
        asked = retry_after(exc) if exc is not None else None
        return max(delay, asked) if asked is not None else delay

    def before_sleep(state: RetryCallState) -> None:
        if on_retry and state.outcome is not None:
            on_retry(state.outcome.exception(), state.upcoming_sleep)

    return Retrying(
        stop=stop_after_attempt(max_retries + 1),
        wait=wait,
        retry=retry_if_exception(lambda e: is_transient(e, transient_types)),
        before_sleep=before_sleep,
        sleep=sleep,
        reraise=True,
    )
