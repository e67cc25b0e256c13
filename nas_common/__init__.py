"""What every layer shares and nothing else: user errors, the registries, typed configs.

`search_spaces`, `predictors` and `nas` all import this package; it imports none of them (the
registries name their provider packages as strings and import them lazily on first lookup).
"""
