from search_spaces.mbconv.space import MBConvSpace

__all__ = ["MBConvSpace"]
