"""The hand-derived training gradients against autograd, and their use by `fit`."""

from __future__ import annotations

import copy

import pytest
import torch

import vaekit
from vaekit.errors import VaekitError
from vaekit.gradients import LIKELIHOODS, applies, step_gradients
from vaekit.train import _objective


def _model_and_data(likelihood: str, hidden: tuple[int, ...], data_shape: tuple[int, ...]):
    model = vaekit.VAE(vaekit.ModelConfig(data_shape=data_shape, latent_dim=3, hidden=hidden, likelihood=likelihood))
    if likelihood == "bernoulli":
        x = torch.bernoulli(torch.full((13, *data_shape), 0.3))
    else:
        x = torch.randn(13, *data_shape)
    return model.double(), x.double()


@pytest.mark.parametrize("likelihood", LIKELIHOODS)
@pytest.mark.parametrize("hidden", [(7,), (9, 5)])
@pytest.mark.parametrize("data_shape", [(6,), (2, 3, 3)])
def test_derived_gradients_equal_autograd(likelihood, hidden, data_shape):
    model, x = _model_and_data(likelihood, hidden, data_shape)
    # Move the prior off N(0, I) so that its location and scale enter the KL derivative.
    model.prior_loc.fill_(0.3)
    model.prior_scale.fill_(1.7)
    derived = copy.deepcopy(model)
    torch.manual_seed(11)
    loss, sums = _objective(model, x, 1, True)
    loss.backward()
    torch.manual_seed(11)
    derived_sums = step_gradients(derived, x)
    torch.testing.assert_close(derived_sums, sums, rtol=1e-12, atol=1e-12)
    for (name, p), q in zip(model.named_parameters(), derived.parameters()):
        assert p.grad.abs().max() > 0, name
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-10, atol=1e-12, msg=name)


def test_gradient_buffers_are_overwritten_not_accumulated():
    model, x = _model_and_data("bernoulli", (7,), (6,))
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
    model = vaekit.VAE(vaekit.ModelConfig(data_shape=(1, 8, 8), **change))
    assert reason in applies(model, 1, True, "fp32")


def test_settings_without_derived_gradients_say_why():
    model = vaekit.VAE(vaekit.ModelConfig(data_shape=(6,)))
    assert applies(model, 1, True, "fp32") is None
    assert "one sample" in applies(model, 2, True, "fp32")
    assert "analytic KL" in applies(model, 1, False, "fp32")
    assert "bf16" in applies(model, 1, True, "bf16")
    model.encoder.requires_grad_(False)
    assert "frozen" in applies(model, 1, True, "fp32")


def _tiny_splits() -> vaekit.data.Splits:
    generator = torch.Generator().manual_seed(0)
    x = torch.bernoulli(torch.full((120, 6), 0.4), generator=generator)
    return vaekit.data.Splits(name="tiny", source="test", x_train=x[:80], x_valid=x[80:100], x_test=x[100:],
                              y_train=None, y_valid=None, y_test=None, levels=2, data_shape=(6,))


def test_fit_with_derived_gradients_follows_the_autograd_run():
    splits = _tiny_splits()
    histories = {}
    for gradients in ("autograd", "derived"):
        torch.manual_seed(0)
        model = vaekit.VAE(vaekit.ModelConfig(data_shape=(6,), latent_dim=2, hidden=(16,)))
        config = vaekit.TrainConfig(epochs=3, batch_size=16, gradients=gradients)
        histories[gradients] = vaekit.fit(model, splits, config).history
    for a, b in zip(histories["autograd"], histories["derived"]):
        for key in ("train_elbo_nats", "valid_elbo_nats", "valid_kl_nats"):
            assert b[key] == pytest.approx(a[key], abs=1e-4), key


def test_derived_gradients_where_they_do_not_apply_is_a_clear_error():
    model = vaekit.VAE(vaekit.ModelConfig(data_shape=(6,), latent_dim=2, hidden=(16,)))
    with pytest.raises(VaekitError, match="--gradients derived does not apply here: it needs one sample"):
        vaekit.fit(model, _tiny_splits(), vaekit.TrainConfig(epochs=1, num_samples=2, gradients="derived"))
