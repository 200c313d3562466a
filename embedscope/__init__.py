"""embedscope: choose the right text-embedding model for your own data."""

__all__ = ["Dataset", "Run", "evaluate", "load", "load_dataset"]
__version__ = "0.1.0"

# Imported on first use, so `import embedscope.cli` (and `embedscope --help`) loads none of numpy, pandas, torch.
_LAZY = {"Dataset": "embedscope.data", "load": "embedscope.data", "load_dataset": "embedscope.data",
         "Run": "embedscope.runs", "evaluate": "embedscope.metrics"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'embedscope' has no attribute {name!r}")
