"""A search's settings: the typed config saved as config.json (`run_config`) and the named presets
its defaults come from (`presets`)."""
