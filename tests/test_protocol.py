"""Every estimator on models written from scratch: plain `nn.Module`s with the protocol's four methods, no vaekit
base class and no vaekit attribute names. Their log p(x) is exact, so every figure is checked against it."""

from __future__ import annotations

import math
import subprocess
import sys

import torch
from torch import nn
from torch.distributions import Categorical, Independent, MixtureSameFamily, MultivariateNormal, Normal, kl_divergence

from vaekit import elbo, gap_split, iwae_bound, log_likelihood, optimal_posterior, summarize
from vaekit.distributions import kl
from vaekit.estimate import posterior_moments


class PPCA(nn.Module):
    """Probabilistic PCA, p(z) = N(0, I), p(x|z) = N(W z + b, s^2 I), with the exact posterior as q(z|x)."""

    def __init__(self, data_dim: int = 6, d: int = 2, s: float = 0.4, shift: float = 0.0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(1)
        q, _ = torch.linalg.qr(torch.randn(data_dim, d, generator=g, dtype=torch.float64))
        self.mix = nn.Parameter(q * torch.linspace(1.0, 2.5, d, dtype=torch.float64))  # orthogonal columns
        self.offset = nn.Parameter(torch.randn(data_dim, generator=g, dtype=torch.float64))
        self.noise = s
        self.shift = shift  # moves q's mean off the exact posterior

    def prior(self):
        zeros = torch.zeros(self.mix.shape[1], dtype=self.mix.dtype)
        return Independent(Normal(zeros, torch.ones_like(zeros)), 1)

    def encode(self, x):
        precision = 1 + (self.mix * self.mix).sum(0) / self.noise**2
        loc = (x - self.offset) @ self.mix / self.noise**2 / precision + self.shift
        return Independent(Normal(loc, precision.rsqrt().expand_as(loc)), 1)

    def decode(self, z):
        return Independent(Normal(z @ self.mix.T + self.offset, torch.full_like(self.offset, self.noise)), 1)

    def log_joint(self, x, z):
        return self.decode(z).log_prob(x) + self.prior().log_prob(z)

    def marginal(self):
        cov = self.mix @ self.mix.T + self.noise**2 * torch.eye(len(self.offset), dtype=torch.float64)
        return MultivariateNormal(self.offset, cov)


class MixturePriorModel(PPCA):
    """The same linear decoder under a learned-style mixture prior: no closed-form KL(q || p), exact p(x) is a
    mixture of Gaussians. q(z|x) is a broad Gaussian (heavier-tailed than the posterior)."""

    def __init__(self) -> None:
        super().__init__(shift=0.0)
        self.centres = torch.tensor([[-1.5, 0.5], [1.0, -1.0], [0.5, 1.5]], dtype=torch.float64)
        self.spread = torch.tensor([0.6, 0.8, 0.5], dtype=torch.float64)
        self.weights = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)

    def prior(self):
        scale = self.spread[:, None].expand_as(self.centres)
        return MixtureSameFamily(Categorical(self.weights), Independent(Normal(self.centres, scale), 1))

    def encode(self, x):
        q = super().encode(x)
        return Independent(Normal(q.mean, 1.5 * q.stddev), 1)

    def marginal(self):
        eye = torch.eye(len(self.offset), dtype=torch.float64)
        covs = torch.stack([s**2 * self.mix @ self.mix.T + self.noise**2 * eye for s in self.spread])
        components = MultivariateNormal(self.centres @ self.mix.T + self.offset, covs)
        return MixtureSameFamily(Categorical(self.weights), components)


def test_the_estimators_read_nothing_but_the_protocol():
    model = PPCA()
    x = model.marginal().sample((50,))
    exact = model.marginal().log_prob(x)
    # At the exact posterior every importance weight is p(x): the estimate is exact with ESS = K.
    ll = log_likelihood(model, x, num_samples=64)
    torch.testing.assert_close(ll.values, exact)
    torch.testing.assert_close(ll.ess, torch.full((50,), 64.0, dtype=torch.float64))
    torch.testing.assert_close(iwae_bound(model, x, 8), exact)
    torch.testing.assert_close(elbo(model, x, num_samples=3, analytic_kl=False).elbo, exact)
    summary = summarize(model, x)
    assert summary.kl_per_dim is not None and len(summary.kl_per_dim) == 2 and summary.active_units == 2
    assert math.isclose(sum(summary.kl_per_dim), summary.kl, rel_tol=1e-9)
    group = summary.groups["z"]
    assert group["size"] == 2 and group["active_units"] == 2 and math.isclose(group["kl"], summary.kl, rel_tol=1e-9)


def test_gap_split_and_local_posteriors_on_a_model_written_from_scratch():
    model = PPCA(shift=0.5)
    exact_posterior = PPCA().encode
    x = model.marginal().sample((12,))
    loc, scale = optimal_posterior(model, x, steps=800, lr=2e-2, num_samples=16)
    torch.testing.assert_close(loc, exact_posterior(x).mean, atol=0.05, rtol=0)
    torch.testing.assert_close(scale, exact_posterior(x).stddev, atol=0.05, rtol=0)
    parts = gap_split(model, x, num_samples=500, steps=800, lr=2e-2)
    torch.testing.assert_close(parts.log_likelihood, model.marginal().log_prob(x), atol=0.01, rtol=0)
    # The whole gap is amortization: KL(q || p(z|x)) for a shifted mean, 0.5^2 / (2 sigma_post^2) per dimension.
    expected = kl_divergence(model.encode(x), exact_posterior(x))
    assert ((parts.amortization - expected).abs() < 0.1 + 0.03 * expected).all()
    assert parts.approximation.abs().mean() < 0.05


@torch.no_grad()
def test_a_prior_without_a_closed_form_kl_gets_the_monte_carlo_kl():
    model = MixturePriorModel()
    torch.manual_seed(3)
    x = model.marginal().sample((300,))
    exact = model.marginal().log_prob(x)
    qz_x, pz = model.encode(x), model.prior()
    # No registered closed form: kl() falls back to E_q[log q - log p] (nothing raises NotImplementedError).
    z = qz_x.sample((4000,))
    mc = kl(qz_x, pz, z)
    terms = qz_x.log_prob(z) - pz.log_prob(z)
    assert (mc - terms.mean(0)).abs().max() < 1e-12
    bound = elbo(model, x, num_samples=200)  # analytic_kl=True asked, Monte-Carlo chosen
    assert float((exact - bound.elbo).mean()) > 0.05  # the ELBO sits below log p(x)
    ll = log_likelihood(model, x, num_samples=2000)
    error = ll.values - exact
    assert abs(float(error.mean())) < 3 * float(error.std()) / math.sqrt(len(error))
    summary = summarize(model, x)
    assert summary.kl_per_dim is None  # a mixture prior has no per-dimension KL
    assert summary.groups["z"]["kl"] == summary.kl


def test_posterior_means_are_estimated_where_q_has_none():
    class NoMean(Independent):
        @property
        def mean(self):
            raise NotImplementedError

    model = PPCA()
    x = model.marginal().sample((5,))
    q = model.encode(x)
    torch.manual_seed(0)
    mean, sd, estimated = posterior_moments(NoMean(Normal(q.mean, q.stddev), 1), num_samples=20000)
    assert estimated
    torch.testing.assert_close(mean, q.mean, atol=0.03, rtol=0)
    torch.testing.assert_close(sd, q.stddev, atol=0.03, rtol=0)


def test_collapsed_units_stay_inactive_when_posterior_means_are_estimated_from_draws():
    """q(z|x) = N(0, I) for every x (every unit collapsed) with no closed-form mean: 16 draws per mean leave noise of
    variance 1/16 > the 0.01 threshold, which summarize must not count as activity."""
    class NoMean(Independent):
        @property
        def mean(self):
            raise NotImplementedError

    class Collapsed(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(4, 3))

        def prior(self):
            return Independent(Normal(torch.zeros(3), torch.ones(3)), 1)

        def encode(self, x):
            return NoMean(Normal(torch.zeros(x.shape[0], 3), torch.ones(x.shape[0], 3)), 1)

        def decode(self, z):
            return Independent(Normal(z @ self.w.T, torch.ones(4)), 1)

        def log_joint(self, x, z):
            return self.decode(z).log_prob(x) + self.prior().log_prob(z)

    torch.manual_seed(0)
    summary = summarize(Collapsed(), torch.randn(2000, 4))
    assert summary.posterior_mean_estimated
    assert summary.active_units == 0, summary.posterior_mean_variance


def test_opening_a_run_does_not_import_the_training_loop():
    code = ("import sys, vaekit.runs, vaekit.runs.evaluate, vaekit.report; "
            "print(sorted(m for m in sys.modules if m.startswith('vaekit.train')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "vaekit.train.loop" not in out and "vaekit.train.fast" not in out, out
