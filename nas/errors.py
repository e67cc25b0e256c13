"""User errors (defined in `nas_common.errors`, shared with `search_spaces` and `predictors`)."""

from nas_common.errors import InvalidArchitecture, UserError

__all__ = ["InvalidArchitecture", "UserError"]
