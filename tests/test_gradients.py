"""The hand-derived training gradients against autograd, and their use by `fit`."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import vaekit
from vaekit.data.batch import Batch
from vaekit.errors import VaekitError
from vaekit.objectives import build_objective
from vaekit.train.fast import LIKELIHOODS, applies, step_gradients, terms


def _model_and_data(likelihood: str, hidden: tuple[int, ...], data_shape: tuple[int, ...], kind: str = "vae"):
    config = {"data_shape": data_shape, "latent_dim": 3, "hidden": hidden, "likelihood": likelihood}
    if kind == "hvae":  # the two-layer hierarchy: z2 of 2 dimensions above z1, one or two hidden layers between
        config.update(latent_dim2=2, hidden2=hidden[::-1][:1] if len(hidden) == 1 else (4, 6))
    model = vaekit.build_model(kind, config)
    if likelihood == "bernoulli":
        x = torch.bernoulli(torch.full((13, *data_shape), 0.3))
    else:
        x = torch.randn(13, *data_shape)
    return model.double(), x.double()


@pytest.mark.parametrize("kind", ["vae", "hvae"])
@pytest.mark.parametrize("likelihood", LIKELIHOODS)
@pytest.mark.parametrize("hidden", [(7,), (9, 5)])
@pytest.mark.parametrize("data_shape", [(6,), (2, 3, 3)])
def test_derived_gradients_equal_autograd(kind, likelihood, hidden, data_shape):
    """Sums of the terms and every parameter's gradient, in float64, at the same draw of the noise: the one-layer
    VAE (analytic KL) and the two-layer hierarchy (Monte-Carlo KL through both layers' networks)."""
    model, x = _model_and_data(likelihood, hidden, data_shape, kind)
    if kind == "vae":  # move the prior off N(0, I) so that its location and scale enter the KL derivative
        model.prior_module.loc.fill_(0.3)
        model.prior_module.scale.fill_(1.7)
    derived = copy.deepcopy(model)
    torch.manual_seed(11)
    loss = build_objective("elbo")(model, Batch(x), 0.0)
    loss.loss.backward()
    sums = torch.stack([t.detach().sum() for t in loss.terms.values()])
    torch.manual_seed(11)
    derived_sums = step_gradients(derived, x)
    torch.testing.assert_close(derived_sums, sums, rtol=1e-12, atol=1e-12)
    for (name, p), q in zip(model.named_parameters(), derived.parameters()):
        assert p.grad.abs().max() > 0, name
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-10, atol=1e-12, msg=name)


@pytest.mark.parametrize("likelihood", LIKELIHOODS)
@pytest.mark.parametrize("hidden", [(7,), (9, 5)])
@pytest.mark.parametrize("samples", [1, 4])
def test_derived_iwae_gradients_equal_autograd(likelihood, hidden, samples):
    """The IWAE bound's terms and gradients (K draws through the decoder at once, the normalised weights, the
    Monte-Carlo log p(z) - log q(z|x)), in float64, at the same draws; a prior off N(0, I)."""
    model, x = _model_and_data(likelihood, hidden, (2, 3, 3))
    model.prior_module.loc.fill_(-0.4)
    model.prior_module.scale.fill_(0.8)
    objective = build_objective("iwae", {"iw_samples": samples})
    assert applies(model, objective, "fp32") is None
    derived = copy.deepcopy(model)
    torch.manual_seed(5)
    loss = objective(model, Batch(x), 0.0)
    loss.loss.backward()
    sums = torch.stack([t.detach().sum() for t in loss.terms.values()])
    assert tuple(loss.terms) == terms(objective)
    torch.manual_seed(5)
    derived_sums = step_gradients(derived, x, objective)
    torch.testing.assert_close(derived_sums, sums, rtol=1e-12, atol=1e-12)
    for (name, p), q in zip(model.named_parameters(), derived.parameters()):
        assert p.grad.abs().max() > 0, name
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-10, atol=1e-12, msg=name)


@pytest.mark.parametrize("kind", ["vae", "hvae"])
def test_gradient_buffers_are_overwritten_not_accumulated(kind):
    model, x = _model_and_data("bernoulli", (7,), (6,), kind)
    torch.manual_seed(3)
    step_gradients(model, x)
    first = [p.grad.clone() for p in model.parameters()]
    torch.manual_seed(3)
    step_gradients(model, x)
    for a, p in zip(first, model.parameters()):
        torch.testing.assert_close(p.grad, a, rtol=0, atol=0)


@pytest.mark.parametrize(("change", "reason"), [
    ({"network": "conv"}, "MLP"),
    ({"likelihood": "continuous-bernoulli"}, "continuous-bernoulli"),
])
def test_models_without_derived_gradients_say_why(change, reason):
    model = vaekit.VAE(vaekit.VAEConfig(data_shape=(1, 8, 8), **change))
    assert reason in applies(model, build_objective("elbo"), "fp32")


def test_settings_without_derived_gradients_say_why():
    model = vaekit.VAE(vaekit.VAEConfig(data_shape=(6,)))
    elbo = build_objective("elbo")
    assert applies(model, elbo, "fp32") is None
    assert "one sample" in applies(model, build_objective("elbo", {"num_samples": 2}), "fp32")
    assert "analytic KL" in applies(model, build_objective("elbo", {"analytic_kl": False}), "fp32")
    assert "bf16" in applies(model, elbo, "bf16")
    model.encoder.requires_grad_(False)
    assert "frozen" in applies(model, elbo, "fp32")


PLAIN = {"data_shape": (6,), "latent_dim": 2, "hidden": (8,)}
# Every prior, objective and model kind that is not the exact derived configuration, and why it is not.
NOT_DERIVED = {
    "mixture prior": ("vae", {**PLAIN, "prior": "mixture"}, "elbo", {}, "mixture prior"),
    "vamp prior": ("vae", {**PLAIN, "prior": "vamp", "prior_components": 3}, "elbo", {}, "vamp prior"),
    "beta": ("vae", PLAIN, "elbo", {"beta": 0.5}, "plain ELBO"),
    "warm-up": ("vae", PLAIN, "elbo", {"warmup_epochs": 2}, "plain ELBO"),
    "free bits": ("vae", PLAIN, "elbo", {"free_bits": 0.1}, "plain ELBO"),
    "iwae vamp prior": ("vae", {**PLAIN, "prior": "vamp", "prior_components": 3}, "iwae", {}, "vamp prior"),
    "hvae iwae": ("hvae", {**PLAIN, "latent_dim2": 2, "hidden2": (4,)}, "iwae", {"iw_samples": 3}, "one-layer VAE only"),
    "hvae beta": ("hvae", {**PLAIN, "latent_dim2": 2, "hidden2": (4,)}, "elbo", {"beta": 2.0}, "plain ELBO"),
    "hvae continuous-bernoulli": ("hvae", {**PLAIN, "latent_dim2": 2, "hidden2": (4,),
                                           "likelihood": "continuous-bernoulli"}, "elbo", {}, "continuous-bernoulli"),
    "made": ("made", {"data_shape": (6,), "hidden": (8,)}, "likelihood", {}, "one-layer VAE nor"),
}


@pytest.mark.parametrize("case", list(NOT_DERIVED))
def test_every_other_prior_objective_and_kind_trains_through_autograd(case):
    kind, config, objective_name, settings, reason = NOT_DERIVED[case]
    model = vaekit.build_model(kind, config)
    objective = build_objective(objective_name, settings)
    assert reason in applies(model, objective, "fp32")
    # fit takes the autograd step for it (auto), and refuses the derived one with the reason.
    result = vaekit.fit(model, _tiny_splits(), vaekit.TrainConfig(epochs=1, batch_size=16), objective)
    assert np.isfinite(result.best_valid)
    with pytest.raises(VaekitError, match=f"--gradients derived does not apply here: .*{reason}"):
        vaekit.fit(vaekit.build_model(kind, config), _tiny_splits(),
                   vaekit.TrainConfig(epochs=1, gradients="derived"), objective)


def _tiny_splits() -> vaekit.data.Splits:
    generator = torch.Generator().manual_seed(0)
    x = torch.bernoulli(torch.full((120, 6), 0.4), generator=generator)
    return vaekit.data.Splits(name="tiny", source="test", x_train=x[:80], x_valid=x[80:100], x_test=x[100:],
                              y_train=None, y_valid=None, y_test=None, levels=2, data_shape=(6,))


@pytest.mark.parametrize(("kind", "objective"), [("vae", "elbo"), ("hvae", "elbo"), ("vae", "iwae")])
def test_fit_with_derived_gradients_follows_the_autograd_run(kind, objective):
    splits = _tiny_splits()
    histories = {}
    for gradients in ("autograd", "derived"):
        torch.manual_seed(0)
        model = vaekit.build_model(kind, {"data_shape": (6,), "latent_dim": 2, "hidden": (16,),
                                          **({"latent_dim2": 2, "hidden2": (8,)} if kind == "hvae" else {})})
        config = vaekit.TrainConfig(epochs=3, batch_size=16, gradients=gradients)
        histories[gradients] = vaekit.fit(model, splits, config, build_objective(objective)).history
    keys = ("valid_elbo_nats", "valid_kl_nats") + (
        ("train_iwae_bound_nats", "train_mc_kl_nats", "valid_iwae_bound_nats") if objective == "iwae" else
        ("train_elbo_nats",))
    for a, b in zip(histories["autograd"], histories["derived"]):
        for key in keys:
            assert b[key] == pytest.approx(a[key], abs=1e-4), key
