"""The gap split and the probe on models whose answers are known."""

from __future__ import annotations

import torch
from linear_gaussian import linear_gaussian, perturb_encoder
from torch.distributions import kl_divergence

from vaekit.estimate import gap_split, optimal_posterior
from vaekit.probe import probe


def test_optimal_posterior_recovers_the_exact_posterior():
    exact_model, marginal = linear_gaussian()
    model = perturb_encoder(linear_gaussian()[0], scale=0.3)
    x = marginal.sample((20,))
    loc, scale = optimal_posterior(model, x, steps=1500, lr=2e-2, num_samples=32)
    exact = exact_model.encode(x).base_dist
    torch.testing.assert_close(loc, exact.loc, atol=0.05, rtol=0)
    torch.testing.assert_close(scale, exact.scale, atol=0.05, rtol=0)


def test_gap_split_on_a_family_that_contains_the_posterior():
    exact_model, marginal = linear_gaussian()
    model = perturb_encoder(linear_gaussian()[0], scale=0.3)
    x = marginal.sample((20,))
    parts = gap_split(model, x, num_samples=2000, steps=1500, lr=2e-2)
    exact = marginal.log_prob(x)
    # The family holds p(z|x), so q* reaches it: log p(x) is estimated almost exactly, and the approximation gap
    # is zero up to the Monte-Carlo noise of the ELBO's reconstruction term (K = 2000 samples: about 0.05 nats).
    torch.testing.assert_close(parts.log_likelihood, exact, atol=0.01, rtol=0)
    assert parts.approximation.abs().max() < 0.2 and abs(float(parts.approximation.mean())) < 0.03
    # The amortization gap is then the whole gap, KL(q(z|x) || p(z|x)), known in closed form.
    with torch.no_grad():
        posterior_kl = kl_divergence(model.encode(x), exact_model.encode(x)).double()
    # The encoder's ELBO is noisier the further q is from p(z|x): allow 2% of the KL plus 0.1 nats.
    assert ((parts.amortization - posterior_kl).abs() < 0.1 + 0.02 * posterior_kl).all()
    assert float(posterior_kl.mean()) > 0.5  # the encoder was really off
    torch.testing.assert_close(parts.approximation + parts.amortization, parts.total)
    assert (parts.amortization > 0).all()


def test_probe_separates_classes_that_the_encoder_separates():
    # Labels are the sign of the first latent coordinate's posterior mean: a perfect linear probe exists.
    model, marginal = linear_gaussian(data_dim=6, latent_dim=2)
    model.float()
    x = marginal.sample((600,)).float()
    y = (model.encode(x).mean[:, 0] > 0).long()
    result = probe(model, x[:400], y[:400], x[400:], y[400:])
    assert result.latent_accuracy > 0.95 and result.raw_accuracy > 0.95 and result.n_train == 400
    shuffled = probe(model, x[:400], y[torch.randperm(400)], x[400:], y[400:])
    assert shuffled.latent_accuracy < 0.8  # labels unrelated to x: no better than chance, give or take
