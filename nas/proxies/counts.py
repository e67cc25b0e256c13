"""`params` and `flops`: the baselines every proxy must beat (Ning et al. 2021, "Evaluating Efficient
Performance Estimators of Neural Architectures", find parameter count at Kendall tau ~0.6 on
NAS-Bench-201). Counted by the space (`torch.utils.flop_counter`, cached per decision), no data."""

from __future__ import annotations

from nas.proxies.base import ProxyInput, register


@register("params", "number of parameters of the stand-alone network", "Ning et al. 2021 (baseline)",
          needs_data=False)
def params(inp: ProxyInput) -> float:
    return float(inp.space.params(inp.arch))


@register("flops", "FLOPs of the stand-alone network (a multiply-add is 2)", "Ning et al. 2021 (baseline)",
          needs_data=False)
def flops(inp: ProxyInput) -> float:
    return float(inp.space.flops(inp.arch))
