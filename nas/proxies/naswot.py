"""`naswot`: NAS without training (Mellor et al., ICML 2021), the ICML version's score.

Every activation's input is turned into a binary code per image (unit active or not). For a batch
of N images the kernel K[i, j] = sum over units of [c_i == c_j] counts the units on which images i
and j agree (`c c^T + (1-c)(1-c)^T`, summed over layers); the score is log|det K|. A network that
separates the images into distinct linear regions has a well-conditioned K and a high score.
Checked against BayesWatch/nas-without-training (`score_networks.py`: hooks on every ReLU module,
codes `inp > 0`, `np.linalg.slogdet(K)[1]`, train mode, batch 128). Besides ReLU we hook the other
activation modules, so spaces built on SiLU or PReLU (mbconv, binary) have a score too.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from nas.proxies.base import ProxyInput, register

ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.SiLU, nn.Hardswish, nn.GELU, nn.ELU)


def binary_code_kernel(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """K (N x N, float64): on how many activation units each pair of images agrees."""
    n = x.shape[0]
    kernel = torch.zeros(n, n, dtype=torch.float64)

    def hook(module: nn.Module, args: tuple) -> None:
        # A pre-hook: the activation's input before an in-place activation overwrites it. The kernel
        # does not depend on the order of the units, so a channels-last map is read as it lies.
        act = args[0].detach()
        if act.dim() == 4 and act.is_contiguous(memory_format=torch.channels_last):
            act = act.permute(0, 2, 3, 1)
        code = (act.reshape(n, -1) > 0).float()
        # Agreements c c^T + (1-c)(1-c)^T in one product: 2 c c^T - |c_i| - |c_j| + units (the
        # same integers: float32 counts are exact up to 2^24 units per layer; the sum is float64).
        active = code.sum(1)
        agree = 2 * (code @ code.T) - active[:, None] - active[None, :] + code.shape[1]
        kernel.add_(agree.double().cpu())

    handles = [m.register_forward_pre_hook(hook) for m in net.modules() if isinstance(m, ACTIVATIONS)]
    if not handles:
        raise ValueError(f"naswot needs activation modules ({', '.join(a.__name__ for a in ACTIVATIONS)}); "
                         f"{type(net).__name__} has none")
    try:
        with torch.no_grad():
            net(x)
    finally:
        for handle in handles:
            handle.remove()
    return kernel


@register("naswot", "log|det| of the kernel of binary activation codes on one batch",
          "Mellor et al., ICML 2021 (BayesWatch/nas-without-training)")
def naswot(inp: ProxyInput) -> float:
    sign, logdet = torch.linalg.slogdet(binary_code_kernel(inp.net, inp.inputs))
    return float(logdet) if sign > 0 else -math.inf  # singular: the codes do not tell images apart
