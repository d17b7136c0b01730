"""Objectives as objects: the plain ELBO is exactly the ELBO, beta / warm-up / free bits / IWAE follow their
formulas, and the loop logs whatever terms an objective returns and keeps the best epoch by its figure."""

from __future__ import annotations

import json
import math

import pytest
import torch

import vaekit
from vaekit.data.batch import Batch
from vaekit.distributions import kl_units
from vaekit.objectives import ELBO, OBJECTIVES, build_objective, label


def _model_and_batch(prior: str = "normal"):
    torch.manual_seed(0)
    model = vaekit.build_model("vae", {"data_shape": (6,), "latent_dim": 3, "hidden": (8,), "prior": prior})
    x = torch.bernoulli(torch.full((10, 6), 0.4))
    return model, Batch(x)


def test_the_plain_elbo_objective_is_exactly_the_elbo():
    model, batch = _model_and_batch()
    torch.manual_seed(7)
    loss = build_objective("elbo")(model, batch, progress=0.3)
    torch.manual_seed(7)
    terms = vaekit.elbo(model, batch.x)
    assert torch.equal(loss.loss, -terms.elbo.mean())
    assert torch.equal(loss.terms["elbo"], terms.elbo) and torch.equal(loss.terms["kl"], terms.kl)


@pytest.mark.parametrize("progress", [0.0, 1.5, 3.0, 10.0])
def test_beta_and_linear_warm_up(progress):
    model, batch = _model_and_batch()
    objective = build_objective("elbo", {"beta": 0.5, "warmup_epochs": 3})
    beta = 0.5 * min(1.0, progress / 3)
    assert objective.beta(progress) == pytest.approx(beta)
    torch.manual_seed(7)
    loss = objective(model, batch, progress)
    torch.manual_seed(7)
    terms = vaekit.elbo(model, batch.x)
    torch.testing.assert_close(loss.loss, -terms.reconstruction.mean() + beta * terms.kl.mean())
    assert objective.scalars(progress) == {"beta": pytest.approx(beta)}


def test_free_bits_stop_pushing_a_dimension_below_its_floor():
    model, batch = _model_and_batch()
    free = 0.3
    torch.manual_seed(7)
    loss = build_objective("elbo", {"free_bits": free})(model, batch, 0.0)
    torch.manual_seed(7)
    qz_x = model.encode(batch.x)
    z = qz_x.rsample((1,))
    units = kl_units(qz_x, model.prior(), z)
    assert units.per_dimension and units.values.shape == (10, 3)
    reconstruction = model.decode(z).log_prob(batch.x).mean()
    expected = -reconstruction + units.values.mean(0).clamp(min=free).sum()
    torch.testing.assert_close(loss.loss, expected)
    # A dimension whose batch KL is under the floor gets no gradient from the KL term.
    model.zero_grad()
    loss.loss.backward()
    below = units.values.mean(0) < free
    assert below.any(), "the test needs a dimension under the floor"
    torch.manual_seed(7)
    reconstruction_only = -model.decode(model.encode(batch.x).rsample((1,))).log_prob(batch.x).mean()
    grads = torch.autograd.grad(reconstruction_only, model.encoder.net[-1].bias)[0]
    j = int(below.nonzero()[0])
    torch.testing.assert_close(model.encoder.net[-1].bias.grad[j], grads[j])  # loc of dimension j: no KL pull


def test_iwae_objective_is_the_importance_weighted_bound():
    model, batch = _model_and_batch()
    objective = build_objective("iwae", {"iw_samples": 6})
    torch.manual_seed(7)
    loss = objective(model, batch, 0.0)
    torch.manual_seed(7)
    log_w = vaekit.log_weights(model, batch.x, 6)
    torch.testing.assert_close(loss.terms["iwae_bound"], torch.logsumexp(log_w, 0) - math.log(6))
    # The ELBO of the same draws, Monte-Carlo in both terms, under its own names (the ELBO objective's `elbo` and
    # `kl` use the closed-form KL).
    torch.testing.assert_close(loss.terms["mc_elbo"], log_w.mean(0))
    torch.testing.assert_close(loss.terms["mc_kl"], loss.terms["reconstruction"] - log_w.mean(0))
    assert not {"elbo", "kl"} & set(loss.terms)
    torch.testing.assert_close(loss.loss, -loss.terms["iwae_bound"].mean())
    # K = 1 is the Monte-Carlo ELBO.
    torch.manual_seed(7)
    one = build_objective("iwae", {"iw_samples": 1})(model, batch, 0.0)
    torch.manual_seed(7)
    torch.testing.assert_close(one.terms["iwae_bound"], vaekit.elbo(model, batch.x, analytic_kl=False).elbo)


def test_bad_settings_are_refused_by_the_schema():
    with pytest.raises(ValueError, match="beta: must be at least 0"):
        build_objective("elbo", {"beta": -1})
    with pytest.raises(ValueError, match="unknown field 'iw_sample' \\(did you mean 'iw_samples'\\?\\)"):
        build_objective("iwae", {"iw_sample": 5})


def _tiny_splits() -> vaekit.data.Splits:
    generator = torch.Generator().manual_seed(0)
    x = torch.bernoulli(torch.full((120, 6), 0.4), generator=generator)
    return vaekit.data.Splits(name="tiny", source="test", x_train=x[:80], x_valid=x[80:100], x_test=x[100:],
                              y_train=None, y_valid=None, y_test=None, levels=2, data_shape=(6,))


def test_the_loop_logs_the_objectives_terms_and_keeps_the_best_by_its_figure(tmp_path):
    model, _ = _model_and_batch()
    objective = build_objective("iwae", {"iw_samples": 4})
    result = vaekit.fit(model, _tiny_splits(), vaekit.TrainConfig(epochs=3, batch_size=16), objective,
                        run_dir=tmp_path / "run")
    assert result.best_by == "valid_iwae_bound_nats"
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    for row in rows:
        assert {"train_iwae_bound_nats", "train_mc_elbo_nats", "valid_iwae_bound_nats", "valid_elbo_nats"} <= set(row)
        assert row["valid_iwae_bound_nats"] >= row["valid_elbo_nats"] - 0.5  # L_K sits above the ELBO (noise aside)
    assert result.best_valid == max(r["valid_iwae_bound_nats"] for r in rows)
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["objective"] == {"name": "iwae", "iw_samples": 4} and config["best_by"] == "valid_iwae_bound_nats"
    assert config["kind"] == "vae"
    # Warm-up logs its beta per epoch.
    warm = vaekit.fit(vaekit.build_model("vae", {"data_shape": (6,), "latent_dim": 2, "hidden": (8,)}),
                      _tiny_splits(), vaekit.TrainConfig(epochs=2, batch_size=16),
                      build_objective("elbo", {"warmup_epochs": 4}))
    assert [row["beta"] for row in warm.history] == [0.25, 0.5]
    assert isinstance(ELBO(ELBO.Config()).describe(), str)


def test_figures_are_labelled_where_their_objective_is_declared():
    assert [label(cls.validation_figure) for cls in OBJECTIVES.values()] == [cls.figure_label for cls in
                                                                            OBJECTIVES.values()]
    assert (label("elbo"), label("iwae_bound"), label("kl")) == ("ELBO", "IWAE bound", "KL(q(z|x) || p(z))")
    assert label("mc_elbo").startswith("ELBO (Monte-Carlo") and label("a_new_figure") == "a new figure"
