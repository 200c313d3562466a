"""Local web app (`embedscope serve`): browse queries, compare models side by side, judge hits."""

from embedscope.webui.explorer import Explorer
from embedscope.webui.server import WebApp, make_server, serve_in_thread

__all__ = ["Explorer", "WebApp", "make_server", "serve_in_thread"]
