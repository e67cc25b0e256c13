from search_spaces.nb201.space import NB201Space

__all__ = ["NB201Space"]
