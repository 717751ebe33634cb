"""Action modules for the lint corpus (tests/lint/broken/): bots name them `lintcase.<module>`."""
