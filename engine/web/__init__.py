"""The HTTP side: provider webhooks in, the proactive API; `build_app` is the entry point."""

from engine.web.app import build_app

__all__ = ["build_app"]
