"""Report: console table, Markdown summary, result files (and the HTML report beside them)."""

from embedscope.report.console import print_leaderboard
from embedscope.report.outputs import new_run_dir, write_outputs

__all__ = ["new_run_dir", "print_leaderboard", "write_outputs"]
