from search_spaces.binary.space import BinarySpace

__all__ = ["BinarySpace"]
