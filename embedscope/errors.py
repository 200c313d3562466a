"""The one base class of every failure embedscope expects (bad data or config, a corrupt cache, an API or server
that says no, a full disk). The command line prints each as one line with exit code 2; anything else is a bug and
keeps its traceback."""

from __future__ import annotations


class EmbedscopeError(Exception):
    """An expected failure. Its message is complete on its own: it names the file, model, server or option at fault."""


class ConfigError(EmbedscopeError, ValueError):
    """A setting is missing, unknown, of the wrong type or out of range (in a YAML config or on the command line)."""
