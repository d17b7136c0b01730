"""Priors against their formulas (scipy), the Monte-Carlo KL they get, and adding a prior as one registered class."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats
from scipy.special import logsumexp
from torch.distributions import Distribution, Independent, Laplace

import vaekit
from vaekit.cli import main
from vaekit.distributions import PRIORS, Prior, kl
from vaekit.distributions.priors import GaussianMixturePrior


def test_mixture_log_prob_matches_scipy():
    prior = GaussianMixturePrior(3, (4,), components=5).double()
    with torch.no_grad():
        prior.logits.normal_()
        prior.raw_scale.normal_()
    pz = prior()
    z = torch.randn(7, 3, dtype=torch.float64)
    weights = torch.softmax(prior.logits, 0).detach().numpy()
    loc = prior.loc.detach().numpy()
    scale = (torch.nn.functional.softplus(prior.raw_scale) + prior.min_scale).detach().numpy()
    per_component = stats.norm.logpdf(z.numpy()[:, None, :], loc[None], scale[None]).sum(-1)  # (7, C)
    expected = logsumexp(per_component + np.log(weights), axis=1)
    np.testing.assert_allclose(pz.log_prob(z).detach().numpy(), expected, rtol=1e-10)
    assert pz.sample((11,)).shape == (11, 3)


def test_vamp_prior_is_the_average_posterior_at_the_pseudo_inputs():
    model = vaekit.build_model("vae", {"data_shape": (5,), "latent_dim": 2, "hidden": (6,), "prior": "vamp",
                                       "prior_components": 4}).double()
    pz = model.prior()
    z = torch.randn(9, 2, dtype=torch.float64)
    q = model.encode(model.prior_module.pseudo_inputs)
    loc, scale = q.mean.detach().numpy(), q.stddev.detach().numpy()
    per_component = stats.norm.logpdf(z.numpy()[:, None, :], loc[None], scale[None]).sum(-1)
    np.testing.assert_allclose(pz.log_prob(z).detach().numpy(), logsumexp(per_component, axis=1) - np.log(4),
                               rtol=1e-10)
    x = torch.rand(30, 5, dtype=torch.float64)
    model.initialize(x)
    rows = model.prior_module.pseudo_inputs.detach()
    assert all(any(torch.equal(r, xi) for xi in x) for r in rows)  # every pseudo-input is a training row


@pytest.mark.parametrize("prior", ["mixture", "vamp"])
def test_priors_without_a_closed_form_get_a_monte_carlo_kl(prior):
    model = vaekit.build_model("vae", {"data_shape": (5,), "latent_dim": 2, "hidden": (6,), "prior": prior,
                                       "prior_components": 3})
    x = torch.bernoulli(torch.full((4, 5), 0.5))
    with torch.no_grad():
        qz_x, pz = model.encode(x), model.prior()
        z = qz_x.sample((20000,))
        estimate = kl(qz_x, pz, z)  # analytic asked for, none registered: Monte-Carlo
        spread = (qz_x.log_prob(z) - pz.log_prob(z)).std(0) / np.sqrt(20000)
    assert (estimate > -4 * spread).all()  # a KL is non-negative, up to its Monte-Carlo error
    terms = vaekit.elbo(model, x, num_samples=3)
    assert torch.isfinite(terms.elbo).all() and terms.elbo.shape == (4,)


class _LaplacePrior(Prior):
    """A test-only prior: independent Laplace(0, 1) coordinates."""

    def __init__(self, latent_dim: int, data_shape: tuple[int, ...], components: int | None = None) -> None:
        super().__init__(latent_dim, data_shape, components)
        self.register_buffer("loc", torch.zeros(latent_dim), persistent=False)

    def forward(self, encode=None) -> Distribution:
        return Independent(Laplace(self.loc, torch.ones_like(self.loc)), 1)


@pytest.fixture
def laplace_prior():
    PRIORS.register("laplace")(_LaplacePrior)
    yield
    PRIORS.unregister("laplace")


def test_a_new_prior_is_one_registered_class(laplace_prior, tmp_path, capsys):
    model = vaekit.build_model("vae", {"data_shape": (1, 8, 8), "latent_dim": 2, "hidden": (8,), "prior": "laplace"})
    assert isinstance(model.prior(), Independent)
    # The command line offers it, trains and evaluates with it (Monte-Carlo KL: Normal || Laplace has no closed
    # form in torch), and samples from it.
    run = tmp_path / "run"
    assert main(["train", "--prior", "laplace", "--epochs", "1", "--hidden", "8", "--latent-dim", "2",
                 "--out", str(run)]) == 0
    assert main(["evaluate", str(run), "--importance-samples", "5"]) == 0
    assert main(["sample", str(run), "-n", "4"]) == 0
    capsys.readouterr()


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_the_matrix_product_mixture_density_is_torchs(dtype):
    from torch.distributions import Categorical, MixtureSameFamily, Normal

    from vaekit.distributions import DiagonalGaussianMixture

    g = torch.Generator().manual_seed(0)
    loc = (3 * torch.randn(50, 6, generator=g, dtype=torch.float64)).to(dtype)
    scale = (0.05 + torch.rand(50, 6, generator=g, dtype=torch.float64)).to(dtype)
    logits = torch.randn(50, generator=g, dtype=torch.float64).to(dtype)
    # Points near components too (where the expanded square cancels digits), and far from them.
    z = torch.cat([loc[:8] + 1e-3, 4 * torch.randn(21, 6, generator=g, dtype=torch.float64).to(dtype)])

    def density_and_grads(cls, precision):
        leaves = [t.to(precision).requires_grad_(True) for t in (z, loc, scale, logits)]
        value = cls(Categorical(logits=leaves[3]), Independent(Normal(leaves[1], leaves[2]), 1)).log_prob(leaves[0])
        return [value, *torch.autograd.grad(value.sum(), leaves)]

    # The reference: torch.distributions' own density, in float64, of the same (possibly float32-rounded) values.
    reference = density_and_grads(MixtureSameFamily, torch.float64)
    ours = density_and_grads(DiagonalGaussianMixture, dtype)
    for a, b in zip(ours, reference):
        torch.testing.assert_close(a.double(), b, atol=1e-9 if dtype == torch.float64 else 1e-4, rtol=1e-6)
