"""Masked MLPs (Germain, Gregor, Murray & Larochelle 2015, MADE): an MLP whose weight matrices are multiplied by
binary masks so that output d depends only on inputs 1..d-1 (in a fixed ordering of the D inputs), which makes one
pass compute every conditional p(x_d | x_<d) of an autoregressive model.

Degrees: input d has degree d (natural ordering, 1..D); every hidden unit k of layer l draws a degree m_l(k)
uniformly from {min over layer l-1's degrees, ..., D - 1} (seeded); a hidden unit sees the units of the layer
below whose degree is at most its own, and output d sees the last hidden units whose degree is strictly less
than d. Output 1 therefore sees nothing but its bias: p(x_1) is a learned constant.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class MaskedLinear(nn.Linear):
    """A linear layer whose weight is multiplied by a fixed binary mask [out, in] (a buffer, saved with the weights)."""

    mask: Tensor

    def __init__(self, n_in: int, n_out: int, mask: Tensor) -> None:
        super().__init__(n_in, n_out)
        if tuple(mask.shape) != (n_out, n_in):
            raise ValueError(f"mask has shape {tuple(mask.shape)}, expected {(n_out, n_in)}")
        self.register_buffer("mask", mask.to(self.weight.device, self.weight.dtype))

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)


def degrees(num_inputs: int, hidden: Sequence[int], seed: int) -> list[Tensor]:
    """The degrees of the inputs (1..D) and of each hidden layer's units, drawn with `seed` (see the module); on the
    CPU whatever the default device (they are read while the model is built, also on the meta device)."""
    generator = torch.Generator().manual_seed(seed)
    layers = [torch.arange(1, num_inputs + 1, device="cpu")]
    top = max(num_inputs - 1, 1)
    for width in hidden:
        low = min(int(layers[-1].min()), top)
        layers.append(torch.randint(low, top + 1, (width,), generator=generator, device="cpu"))
    return layers


class MaskedMLP(nn.Module):
    """x [B, D] -> [B, num_params, D]: masked linear layers with ReLU between them; output [:, p, d] depends on
    x[:, :d] only (counting d from 0), for every one of the `num_params` parameters of each conditional."""

    def __init__(self, num_inputs: int, hidden: Sequence[int], num_params: int, seed: int = 0) -> None:
        super().__init__()
        self.num_inputs, self.num_params = num_inputs, num_params
        layer_degrees = degrees(num_inputs, hidden, seed)
        layers: list[nn.Module] = []
        for i, (below, above) in enumerate(itertools.pairwise(layer_degrees)):
            if i:
                layers.append(nn.ReLU())
            layers.append(MaskedLinear(len(below), len(above), (above[:, None] >= below[None, :]).long()))
        outputs = torch.arange(1, num_inputs + 1, device="cpu").repeat(num_params)  # degree of output (p, d): d + 1
        last = layer_degrees[-1]
        if len(layer_degrees) > 1:
            layers.append(nn.ReLU())
        layers.append(MaskedLinear(len(last), num_params * num_inputs, (outputs[:, None] > last[None, :]).long()))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).unflatten(-1, (self.num_params, self.num_inputs))
