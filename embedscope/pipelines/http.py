"""JSON over HTTP for hosted rerankers and chat models: one client, retries on rate limits and server errors."""

from __future__ import annotations

import os
import time

RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}


class APIError(RuntimeError):
    pass


class JSONClient:
    """POSTs JSON with httpx. 429 and 5xx are retried with exponential backoff (honouring Retry-After);
    other errors stop at once with the server's message, since retrying a bad request cannot fix it."""

    def __init__(self, url: str, api_key: str | None = None, key_env: str | None = None, timeout: float = 60.0,
                 retries: int = 5, backoff: float = 1.0):
        import httpx

        self.url = url
        key = api_key or (os.environ.get(key_env) if key_env else None)
        headers = {"Content-Type": "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self.key_env = key_env
        self.retries = retries
        self.backoff = backoff
        self.client = httpx.Client(headers=headers, timeout=timeout)

    def post(self, payload: dict, url: str | None = None) -> dict:
        import httpx

        url = url or self.url
        for attempt in range(self.retries + 1):
            try:
                response = self.client.post(url, json=payload)
            except httpx.TransportError as e:
                if attempt == self.retries:
                    raise APIError(f"{url}: {type(e).__name__}: {e}") from None
                time.sleep(self.backoff * 2**attempt)
                continue
            if response.status_code in RETRY_STATUS and attempt < self.retries:
                time.sleep(_retry_after(response) or self.backoff * 2**attempt)
                continue
            if response.status_code in (401, 403):
                hint = f" (set {self.key_env})" if self.key_env else ""
                raise APIError(f"{url}: HTTP {response.status_code}, not authorised{hint}: {response.text[:200]}")
            if response.status_code >= 400:
                raise APIError(f"{url}: HTTP {response.status_code}: {response.text[:300]}")
            try:
                return response.json()
            except ValueError:
                raise APIError(f"{url}: response is not JSON: {response.text[:200]}") from None
        raise APIError(f"{url}: gave up after {self.retries + 1} attempts")

    def close(self) -> None:
        self.client.close()


def _retry_after(response) -> float | None:
    try:
        return min(float(response.headers.get("retry-after", "")), 60.0)
    except ValueError:
        return None
