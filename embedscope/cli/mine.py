"""`embedscope mine`: hard-negative mining (defined beside `embedscope finetune`, which uses it too)."""

from embedscope.cli.finetune import mine_command as command

__all__ = ["command"]
