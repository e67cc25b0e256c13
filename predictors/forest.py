"""A random forest over everything known about an architecture without training it: the one-hot
encoding, the cell's path features (spaces with a graph), and any extra columns the caller has,
typically zero-cost proxy scores and costs.

This is the combined estimator of NAS-Bench-Suite-Zero (White et al., NeurIPS 2022 Datasets &
Benchmarks: a tree ensemble on the encoding plus 13 zero-cost scores, fitted on 100 architectures,
Spearman 0.91 on NB201), with scikit-learn's `RandomForestRegressor`. Trees only compare a
feature with thresholds, so any monotone rescaling of a proxy gives the same forest; the extra
columns pass through a signed log, because scikit-learn works in float32 and synflow reaches 1e40
(and a degenerate score's floor is -1e30).
The spread of the trees' predictions is an uncertainty the guided strategy can trade against the
mean. Seeded; fits in tens of milliseconds on a hundred architectures.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from nas_common.errors import UserError
from search_spaces.arch import Arch
from search_spaces.protocol import GraphForm


class ForestEstimator:
    def __init__(self, space: Any, trees: int = 300, max_features: float = 0.5, seed: int = 0) -> None:
        if trees < 1 or not 0 < max_features <= 1:
            raise UserError(f"forest needs trees >= 1 and 0 < max_features <= 1; got {trees}, {max_features}")
        self.space = space
        self.trees, self.max_features, self.seed = trees, max_features, seed
        self.model = None
        self._uses_graph = isinstance(space, GraphForm)

    def features(self, archs: Sequence[Arch], extra: np.ndarray | None = None) -> np.ndarray:
        """(B, F): encoding, path features (graph spaces) and `extra` (B, E) columns."""
        columns = [np.stack([self.space.encode(a) for a in archs]).astype(np.float64)]
        if self._uses_graph:
            from predictors.paths import path_features

            columns.append(path_features(self.space, archs).numpy().astype(np.float64))
        if extra is not None:
            extra = np.asarray(extra, dtype=np.float64).reshape(len(archs), -1)
            columns.append(np.sign(extra) * np.log1p(np.abs(extra)))  # monotone, float32-safe
        return np.concatenate(columns, axis=1)

    def fit(self, archs: Sequence[Arch], scores: Sequence[float], extra: np.ndarray | None = None) -> "ForestEstimator":
        from sklearn.ensemble import RandomForestRegressor

        scores = np.asarray(scores, dtype=np.float64)
        if len(archs) < 2 or len(scores) != len(archs) or not np.all(np.isfinite(scores)):
            raise UserError(f"forest fit needs at least 2 architectures with one finite score each; got "
                            f"{len(archs)} architectures and {len(scores)} scores")
        self.model = RandomForestRegressor(self.trees, max_features=self.max_features, random_state=self.seed,
                                           n_jobs=1)
        self.model.fit(self.features(archs, extra), scores)
        return self

    def predict(self, archs: Sequence[Arch], extra: np.ndarray | None = None) -> np.ndarray:
        if self.model is None:
            raise UserError("forest is not fitted; call fit first")
        if not len(archs):
            return np.zeros(0)
        return self.model.predict(self.features(archs, extra))

    def predict_spread(self, archs: Sequence[Arch], extra: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation over the trees of each architecture's predicted score."""
        if self.model is None:
            raise UserError("forest is not fitted; call fit first")
        if not len(archs):
            return np.zeros(0), np.zeros(0)
        x = self.features(archs, extra)
        per_tree = np.stack([tree.predict(x) for tree in self.model.estimators_])
        return per_tree.mean(0), per_tree.std(0)
