"""Supernet engine: single-path training, per-path BatchNorm recalibration, checkpoints."""
