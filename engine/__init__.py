"""flowbot: a declarative conversation engine for WhatsApp bots."""

__version__ = "0.1.0"
