"""The two-layer hierarchy against a two-layer linear-Gaussian model whose log p(x) is exact."""

from __future__ import annotations

import math

import torch
from two_layer_gaussian import two_layer_gaussian

from vaekit import elbo, log_likelihood, log_weights, summarize
from vaekit.distributions import Chain
from vaekit.models import latent_groups


def _perturb(model, scale: float, seed: int = 1, loc_only: bool = True):
    """Move q(z1|x) and q(z2|z1) off the exact posterior (locations only: q keeps the posterior's tails)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for head in (model.encoder.net[0], model.encoder2.net[0]):
            d = head.bias.shape[0] // 2
            rows = slice(0, d) if loc_only else slice(None)
            head.bias[rows] += scale * torch.randn(head.bias[rows].shape, generator=g, dtype=torch.float64)
    return model


def test_at_the_exact_posterior_every_weight_is_p_x():
    model, marginal = two_layer_gaussian()
    x = marginal.sample((40,))
    with torch.no_grad():
        torch.testing.assert_close(log_weights(model, x, 9), marginal.log_prob(x).expand(9, -1))
        ll = log_likelihood(model, x, num_samples=50)
    torch.testing.assert_close(ll.values, marginal.log_prob(x))
    torch.testing.assert_close(ll.elbo, marginal.log_prob(x))


@torch.no_grad()
def test_elbo_below_iwae_rising_with_k_toward_log_px():
    model, marginal = _perturb(two_layer_gaussian()[0], 0.6), two_layer_gaussian()[1]
    torch.manual_seed(2)
    x = marginal.sample((6,))
    exact = marginal.log_prob(x)
    reps = 1000
    means, errors = [], []
    for k in (1, 4, 32, 256):
        log_w = log_weights(model, x, reps * k).view(reps, k, -1)
        draws = torch.logsumexp(log_w, 1) - math.log(k)  # (reps, B): reps independent draws of L_K
        means.append(draws.mean(0))
        errors.append(draws.std(0) / math.sqrt(reps))
    assert (means[0] < exact - 0.05).all()  # the ELBO (K = 1) is below log p(x)
    for (m0, e0), (m1, e1) in zip(zip(means, errors), zip(means[1:], errors[1:])):
        assert (m1 > m0 - 3 * torch.sqrt(e0**2 + e1**2)).all()
    assert (means[-1] <= exact + 3 * errors[-1]).all()
    assert ((exact - means[-1]) < 0.2 * (exact - means[0])).all()
    # The ELBO estimator (Monte-Carlo KL: a hierarchy has no closed form) agrees with mean log w.
    bound = elbo(model, x, num_samples=20000).elbo
    # Independent estimates of the same mean: their difference has standard error sqrt(e0^2 + e0^2 * 1000/20000).
    assert ((bound - means[0]).abs() < 4 * errors[0] * math.sqrt(1 + reps / 20000)).all()


@torch.no_grad()
def test_log_likelihood_lands_within_its_standard_error():
    model, marginal = _perturb(two_layer_gaussian()[0], 0.3), two_layer_gaussian()[1]
    torch.manual_seed(5)
    x = marginal.sample((300,))
    result = log_likelihood(model, x, num_samples=1000)
    error = result.values - marginal.log_prob(x)
    assert abs(float(error.mean())) < 3 * float(error.std()) / math.sqrt(len(error))
    assert float((result.values - result.elbo).mean()) > 0  # a positive gap


@torch.no_grad()
def test_kl_and_active_units_per_layer():
    model, marginal = _perturb(two_layer_gaussian(latent_dim=3)[0], 0.3), two_layer_gaussian(latent_dim=3)[1]
    x = marginal.sample((500,))
    assert latent_groups(model) == {"z1": 3, "z2": 3}
    summary = summarize(model, x)
    assert summary.kl_per_dim is None and summary.posterior_mean_estimated  # q(z2|z1) has no closed-form mean
    assert set(summary.groups) == {"z1", "z2"}
    assert abs(sum(g["kl"] for g in summary.groups.values()) - summary.kl) < 1e-9
    assert all(g["kl"] > 0 and g["active_units"] == 3 for g in summary.groups.values())


def test_chain_lays_both_layers_out_as_z1_then_z2():
    model, marginal = two_layer_gaussian(data_dim=4, latent_dim=2)
    x = marginal.sample((3,))
    q, p = model.encode(x), model.prior()
    assert isinstance(q, Chain) and isinstance(p, Chain)
    assert q.group_sizes() == p.group_sizes() == {"z1": 2, "z2": 2}
    z = q.rsample((5,))
    assert z.shape == (5, 3, 4) and p.sample((7,)).shape == (7, 4)
    parts_q, parts_p = q.log_prob_parts(z), p.log_prob_parts(z)
    torch.testing.assert_close(parts_q["z1"] + parts_q["z2"], q.log_prob(z))
    # p's parts: log p(z2) is a standard normal in the last two coordinates, log p(z1|z2) the rest.
    standard = torch.distributions.Independent(torch.distributions.Normal(0.0, 1.0).expand([2]), 1)
    torch.testing.assert_close(parts_p["z2"], standard.log_prob(z[..., 2:].float()).double(), atol=1e-5, rtol=0)
    z_drawn, log_q = q.rsample_and_log_prob((4,))
    torch.testing.assert_close(log_q, q.log_prob(z_drawn))


@torch.no_grad()
def test_chain_moments_are_the_posterior_moments_with_the_stated_noise():
    """q(z1|x) q(z2|z1) of the linear-Gaussian model: E[z2|x] = c m1 + b and Var[z2|x] = c^2 s1^2 + s2^2 in closed
    form. `Chain.moments` gives z1's exactly and z2's from S draws of z1 only, with estimation variance
    var_z1(c z1) / S = c^2 s1^2 / S; a z2 unit whose mean ignores z1 (collapsed) gets no noise at all."""
    model, marginal = two_layer_gaussian(latent_dim=3)
    d = 3
    x = marginal.sample((4,))
    with torch.no_grad():
        model.encoder2.net[0].weight[2].zero_()  # z2's third unit: its mean no longer depends on z1
    q = model.encode(x)
    m1, s1 = q.first.mean, q.first.stddev
    head = model.encoder2.net[0]
    c, b = torch.diagonal(head.weight[:d]), head.bias[:d]
    s2 = model._q_z2(m1).stddev  # constant in z1
    samples = 40000
    torch.manual_seed(0)
    mean, sd, noise = q.moments(samples)
    torch.testing.assert_close(mean[:, :d], m1, rtol=0, atol=0)
    torch.testing.assert_close(sd[:, :d], s1, rtol=0, atol=0)
    assert (noise[:, :d] == 0).all()
    expected_noise = (c * s1).square() / samples
    torch.testing.assert_close(noise[:, d:], expected_noise, rtol=0.05, atol=1e-12)
    assert (noise[:, d + 2] == 0).all()
    torch.testing.assert_close(mean[:, d + 2], b[2].detach().expand(4), rtol=1e-12, atol=1e-12)
    assert ((mean[:, d:] - (c * m1 + b)).abs() <= 4 * expected_noise.sqrt() + 1e-12).all()
    torch.testing.assert_close(sd[:, d:], ((c * s1).square() + s2.square()).sqrt(), rtol=0.02, atol=0)
