"""Judging a search from its own data: can its supernet be searched (`trust`: random paths against
chance, separability), and is its best really better (`verdict`), from the per-image noise of each
score (`nas.tasks.uncertainty`)."""
