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
    saved = load_file(tmp_path / "ema" / "model.safetensors")  # the kept weights: an average's, or the trained ones
    best = result.best_epoch
    trained = np.array_equal(saved["encoder.net.0.weight"], thetas[best - 1]["encoder.net.0.weight"])
    assert trained == (result.best_weights == "raw")


def _scripted_validation(monkeypatch, figures: dict[tuple[int, str], float]) -> dict[tuple[int, str], dict]:
    """Validation that returns `figures[(epoch, "raw" or "ema")]` as the ELBO (the trained weights are validated
    first, then their moving average), and remembers the weights it was shown."""
    from vaekit.train import loop

    shown: dict[tuple[int, str], dict] = {}
    calls = iter(figures)

    def validate(model, objective, data, group, device):
        key = next(calls)
        shown[key] = {k: v.detach().clone().numpy() for k, v in model.state_dict().items()}
        return {"elbo": figures[key], "reconstruction": 0.0, "kl": 0.0, "active_units": 1.0}

    monkeypatch.setattr(loop, "validate", validate)
    return shown


def test_both_weights_are_validated_and_the_better_kept(tmp_path, monkeypatch, capsys):
    """With --ema-decay every epoch validates the trained weights and their moving average: metrics.jsonl has both
    figures and which was better (its valid_* figures), the best epoch is chosen among the better ones, and the
    weights kept are the ones that scored it; the summary says which."""
    figures = {(1, "raw"): -10.0, (1, "ema"): -9.0,  # the average better: -9, the best so far
               (2, "raw"): -5.0, (2, "ema"): -8.0,   # the trained weights better: -5, the best
               (3, "raw"): -7.0, (3, "ema"): -6.0}   # the average better, but below epoch 2's
    shown = _scripted_validation(monkeypatch, figures)
    run = tmp_path / "run"
    args = ["train", "--out", str(run), "--hidden", "8", "--latent-dim", "2", "--epochs", "3", "--ema-decay", "0.9"]
    assert main([*args, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["best_epoch"], summary["best_weights"], summary["best_valid"]) == (2, "raw", -5.0)
    rows = [json.loads(r) for r in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["valid_weights"] for r in rows] == ["ema", "raw", "ema"]
    assert [r["valid_elbo_nats"] for r in rows] == [-9.0, -5.0, -6.0]
    assert [(r["raw_valid_elbo_nats"], r["ema_valid_elbo_nats"]) for r in rows] == [(-10, -9), (-5, -8), (-7, -6)]
    saved = load_file(run / "model.safetensors")
    for key, value in shown[(2, "raw")].items():
        np.testing.assert_array_equal(saved[key], value, err_msg=key)
    assert not np.array_equal(saved["encoder.net.0.weight"], shown[(2, "ema")]["encoder.net.0.weight"])


def test_the_end_of_training_says_which_weights_were_kept(tmp_path, monkeypatch, capsys):
    _scripted_validation(monkeypatch, {(1, "raw"): -10.0, (1, "ema"): -9.0})
    assert main(["train", "--out", str(tmp_path / "r"), "--hidden", "8", "--latent-dim", "2", "--epochs", "1",
                 "--ema-decay", "0.9"]) == 0
    out = capsys.readouterr().out
    assert "(epoch 1; the moving average of the weights (--ema-decay), which validated better than the trained " \
           "weights, is kept)" in out, out


def test_every_epoch_records_its_learning_rate(tmp_path, capsys):
    args = ["--hidden", "8", "--latent-dim", "2", "--epochs", "4", "--lr-schedule", "cosine", "--lr-final", "1e-4"]
    assert main(["train", "--out", str(tmp_path / "r"), *args]) == 0
    capsys.readouterr()
    rows = [json.loads(r) for r in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    config = vaekit.TrainConfig(epochs=4, lr_schedule="cosine", lr_final=1e-4)
    assert [r["lr"] for r in rows] == [learning_rate(config, epoch - 1) for epoch in (1, 2, 3, 4)]
    assert rows[0]["lr"] == 1e-3 and rows[-1]["lr"] < rows[0]["lr"]
    assert all("valid_weights" not in r and "ema_valid_elbo_nats" not in r for r in rows)  # no moving average


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
