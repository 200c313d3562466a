"""Sweeps: one model's cached vectors searched many ways (compressed, approximate) and scored on the task."""

from embedscope.sweeps.ann import AnnSweep, ann_sweep, grid
from embedscope.sweeps.compression import Compression, CompressionSweep, compression_sweep, default_options, parse_option

__all__ = ["AnnSweep", "Compression", "CompressionSweep", "ann_sweep", "compression_sweep", "default_options",
           "grid", "parse_option"]
