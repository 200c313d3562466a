"""JSON over HTTP for hosted rerankers and chat models: one client, retries on rate limits and server errors."""

from __future__ import annotations

import os
import time

from embedscope.errors import EmbedscopeError

RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}


class APIError(EmbedscopeError, RuntimeError):
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


def chat_url(url: str) -> str:
    """Accepts the API base (http://host:port/v1) or the full chat completions URL."""
    url = url.rstrip("/")
    return url if url.endswith("/chat/completions") else f"{url}/chat/completions"


class ChatClient:
    """One chat model behind an OpenAI-compatible API (OpenAI, vLLM, llama.cpp, Ollama, ...): the query
    generator, the LLM judge and the LLM rerankers all talk through it. Temperature 0 by default, so
    judgments, queries and rankings are repeatable."""

    def __init__(self, base_url: str | None, model: str | None, api_key: str | None = None, *,
                 key_env: str = "OPENAI_API_KEY", temperature: float = 0.0, max_tokens: int = 128,
                 timeout: float = 60.0, retries: int = 2, backoff: float = 1.0):
        if not base_url:
            raise ValueError("an LLM needs the chat API URL, e.g. http://127.0.0.1:8000/v1")
        if not model:
            raise ValueError("an LLM needs a model name (the chat model the server should use)")
        self.base_url = base_url
        self.model = model
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.calls = 0
        self.http = JSONClient(chat_url(base_url), api_key=api_key, key_env=key_env, timeout=timeout,
                               retries=retries, backoff=backoff)

    def chat(self, messages: list[dict], max_tokens: int | None = None) -> str:
        answer = self.http.post({"model": self.model, "messages": messages, "temperature": self.temperature,
                                 "max_tokens": max_tokens or self.max_tokens})
        self.calls += 1
        try:
            return (answer["choices"][0]["message"]["content"] or "").strip()
        except (KeyError, IndexError, TypeError):
            raise APIError(f"{self.http.url}: no choices[0].message.content in the response") from None

    def complete(self, system: str, user: str) -> str:
        return self.chat([{"role": "system", "content": system}, {"role": "user", "content": user}])


def _retry_after(response) -> float | None:
    try:
        return min(float(response.headers.get("retry-after", "")), 60.0)
    except ValueError:
        return None
