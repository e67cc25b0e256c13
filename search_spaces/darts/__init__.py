from search_spaces.darts.genotype import DARTS_V2, Genotype, parse_genotype
from search_spaces.darts.space import DartsSpace

__all__ = ["DARTS_V2", "DartsSpace", "Genotype", "parse_genotype"]
