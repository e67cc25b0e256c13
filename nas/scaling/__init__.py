"""Compound scaling (EfficientNet, Tan & Le 2019): the grid of (alpha, beta, gamma) candidates and
scaled architectures, which need no training (`grid`), and the `nas scale` run that trains them on
Ray Tune (`run`)."""
