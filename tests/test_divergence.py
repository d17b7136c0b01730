"""Training that goes wrong says so (divergence by the trajectory, with its likely cause), and --standardize keeps
every log-density in the data's own units (the change of variables, checked against a closed form)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from linear_gaussian import linear_gaussian
from scipy.stats import multivariate_normal

import vaekit
from vaekit.cli import main
from vaekit.data.pipeline import Pipeline
from vaekit.errors import DataError
from vaekit.estimate import log_likelihood
from vaekit.train.divergence import diverged


def _rows(values: list[float]) -> list[dict]:
    return [{"epoch": i + 1, "train_elbo_nats": v, "valid_elbo_nats": v} for i, v in enumerate(values)]


def test_divergence_is_read_from_the_trajectory():
    assert diverged(_rows([-90.0, -80.0, -75.0, -76.0]), "elbo", 784) is None  # noise around the best
    assert diverged(_rows([-500.0, -120.0]), "elbo", 784) is None  # the first epochs improve fast
    assert "fell from -80 to -1e+04" in diverged(_rows([-90.0, -80.0, -1e4]), "elbo", 784)
    assert "reached -1e+20" in diverged(_rows([-1e20]), "elbo", 784)  # no best yet, but no density gets there
    assert "is nan" in diverged(_rows([-90.0, float("nan")]), "elbo", 784)
    assert "valid_elbo_nats is -inf" in diverged([{"epoch": 1, "train_elbo_nats": -3.0,
                                                    "valid_elbo_nats": -math.inf}], "elbo", 4)
    iwae = [{"epoch": 1, "train_iwae_bound_nats": -50.0}, {"epoch": 2, "train_iwae_bound_nats": -9e3}]
    assert "train_iwae_bound_nats" in diverged(iwae, "iwae_bound", 10)


def _table(tmp_path, scale: float, rows: int = 200):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 4)) @ rng.normal(size=(4, 4)) * scale + 3 * scale
    path = tmp_path / "table.csv"
    np.savetxt(path, x, delimiter=",")
    return path, x


def test_an_explosion_without_nan_is_an_error_naming_the_learning_rate(tmp_path, capsys):
    # sigma = 1e-9 on data of unit scale: the log-density is about -1e17 nats per datapoint, finite.
    path, _ = _table(tmp_path, 1.0)
    out = tmp_path / "run"
    code = main(["train", "--data", str(path), "--likelihood", "gaussian-fixed", "--fixed-scale", "1e-9", "--epochs",
                 "3", "--hidden", "8", "--out", str(out), "--lr", "1"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "training diverged at epoch 1" in err and "reached" in err and "--lr" in err
    assert "no completed epoch" in err


def test_unscaled_data_is_named_as_the_cause_and_standardize_fixes_it(tmp_path, capsys):
    path, x = _table(tmp_path, 1e23)
    common = ["train", "--data", str(path), "--likelihood", "gaussian", "--epochs", "3", "--hidden", "8",
              "--latent-dim", "2", "--out", str(tmp_path / "run")]
    assert main(common) == 2
    err = capsys.readouterr().err
    assert "diverged" in err and "--standardize" in err and "lower --lr" not in err, err
    assert main([*common, "--standardize"]) == 0  # the same --out: no epoch was completed
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "run"), "--importance-samples", "20", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    pipeline = config["pipeline"]
    assert pipeline["standardize"] and len(pipeline["mean"]) == 4
    # Figures are densities of the data in its own units: about -4 log(1e23) per datapoint, not O(1).
    assert figures["log_prob_offset"] == pytest.approx(-sum(math.log(s) for s in pipeline["std"]))
    assert -4 * math.log(1e23) - 50 < figures["log_likelihood"] < -4 * math.log(1e23) + 50
    assert main(["sample", str(tmp_path / "run"), "-n", "500", "--out", str(tmp_path / "s.npy")]) == 0
    samples = np.load(tmp_path / "s.npy").astype(np.float64)
    assert 0.1 < samples.std() / x.std() < 10  # samples in the data's units too


def test_standardized_log_density_equals_the_density_on_the_original_scale():
    # A linear-Gaussian model on standardized data x' has the exact marginal N(x'; b, C); the same model seen on
    # the original scale x = m + s x' is N(x; m + s b, S C S). The estimate with the exact posterior is exact.
    model, marginal = linear_gaussian(data_dim=5, latent_dim=2, sigma=0.5, seed=3)
    rng = np.random.default_rng(4)
    x_train = torch.tensor(rng.normal(size=(400, 5)) * [1e3, 2.0, 0.1, 50.0, 1.0] + [7.0, -3e4, 0.5, 1e3, 0.0])
    pipeline = Pipeline.resolve("table", "gaussian-fixed", None, binary_likelihood=False, continuous_likelihood=True,
                                binarize=None, dequantize=None, seed=0, standardize=True, x_train=x_train.float())
    m, s = np.array(pipeline.mean), np.array(pipeline.std)
    stored = x_train.float().double().numpy()  # the split as stored (float32)
    np.testing.assert_allclose(m, stored.mean(0), rtol=1e-12)
    np.testing.assert_allclose(s, stored.std(0), rtol=1e-12)
    x = torch.tensor(m + s * marginal.sample((50,)).numpy())  # data on the original scale
    x_std = torch.tensor((x.numpy() - m) / s)  # the float64 view of what pipeline.fixed gives in float32
    as_stored = (x.float().double().numpy() - m) / s  # the view of the float32 data, up to float32 rounding
    np.testing.assert_allclose(pipeline.fixed(x.float(), "test").numpy(), as_stored, rtol=1e-6, atol=1e-6)
    estimate = log_likelihood(model, x_std, num_samples=4).values + pipeline.log_prob_offset(5)
    cov = np.diag(s) @ marginal.covariance_matrix.numpy() @ np.diag(s)
    exact = multivariate_normal(m + s * marginal.loc.numpy(), cov).logpdf(x.numpy())
    np.testing.assert_allclose(estimate.numpy(), exact, rtol=1e-10, atol=1e-8)
    np.testing.assert_allclose(pipeline.restore(x_std.float()).numpy(), x.numpy(), rtol=1e-5)


def test_standardize_applies_to_real_valued_data_only():
    with pytest.raises(DataError, match="--standardize applies to real-valued data"):
        Pipeline.resolve("digits", "gaussian", 17, binary_likelihood=False, continuous_likelihood=True, binarize=None,
                         dequantize=None, seed=0, standardize=True, x_train=torch.zeros(3, 4))
    splits = vaekit.data.load("digits")
    model = vaekit.VAE(vaekit.VAEConfig(data_shape=splits.data_shape, likelihood="gaussian", hidden=(8,)))
    with pytest.raises(DataError, match="--standardize applies to real-valued data"):
        vaekit.fit(model, splits, vaekit.TrainConfig(epochs=1, standardize=True))
