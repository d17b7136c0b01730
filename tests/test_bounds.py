"""The bounds and the log p(x) estimator against closed forms on a linear-Gaussian model."""

from __future__ import annotations

import math

import pytest
import torch
from linear_gaussian import linear_gaussian, perturb_encoder
from torch.distributions import Independent, Normal, kl_divergence

from vaekit import VAE, VAEConfig, elbo, iwae_bound, log_likelihood, log_weights
from vaekit.distributions import kl
from vaekit.estimate import DEFAULT_MEMORY_BUDGET, log_mean_exp, plan_chunks, running_log_sum_exp, weights
from vaekit.estimate.likelihood import FAST_ROWS
from vaekit.limits import tensor_bytes


def _data(marginal, n=64, seed=3):
    torch.manual_seed(seed)
    return marginal.sample((n,))


def test_gaussian_kl_matches_formula_and_monte_carlo():
    g = torch.Generator().manual_seed(0)
    loc = torch.randn(4, 6, generator=g, dtype=torch.float64)
    scale = torch.rand(4, 6, generator=g, dtype=torch.float64) + 0.2
    q = Independent(Normal(loc, scale), 1)
    p = Independent(Normal(torch.zeros(6, dtype=torch.float64), torch.ones(6, dtype=torch.float64)), 1)
    exact = kl_divergence(q, p)
    formula = 0.5 * (loc**2 + scale**2 - 1 - torch.log(scale**2)).sum(-1)
    torch.testing.assert_close(exact, formula)
    z = q.sample((200_000,))
    terms = q.log_prob(z) - p.log_prob(z)  # (S, 4)
    stderr = terms.std(0) / math.sqrt(z.shape[0])
    assert ((terms.mean(0) - exact).abs() < 4 * stderr).all()


def test_log_mean_exp_is_stable_and_streams_in_chunks():
    g = torch.Generator().manual_seed(0)
    values = 400 * torch.randn(7, 5, generator=g, dtype=torch.float64)  # exp() of these overflows
    top = values.max(0).values
    expected = top + torch.log(torch.exp(values - top).mean(0))
    torch.testing.assert_close(log_mean_exp(values), expected)
    torch.testing.assert_close(log_mean_exp(values.T, dim=1), expected)
    total = torch.full((5,), -math.inf, dtype=torch.float64)
    for chunk in values.split(3):  # chunks of 3, 3 and 1 draws
        total = running_log_sum_exp(total, chunk)
    torch.testing.assert_close(total - math.log(7), expected)


def test_the_kl_is_closed_form_where_registered_else_the_callers_estimate():
    q = Independent(Normal(torch.zeros(3, 2, dtype=torch.float64), torch.ones(3, 2, dtype=torch.float64)), 1)
    p = Independent(Normal(torch.ones(2, dtype=torch.float64), torch.ones(2, dtype=torch.float64)), 1)
    estimate = torch.tensor([7.0, 8.0, 9.0], dtype=torch.float64)
    torch.testing.assert_close(kl(q, p, estimate=estimate), torch.ones(3, dtype=torch.float64))  # 0.5 |1 - 0|^2 * 2
    torch.testing.assert_close(kl(q, p, estimate=estimate, analytic=False), estimate)
    with pytest.raises(ValueError, match="needs samples"):
        kl(q, p, analytic=False)


def test_elbo_equals_log_px_at_the_exact_posterior():
    model, marginal = linear_gaussian()
    x = _data(marginal)
    exact = marginal.log_prob(x)
    # At q = p(z|x) every importance weight equals p(x): the Monte-Carlo form is exact with zero variance.
    torch.testing.assert_close(log_weights(model, x, 7), exact.expand(7, -1))
    torch.testing.assert_close(elbo(model, x, num_samples=3, analytic_kl=False).elbo, exact)
    # The analytic-KL form still averages log p(x|z) over samples: equal within Monte-Carlo error.
    k = 20_000
    z = model.encode(x).sample((k,))
    stderr = model.decode(z).log_prob(x).std(0) / math.sqrt(k)
    assert ((elbo(model, x, num_samples=k).elbo - exact).abs() < 4 * stderr).all()


def test_elbo_is_below_log_px_and_the_gap_is_the_posterior_kl():
    exact_model, marginal = linear_gaussian()
    model = perturb_encoder(linear_gaussian()[0])
    x = _data(marginal, n=16)
    exact = marginal.log_prob(x)
    # With the analytic KL the only noise is E_q[log p(x|z)]; average many samples.
    bound = elbo(model, x, num_samples=20_000).elbo
    assert (bound < exact).all()
    # log p(x) - ELBO = KL(q(z|x) || p(z|x)); the exact posterior comes from the unperturbed encoder.
    posterior_kl = kl_divergence(model.encode(x), exact_model.encode(x))
    torch.testing.assert_close(exact - bound, posterior_kl, atol=0.02, rtol=0.02)


def test_the_two_elbo_forms_agree_within_monte_carlo_error():
    model, marginal = linear_gaussian()
    perturb_encoder(model)
    x = _data(marginal, n=8)
    k = 20_000
    analytic = elbo(model, x, num_samples=k, analytic_kl=True)
    qz_x = model.encode(x)
    z = qz_x.sample((k,))
    per_sample = model.log_joint(x, z) - qz_x.log_prob(z)  # (K, B): the Monte-Carlo form's terms
    monte_carlo = elbo(model, x, num_samples=k, analytic_kl=False).elbo
    stderr = per_sample.std(0) / math.sqrt(k)
    assert ((monte_carlo - analytic.elbo).abs() < 4 * stderr * math.sqrt(2)).all()
    torch.testing.assert_close(analytic.elbo, analytic.reconstruction - analytic.kl)


def test_iwae_bound_rises_with_k_toward_log_px():
    model, marginal = linear_gaussian()
    perturb_encoder(model, scale=0.3, loc_only=True)
    x = _data(marginal, n=4)
    exact = marginal.log_prob(x)
    reps = 1000
    means, errors = [], []
    with torch.no_grad():
        for k in (1, 4, 32, 256):
            # reps independent draws of L_K at once: (reps * K, B) log-weights, grouped K at a time.
            log_w = log_weights(model, x, reps * k).view(reps, k, -1)
            draws = torch.logsumexp(log_w, 1) - math.log(k)  # (reps, B)
            means.append(draws.mean(0))
            errors.append(draws.std(0) / math.sqrt(reps))
    for (m0, e0), (m1, e1) in zip(zip(means, errors), zip(means[1:], errors[1:])):
        assert (m1 > m0 - 3 * torch.sqrt(e0**2 + e1**2)).all()
    assert (means[-1] <= exact + 3 * errors[-1]).all()
    assert ((exact - means[-1]) < 0.25 * (exact - means[0])).all()  # most of the gap closed at K = 256
    # The differentiable iwae_bound is the same estimator.
    assert iwae_bound(model, x, 8).shape == (4,)


@pytest.mark.parametrize("budget", [DEFAULT_MEMORY_BUDGET, 20_000])  # one chunk, or many chunks over K and batch
def test_log_likelihood_is_exact_with_ess_k_at_the_exact_posterior(budget):
    model, marginal = linear_gaussian()
    x = _data(marginal, n=37)
    plan = plan_chunks(model, x, 300, budget)
    assert (plan.chunks == 1) == (budget == DEFAULT_MEMORY_BUDGET)
    result = log_likelihood(model, x, num_samples=300, memory_budget=budget)
    torch.testing.assert_close(result.values, marginal.log_prob(x))
    torch.testing.assert_close(result.ess, torch.full((37,), 300.0, dtype=torch.float64))


@pytest.mark.parametrize("num_samples", [1, 7, 5000])
def test_chunks_are_sized_by_the_memory_budget(num_samples):
    torch.manual_seed(0)
    model = VAE(VAEConfig(data_shape=(784,), latent_dim=8, hidden=(32,), prior="mixture", prior_components=50))
    x = torch.bernoulli(torch.full((30, 784), 0.3))
    sizes = []
    for budget in (1 << 30, 4 << 20, 1 << 20):
        with torch.inference_mode():
            plan = plan_chunks(model, x, num_samples, budget)
            made = tensor_bytes(lambda p=plan: weights(model, x[: p.batch_size], p.chunk, reparameterized=False))
        assert made <= budget or plan.rows == 1  # a whole chunk's tensors, measured, within the budget
        assert plan.rows <= FAST_ROWS
        assert plan.chunk * plan.chunks >= num_samples > plan.chunk * (plan.chunks - 1)  # K in equal chunks
        sizes.append(plan.rows)
    assert sizes == sorted(sizes, reverse=True)
    if num_samples == 5000:
        assert sizes[0] > sizes[-1]


def test_log_likelihood_estimate_lands_within_its_standard_error():
    model, marginal = linear_gaussian()
    perturb_encoder(model, scale=0.05, loc_only=True)  # q keeps the posterior's tails: finite-variance weights
    x = _data(marginal, n=400)
    result = log_likelihood(model, x, num_samples=2000)
    error = result.values - marginal.log_prob(x)  # independent estimation errors, one per datapoint
    assert abs(float(error.mean())) < 3 * float(error.std()) / math.sqrt(len(error))
    assert (result.ess > 1).all() and (result.ess <= 2000).all()
    assert abs(result.mean - float(marginal.log_prob(x).mean())) < 3 * result.stderr


def test_log_likelihood_is_biased_low_for_small_k_with_a_poor_encoder():
    model, marginal = linear_gaussian()
    perturb_encoder(model, scale=1.0)
    x = _data(marginal, n=200)
    error = log_likelihood(model, x, num_samples=2).values - marginal.log_prob(x)
    assert float(error.mean()) < -3 * float(error.std()) / math.sqrt(len(error))
