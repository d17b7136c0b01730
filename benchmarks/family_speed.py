"""Training speed of the model family (issue 9, section 8): the plain VAE, IWAE (K = 5, 50), the VampPrior VAE and
the two-layer hierarchy through `vaekit.fit`, against pythae's equivalents, in one run with interleaved repeats.

Arms (same statically binarized data, batch 128, Adam lr 1e-3, the same epochs, a validation pass every epoch):

  vae            vaekit VAE 784-400-20, plain ELBO -- the reference arm (hand-derived gradients, as fit chooses)
  vae-autograd   the same through autograd (--gradients autograd): the control for the VampPrior arm, which
                 trains through autograd
  iwae5, iwae50  vaekit VAE 784-400-20 trained on the IWAE bound, K = 5 / 50 (`build_objective("iwae")`;
                 hand-derived gradients, as fit chooses)
  iwae5-autograd, iwae50-autograd
                 the same through autograd: their controls (iwae50-autograd not run unless named in --arms)
  vamp           vaekit VAE 784-400-20 with the VampPrior, C = 500 pseudo-inputs, plain ELBO (Monte-Carlo KL)
  hvae           vaekit HVAE (`--model hvae`), Burda et al.'s two stochastic layers: 784-200-200-(z1 100)
                 -100-100-(z2 50), plain ELBO (hand-derived gradients, as fit chooses)
  hvae-autograd  the same through autograd (--gradients autograd): its control
  hvae-iwae5     the same on the IWAE bound, K = 5 (not run unless named in --arms)
  pythae-vae, pythae-iwae5, pythae-iwae50, pythae-vamp
                 pythae 0.1.2's VAE, IWAE (number_samples = K) and VAMP (number_components = C, no warm-up) with the
                 same 784-400-20 MLP, trained by its TrainingPipeline in benchmarks/.venv-pythae
                 (bash benchmarks/setup_pythae.sh). pythae has no two-stochastic-layer hierarchy: its HVAE is a
                 Hamiltonian VAE (Caterini et al. 2018), a different model, so it is not timed against `hvae`.

Figures. images/s per epoch = training images / seconds, both for the whole epoch (validation included, as in
train_speed.py) and for the training pass alone; the median over all epochs of all repeats and the best epoch.
Each arm's matrix-product FLOPs per image are counted from its layers (`arm_layers`: forward, weight gradient,
and input gradient wherever something upstream is trained; IWAE runs the decoder on K samples per image and the
encoder once; the VampPrior runs the encoder, with input gradients, on its C pseudo-inputs every step, amortised
over the batch; the hierarchy counts its four networks), and checked against torch's FlopCounterMode on one real
training step in each worker (`counted_mflop_per_image`; pythae's VAMP counts more: its pseudo-input product).
The float32 matrix-product limit of an arm is measured in the same run, before and after the arms (best of
both): every matrix product of the arm's step, at its own shapes, timed alone; the arm's peak is its step's FLOPs
over the sum of those times. Share of the limit = achieved model GFLOP/s (training pass) / that peak. The share
of the machine's best single product is given too (one denominator for every arm).

Test figure: the ELBO on the test split by one function for every one-layer arm (`_common.elbo_mc`, the prior's
own log-density, one seeded draw per image); for the hierarchy, `vaekit.elbo` (Monte-Carlo over both layers).

    .venv/bin/python benchmarks/family_speed.py --data binarized-mnist --epochs 3 --repeats 4 \\
        --json benchmarks/results/family_speed.json          # the measurement (roughly 40 min)
    .venv/bin/python benchmarks/family_speed.py --epochs 1 --train-subset 1024 --test-subset 1000 --repeats 1 \\
        --peak-seconds 0.02 --peak-repeats 2 --json /tmp/family_smoke.json   # a smoke run (a few minutes)
    .venv/bin/python benchmarks/family_speed.py --from-json benchmarks/results/family_speed.json
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    DATASETS,
    HIDDEN,
    LATENT,
    PYTHAE_PYTHON,
    RESULTS_DIR,
    D,
    Layer,
    elbo_mc,
    fastest_products,
    import_vaekit,
    load_binary_splits,
    maxrss_mb,
    mlp_layers,
    peak_rss_mb,
    standard_normal_log_prob,
    step_flops,
    step_mix_gflops,
    time_products,
    vamp_log_prob,
    write_json,
)
from train_speed import busy_warning, train_with_pythae

# Burda, Grosse & Salakhutdinov 2016, two stochastic layers (vaekit's HVAEConfig defaults, written out here).
H_HIDDEN, H_LATENT, H_HIDDEN2, H_LATENT2 = (200, 200), 100, (100, 100), 50
COMPONENTS = 500  # VampPrior pseudo-inputs (Tomczak & Welling 2018 use 500 on MNIST)
PYTHAE_HVAE_NOTE = ("pythae.models.HVAE is a Hamiltonian VAE (Caterini et al. 2018: HMC-inspired flows on one "
                    "latent layer), not Burda et al.'s two-stochastic-layer hierarchy; pythae has no equivalent of "
                    "vaekit's hvae, so none is timed against it")


@dataclass(frozen=True)
class Arm:
    """One arm: which implementation trains which member of the family, with which objective."""

    name: str
    label: str
    impl: str                 # "vaekit" or "pythae"
    model: str                # "vae" (784-400-20) or "hvae" (two stochastic layers)
    objective: str = "elbo"   # "elbo" or "iwae"
    k: int = 1                # importance samples of the IWAE bound (1 for the ELBO)
    components: int = 0       # VampPrior pseudo-inputs (0: the N(0, I) prior)
    gradients: str = "auto"   # vaekit's TrainConfig.gradients


ARMS = {a.name: a for a in [
    Arm("vae", "vaekit VAE, ELBO (reference)", "vaekit", "vae"),
    Arm("pythae-vae", "pythae VAE", "pythae", "vae"),
    Arm("vae-autograd", "vaekit VAE, ELBO, autograd", "vaekit", "vae", gradients="autograd"),
    Arm("iwae5", "vaekit IWAE K=5", "vaekit", "vae", "iwae", k=5),
    Arm("pythae-iwae5", "pythae IWAE K=5", "pythae", "vae", "iwae", k=5),
    Arm("iwae5-autograd", "vaekit IWAE K=5, autograd", "vaekit", "vae", "iwae", k=5, gradients="autograd"),
    Arm("iwae50", "vaekit IWAE K=50", "vaekit", "vae", "iwae", k=50),
    Arm("pythae-iwae50", "pythae IWAE K=50", "pythae", "vae", "iwae", k=50),
    Arm("iwae50-autograd", "vaekit IWAE K=50, autograd", "vaekit", "vae", "iwae", k=50, gradients="autograd"),
    Arm("vamp", f"vaekit VampPrior C={COMPONENTS}", "vaekit", "vae", components=COMPONENTS),
    Arm("pythae-vamp", f"pythae VAMP C={COMPONENTS}", "pythae", "vae", components=COMPONENTS),
    Arm("hvae", "vaekit HVAE 2-layer, ELBO", "vaekit", "hvae"),
    Arm("hvae-autograd", "vaekit HVAE 2-layer, ELBO, autograd", "vaekit", "hvae", gradients="autograd"),
    Arm("hvae-iwae5", "vaekit HVAE 2-layer, IWAE K=5", "vaekit", "hvae", "iwae", k=5),
]}
# vaekit arm -> pythae's equivalent (trained in the same run, next to it in the order)
PAIRS = {"vae": "pythae-vae", "iwae5": "pythae-iwae5", "iwae50": "pythae-iwae50", "vamp": "pythae-vamp"}
OPTIONAL_ARMS = ("iwae50-autograd", "hvae-iwae5")
DEFAULT_ARMS = [name for name in ARMS if name not in OPTIONAL_ARMS]
REFERENCE = "vae"


def arm_layers(arm: Arm, batch: int) -> list[Layer]:
    """The Linear layers one training step of `arm` runs, with their rows per step (see `_common.Layer`)."""
    k = arm.k
    if arm.model == "hvae":
        return (mlp_layers([D, *H_HIDDEN, 2 * H_LATENT], batch, on_data=True)  # q(z1|x), once per image
                + mlp_layers([H_LATENT, *H_HIDDEN2, 2 * H_LATENT2], k * batch)  # q(z2|z1), on each z1 sample
                + mlp_layers([H_LATENT2, *H_HIDDEN2[::-1], 2 * H_LATENT], k * batch)  # p(z1|z2) in log p(z)
                + mlp_layers([H_LATENT, *H_HIDDEN[::-1], D], k * batch))  # p(x|z1)
    layers = (mlp_layers([D, HIDDEN, 2 * LATENT], batch, on_data=True)  # q(z|x), once per image
              + mlp_layers([LATENT, HIDDEN, D], k * batch))  # p(x|z), on each of the K samples
    if arm.components:  # p(z) = mean_c q(z|u_c): the encoder on the C pseudo-inputs, which are trained
        layers += mlp_layers([D, HIDDEN, 2 * LATENT], arm.components)
    return layers


def flops_per_image(arm: Arm, batch: int) -> float:
    """Matrix-product FLOPs per training image (forward and backward), at batch size `batch`."""
    return step_flops(arm_layers(arm, batch)) / batch


# ------------------------------------------------------------------------------------------------ workers
def _count_flops(step) -> float:
    """Matrix-product FLOPs that torch executes in `step()` (torch.utils.flop_counter)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        step()
    return float(counter.get_total_flops())


def build_vaekit(arm: Arm):
    """The vaekit model and objective of a vaekit arm."""
    vaekit = import_vaekit()
    if arm.model == "hvae":
        model = vaekit.build_model("hvae", {"data_shape": (1, 28, 28), "hidden": H_HIDDEN, "latent_dim": H_LATENT,
                                            "hidden2": H_HIDDEN2, "latent_dim2": H_LATENT2})
    else:
        prior = {"prior": "vamp", "prior_components": arm.components} if arm.components else {}
        model = vaekit.build_model("vae", {"data_shape": (1, 28, 28), "latent_dim": LATENT, "hidden": (HIDDEN,),
                                           "likelihood": "bernoulli", "network": "mlp", **prior})
    objective = vaekit.build_objective(arm.objective, {"iw_samples": arm.k} if arm.objective == "iwae" else None)
    return model, objective


def vaekit_arm(arm: Arm, data: dict, epochs: int, batch_size: int, lr: float):
    vaekit = import_vaekit()
    from vaekit.data import Splits
    from vaekit.data.batch import Batch
    from vaekit.distributions import unchecked
    from vaekit.train.fast import applies, step_gradients

    splits = Splits(name=data["name"], source=data["source"], x_train=data["x_train"], x_valid=data["x_valid"],
                    x_test=data["x_test"], y_train=None, y_valid=None, y_test=None, levels=2,
                    data_shape=tuple(data["data_shape"]))
    model, objective = build_vaekit(arm)
    config = vaekit.TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, seed=0, binarize="none",
                                gradients=arm.gradients)
    why_not = applies(model, objective, "fp32")
    derived = why_not is None and arm.gradients != "autograd"

    # One real training step of a copy, counted by torch: checks `arm_layers`' count of this arm.
    probe, x = copy.deepcopy(model), data["x_train"][:batch_size].float()
    with unchecked():
        counted = _count_flops(lambda: step_gradients(probe, x) if derived
                               else objective(probe, Batch(x), 0.0).loss.backward())

    t0 = time.perf_counter()
    result = vaekit.fit(model, splits, config, objective, run_dir=None, progress=False)
    wall = time.perf_counter() - t0
    history = [{k: v for k, v in row.items() if isinstance(v, (int, float, str))} for row in result.history]
    model.eval()
    x_test = data["x_test"].float()
    with torch.no_grad():
        own = torch.cat([vaekit.elbo(model, xb).elbo for xb in x_test.split(500)]).mean().item()
        if arm.model == "hvae":
            torch.manual_seed(1234)
            values = torch.cat([vaekit.elbo(model, xb, analytic_kl=False).elbo for xb in x_test.split(500)]).double()
            test = {"elbo": values.mean().item(), "stderr": (values.std() / len(values) ** 0.5).item(),
                    "n": len(values), "samples": 1,
                    "estimator": "vaekit.elbo(model, x, analytic_kl=False): Monte-Carlo over both layers"}
        else:
            def encode(xb):
                q = model.encode(xb.reshape(-1, 1, 28, 28))
                return q.base_dist.loc, q.base_dist.scale

            def decode_logits(z):
                return model.decode(z).base_dist.logits

            if arm.components:
                log_prior = vamp_log_prob(*encode(model.prior_module.pseudo_inputs.reshape(-1, D)))
            else:
                log_prior = standard_normal_log_prob
            test = elbo_mc(encode, decode_logits, log_prior, x_test)
    step = "derived (vaekit.train.fast)" if derived else f"autograd ({why_not or '--gradients autograd'})"
    return history, test, counted, wall, {"step": step, "vaekit_elbo_check": own, "best_epoch": result.best_epoch,
                                          "best_by": result.best_by}


def pythae_arm(arm: Arm, data: dict, epochs: int, batch_size: int, lr: float):
    from _pythae_model import (
        build_iwae,
        build_vae,
        build_vamp,
        encode_loc_scale,
        pythae_version,
        vamp_pseudo_inputs,
    )

    if arm.objective == "iwae":
        model = build_iwae(arm.k)
    elif arm.components:
        model = build_vamp(arm.components)
    else:
        model = build_vae()
    probe, x = copy.deepcopy(model), data["x_train"][:batch_size].float()
    counted = _count_flops(lambda: probe({"data": x}).loss.backward())
    t0 = time.perf_counter()
    history = train_with_pythae(model, data, epochs, batch_size, lr)
    wall = time.perf_counter() - t0
    for row in history:  # pythae's eval loss is not an ELBO for IWAE (a self-normalised weighted sum)
        row["valid_minus_loss"] = row.pop("valid_elbo", None)
    model.eval()
    with torch.no_grad():
        if arm.components:
            log_prior = vamp_log_prob(*encode_loc_scale(model, vamp_pseudo_inputs(model)))
        else:
            log_prior = standard_normal_log_prob
        test = elbo_mc(lambda xb: encode_loc_scale(model, xb), model.decoder.logits, log_prior,
                       data["x_test"].float())
    return history, test, counted, wall, {"pythae_version": pythae_version(), "pythae_model": type(model).__name__,
                                          "usage": "pythae.pipelines.TrainingPipeline, BaseTrainerConfig(Adam)"}


def run_worker(args) -> None:
    """Run one arm in this process and write its JSON result to --result-file."""
    torch.set_num_threads(args.threads)
    arm = ARMS[args.worker]
    data = torch.load(args.data_file, weights_only=False)
    if args.train_subset:
        data["x_train"] = data["x_train"][: args.train_subset]
        data["x_valid"] = data["x_valid"][: args.train_subset]
    if args.test_subset:
        data["x_test"] = data["x_test"][: args.test_subset]
    torch.manual_seed(0)
    run = vaekit_arm if arm.impl == "vaekit" else pythae_arm
    history, test, counted, wall, extra = run(arm, data, args.epochs, args.batch_size, args.lr)
    write_json(args.result_file, {
        "arm": arm.name, "spec": asdict(arm), "history": history, "test": test, "fit_wall_seconds": wall,
        "counted_step_flops": counted, "counted_mflop_per_image": counted / args.batch_size / 1e6,
        "peak_rss_mb": peak_rss_mb(), "ru_maxrss_mb": maxrss_mb(), "threads": torch.get_num_threads(),
        "torch": torch.__version__, "python": sys.executable, "n_train": len(data["x_train"]),
        "n_valid": len(data["x_valid"]), "n_test": len(data["x_test"]), **extra})


# ------------------------------------------------------------------------------------------------- parent
def run_arm(arm: Arm, args, data_file: str, tmp: str) -> dict:
    python = str(PYTHAE_PYTHON) if arm.impl == "pythae" else sys.executable
    if not Path(python).exists():
        return {"arm": arm.name, "error": f"{python} missing: run bash benchmarks/setup_pythae.sh"}
    result_file = os.path.join(tmp, f"arm_{arm.name}.json")
    cmd = [python, __file__, "--worker", arm.name, "--data-file", data_file, "--result-file", result_file,
           "--epochs", str(args.epochs), "--batch-size", str(args.batch_size), "--lr", str(args.lr),
           "--threads", str(args.threads), "--train-subset", str(args.train_subset or 0),
           "--test-subset", str(args.test_subset or 0)]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads),
               **dict(item.split("=", 1) for item in args.arm_env))
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    log = RESULTS_DIR / f"family_speed_arm_{arm.name}.log"
    print(f"[{arm.name}] {arm.label}: running ({python}) ...", flush=True)
    with open(log, "w") as f:
        try:
            proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, timeout=args.timeout, check=False)
        except subprocess.TimeoutExpired:
            return {"arm": arm.name, "error": f"killed after --timeout {args.timeout} s; log {log}"}
    if proc.returncode != 0 or not os.path.exists(result_file):
        tail = log.read_text().strip().splitlines()[-5:]
        return {"arm": arm.name, "error": f"exit {proc.returncode}; log {log}: " + " | ".join(tail)}
    return json.loads(Path(result_file).read_text())


def summarize(result: dict, flops_img: float, peak_gflops: float, best_gflops: float) -> dict:
    """images/s per epoch (whole epoch, and the training pass alone): median over all epochs of all repeats, and
    the best epoch; achieved GFLOP/s and the share of the arm's matrix-product limit, from the training pass."""
    n = result["n_train"]
    epoch = [n / h["epoch_seconds"] for h in result["history"]]
    train = [n / h["train_seconds"] for h in result["history"]]
    med, best = statistics.median(train), max(train)
    return {"images_per_s_median": statistics.median(epoch), "images_per_s_best": max(epoch),
            "images_per_s_each_epoch": epoch,
            "train_images_per_s_median": med, "train_images_per_s_best": best, "train_images_per_s_each_epoch": train,
            "model_mflop_per_image": flops_img / 1e6,
            "peak_gflops": peak_gflops, "images_per_s_limit": peak_gflops * 1e9 / flops_img,
            "achieved_gflops": med * flops_img / 1e9,
            "share_of_limit": med * flops_img / 1e9 / peak_gflops,
            "share_of_limit_best": best * flops_img / 1e9 / peak_gflops,
            "share_of_best_product": med * flops_img / 1e9 / best_gflops}


def report(out: dict) -> None:
    """Summarise every arm of a run (in place: `summary` per arm, `pairs`, `against_reference`); print the table."""
    products, batch = out["matmul_products"], out["batch_size"]
    best_gflops = max(p["gflops"] for p in products.values())
    for r in out["arms"]:
        if "error" in r:
            continue
        arm = ARMS[r["arm"]]
        flops_img = flops_per_image(arm, batch)
        r["summary"] = summarize(r, flops_img, step_mix_gflops(arm_layers(arm, batch), products), best_gflops)
    by = {r["arm"]: r["summary"] for r in out["arms"] if "error" not in r}
    out["pairs"] = {f"{a}/{b}": {"train_median": by[a]["train_images_per_s_median"] / by[b]["train_images_per_s_median"],
                                 "train_best": by[a]["train_images_per_s_best"] / by[b]["train_images_per_s_best"],
                                 "epoch_median": by[a]["images_per_s_median"] / by[b]["images_per_s_median"]}
                    for a, b in PAIRS.items() if a in by and b in by}
    out["against_reference"] = {}
    for ref in (REFERENCE, "vae-autograd"):
        if ref in by:
            out["against_reference"][ref] = {
                name: {"share_ratio_median": s["share_of_limit"] / by[ref]["share_of_limit"],
                       "share_ratio_best": s["share_of_limit_best"] / by[ref]["share_of_limit_best"]}
                for name, s in by.items() if ARMS[name].impl == "vaekit" and name != ref}
    print_table(out, best_gflops)


def print_table(out: dict, best_gflops: float) -> None:
    print(f"\nfloat32 matrix-product peak ({out['threads']} threads), best single product: {best_gflops:.1f} GFLOP/s; "
          "each arm's limit is measured at its own step's shapes")
    print("images/s: training images / seconds (epoch = with validation; train = the training pass alone); share = "
          "model GFLOP/s of the training pass / the arm's limit\n")
    head = (f"{'arm':<32} {'MFLOP/img':>9} {'counted':>8} {'limit/s':>9} {'epoch/s':>9} {'train/s':>9} "
            f"{'share':>6} {'best/s':>9} {'share':>6} {'test ELBO':>10} {'RSS MB':>7}")
    print(head + "\n" + "-" * len(head))
    for r in out["arms"]:
        if "error" in r:
            print(f"{r['arm']:<32} failed: {r['error']}")
            continue
        s, label = r["summary"], f"{r['arm']}: {ARMS[r['arm']].label}"[:32]
        print(f"{label:<32} {s['model_mflop_per_image']:>9.2f} {r['counted_mflop_per_image']:>8.2f} "
              f"{s['images_per_s_limit']:>9,.0f} {s['images_per_s_median']:>9,.0f} {s['train_images_per_s_median']:>9,.0f} "
              f"{100 * s['share_of_limit']:>5.1f}% {s['train_images_per_s_best']:>9,.0f} "
              f"{100 * s['share_of_limit_best']:>5.1f}% {r['test']['elbo']:>10.2f} {r['peak_rss_mb']:>7.0f}")
    print(f"\npythae HVAE: {PYTHAE_HVAE_NOTE}.")
    if out["pairs"]:
        print("\nvaekit / pythae, training images/s:")
        for pair, v in out["pairs"].items():
            print(f"  {pair:<22} {v['train_median']:.2f}x median, {v['train_best']:.2f}x best epoch "
                  f"({v['epoch_median']:.2f}x whole epochs, median)")
    for ref, ratios in out.get("against_reference", {}).items():
        print(f"\nshare of the limit against {ref}'s (median / best epoch; the issue asks >= 1 of multi-sample paths):")
        for name, v in ratios.items():
            print(f"  {name:<14} {v['share_ratio_median']:.2f} / {v['share_ratio_best']:.2f}")


def run_parent(args) -> dict:
    torch.set_num_threads(args.threads)
    load_before = busy_warning()
    names = [a.strip() for a in args.arms.split(",") if a.strip()]
    unknown = set(names) - set(ARMS)
    if unknown:
        raise SystemExit(f"--arms: unknown arm(s) {sorted(unknown)}; choose from {','.join(ARMS)}")
    arms = [ARMS[n] for n in names]
    print(f"loading {args.data} ...", flush=True)
    data = load_binary_splits(args.data, seed=0)
    layer_sets = [arm_layers(arm, args.batch_size) for arm in arms]
    print("measuring the matrix-product peak at every arm's shapes ...", flush=True)
    before = time_products(layer_sets, min_seconds=args.peak_seconds, repeats=args.peak_repeats)
    with tempfile.TemporaryDirectory(prefix="vaekit-family-") as tmp:
        data_file = os.path.join(tmp, "data.pt")
        torch.save({k: data[k] for k in ("x_train", "x_valid", "x_test", "name", "source", "data_shape")}, data_file)
        # Alternating order (forward, backward, ...) so that a drift of the machine's speed falls on every arm alike.
        by_arm: dict[str, dict] = {}
        for repeat in range(args.repeats):
            for arm in arms if repeat % 2 == 0 else arms[::-1]:
                r = run_arm(arm, args, data_file, tmp)
                if arm.name not in by_arm or "error" in r:
                    by_arm[arm.name] = {**r, "repeats": 1}
                elif "error" not in by_arm[arm.name]:
                    by_arm[arm.name]["history"] += r["history"]
                    by_arm[arm.name]["repeats"] += 1
                    by_arm[arm.name]["peak_rss_mb"] = max(by_arm[arm.name]["peak_rss_mb"], r["peak_rss_mb"])
    print("measuring the matrix-product peak again ...", flush=True)
    after = time_products(layer_sets, min_seconds=args.peak_seconds, repeats=args.peak_repeats)
    n_train = min(len(data["x_train"]), args.train_subset or len(data["x_train"]))
    out = {"what": "issue 9 section 8: training speed of the model family, vaekit against pythae",
           "data": {k: data[k] for k in ("name", "source", "loader", "loader_note", "binarized")},
           "n_train": n_train, "n_valid": min(len(data["x_valid"]), args.train_subset or len(data["x_valid"])),
           "epochs": args.epochs, "repeats": args.repeats, "batch_size": args.batch_size, "lr": args.lr,
           "threads": args.threads, "cpu_count": os.cpu_count(), "torch": torch.__version__, "arm_env": args.arm_env,
           "load_average_before": load_before, "load_average_after": busy_warning(),
           "pythae_hvae": PYTHAE_HVAE_NOTE,
           "flops": {arm.name: {"layers": [asdict(layer) for layer in arm_layers(arm, args.batch_size)],
                                "mflop_per_image": flops_per_image(arm, args.batch_size) / 1e6} for arm in arms},
           "matmul_products": fastest_products(before, after), "matmul_products_each": [before, after],
           "arms": [by_arm[arm.name] for arm in arms]}
    report(out)
    if args.json:
        write_json(args.json, out)
        print(f"\nwrote {args.json}")
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", choices=DATASETS, default="fashion-mnist")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--repeats", type=int, default=2, help="runs of every arm, in alternating order (default 2)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--threads", type=int, default=2, help="torch threads in every arm and the peak (default 2)")
    p.add_argument("--arms", default=",".join(DEFAULT_ARMS),
                   help=f"comma-separated subset of {','.join(ARMS)} (default: all but {', '.join(OPTIONAL_ARMS)})")
    p.add_argument("--train-subset", type=int, default=0,
                   help="use only the first N training (and validation) images -- for quick checks only")
    p.add_argument("--test-subset", type=int, default=0, help="use only the first N test images -- quick checks only")
    p.add_argument("--peak-seconds", type=float, default=0.2, help="time per matrix-product measurement")
    p.add_argument("--peak-repeats", type=int, default=5, help="measurements per matrix product (the best counts)")
    p.add_argument("--timeout", type=float, default=None, help="seconds before an arm's subprocess is killed")
    p.add_argument("--arm-env", action="append", default=[], metavar="NAME=VALUE",
                   help="an environment variable for every arm's process (repeatable), e.g. "
                        "MALLOC_TRIM_THRESHOLD_=4294967296")
    p.add_argument("--json", help="write all results to this JSON file")
    p.add_argument("--from-json", help="print the table of a saved --json file again (its summaries recomputed)")
    p.add_argument("--worker", choices=sorted(ARMS), help=argparse.SUPPRESS)
    p.add_argument("--data-file", help=argparse.SUPPRESS)
    p.add_argument("--result-file", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    bad = [item for item in args.arm_env if "=" not in item or not item.split("=", 1)[0]]
    if bad:
        p.error(f"--arm-env {bad[0]!r}: write NAME=VALUE")
    if args.worker:
        run_worker(args)
    elif args.from_json:
        out = json.loads(Path(args.from_json).read_text())
        report(out)
        write_json(args.from_json, out)
    else:
        run_parent(args)


if __name__ == "__main__":
    main()
