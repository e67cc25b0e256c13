from search_spaces.shufflenet.space import ShuffleNetSpace

__all__ = ["ShuffleNetSpace"]
