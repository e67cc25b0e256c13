"""`jacov`: Jacobian covariance (Mellor et al., arXiv v1 of "Neural Architecture Search without
Training", 2020; `jacob_cov` in SamsungLabs/zero-cost-nas).

The Jacobian of the summed output with respect to each input image (`y.backward(ones_like(y))`,
one row per image), the correlation matrix of those rows, its eigenvalues v, and the score
-sum(log(v + k) + 1 / (v + k)) with k = 1e-5: high when the images' Jacobians are uncorrelated.
Checked against zero-cost-nas `measures/jacob_cov.py` (train mode, `np.corrcoef`, `eig`; we use
`eigvalsh`, the same eigenvalues for a symmetric matrix without complex round-off).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from nas.proxies.base import ProxyInput, output_sum, register

K = 1e-5


def jacobian_rows(inp: ProxyInput) -> np.ndarray | None:
    """d(sum of outputs)/d(input), one flattened row per image; None if the output ignores the input."""
    x = inp.inputs.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(output_sum(inp.net(x)), x, allow_unused=True)
    return None if grad is None else grad.reshape(x.shape[0], -1).double().cpu().numpy()


def correlation_score(rows: np.ndarray) -> float:
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.corrcoef(rows)
    if not np.all(np.isfinite(corr)):
        return -math.inf  # a constant row: the output does not depend on that image
    v = np.linalg.eigvalsh(corr)
    return float(-np.sum(np.log(v + K) + 1.0 / (v + K)))


@register("jacov", "correlation of the input Jacobians of a batch's images (higher: less correlated)",
          "Mellor et al. 2020 v1; Abdelfattah et al., ICLR 2021 (SamsungLabs/zero-cost-nas jacob_cov)")
def jacov(inp: ProxyInput) -> float:
    rows = jacobian_rows(inp)
    return -math.inf if rows is None else correlation_score(rows)
