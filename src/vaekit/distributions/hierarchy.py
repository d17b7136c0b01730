"""Distributions over several latent layers at once, sampled ancestrally: what lets a hierarchy of stochastic
layers stay inside the model protocol (one `z`, one `log_prob`).

A two-layer VAE (Burda et al. 2016) has q(z1, z2|x) = q(z1|x) q(z2|z1) and p(z1, z2) = p(z2) p(z1|z2). Both are
a `Chain` over the concatenation z = [z1, z2]: `rsample` draws layer by layer, each conditional a network's
distribution given the layer before, and `log_prob(z)` is the sum of the layers' log-densities. `log_prob_parts`
gives each layer's term by name, so that diagnostics can report the KL of each layer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar, cast

import torch
from torch import Tensor
from torch.distributions import Distribution, constraints

Conditional = Callable[[Tensor], Distribution]  # previous layer's value [..., d_prev] -> distribution over the next


class Chain(Distribution):
    """z_1 ~ first, z_{i+1} ~ conditionals[i](z_i): a distribution over the concatenated layers.

    Args:
        first: the first layer in sampling order: batch [B], event [sizes[0]].
        conditionals: for each later layer, a function from the previous layer's value [..., B, d_i] to a
            distribution with batch [..., B] and event [sizes[i + 1]].
        sizes: each layer's dimension, in sampling order.
        names: each layer's name, in sampling order.
        reverse: lay the layers out in the concatenated vector in reverse sampling order, so that a prior
            p(z2) p(z1|z2) and a posterior q(z1|x) q(z2|z1) both read z = [z1, z2].

    Shapes: `rsample((K,))` gives [K, B, sum(sizes)]; `log_prob(z)` gives [K, B], nats.
    """

    arg_constraints: ClassVar[dict] = {}
    support = constraints.independent(constraints.real, 1)

    def __init__(self, first: Distribution, conditionals: Sequence[Conditional], sizes: Sequence[int],
                 names: Sequence[str], *, reverse: bool = False, validate_args: bool | None = None) -> None:
        if not (len(sizes) == len(names) == len(conditionals) + 1):
            raise ValueError("a Chain needs one size and one name per layer, and one conditional per later layer")
        self.first, self.conditionals = first, list(conditionals)
        self.sizes, self.names, self.reverse = list(sizes), list(names), reverse
        self.has_rsample = first.has_rsample
        super().__init__(first.batch_shape, torch.Size([sum(sizes)]), validate_args=validate_args)

    def _order(self, items: list) -> list:
        return items[::-1] if self.reverse else items

    def split(self, z: Tensor) -> list[Tensor]:
        """The layers of z [..., sum(sizes)], in sampling order."""
        return self._order(list(z.split(self._order(self.sizes), dim=-1)))

    def _join(self, layers: list[Tensor]) -> Tensor:
        return torch.cat(self._order(layers), dim=-1)

    def _draw(self, sample_shape: torch.Size, reparameterized: bool) -> tuple[Tensor, Tensor]:
        dist = self.first
        draw = dist.rsample(sample_shape) if reparameterized else dist.sample(sample_shape)
        layers, log_prob = [draw], dist.log_prob(draw)
        for conditional in self.conditionals:
            dist = conditional(layers[-1])
            draw = dist.rsample() if reparameterized else dist.sample()
            layers.append(draw)
            log_prob = log_prob + dist.log_prob(draw)
        return self._join(layers), log_prob

    def rsample(self, sample_shape: torch.Size | Sequence[int] = ()) -> Tensor:
        return self._draw(torch.Size(sample_shape), reparameterized=True)[0]

    def sample(self, sample_shape: torch.Size | Sequence[int] = ()) -> Tensor:
        with torch.no_grad():
            return self._draw(torch.Size(sample_shape), reparameterized=False)[0]

    def rsample_and_log_prob(self, sample_shape: torch.Size | Sequence[int] = ()) -> tuple[Tensor, Tensor]:
        """A reparameterised draw and its log-density together, running each conditional network once."""
        return self._draw(torch.Size(sample_shape), reparameterized=True)

    def moments(self, num_samples: int) -> tuple[Tensor, Tensor, Tensor]:
        """E[z], sd[z] and the variance of the E[z] estimate, each [B, sum(sizes)] laid out as z is.

        The first layer's from its own `mean` and `stddev` (exact, no estimation variance). Each later layer's
        from `num_samples` ancestral draws of the layers before it, averaging its conditional's mean and variance
        over them, without drawing the layer itself (Rao-Blackwellised): E[z_i] = mean_s m_i(z_{i-1,s}),
        Var[z_i] = mean_s v_i(z_{i-1,s}) + var_s m_i(z_{i-1,s}), and the estimate's variance var_s m_i / S. A unit
        whose conditional mean does not depend on the layer below (a collapsed unit) so gets no noise at all,
        where a mean of S draws of the unit itself carries Var[z_i] / S.
        """
        with torch.no_grad():
            first = self.first
            means, sds, noise = [first.mean], [first.stddev], [torch.zeros_like(first.mean)]
            previous = first.sample((num_samples,))  # (S, B, d_0)
            for i, conditional in enumerate(self.conditionals):
                dist = conditional(previous)  # batch (S, B)
                m = dist.mean
                spread = m.var(0, correction=0)
                means.append(m.mean(0))
                sds.append((dist.variance.mean(0) + spread).sqrt())
                noise.append(spread / num_samples)
                if i + 1 < len(self.conditionals):
                    previous = dist.sample()
            return self._join(means), self._join(sds), self._join(noise)

    def log_prob_parts(self, z: Tensor) -> dict[str, Tensor]:
        """Each layer's log-density term (the conditional one for later layers) by name: [...] each, nats."""
        if self._validate_args:
            self._validate_sample(z)
        layers = self.split(z)
        parts = {self.names[0]: self.first.log_prob(layers[0])}
        for name, conditional, previous, layer in zip(self.names[1:], self.conditionals, layers, layers[1:]):
            parts[name] = conditional(previous).log_prob(layer)
        return parts

    def log_prob(self, z: Tensor) -> Tensor:
        return cast(Tensor, sum(self.log_prob_parts(z).values()))  # a sum of one or more tensors

    def group_sizes(self) -> dict[str, int]:
        """Each layer's dimension by name, in the order the concatenated vector holds them."""
        return dict(self._order(list(zip(self.names, self.sizes))))
