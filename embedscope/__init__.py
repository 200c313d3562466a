"""embedscope: choose the right text-embedding model for your own data."""

from embedscope.data import Dataset, load_dataset
from embedscope.runs import Run
from embedscope.metrics import evaluate

__all__ = ["Dataset", "Run", "evaluate", "load_dataset"]
__version__ = "0.1.0"
