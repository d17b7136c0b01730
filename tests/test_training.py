"""Training options that the quality runs rely on: learning-rate schedules, a moving average of the weights,
early stopping; and exact resume with each."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

import vaekit
from vaekit.cli import main
from vaekit.train.config import learning_rate


def test_learning_rate_schedules():
    cosine = vaekit.TrainConfig(epochs=10, lr=1e-3, lr_schedule="cosine", lr_final=1e-5)
    assert learning_rate(cosine, 0) == pytest.approx(1e-3)
    assert learning_rate(cosine, 5) == pytest.approx((1e-3 + 1e-5) / 2)
    assert learning_rate(cosine, 10) == pytest.approx(1e-5)
    exponential = vaekit.TrainConfig(lr=1e-3, lr_schedule="exponential", lr_decay=0.9)
    assert learning_rate(exponential, 2.5) == pytest.approx(1e-3 * 0.9**2.5)
    step = vaekit.TrainConfig(lr=1e-3, lr_schedule="step", lr_decay=0.1, lr_step_epochs=45)
    # torch's StepLR(step_size=45, gamma=0.1) stepped after each epoch: epochs 1-45 at 1e-3, 46-90 at 1e-4
    assert [learning_rate(step, p) for p in (0, 44.99, 45, 89.5, 90)] == pytest.approx([1e-3, 1e-3, 1e-4, 1e-4, 1e-5])
    assert learning_rate(vaekit.TrainConfig(lr=3e-4), 7) == 3e-4


def _tiny_splits() -> vaekit.data.Splits:
    generator = torch.Generator().manual_seed(0)
    x = torch.bernoulli(torch.full((120, 6), 0.4), generator=generator)
    return vaekit.data.Splits(name="tiny", source="test", x_train=x[:80], x_valid=x[80:100], x_test=x[100:],
                              y_train=None, y_valid=None, y_test=None, levels=2, data_shape=(6,))


def test_weight_decay_is_adams_l2_penalty():
    """One epoch of one step: Adam's first step moves every weight by lr against the sign of its gradient; with a
    huge decay the gradient is the penalty's, weight_decay * w, so every weight steps lr towards zero."""
    def weights_after(weight_decay: float) -> torch.Tensor:
        torch.manual_seed(0)
        model = vaekit.build_model("vae", {"data_shape": (6,), "hidden": (8,), "latent_dim": 2})
        config = vaekit.TrainConfig(epochs=1, batch_size=80, lr=1e-2, weight_decay=weight_decay, seed=0,
                                    gradients="autograd")
        vaekit.fit(model, _tiny_splits(), config)
        return torch.cat([p.detach().flatten() for p in model.parameters()])

    torch.manual_seed(0)
    start = torch.cat([p.detach().flatten() for p in
                       vaekit.build_model("vae", {"data_shape": (6,), "hidden": (8,), "latent_dim": 2}).parameters()])
    plain, decayed = weights_after(0.0), weights_after(1e6)
    moved = decayed - start
    assert not torch.equal(plain, decayed)
    big = start.abs() > 1e-3  # away from zero, the penalty decides the sign of the step
    assert torch.all(torch.sign(moved[big]) == -torch.sign(start[big]))
    assert torch.allclose(moved[big].abs(), torch.full_like(moved[big], 1e-2), rtol=1e-3)


def _current_weights(run) -> dict[str, np.ndarray]:
    return {k.removeprefix("model."): v for k, v in load_file(run / "checkpoint.safetensors").items()
            if k.startswith("model.")}


def test_the_moving_average_is_what_is_kept(tmp_path):
    # One step per epoch (the batch is the whole training split): the average after 3 steps with decay 0.5 is
    # 0.25 theta_1 + 0.25 theta_2 + 0.5 theta_3 (the first update copies, then lerp), and the weights that
    # training takes are the same with or without the average (it draws no random numbers).
    def train(epochs: int, ema: float, name: str):
        torch.manual_seed(0)
        model = vaekit.VAE(vaekit.VAEConfig(data_shape=(6,), latent_dim=2, hidden=(8,)))
        config = vaekit.TrainConfig(epochs=epochs, batch_size=80, lr=0.05, ema_decay=ema, seed=1)
        return vaekit.fit(model, _tiny_splits(), config, run_dir=tmp_path / name)

    thetas = [_current_weights(train(t, 0.0, f"plain{t}").run_dir) for t in (1, 2, 3)]
    result = train(3, 0.5, "ema")
    state = load_file(tmp_path / "ema" / "checkpoint.safetensors")
    for key in thetas[0]:
        expected = 0.25 * thetas[0][key] + 0.25 * thetas[1][key] + 0.5 * thetas[2][key]
        np.testing.assert_allclose(state[f"ema.module.{key}"], expected, rtol=1e-5, atol=1e-6, err_msg=key)
        np.testing.assert_array_equal(state[f"model.{key}"], thetas[2][key])  # training itself is unchanged
    saved = load_file(tmp_path / "ema" / "model.safetensors")  # the kept weights are an average's
    best = result.best_epoch
    assert not np.array_equal(saved["encoder.net.0.weight"], thetas[best - 1]["encoder.net.0.weight"])


def test_early_stopping_stops_after_patience_epochs_without_improvement():
    torch.manual_seed(0)
    model = vaekit.VAE(vaekit.VAEConfig(data_shape=(6,), latent_dim=2, hidden=(8,)))
    # A learning rate this small barely moves: the validation ELBO wobbles, and patience 1 stops it quickly.
    result = vaekit.fit(model, _tiny_splits(), vaekit.TrainConfig(epochs=50, batch_size=16, lr=1e-9, patience=1))
    assert len(result.history) < 50
    assert len(result.history) - result.best_epoch == 1


# (The cosine schedule spans --epochs, so a run resumed with a larger --epochs follows a stretched schedule: only
# a resume with the same --epochs, as after a crash, repeats it exactly.)
@pytest.mark.parametrize("options", [["--ema-decay", "0.9"], ["--lr-schedule", "exponential", "--lr-decay", "0.8"]],
                         ids=["ema", "exponential"])
def test_resume_is_exact_with_schedules_and_the_moving_average(options, tmp_path, capsys):
    common = ["--hidden", "16", "--latent-dim", "3", "--batch-size", "64", "--seed", "5", *options]
    assert main(["train", *common, "--epochs", "4", "--out", str(tmp_path / "full")]) == 0
    assert main(["train", *common, "--epochs", "2", "--out", str(tmp_path / "part")]) == 0
    assert main(["train", *common, "--epochs", "4", "--out", str(tmp_path / "part"), "--resume"]) == 0
    capsys.readouterr()
    for name in ("checkpoint.safetensors", "model.safetensors"):
        full, part = load_file(tmp_path / "full" / name), load_file(tmp_path / "part" / name)
        assert full.keys() == part.keys()
        for key in full:
            np.testing.assert_array_equal(full[key], part[key], err_msg=f"{name}:{key}")
    if "--ema-decay" in options:
        assert any(k.startswith("ema.") for k in load_file(tmp_path / "full" / "checkpoint.safetensors"))
    rows = [json.loads(r) for r in (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()]
    assert all(math.isfinite(r["valid_elbo_nats"]) for r in rows)


def test_schedule_options_that_do_not_apply_are_refused(capsys):
    assert main(["train", "--lr-final", "1e-4"]) == 2
    assert "--lr-final applies only with --lr-schedule cosine" in capsys.readouterr().err
