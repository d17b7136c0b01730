"""Baselines against closed forms and reference libraries, on small data each test makes itself."""

import itertools
import math

import numpy as np
import pytest
import torch
from sklearn.neighbors import KernelDensity
from torch.distributions import Bernoulli, Categorical, Independent, MixtureSameFamily, MultivariateNormal

from vaekit.baselines import (
    BaselineResult,
    baselines,
    bernoulli_mixture_log_prob,
    binary_baselines,
    binary_kde_log_prob,
    continuous_baselines,
    dequantise,
    fit_bernoulli_mixture,
    fit_binary_baselines,
    gaussian_kde_log_prob,
)
from vaekit.errors import DataError

# Keeps the kernel densities and the Gaussian mixture cheap where a test is about another estimator.
FAST_CONTINUOUS = {"gmm_components": (1, 2), "gmm_max_train": 500, "bandwidths": (0.3, 1.0), "max_kde_valid": 100,
                   "max_kde_test": 100}
FAST_BINARY = {"components": (1, 2), "lambdas": (0.7, 0.9), "max_kde_valid": 100, "max_kde_test": 100}


def by_name(results: list[BaselineResult]) -> dict[str, BaselineResult]:
    return {r.name: r for r in results}


def gaussian_splits(mvn: MultivariateNormal, sizes=(20_000, 5_000, 20_000), seed=0):
    torch.manual_seed(seed)
    return [mvn.sample((n,)) for n in sizes]


# --- Gaussians recover the true expected log-likelihood (-entropy) --------------------------------------


def test_full_covariance_gaussian_recovers_negative_entropy():
    g = torch.Generator().manual_seed(1)
    d = 4
    a = torch.randn(d, d, generator=g, dtype=torch.float64)
    cov = a @ a.T + 0.5 * torch.eye(d, dtype=torch.float64)
    true = MultivariateNormal(torch.randn(d, generator=g, dtype=torch.float64), cov)
    x_train, x_valid, x_test = gaussian_splits(true)
    r = by_name(continuous_baselines(x_train, x_valid, x_test, **FAST_CONTINUOUS))["full-covariance Gaussian"]
    assert r.n_test == 20_000
    # Mean test log p estimates -H with standard error r.stderr; the fitted model also loses about
    # (number of parameters) / (2 N_train) = 14 / 40000 nats to estimation error.
    assert abs(r.log_likelihood - (-true.entropy().item())) < 4 * r.stderr + 14 / 40_000
    # Paired with the true density on the same points, the sampling noise of the test set cancels: the
    # difference is -KL(true || fitted), ~ -3.5e-4 nats from estimation plus what the validated ridge costs
    # (a ridge of 1% of the mean variance, which validation may pick, costs ~2e-3 here).
    paired = r.log_likelihood - true.log_prob(x_test).mean().item()
    assert -5e-3 < paired < 1e-3


def test_factorised_gaussian_recovers_negative_entropy_of_diagonal_gaussian():
    loc = torch.tensor([0.0, 3.0, -2.0, 10.0, 0.5, 1.0], dtype=torch.float64)
    scale = torch.tensor([1.0, 0.1, 2.0, 5.0, 0.01, 0.3], dtype=torch.float64)
    true = MultivariateNormal(loc, torch.diag(scale**2))
    x_train, x_valid, x_test = gaussian_splits(true, seed=2)
    r = by_name(continuous_baselines(x_train, x_valid, x_test, **FAST_CONTINUOUS))["factorised Gaussian"]
    assert abs(r.log_likelihood - (-true.entropy().item())) < 4 * r.stderr + 12 / 40_000
    paired = r.log_likelihood - true.log_prob(x_test).mean().item()
    assert -5e-3 < paired < 1e-3


# --- Mixture of Bernoullis -----------------------------------------------------------------------------


def planted_mixture(d: int = 40) -> MixtureSameFamily:
    g = torch.Generator().manual_seed(3)
    # Each prototype sets every pixel to 0.05 or 0.95 at random: prototypes differ in ~d/2 pixels.
    probs = torch.where(torch.rand(4, d, generator=g) < 0.5, 0.05, 0.95).to(torch.float64)
    weights = torch.tensor([0.4, 0.3, 0.2, 0.1], dtype=torch.float64)
    return MixtureSameFamily(Categorical(probs=weights), Independent(Bernoulli(probs=probs), 1))


def test_bernoulli_mixture_log_prob_matches_torch_mixture():
    g = torch.Generator().manual_seed(4)
    probs = torch.rand(3, 10, generator=g, dtype=torch.float64) * 0.98 + 0.01
    logits = torch.log_softmax(torch.randn(3, generator=g, dtype=torch.float64), 0)
    x = (torch.rand(50, 10, generator=g) < 0.5).to(torch.float64)
    reference = MixtureSameFamily(Categorical(logits=logits), Independent(Bernoulli(probs=probs), 1))
    torch.testing.assert_close(bernoulli_mixture_log_prob(x, logits, probs), reference.log_prob(x))


def test_mixture_of_bernoullis_recovers_planted_mixture():
    true = planted_mixture()
    torch.manual_seed(5)
    x_train, x_valid, x_test = (true.sample((n,)) for n in (3000, 1000, 2000))
    models = fit_binary_baselines(x_train, x_valid, components=(1, 2, 3, 4, 6, 8), lambdas=(0.9,),
                                  max_kde_valid=10)
    mixture = next(m for m in models if m.name == "mixture of Bernoullis")
    assert 4 <= mixture.hyperparameters["components"] <= 6
    # Paired with the true model: the fitted one loses ~ (#parameters) / (2 N_train) = 163 / 6000 nats.
    gap = (mixture.log_prob(x_test) - true.log_prob(x_test)).mean().item()
    assert -0.1 < gap < 0.02


def test_em_returns_a_proper_mixture():
    x = (torch.rand(200, 12, generator=torch.Generator().manual_seed(6)) < 0.3).to(torch.float64)
    logits, probs = fit_bernoulli_mixture(x, 5, seed=0)
    assert torch.logsumexp(logits, 0).item() == pytest.approx(0.0, abs=1e-12)
    assert ((probs > 0) & (probs < 1)).all()


# --- Kernel densities ----------------------------------------------------------------------------------


def test_gaussian_kde_matches_sklearn():
    g = torch.Generator().manual_seed(7)
    centres = torch.randn(60, 3, generator=g, dtype=torch.float64)
    x = 2 * torch.randn(25, 3, generator=g, dtype=torch.float64) + 5  # some far away: tests logsumexp
    kde = KernelDensity(kernel="gaussian", bandwidth=0.7).fit(centres.numpy())
    ours = gaussian_kde_log_prob(x, centres, 0.7).numpy()
    np.testing.assert_allclose(ours, kde.score_samples(x.numpy()), rtol=1e-10, atol=1e-10)


def test_binary_kde_matches_its_formula():
    g = torch.Generator().manual_seed(8)
    centres = (torch.rand(30, 9, generator=g) < 0.4).to(torch.float64)
    x = (torch.rand(20, 9, generator=g) < 0.4).to(torch.float64)
    lam = 0.83
    same = (x[:, None, :] == centres[None, :, :]).to(torch.float64)  # [M, N, D]
    kernel = (lam**same * (1 - lam) ** (1 - same)).prod(-1)  # [M, N]
    torch.testing.assert_close(binary_kde_log_prob(x, centres, lam), kernel.mean(1).log())
    assert torch.allclose(binary_kde_log_prob(x, centres, 0.5), torch.tensor(-9 * math.log(2.0)).double())


# --- Every binary baseline is normalised over {0, 1}^8 --------------------------------------------------

ALL_BINARY_8 = torch.tensor(list(itertools.product([0.0, 1.0], repeat=8)), dtype=torch.float64)  # [256, 8]


@pytest.fixture(scope="module")
def binary_models_d8():
    g = torch.Generator().manual_seed(9)
    probs = torch.tensor([0.05, 0.1, 0.3, 0.5, 0.7, 0.9, 0.95, 0.0], dtype=torch.float64)
    x_train, x_valid = ((torch.rand(n, 8, generator=g, dtype=torch.float64) < probs).double() for n in (400, 200))
    return {m.name: m for m in fit_binary_baselines(x_train, x_valid, components=(1, 2, 5))}


@pytest.mark.parametrize("name", ["factorised Bernoulli", "mixture of Bernoullis", "binary KDE"])
def test_binary_baseline_sums_to_one(binary_models_d8, name):
    # The last pixel is 0 in every train point: smoothing must still give x_8 = 1 some mass.
    log_p = binary_models_d8[name].log_prob(ALL_BINARY_8)
    assert torch.isfinite(log_p).all()
    assert torch.logsumexp(log_p, 0).item() == pytest.approx(0.0, abs=1e-6)


def test_binary_result_is_mean_and_stderr_of_log_prob():
    g = torch.Generator().manual_seed(10)
    x_train, x_valid, x_test = ((torch.rand(n, 10, generator=g) < 0.3).double() for n in (300, 100, 150))
    options = {**FAST_BINARY, "max_kde_test": None}
    results = binary_baselines(x_train, x_valid, x_test, **options)
    models = fit_binary_baselines(x_train, x_valid, **options)
    for r, m in zip(results, models, strict=True):
        log_p = m.log_prob(x_test)
        assert r.n_test == 150
        assert r.log_likelihood == pytest.approx(log_p.mean().item(), abs=1e-9)
        assert r.stderr == pytest.approx(log_p.std().item() / math.sqrt(150), rel=1e-9)
        assert r.hyperparameters == m.hyperparameters
    kde = by_name(binary_baselines(x_train, x_valid, x_test, **{**FAST_BINARY, "max_kde_test": 40}))["binary KDE"]
    assert kde.n_test == 40 and "subsampled" in kde.note


# --- Dequantised discrete data --------------------------------------------------------------------------


def test_dequantised_figure_is_density_minus_d_log_levels():
    levels, seed = 16, 3
    g = torch.Generator().manual_seed(11)
    x_train, x_valid, x_test = (torch.randint(0, levels, (n, 3), generator=g) for n in (300, 100, 120))
    discrete = continuous_baselines(x_train, x_valid, x_test, levels=levels, seed=seed, **FAST_CONTINUOUS)
    # The documented noise: split i is dequantised with seed + 10 + i.
    y = [dequantise(s, levels, seed=seed + 10 + i) for i, s in enumerate((x_train, x_valid, x_test))]
    density = continuous_baselines(*y, levels=None, seed=seed, **FAST_CONTINUOUS)
    assert [r.name for r in discrete] == [r.name for r in density]
    for r_x, r_y in zip(discrete, density, strict=True):
        assert r_x.log_likelihood == pytest.approx(r_y.log_likelihood - 3 * math.log(levels), abs=1e-9)
        assert r_x.hyperparameters == r_y.hyperparameters
        assert r_x.stderr == pytest.approx(r_y.stderr, rel=1e-9)


def test_dequantise_fills_each_cube_uniformly():
    x = torch.tensor([[0, 255], [7, 128]]).repeat(5000, 1)
    y = dequantise(x, 256, seed=0)
    u = y * 256 - x
    assert ((u >= 0) & (u < 1)).all()
    # U[0, 1) has mean 1/2 and variance 1/12; the standard errors at n = 10000 are 0.003 and 0.001.
    assert abs(u.mean().item() - 0.5) < 0.015
    assert abs(u.var().item() - 1 / 12) < 0.005
    assert torch.equal(dequantise(x, 256, seed=0), y)
    assert not torch.equal(dequantise(x, 256, seed=1), y)


def test_factorised_gaussian_on_8bit_data_is_a_valid_bound():
    # Constant border pixels (the hardest case: the fitted variance is the noise's, 1/(12 L^2)) and spread ones.
    g = torch.Generator().manual_seed(12)
    spread = torch.randint(0, 256, (2000, 6), generator=g)
    constant = torch.zeros(2000, 10, dtype=torch.int64)
    x = torch.cat([spread, constant], 1)
    r = by_name(continuous_baselines(x[:1000], x[1000:1500], x[1500:], levels=256, **FAST_CONTINUOUS))
    # E_u[log p(y)] - D log L <= log P(x) <= 0 (Jensen; Theis et al. 2016). The expectation sits about
    # 0.18 nats per constant pixel and ~log(256/74) per spread pixel below 0, far outside the noise of one draw.
    assert r["factorised Gaussian"].log_likelihood <= 0.0
    assert r["full-covariance Gaussian"].log_likelihood <= 0.0


# --- Dispatch and bad input -----------------------------------------------------------------------------


def test_dispatch_on_levels():
    g = torch.Generator().manual_seed(13)
    x = (torch.rand(200, 5, generator=g) < 0.5).double()
    binary = baselines(x[:100], x[100:150], x[150:], levels=2, **FAST_BINARY)
    assert [r.name for r in binary] == ["factorised Bernoulli", "mixture of Bernoullis", "binary KDE"]
    real = baselines(x[:100], x[100:150], x[150:], levels=None, **FAST_CONTINUOUS)
    assert [r.name for r in real] == ["factorised Gaussian", "full-covariance Gaussian", "Gaussian mixture",
                                      "Gaussian KDE"]
    images = baselines(x[:100].reshape(100, 1, 5), x[100:150], x[150:], levels=2, **FAST_BINARY)
    assert [r.log_likelihood for r in images] == [r.log_likelihood for r in binary]


def _binary(n=20, d=4):
    return (torch.rand(n, d, generator=torch.Generator().manual_seed(n)) < 0.5).double()


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda: binary_baselines(_binary() * 0.5, _binary(), _binary()), id="non-binary train"),
        pytest.param(lambda: binary_baselines(_binary(), _binary(), _binary() + 1), id="non-binary test"),
        pytest.param(lambda: binary_baselines(_binary(), _binary()[:0], _binary()), id="empty valid"),
        pytest.param(lambda: binary_baselines(_binary(), _binary(d=5), _binary()), id="dimension mismatch"),
        pytest.param(
            lambda: continuous_baselines(torch.where(_binary() > 0, math.nan, 0.0), _binary(), _binary()),
            id="NaN train",
        ),
        pytest.param(lambda: continuous_baselines(_binary(), _binary(), _binary() * 300, levels=256),
                     id="out of levels"),
        pytest.param(lambda: continuous_baselines(_binary() + 0.5, _binary(), _binary(), levels=256),
                     id="non-integer levels data"),
        pytest.param(lambda: baselines(np.array([]), _binary(), _binary(), levels=None), id="empty numpy"),
        pytest.param(lambda: binary_kde_log_prob(_binary() * 2, _binary(), 0.9), id="non-binary KDE query"),
    ],
)
def test_bad_input_raises_data_error(call):
    with pytest.raises(DataError):
        call()
