"""Layers whose sizes are value choices, with the options nested in one set of weights (Once-for-
All, Cai et al. 2020; BigNAS): a k x k kernel is the centre of the largest kernel, c channels are
the first c of the widest layer. Use them where independent candidates (`ValueChoice.map`) would
multiply the weights:

    width, kernel = ValueChoice([16, 24, 32], label="width"), ValueChoice([3, 5, 7], label="kernel")
    self.expand = Conv2d(16, width, 1)
    self.bn = BatchNorm2d(width)
    self.depthwise = Conv2d(width, width, kernel, depthwise=True)

Built for one architecture (`fixed`), each layer is the plain `nn.Conv2d` / `nn.BatchNorm2d` /
`nn.Linear` of the chosen sizes; in the supernet it holds the largest tensors and runs the slices of
the selected sizes, so every path trains the shared weights. `sliced_state` names a path's slices as
the plain layer names its tensors, so `extract` and per-path BN recalibration stay exact (the
batch-norm statistics of c channels are the first c entries of the shared buffers).
"""

from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn
from torch.nn import functional as F

from search_spaces.model_space.choices import SpaceDefinitionError, Sliced, ValueChoice, _current

Size = int | ValueChoice


def _size(value: Size, what: str) -> tuple[str | None, tuple[int, ...], int | None]:
    """(label, the options, the chosen value under `fixed`) of a size given as an int or a choice."""
    if isinstance(value, ValueChoice):
        bad = [v for v in value.values if isinstance(v, bool) or not isinstance(v, int) or v < 1]
        if bad:
            raise SpaceDefinitionError(f"{what} {value.label!r} must choose whole numbers >= 1, got {bad[0]!r}")
        chosen = value.value if _current(what).chosen is not None else None
        return value.label, tuple(value.values), chosen
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SpaceDefinitionError(f"{what} must be a whole number >= 1 or a ValueChoice, got {value!r}")
    return None, (value,), value


class _NestedSizes(Sliced):
    """The sizes of a nested layer by name: label (None when fixed), options, current value."""

    def _set_sizes(self, sizes: Mapping[str, tuple[str | None, tuple[int, ...], int | None]]) -> None:
        self.size_labels = {name: label for name, (label, _, _) in sizes.items()}
        self.size_options = {name: options for name, (_, options, _) in sizes.items()}
        self.current = {name: max(options) for name, options in self.size_options.items()}

    @property
    def labels(self) -> set[str]:
        return {label for label in self.size_labels.values() if label is not None}

    def sizes_of(self, chosen: Mapping[str, int]) -> dict[str, int]:
        return {name: options[chosen[label]] if label is not None else options[0]
                for (name, label), options in zip(self.size_labels.items(), self.size_options.values())}

    def select(self, chosen: Mapping[str, int]) -> None:
        self.current = self.sizes_of(chosen)


def _centre(weight: torch.Tensor, k: int) -> torch.Tensor:
    start = (weight.shape[-1] - k) // 2
    return weight[..., start:start + k, start:start + k]


class Conv2d(_NestedSizes, nn.Module):
    """A convolution with 'same' padding whose channels and kernel size may be value choices;
    `depthwise`: one filter per channel (in = out channels)."""

    def __new__(cls, in_channels: Size | None = None, out_channels: Size = 1, kernel_size: Size = 1, stride: int = 1,
                *, depthwise: bool = False, bias: bool = False):
        if in_channels is None:  # copy.deepcopy and pickle rebuild the object, then its __dict__
            return super().__new__(cls)
        sizes = {"in": _size(in_channels, "Conv2d in_channels"), "out": _size(out_channels, "Conv2d out_channels"),
                 "kernel": _size(kernel_size, "Conv2d kernel_size")}
        if any(k % 2 == 0 for k in sizes["kernel"][1]):
            raise SpaceDefinitionError(f"Conv2d kernel sizes must be odd (centred in the largest), got {sizes['kernel'][1]}")
        if depthwise and sizes["in"][:2] != sizes["out"][:2]:
            raise SpaceDefinitionError("a depthwise Conv2d needs the same in_channels and out_channels choice")
        if _current("Conv2d").chosen is not None:
            c_in, c_out, k = sizes["in"][2], sizes["out"][2], sizes["kernel"][2]
            return nn.Conv2d(c_in, c_out, k, stride, k // 2, groups=c_out if depthwise else 1, bias=bias)
        layer = super().__new__(cls)
        object.__setattr__(layer, "_pending_sizes", sizes)
        return layer

    def __init__(self, in_channels: Size | None = None, out_channels: Size = 1, kernel_size: Size = 1,
                 stride: int = 1, *, depthwise: bool = False, bias: bool = False) -> None:
        sizes = self._pending_sizes
        nn.Module.__init__(self)
        self._set_sizes(sizes)
        c_in, c_out, k = (max(sizes[n][1]) for n in ("in", "out", "kernel"))
        self.stride, self.depthwise = stride, depthwise
        self.weight = nn.Parameter(torch.empty(c_out, 1 if depthwise else c_in, k, k))
        self.bias = nn.Parameter(torch.zeros(c_out)) if bias else None
        nn.init.kaiming_normal_(self.weight, mode="fan_out", nonlinearity="relu")

    def _weight(self, sizes: Mapping[str, int]) -> torch.Tensor:
        c_in, c_out, k = sizes["in"], sizes["out"], sizes["kernel"]
        return _centre(self.weight[:c_out, :1 if self.depthwise else c_in], k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sizes = self.current
        bias = self.bias[:sizes["out"]] if self.bias is not None else None
        return F.conv2d(x, self._weight(sizes), bias, self.stride, sizes["kernel"] // 2, 1,
                        sizes["out"] if self.depthwise else 1)

    def sliced_state(self, chosen: Mapping[str, int]) -> dict[str, torch.Tensor]:
        sizes = self.sizes_of(chosen)
        state = {"weight": self._weight(sizes)}
        if self.bias is not None:
            state["bias"] = self.bias[:sizes["out"]]
        return state


class BatchNorm2d(_NestedSizes, nn.BatchNorm2d):
    """Batch norm over the first c channels of the widest layer's parameters and statistics."""

    def __new__(cls, num_features: Size | None = None, *args: Any, **kwargs: Any):
        if num_features is None:  # copy.deepcopy and pickle
            return super().__new__(cls)
        sizes = {"features": _size(num_features, "BatchNorm2d num_features")}
        if _current("BatchNorm2d").chosen is not None:
            return nn.BatchNorm2d(sizes["features"][2], *args, **kwargs)
        layer = super().__new__(cls)
        object.__setattr__(layer, "_pending_sizes", sizes)
        return layer

    def __init__(self, num_features: Size | None = None, *args: Any, **kwargs: Any) -> None:
        sizes = self._pending_sizes
        nn.BatchNorm2d.__init__(self, max(sizes["features"][1]), *args, **kwargs)
        self._set_sizes(sizes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]  # as nn.BatchNorm2d.forward, on the first c channels of every tensor
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)
            factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        use_batch = self.training or (self.running_mean is None and self.running_var is None)
        tracked = not self.training or self.track_running_stats  # F.batch_norm updates these slices in place
        mean = self.running_mean[:c] if self.running_mean is not None and tracked else None
        var = self.running_var[:c] if self.running_var is not None and tracked else None
        weight = self.weight[:c] if self.weight is not None else None
        bias = self.bias[:c] if self.bias is not None else None
        return F.batch_norm(x, mean, var, weight, bias, use_batch, factor, self.eps)

    def sliced_state(self, chosen: Mapping[str, int]) -> dict[str, torch.Tensor]:
        c = self.sizes_of(chosen)["features"]
        state = {name: getattr(self, name)[:c] for name in ("weight", "bias", "running_mean", "running_var")
                 if getattr(self, name) is not None}
        if self.num_batches_tracked is not None:
            state["num_batches_tracked"] = self.num_batches_tracked
        return state


class Linear(_NestedSizes, nn.Module):
    """A linear layer whose input and output sizes may be value choices."""

    def __new__(cls, in_features: Size | None = None, out_features: Size = 1, bias: bool = True):
        if in_features is None:  # copy.deepcopy and pickle
            return super().__new__(cls)
        sizes = {"in": _size(in_features, "Linear in_features"), "out": _size(out_features, "Linear out_features")}
        if _current("Linear").chosen is not None:
            return nn.Linear(sizes["in"][2], sizes["out"][2], bias=bias)
        layer = super().__new__(cls)
        object.__setattr__(layer, "_pending_sizes", sizes)
        return layer

    def __init__(self, in_features: Size | None = None, out_features: Size = 1, bias: bool = True) -> None:
        sizes = self._pending_sizes
        nn.Module.__init__(self)
        self._set_sizes(sizes)
        reference = nn.Linear(max(sizes["in"][1]), max(sizes["out"][1]), bias=bias)
        self.weight = reference.weight
        self.bias = reference.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c_in, c_out = self.current["in"], self.current["out"]
        return F.linear(x, self.weight[:c_out, :c_in], self.bias[:c_out] if self.bias is not None else None)

    def sliced_state(self, chosen: Mapping[str, int]) -> dict[str, torch.Tensor]:
        sizes = self.sizes_of(chosen)
        state = {"weight": self.weight[:sizes["out"], :sizes["in"]]}
        if self.bias is not None:
            state["bias"] = self.bias[:sizes["out"]]
        return state
