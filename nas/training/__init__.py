"""Training one architecture alone, from scratch: the ground truth a supernet's ranking is checked
against, and the retrain of a search's winner."""
