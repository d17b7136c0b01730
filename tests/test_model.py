"""Observation models against scipy, and the shapes every network/likelihood pair produces."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from vaekit import VAE, VAEConfig, elbo, generate, iwae_bound
from vaekit.distributions import OBSERVATIONS

LIKELIHOODS = OBSERVATIONS.names()

SHAPE = (1, 6, 5)


def _raw(num_params: int, batch: int = 3) -> torch.Tensor:
    return torch.randn(batch, num_params, *SHAPE, dtype=torch.float64)


def test_bernoulli_log_prob_matches_scipy():
    raw = _raw(1)
    x = torch.bernoulli(torch.full((3, *SHAPE), 0.5, dtype=torch.float64))
    ours = OBSERVATIONS["bernoulli"](SHAPE)(raw).log_prob(x)
    p = torch.sigmoid(raw[:, 0]).numpy()
    theirs = stats.bernoulli.logpmf(x.numpy(), p).reshape(3, -1).sum(1)
    np.testing.assert_allclose(ours.numpy(), theirs, rtol=1e-10)


def test_gaussian_log_prob_matches_scipy_with_softplus_scale_and_floor():
    raw = _raw(2)
    x = torch.randn(3, *SHAPE, dtype=torch.float64)
    obs = OBSERVATIONS["gaussian"](SHAPE, min_scale=1e-3)
    ours = obs(raw).log_prob(x)
    scale = torch.nn.functional.softplus(raw[:, 1]).numpy() + 1e-3
    theirs = stats.norm.logpdf(x.numpy(), raw[:, 0].numpy(), scale).reshape(3, -1).sum(1)
    np.testing.assert_allclose(ours.numpy(), theirs, rtol=1e-10)


def test_fixed_gaussian_log_prob_matches_scipy():
    raw = _raw(1)
    x = torch.randn(3, *SHAPE, dtype=torch.float64)
    ours = OBSERVATIONS["gaussian-fixed"](SHAPE, fixed_scale=0.3)(raw).log_prob(x)
    theirs = stats.norm.logpdf(x.numpy(), raw[:, 0].numpy(), 0.3).reshape(3, -1).sum(1)
    np.testing.assert_allclose(ours.numpy(), theirs, rtol=1e-10)


def test_continuous_bernoulli_log_prob_matches_its_closed_form_and_normalises():
    raw = _raw(1)
    x = torch.rand(3, *SHAPE, dtype=torch.float64)
    ours = OBSERVATIONS["continuous-bernoulli"](SHAPE)(raw).log_prob(x)
    lam = torch.sigmoid(raw[:, 0]).numpy()
    # Loaiza-Ganem & Cunningham 2019, eq. 7: C(lam) = 2 artanh(1 - 2 lam) / (1 - 2 lam).
    log_c = np.log(2 * np.arctanh(1 - 2 * lam) / (1 - 2 * lam))
    xs = x.numpy()
    theirs = (log_c + xs * np.log(lam) + (1 - xs) * np.log1p(-lam)).reshape(3, -1).sum(1)
    np.testing.assert_allclose(ours.numpy(), theirs, rtol=1e-8)
    # The one-dimensional density integrates to one (scipy quadrature).
    one = OBSERVATIONS["continuous-bernoulli"]((1,))(torch.tensor([[[0.7]]], dtype=torch.float64))
    total, _ = __import__("scipy").integrate.quad(lambda v: math.exp(one.log_prob(torch.tensor([[v]], dtype=torch.float64)).item()), 0, 1)
    assert abs(total - 1) < 1e-8


def test_one_parameter_likelihood_backward_has_the_closed_form_gradient_and_copies_nothing():
    # raw [K, B, 1, *SHAPE]: the decoder output of K importance samples per datapoint.
    raw = torch.randn(4, 3, 1, *SHAPE, dtype=torch.float64, requires_grad=True)
    x = torch.bernoulli(torch.full((3, *SHAPE), 0.5, dtype=torch.float64))
    log_prob = OBSERVATIONS["bernoulli"](SHAPE)(raw).log_prob(x)
    assert log_prob.shape == (4, 3)
    (grad,) = torch.autograd.grad(log_prob.sum(), raw, retain_graph=True)
    # d/dl [x l - softplus(l)] = x - sigmoid(l)
    torch.testing.assert_close(grad[:, :, 0], x - torch.sigmoid(raw[:, :, 0].detach()), rtol=1e-12, atol=1e-12)
    nodes, todo = set(), [log_prob.grad_fn]
    while todo:
        node = todo.pop()
        if node is not None and type(node).__name__ not in nodes:
            nodes.add(type(node).__name__)
            todo += [next_node for next_node, _ in node.next_functions]
    assert "UnbindBackward0" not in nodes  # its backward stacks a copy of the whole [K, B, 1, ...] gradient


@pytest.mark.parametrize("network", ["mlp", "conv"])
@pytest.mark.parametrize("likelihood", list(LIKELIHOODS))
def test_shapes_and_gradients(network, likelihood):
    model = VAE(VAEConfig(data_shape=(1, 7, 9), latent_dim=3, hidden=(16,), likelihood=likelihood, network=network))
    x = torch.rand(5, 1, 7, 9)
    if likelihood == "bernoulli":
        x = torch.bernoulli(x)
    qz_x = model.encode(x)
    assert qz_x.batch_shape == (5,) and qz_x.event_shape == (3,)
    z = qz_x.rsample((4,))
    assert z.shape == (4, 5, 3)
    px_z = model.decode(z)
    assert px_z.batch_shape == (4, 5) and px_z.event_shape == (1, 7, 9)
    assert model.log_joint(x, z).shape == (4, 5)
    terms = elbo(model, x, num_samples=2)
    for value in (terms.elbo, terms.reconstruction, terms.kl):
        assert value.shape == (5,) and torch.isfinite(value).all()
    assert iwae_bound(model, x, 3).shape == (5,)
    (-terms.elbo.mean()).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    assert generate(model, 6, mean=True).shape == (6, 1, 7, 9)


def test_flat_data_uses_the_mlp_and_conv_is_refused():
    assert generate(VAE(VAEConfig(data_shape=(11,), hidden=(8, 4))), 2).shape == (2, 11)
    with pytest.raises(ValueError, match="conv"):
        VAE(VAEConfig(data_shape=(11,), network="conv"))
