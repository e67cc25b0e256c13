"""What a command does from start to end, on top of the engine: a search (`search`) and a group of
seeded searches (`seeds`), retraining (`retrain`), ranking checks against stand-alone training
(`rank_check`) or the NB201 table (`table_rank`), and exporting a network (`export`)."""
