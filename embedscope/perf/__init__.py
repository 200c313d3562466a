"""Speed, footprint and cost of embedding models on the user's own hardware and data.

speed.py      encode throughput, single-query latency percentiles, peak memory
loadtest.py   concurrent requests against an OpenAI-compatible /v1/embeddings server
server.py     a small OpenAI-compatible server around any local embedder (loopback only)
tokens.py     token counts: the model's own tokenizer, or tiktoken cl100k_base for OpenAI models
footprint.py  bytes per vector by precision, flat index size at scale, HNSW graph overhead
cost.py       API vs self-hosted cost at several corpus sizes, with the break-even point
prices.yaml   the editable price table (each row dated)
"""
