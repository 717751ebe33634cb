"""Action plugin modules: `actions/<name>.py` is listed as `<name>` under `actions:` in a bot's manifest."""
