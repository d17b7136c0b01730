"""Labels, conditional models, classifiers, MADE and per-datapoint inference, checked against closed forms, scipy
and brute-force sums: a classifier's log-likelihood and calibration, M2's unlabelled bound as the explicit sum over
classes, log p(x) summed over classes on a model whose every log p(x|y) is exact, MADE normalised over all 2^D
binary vectors, its masks, and the label loaders on files written here."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import scipy.special
import torch
from torch import Tensor, nn
from torch.distributions import Categorical, Independent, MultivariateNormal, Normal

import vaekit
from vaekit import data
from vaekit.data import UNLABELLED, keep_labels
from vaekit.data.batch import Batch
from vaekit.errors import DataError, VaekitError
from vaekit.estimate import (
    classify,
    elbo,
    exact_log_likelihood,
    fit_posteriors,
    log_likelihood,
    marginal_log_likelihood,
    summarize,
    with_posteriors,
)
from vaekit.models import (
    Classifier,
    ConditionalModel,
    DensityModel,
    LatentVariableModel,
    build_model,
    data_fields,
    for_batch,
    generate,
)
from vaekit.networks.masked import MaskedLinear, MaskedMLP
from vaekit.objectives import build_objective
from vaekit.objectives.m2 import class_bounds, unlabelled_bound


def _labelled_splits(n: int = 120, d: int = 6, classes: int = 3, seed: int = 0) -> data.Splits:
    generator = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    p = torch.full((n, d), 0.2) + 0.6 * (torch.arange(d)[None] % classes == y[:, None])
    x = torch.bernoulli(p, generator=generator)
    parts = {"train": slice(0, 80), "valid": slice(80, 100), "test": slice(100, n)}
    return data.Splits(name="tiny", source="test", levels=2, data_shape=(d,),
                       **{f"x_{k}": x[s] for k, s in parts.items()}, **{f"y_{k}": y[s] for k, s in parts.items()})


# ------------------------------------------------------------------------------------------------- labels


def test_keep_labels_is_balanced_seeded_and_leaves_valid_and_test_alone():
    splits = _labelled_splits()
    kept = keep_labels(splits, 10, seed=3)
    known = kept.y_train != UNLABELLED
    assert int(known.sum()) == 10 == kept.labelled
    counts = torch.bincount(kept.y_train[known], minlength=3).tolist()
    assert sorted(counts) == [3, 3, 4]  # 10 = 3 + 3 + 3, one class (chosen by the seed) gets the extra one
    assert torch.equal(kept.y_train[known], splits.y_train[known])  # kept labels are the true ones
    assert torch.equal(keep_labels(splits, 10, seed=3).y_train, kept.y_train)
    assert not torch.equal(keep_labels(splits, 10, seed=4).y_train, kept.y_train)
    assert torch.equal(kept.y_test, splits.y_test) and torch.equal(kept.y_valid, splits.y_valid)
    for n, message in ((2, "fewer labels than the 3 classes"), (80, "only 80 rows")):
        with pytest.raises(DataError, match=message):
            keep_labels(splits, n, seed=0)
    unlabelled = data.Splits(name="u", source="t", x_train=splits.x_train, x_valid=splits.x_valid,
                             x_test=splits.x_test, y_train=None, y_valid=None, y_test=None, levels=2, data_shape=(6,))
    with pytest.raises(DataError, match="u has no labels"):
        keep_labels(unlabelled, 5, seed=0)


def test_csv_label_column(tmp_path):
    rows = [f"{i % 4},{i},{i * 2 % 7},{i % 3}" for i in range(30)]
    (tmp_path / "t.csv").write_text("a,b,c,label\n" + "\n".join(rows) + "\n")
    splits = data.load(str(tmp_path / "t.csv"), label_column="label")
    assert splits.data_shape == (3,) and splits.num_classes == 3
    for split in ("train", "valid", "test"):  # the label is column 4 of the row whose column b is i
        x, y = splits.split(split)
        np.testing.assert_array_equal(y.numpy(), x[:, 1].numpy().astype(int) % 3)
    config = vaekit.DataConfig(data=str(tmp_path / "t.csv"), label_column="label", labelled=6, label_seed=1)
    assert data.load_data(config).labelled == 6


@pytest.mark.parametrize(("text", "option", "message"), [
    ("a,b\n" + "".join(f"{i},{i % 2}\n" for i in range(20)), "lable", r"no such column \(did you mean 'label'"),
    ("".join(f"{i},{i % 2}\n" for i in range(20)), "b", "no header row"),
    ("a,label\n" + "".join(f"{i},{i % 2 - 1}\n" for i in range(20)), "label", "row 0 .* holds -1"),
    ("a,label\n" + "".join(f"{i},{i / 3:.2f}\n" for i in range(20)), "label", "must be integer classes"),
    ("a,label\n" + "".join(f"{i},{i * 1000}\n" for i in range(20)), "label", "more than 1000 classes"),
    ("label\n" + "".join(f"{i % 2}\n" for i in range(20)), "label", "the only column"),
], ids=["misspelt", "no header", "negative", "not integers", "an id column", "nothing else"])
def test_bad_labels_are_one_line_errors(tmp_path, text, option, message):
    (tmp_path / "t.csv").write_text(text.replace("a,b\n", "a,label\n") if option == "lable" else text)
    with pytest.raises(DataError, match=message) as error:
        data.load(str(tmp_path / "t.csv"), label_column=option)
    assert "\n" not in str(error.value) and "t.csv" in str(error.value)


def test_labels_from_npz_and_folders_and_their_errors(tmp_path):
    x = np.random.default_rng(0).random((20, 3))
    np.savez(tmp_path / "ok.npz", x=x, y=np.array(["b", "a"] * 10))
    assert data.load(str(tmp_path / "ok.npz")).num_classes == 2
    np.savez(tmp_path / "short.npz", x=x, y=np.arange(19) % 2)
    with pytest.raises(DataError, match=r"labels have shape \[19\] but there are 20 examples"):
        data.load(str(tmp_path / "short.npz"))
    with pytest.raises(DataError, match="applies to CSV files only"):
        data.load(str(tmp_path / "ok.npz"), label_column="y")
    with pytest.raises(DataError, match="applies to CSV files only"):
        data.load("digits", label_column="y")
    rows = {row["name"]: row for row in data.list_datasets(tmp_path)}
    assert rows["binarized-mnist"]["labels"] is False and rows["binarized-mnist"]["classes"] is None
    assert rows["fashion-mnist"]["labels"] is True and rows["fashion-mnist"]["classes"] == 10


# ---------------------------------------------------------------------------------------- protocols, kinds


def test_each_kind_offers_exactly_its_capabilities():
    splits = _labelled_splits()
    small = {"hidden": (8,)}
    expected = {  # LatentVariableModel, ConditionalModel, Classifier, DensityModel
        "vae": (True, False, False, False), "hvae": (True, False, False, False),
        "classifier": (False, False, True, False), "cvae": (False, True, False, False),
        "m2": (False, True, True, False), "made": (False, False, False, True),
    }
    for kind, capabilities in expected.items():
        model = build_model(kind, {**data_fields(kind, splits), **small})
        found = tuple(isinstance(model, p) for p in (LatentVariableModel, ConditionalModel, Classifier, DensityModel))
        assert found == capabilities, kind
    table = build_model("vae", {**data_fields("vae", splits), **small, "encoder": "none"})
    assert table.config.num_rows == 80 and isinstance(table, LatentVariableModel) and not table.amortised
    with pytest.raises(VaekitError, match="models class labels, and u has none"):
        data_fields("cvae", data.Splits(name="u", source="t", x_train=splits.x_train, x_valid=splits.x_valid,
                                        x_test=splits.x_test, y_train=None, y_valid=None, y_test=None, levels=2,
                                        data_shape=(6,)))


def test_generate_draws_by_capability():
    splits = _labelled_splits()
    cvae = build_model("cvae", {**data_fields("cvae", splits), "hidden": (8,)})
    assert generate(cvae, 5, label=2, seed=0).shape == (5, 6)
    with pytest.raises(VaekitError, match="give --label"):
        generate(cvae, 5)
    with pytest.raises(VaekitError, match="classes 0..2"):
        generate(cvae, 5, label=3)
    m2 = build_model("m2", {**data_fields("m2", splits), "hidden": (8,), "classifier_hidden": (8,)})
    assert generate(m2, 5, seed=0).shape == (5, 6)  # y ~ p(y) first
    vae = build_model("vae", {**data_fields("vae", splits), "hidden": (8,)})
    with pytest.raises(VaekitError, match="conditional models"):
        generate(vae, 3, label=1)
    with pytest.raises(VaekitError, match="nothing to sample"):
        generate(build_model("classifier", data_fields("classifier", splits)), 3)


# ------------------------------------------------------------------------------------------------ classifier


def test_classifier_figures_against_scipy_and_a_hand_count():
    model = build_model("classifier", {"data_shape": (6,), "num_classes": 4, "hidden": (5,)}).double()
    torch.manual_seed(1)
    x, y = torch.randn(300, 6, dtype=torch.float64), torch.randint(0, 4, (300,))
    result = classify(model, x, y, batch_size=64)  # several chunks
    logits = model.body(x)[:, 0].detach().numpy()
    expected = scipy.special.log_softmax(logits, axis=1)[np.arange(300), y.numpy()]
    np.testing.assert_allclose(result.log_likelihood.numpy(), expected, rtol=0, atol=1e-12)
    assert math.isclose(result.accuracy, float(np.mean(logits.argmax(1) == y.numpy())))
    # ECE by hand: 15 equal-width bins of the confidence, bin m holding ((m-1)/15, m/15].
    probs = scipy.special.softmax(logits, axis=1)
    confidence, correct = probs.max(1), probs.argmax(1) == y.numpy()
    ece = 0.0
    for m in range(15):
        inside = (confidence > m / 15) & (confidence <= (m + 1) / 15)
        if inside.any():
            ece += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    assert math.isclose(result.calibration_error(), ece, rel_tol=1e-9)
    table = result.reliability()
    assert sum(table["count"]) == 300 and len(table["edges"]) == 16


def test_maximum_likelihood_trains_a_classifier_on_the_labelled_rows_only(tmp_path):
    splits = keep_labels(_labelled_splits(), 12, seed=0)
    model = build_model("classifier", {**data_fields("classifier", splits), "hidden": (16,)})
    result = vaekit.fit(model, splits, vaekit.TrainConfig(epochs=40, batch_size=8, lr=1e-2),
                        build_objective("likelihood"), run_dir=tmp_path / "run")
    assert result.best_by == "valid_log_likelihood_nats"
    assert result.history[-1]["valid_log_likelihood_nats"] > result.history[0]["valid_log_likelihood_nats"]
    assert "valid_elbo_nats" not in result.history[0] and "valid_active_units" not in result.history[0]
    config = (tmp_path / "run" / "config.json").read_text()
    assert '"labelled": 12' in config and '"classes": 3' in config
    # 12 labelled rows in batches of 8: two steps an epoch, whatever the 68 unlabelled rows.
    assert classify(model, splits.x_test, splits.y_test).accuracy > 0.6


# ---------------------------------------------------------------------------------------------- M2, marginal


def _tiny_m2() -> nn.Module:
    torch.manual_seed(0)
    return build_model("m2", {"data_shape": (6,), "num_classes": 3, "latent_dim": 2, "hidden": (7,),
                              "classifier_hidden": (5,)}).double()


def test_m2_unlabelled_bound_is_the_explicit_sum_over_classes():
    model = _tiny_m2()
    x = torch.bernoulli(torch.full((8, 6), 0.4, dtype=torch.float64))
    torch.manual_seed(7)
    batched = unlabelled_bound(model, x)
    # The same draws of z, class by class: torch makes normals in blocks of 16, and 8 rows x 2 dimensions is one.
    torch.manual_seed(7)
    q = model.classify(x).probs
    explicit = torch.zeros(8, dtype=torch.float64)
    for c in range(3):
        y = torch.full((8,), c)
        bound = elbo(model.given(y), x).elbo + math.log(1 / 3)  # L(x, c) = ELBO of log p(x, c)
        explicit += q[:, c] * bound
    explicit -= (q * q.log()).sum(-1)  # + H(q(y|x))
    torch.testing.assert_close(batched, explicit, rtol=0, atol=1e-10)


def test_m2_objective_on_a_mixed_batch():
    model = _tiny_m2()
    objective = build_objective("m2", {"alpha": 0.1})
    objective.prepare(torch.tensor([0, UNLABELLED, 2, UNLABELLED, UNLABELLED, 1, UNLABELLED, UNLABELLED]))
    assert objective.weight == pytest.approx(0.1 * 8 / 3)
    x = torch.bernoulli(torch.full((4, 6), 0.4, dtype=torch.float64))
    y = torch.tensor([2, UNLABELLED, 0, UNLABELLED])
    torch.manual_seed(3)
    loss = objective(model, Batch(x, y), 0.0)
    torch.manual_seed(3)  # the labelled rows first, then every class of the unlabelled ones
    labelled = class_bounds(model, x[[0, 2]], y[[0, 2]])
    q = model.classify(x)
    unlabelled = unlabelled_bound(model, x[[1, 3]], Categorical(logits=q.logits[[1, 3]]))
    rows = torch.stack([labelled[0] + objective.weight * q.log_prob(torch.tensor([2, 0, 0, 0]))[0], unlabelled[0],
                        labelled[1] + objective.weight * q.log_prob(torch.tensor([0, 0, 0, 0]))[2], unlabelled[1]])
    torch.testing.assert_close(loss.terms["objective"], rows)
    torch.testing.assert_close(loss.loss, -rows.mean())
    torch.testing.assert_close(loss.terms["bound"], torch.stack([labelled[0], unlabelled[0], labelled[1],
                                                                 unlabelled[1]]))


class LabelledPPCA(nn.Module):
    """p(y) = (0.5, 0.3, 0.2), p(z) = N(0, I), p(x|z, y) = N(W z + b_y, s^2 I), with the exact posterior as q(z|x, y):
    every importance weight is p(x|y), so log p(x|y) and log p(x) are exact for any K."""

    num_classes = 3

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(2)
        self.mix = nn.Parameter(torch.randn(5, 2, generator=g, dtype=torch.float64))
        self.shift = nn.Parameter(2 * torch.randn(3, 5, generator=g, dtype=torch.float64))
        self.noise = 0.5

    def label_prior(self):
        return Categorical(probs=torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64))

    def given(self, y):
        return _PPCAView(self, y)

    def marginal(self, c):
        cov = self.mix @ self.mix.T + self.noise**2 * torch.eye(5, dtype=torch.float64)
        return MultivariateNormal(self.shift[c], cov)


class _PPCAView(nn.Module):
    def __init__(self, model, y):
        super().__init__()
        self.model, self.y = model, y

    def prior(self):
        zeros = torch.zeros(2, dtype=torch.float64)
        return Independent(Normal(zeros, torch.ones_like(zeros)), 1)

    def encode(self, x):
        w, s = self.model.mix, self.model.noise
        precision = torch.eye(2, dtype=torch.float64) + w.T @ w / s**2
        cov = torch.linalg.inv(precision)
        loc = (x - self.model.shift[self.y]) @ w / s**2 @ cov
        return MultivariateNormal(loc, cov)

    def decode(self, z):
        return Independent(Normal(z @ self.model.mix.T + self.model.shift[self.y], self.model.noise), 1)

    def log_joint(self, x, z):
        return self.decode(z).log_prob(x) + self.prior().log_prob(z)

    def rows(self, start, stop):
        return _PPCAView(self.model, self.y[start:stop])


def test_log_p_x_summed_over_classes_is_exact_where_every_log_p_x_given_y_is():
    model = LabelledPPCA()
    torch.manual_seed(0)
    y = model.label_prior().sample((40,))
    x = torch.stack([model.marginal(int(c)).sample() for c in y])
    exact_given = torch.stack([model.marginal(c).log_prob(x) for c in range(3)])  # [3, N]
    exact = torch.logsumexp(exact_given + model.label_prior().logits[:, None], 0)
    result = marginal_log_likelihood(model, x, num_samples=4, batch_size=7)  # chunks of 7 rows through rows()
    torch.testing.assert_close(result.values, exact, rtol=0, atol=1e-9)
    given, _ = result.given_labels(y)
    torch.testing.assert_close(given, exact_given[y, torch.arange(40)], rtol=0, atol=1e-9)
    # Every estimator of a latent-variable model computes log p(x|y) through given(y), unchanged.
    torch.testing.assert_close(log_likelihood(model.given(y), x, 3, batch_size=6).values, given, rtol=0, atol=1e-9)
    # U(x) bounds log p(x), with equality at q(y|x) = p(y|x) (the ELBOs here are exact up to Monte-Carlo noise).
    posterior = torch.softmax(exact_given + model.label_prior().logits[:, None], 0).T
    assert (result.unlabelled_bound(posterior) - exact).abs().max() < 1.0
    assert (result.unlabelled_bound(torch.full((40, 3), 1 / 3, dtype=torch.float64)) < exact + 1e-6).float().mean() > 0.9


def test_a_conditional_vae_trains_through_given_and_its_figures_are_conditional(tmp_path):
    splits = _labelled_splits()
    model = build_model("cvae", {**data_fields("cvae", splits), "hidden": (16,), "latent_dim": 2})
    result = vaekit.fit(model, splits, vaekit.TrainConfig(epochs=3, batch_size=16), build_objective("iwae"))
    assert {"valid_elbo_nats", "valid_iwae_bound_nats", "valid_active_units"} <= set(result.history[-1])
    view = for_batch(model, Batch(splits.x_test, splits.y_test))
    assert isinstance(view, LatentVariableModel)
    full = summarize(view, splits.x_test, batch_size=7)  # rows() keeps each chunk with its labels
    assert math.isfinite(full.elbo) and len(full.posterior_mean_variance) == 2
    # Semi-supervised data: the ELBO of p(x|y) trains on the labelled rows alone.
    kept = keep_labels(splits, 9, seed=0)
    again = vaekit.fit(build_model("cvae", {**data_fields("cvae", kept), "hidden": (16,), "latent_dim": 2}), kept,
                       vaekit.TrainConfig(epochs=1, batch_size=4))
    assert math.isfinite(again.history[0]["train_elbo_nats"])


def test_m2_trains_with_labelled_rows_in_every_batch():
    splits = keep_labels(_labelled_splits(), 6, seed=0)
    model = build_model("m2", {**data_fields("m2", splits), "hidden": (16,), "latent_dim": 2,
                               "classifier_hidden": (8,)})
    config = vaekit.TrainConfig(epochs=2, batch_size=20, labelled_batch=4)
    result = vaekit.fit(model, splits, config, build_objective("m2"))
    row = result.history[-1]
    assert result.best_by == "valid_unlabelled_bound_nats" and row["classification_weight"] == pytest.approx(0.1 * 80 / 6)
    assert {"train_objective_nats", "train_bound_nats", "valid_elbo_nats"} <= set(row)


# ---------------------------------------------------------------------------------------------------- MADE


def test_made_masks_leave_every_output_blind_to_its_own_and_later_inputs():
    for hidden, params in (((9, 7), 2), ((), 1), ((4,), 1)):
        net = MaskedMLP(5, hidden, params, seed=3).double()
        x = torch.randn(3, 5, dtype=torch.float64)
        jacobian = torch.autograd.functional.jacobian(net, x)  # [3, P, 5, 3, 5]
        for d in range(5):
            assert (jacobian[:, :, d, :, d:] == 0).all(), (hidden, d)  # exactly zero: output d sees inputs < d
        masks = [m.mask for m in net.net if isinstance(m, MaskedLinear)]
        reach = masks[0]
        for mask in masks[1:]:
            reach = mask @ reach
        allowed = torch.tril(torch.ones(5, 5), -1).repeat(params, 1)
        assert ((reach > 0).double() <= allowed.double()).all()


@pytest.mark.parametrize("order", ["natural", "random"])
@pytest.mark.parametrize("direct", [False, True])
def test_made_masks_follow_their_ordering(order, direct):
    net = MaskedMLP(6, (9, 7), 2, seed=4, order=order, direct=direct, num_masks=3).double()
    x = torch.randn(3, 6, dtype=torch.float64)
    orderings = set()
    for m in range(3):
        net.use_mask(m)
        position = torch.empty(6, dtype=torch.long)
        position[net.ordering()] = torch.arange(6)  # position[d]: where input d comes in this mask's ordering
        jacobian = torch.autograd.functional.jacobian(net, x)  # [3, P, 6, 3, 6]
        for d in range(6):
            later = position >= position[d]  # the inputs output d must not see: itself and those after it
            assert (jacobian[:, :, d, :, later] == 0).all(), (m, d)
            earlier = ~later
            if direct and earlier.any():  # direct connections reach every earlier input (within each row)
                for row in range(3):
                    assert (jacobian[row, :, d, row, earlier] != 0).all(), (m, d)
        orderings.add(tuple(net.ordering().tolist()))
    assert len(orderings) == (3 if order == "random" else 1)


@pytest.mark.parametrize("hidden, extra", [((12,), {}), ((10, 8), {}),
                                           ((12,), {"order": "random", "direct": True, "masks": 3})])
def test_made_is_normalised_over_every_binary_vector(hidden, extra):
    torch.manual_seed(0)
    model = build_model("made", {"data_shape": (6,), "hidden": hidden, **extra}).double().eval()
    with torch.no_grad():  # random, far-from-uniform conditionals
        for p in model.parameters():
            p.normal_(0, 1.5)
    vectors = torch.tensor(list(itertools.product([0.0, 1.0], repeat=6)), dtype=torch.float64)
    log_p = exact_log_likelihood(model, vectors, batch_size=10)
    assert abs(float(torch.logsumexp(log_p, 0))) < 1e-10
    # Ancestral sampling draws from that distribution: the empirical frequencies match it.
    samples = model.sample(20000)
    index = (samples * 2 ** torch.arange(5, -1, -1, dtype=torch.float64)).sum(1).long()
    frequency = torch.bincount(index, minlength=64).double() / 20000
    assert (frequency - log_p.exp()).abs().max() < 0.02


def test_made_with_several_masks_is_their_mixture_and_trains_one_mask_a_step():
    model = build_model("made", {"data_shape": (6,), "hidden": (8,), "masks": 3, "order": "random"}).double()
    x = torch.bernoulli(torch.full((5, 6), 0.4, dtype=torch.float64))
    per_mask = []
    for m in range(3):
        model.net.use_mask(m)
        per_mask.append(model.conditionals(x).log_prob(x))
    model.eval()
    torch.testing.assert_close(model.log_prob(x), torch.logsumexp(torch.stack(per_mask), 0) - math.log(3))
    model.train()
    for step in range(4):  # one mask a step, in turn
        value = model.log_prob(x)
        assert model.net.current == step % 3
        torch.testing.assert_close(value, per_mask[step % 3])
    assert int(model.steps) == 4 and "steps" in model.state_dict()
    assert not any(key.endswith("mask") for key in model.state_dict())  # rebuilt from their seeds, not saved


def test_gaussian_made_is_the_product_of_its_conditionals():
    model = build_model("made", {"data_shape": (4,), "hidden": (6,), "likelihood": "gaussian"}).double()
    x = torch.randn(7, 4, dtype=torch.float64)
    raw = model.net(x)  # [7, 2, 4]
    by_hand = sum(Normal(raw[:, 0, d], nn.functional.softplus(raw[:, 1, d]) + 1e-3).log_prob(x[:, d]) for d in range(4))
    torch.testing.assert_close(model.log_prob(x), by_hand)
    assert isinstance(model, DensityModel) and model.sample(3).shape == (3, 4)


# --------------------------------------------------------------------------------- per-datapoint inference


def test_fit_posteriors_from_the_prior_finds_the_exact_posterior():
    model = LabelledPPCA()
    y = torch.tensor([0, 1, 2, 1, 0, 2])
    x = torch.stack([model.marginal(int(c)).sample() for c in y])
    view = model.given(y)
    exact = view.encode(x)
    start = (torch.zeros(6, 2, dtype=torch.float64), torch.ones(6, 2, dtype=torch.float64))
    with torch.inference_mode():  # it leaves inference mode for the fit
        loc, scale = fit_posteriors(view, x, start=start, steps=800, lr=5e-2, num_samples=16, batch_size=4)
    torch.testing.assert_close(loc, exact.mean, atol=0.05, rtol=0)
    # The best diagonal Gaussian under KL(q || p) has precisions equal to the diagonal of the exact precision.
    precision = torch.linalg.inv(exact.covariance_matrix).diagonal(dim1=-2, dim2=-1)  # [6, 2]
    torch.testing.assert_close(scale, precision.rsqrt(), atol=0.05, rtol=0)
    assert all(p.grad is None for p in model.parameters())


def test_a_vae_without_an_encoder_learns_lambda_per_training_row(tmp_path):
    splits = _labelled_splits()
    model = build_model("vae", {**data_fields("vae", splits), "hidden": (16,), "latent_dim": 2, "encoder": "none",
                                "inference_steps": 20})
    before = model.posteriors.raw.detach().clone()
    result = vaekit.fit(model, splits, vaekit.TrainConfig(epochs=3, batch_size=16, lr=1e-2), run_dir=tmp_path / "r")
    assert not torch.equal(model.posteriors.raw, before)  # every row's lambda moved
    assert (model.posteriors.raw - before).abs().sum((1, 2)).min() > 0
    assert {"valid_elbo_nats", "valid_active_units"} <= set(result.history[-1])
    rows = model.at(torch.tensor([3, 5]))
    assert isinstance(rows, LatentVariableModel)
    torch.testing.assert_close(rows.encode(splits.x_train[[3, 5]]).mean, model.posteriors.raw[[3, 5], 0].detach())
    from vaekit.runs.evaluate import latent_view

    own = latent_view(model, splits.x_train[:5], None, training_rows=True)  # the first training rows' own lambda
    torch.testing.assert_close(own.encode(splits.x_train[:5]).mean, model.posteriors.raw[:5, 0].detach())
    with pytest.raises(VaekitError, match="with_posteriors"):  # the model runs no fit itself: the estimators do
        model.encode(splits.x_test)
    fixed = with_posteriors(model, splits.x_test)
    estimate = log_likelihood(fixed, splits.x_test, 50)
    assert estimate.values.shape == (20,) and float(estimate.gap.mean()) > 0  # log p(x) above the ELBO
    # The fit: `inference_steps` Adam steps from N(0, I), as fit_posteriors makes it with the model's settings.
    torch.manual_seed(1)
    loc, scale = fit_posteriors(model, splits.x_test, steps=20, lr=model.config.inference_lr)
    torch.manual_seed(1)
    again = with_posteriors(model, splits.x_test).encode(splits.x_test)
    torch.testing.assert_close((again.mean, again.stddev), (loc, scale))
    amortised = build_model("vae", data_fields("vae", splits))
    assert with_posteriors(amortised, splits.x_test) is amortised  # an encoder's q(z|x) needs no fit


# ------------------------------------------------------------------------------------------- the loop


class _Recording(vaekit.ELBO):
    """The ELBO, noting each training batch's labels."""

    def __init__(self) -> None:
        super().__init__(vaekit.ELBO.Config())
        self.batches: list[Tensor] = []

    def __call__(self, model, batch, progress):
        self.batches.append(batch.y.clone())
        return super().__call__(model, batch, progress)


def test_labelled_rows_are_added_to_every_batch_in_turn():
    splits = keep_labels(_labelled_splits(), 6, seed=0)
    objective = _Recording()
    model = build_model("vae", {**data_fields("vae", splits), "hidden": (8,), "latent_dim": 2})
    vaekit.fit(model, splits, vaekit.TrainConfig(epochs=1, batch_size=30, labelled_batch=4, gradients="autograd"),
               objective)
    assert [len(y) for y in objective.batches] == [34, 34, 24]  # 80 rows in slices of 30, each with 4 more
    extra = torch.cat([y[-4:] for y in objective.batches])
    assert (extra != UNLABELLED).all()  # the added rows are labelled ones
    known = splits.y_train[splits.y_train != UNLABELLED]
    assert sorted(extra[:6].tolist()) == sorted(known.tolist())  # each labelled row once before any repeats


def test_a_wall_clock_budget_stops_training_after_an_epoch():
    splits = _labelled_splits()
    model = build_model("vae", {**data_fields("vae", splits), "hidden": (8,), "latent_dim": 2})
    result = vaekit.fit(model, splits, vaekit.TrainConfig(epochs=5, batch_size=40, max_minutes=0))
    assert len(result.history) == 1
