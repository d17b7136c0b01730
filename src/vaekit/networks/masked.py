"""Masked MLPs (Germain, Gregor, Murray & Larochelle 2015, MADE): an MLP whose weight matrices are multiplied by
binary masks so that output d depends only on the inputs before d in an ordering of the D inputs, which makes one
pass compute every conditional p(x_d | x_<d) of an autoregressive model.

Degrees: input d has degree o(d) in 1..D, its position in the ordering (the natural one: o(d) = d, or a seeded
random permutation); every hidden unit k of layer l draws a degree m_l(k) uniformly from {min over layer l-1's
degrees, ..., D - 1} (seeded); a hidden unit sees the units of the layer below whose degree is at most its own,
and output d sees the last hidden units whose degree is strictly less than o(d), and, with direct connections,
the inputs of degree less than o(d). The first input in the ordering sees nothing but its bias: p(x_first) is a
learned constant.

One network can hold several masks (`num_masks`): mask m is drawn with seed `seed + m` (a new ordering, when the
ordering is random, and new hidden degrees); `use_mask(m)` switches the layers to it. Mask 0 is the single-mask
network of the same seed. A single mask is saved with the weights (as it always was); several are rebuilt from
their seeds, never saved.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

ORDERS = ("natural", "random")


class MaskedLinear(nn.Linear):
    """A linear layer whose weight is multiplied by a binary mask [out, in] (a buffer, saved with the weights unless
    `persistent` is False: masks that are rebuilt from their seed)."""

    mask: Tensor

    def __init__(self, n_in: int, n_out: int, mask: Tensor, bias: bool = True, persistent: bool = True) -> None:
        super().__init__(n_in, n_out, bias=bias)
        if tuple(mask.shape) != (n_out, n_in):
            raise ValueError(f"mask has shape {tuple(mask.shape)}, expected {(n_out, n_in)}")
        self.register_buffer("mask", mask.to(self.weight.device, self.weight.dtype), persistent=persistent)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)


def degrees(num_inputs: int, hidden: Sequence[int], seed: int, order: str = "natural") -> list[Tensor]:
    """The degrees of the inputs (their positions in the ordering, 1..D) and of each hidden layer's units, drawn
    with `seed` (see the module); on the CPU whatever the default device (they are read while the model is built,
    also on the meta device). A random ordering is `torch.randperm(D)` seeded with `seed`: input
    `permutation[i]` comes i-th."""
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.arange(1, num_inputs + 1, device="cpu")
    if order == "random":
        permutation = torch.randperm(num_inputs, generator=torch.Generator().manual_seed(seed), device="cpu")
        inputs = torch.empty_like(inputs)
        inputs[permutation] = torch.arange(1, num_inputs + 1, device="cpu")
    elif order != "natural":
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    layers = [inputs]
    top = max(num_inputs - 1, 1)
    for width in hidden:
        low = min(int(layers[-1].min()), top)
        layers.append(torch.randint(low, top + 1, (width,), generator=generator, device="cpu"))
    return layers


def _masks(layer_degrees: list[Tensor], num_params: int, direct: bool) -> list[Tensor]:
    """The masks of each layer (in order, then the direct connections' where asked) for these degrees."""
    masks = [(above[:, None] >= below[None, :]).long() for below, above in itertools.pairwise(layer_degrees)]
    outputs = layer_degrees[0].repeat(num_params)  # output (p, d) has input d's degree
    masks.append((outputs[:, None] > layer_degrees[-1][None, :]).long())
    if direct:
        masks.append((outputs[:, None] > layer_degrees[0][None, :]).long())
    return masks


class MaskedMLP(nn.Module):
    """x [B, D] -> [B, num_params, D]: masked linear layers with ReLU between them (and, with `direct`, masked
    connections from the inputs straight to the outputs); output [:, p, d] depends only on the inputs before d in
    the current mask's ordering, for every one of the `num_params` parameters of each conditional."""

    def __init__(self, num_inputs: int, hidden: Sequence[int], num_params: int, seed: int = 0,
                 order: str = "natural", direct: bool = False, num_masks: int = 1) -> None:
        super().__init__()
        self.num_inputs, self.num_params = num_inputs, num_params
        self.hidden, self.seed, self.order, self.num_masks = tuple(hidden), seed, order, num_masks
        layer_degrees = degrees(num_inputs, hidden, seed, order)
        masks = _masks(layer_degrees, num_params, direct)
        layers: list[nn.Module] = []
        saved = num_masks == 1
        for i, mask in enumerate(masks[: len(hidden) + 1]):
            if i:
                layers.append(nn.ReLU())
            layers.append(MaskedLinear(mask.shape[1], mask.shape[0], mask, persistent=saved))
        self.net = nn.Sequential(*layers)
        self.direct = (MaskedLinear(num_inputs, num_params * num_inputs, masks[-1], bias=False, persistent=saved)
                       if direct else None)
        self.current = 0  # the mask the layers hold

    def _masked(self) -> list[MaskedLinear]:
        layers = [m for m in self.net if isinstance(m, MaskedLinear)]
        return layers + ([self.direct] if self.direct is not None else [])

    def ordering(self, mask: int | None = None) -> Tensor:
        """The inputs in the order of mask `mask` (default: the current one): [D] indices, first to last."""
        m = self.current if mask is None else mask
        return torch.argsort(degrees(self.num_inputs, (), self.seed + m, self.order)[0])

    def use_mask(self, mask: int) -> None:
        """Switch every layer to mask `mask` (0 <= mask < num_masks)."""
        if not 0 <= mask < self.num_masks:
            raise ValueError(f"mask {mask} out of range: this network has {self.num_masks}")
        if mask == self.current:
            return
        new = _masks(degrees(self.num_inputs, self.hidden, self.seed + mask, self.order), self.num_params,
                     self.direct is not None)
        for layer, values in zip(self._masked(), new):
            layer.mask.copy_(values)
        self.current = mask

    def forward(self, x: Tensor) -> Tensor:
        out = self.net(x)
        if self.direct is not None:
            out = out + self.direct(x)
        return out.unflatten(-1, (self.num_params, self.num_inputs))
