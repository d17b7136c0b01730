"""Training speed of vaekit against three other ways to train the same VAE, in one run.

Every arm trains the same model -- MLP encoder 784-400-(20+20), decoder 20-400-784, ReLU, diagonal-Gaussian
q(z|x), Bernoulli p(x|z) from logits, analytic KL, one reparameterised sample -- on the same statically
binarized data, batch 128, Adam lr 1e-3, for the same number of epochs, with a validation ELBO pass every epoch
(counted in the epoch's time):

  (a) reference: written the way the PyTorch examples VAE is (map-style Dataset returning one image, DataLoader
      with shuffle, fc21/fc22 heads, sigmoid + F.binary_cross_entropy(reduction="sum"), loss.item() every step);
  (b) pythae: pythae.models.VAE with a custom 400/20 MLP encoder/decoder, trained by its TrainingPipeline
      (BaseTrainer), in its own virtualenv benchmarks/.venv-pythae (bash benchmarks/setup_pythae.sh);
  (c) plain PyTorch, tuned: batches sliced from one in-memory float tensor by a randperm index, fused Adam,
      flush-denormal, one fused encoder head, binary_cross_entropy_with_logits, no per-step .item();
  (d) vaekit.fit (which uses its hand-derived gradients for this model, `vaekit.train.fast`);
  (e) vaekit.fit with --precision bf16 (bfloat16 autocast in the training step; validation and test in float32);
  (f) vaekit.fit with --gradients autograd (the same loop with autograd's backward pass);
  (g) only with --before-src PATH: arm (d) with the vaekit found at PATH (another checkout's src/, e.g. the last
      commit before a refactor), so that "before" and "after" run in the same interleaved command.

Each arm runs in its own subprocess (peak RSS is per arm) with the same thread count and reports JSON to the
parent; the test ELBO of every arm is computed by the same function (`_common.elbo_per_image`). The parent also
measures the float32 matmul peak at the training shapes (before and after the arms, best of both) and reports
each arm's utilisation of it. The arms run --repeats times (default 2) in alternating order, so that the drift of
a shared machine's speed over the run falls on all of them alike.

    .venv/bin/python benchmarks/train_speed.py                       # 5 epochs, Fashion-MNIST, all arms
    .venv/bin/python benchmarks/train_speed.py --data binarized-mnist --json benchmarks/results/train_speed.json
    .venv/bin/python benchmarks/train_speed.py --epochs 1 --train-subset 10000 --arms a,c   # a quick check
    git worktree add /tmp/vaekit-before 5703c69     # vaekit before issue 9's refactor, then:
    .venv/bin/python benchmarks/train_speed.py --arms d,g,f --before-src /tmp/vaekit-before/src --repeats 4
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    DATASETS,
    HIDDEN,
    LATENT,
    PYTHAE_PYTHON,
    RESULTS_DIR,
    D,
    best_peak,
    elbo_per_image,
    flops_per_image,
    import_vaekit,
    load_binary_splits,
    matmul_peak,
    maxrss_mb,
    peak_rss_mb,
    write_json,
)

ARMS = {
    "a": "reference (PyTorch-examples style)",
    "b": "pythae",
    "c": "plain PyTorch, tuned",
    "d": "vaekit",
    "e": "vaekit --precision bf16",
    "f": "vaekit --gradients autograd",
    "g": "vaekit before (--before-src)",
}


# ------------------------------------------------------------------------------- (a) reference loop
class ImageDataset(torch.utils.data.Dataset):
    """Map-style dataset: one image (as float) and a dummy label per index, like a torchvision dataset."""

    def __init__(self, images: torch.Tensor) -> None:
        self.images = images  # uint8 0/1 [N, 1, 28, 28]

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        return self.images[i].float(), 0


class ReferenceVAE(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(D, HIDDEN)
        self.fc21 = nn.Linear(HIDDEN, LATENT)  # mean
        self.fc22 = nn.Linear(HIDDEN, LATENT)  # log-variance
        self.fc3 = nn.Linear(LATENT, HIDDEN)
        self.fc4 = nn.Linear(HIDDEN, D)

    def encode(self, x):
        h = F.relu(self.fc1(x))
        return self.fc21(h), self.fc22(h)

    def logits(self, z):
        return self.fc4(F.relu(self.fc3(z)))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, D))
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return torch.sigmoid(self.logits(z)), mu, logvar


def reference_loss(recon, x, mu, logvar):
    """Negative ELBO summed over the batch: BCE on probabilities plus the Gaussian KL written out."""
    bce = F.binary_cross_entropy(recon, x.view(-1, D), reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce + kld


def arm_reference(data: dict, epochs: int, batch_size: int, lr: float):
    model = ReferenceVAE()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    train_loader = torch.utils.data.DataLoader(ImageDataset(data["x_train"]), batch_size=batch_size, shuffle=True)
    valid_loader = torch.utils.data.DataLoader(ImageDataset(data["x_valid"]), batch_size=batch_size)
    history = []
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        model.train()
        train_loss = 0.0
        for x, _ in train_loader:
            optimizer.zero_grad()
            recon, mu, logvar = model(x)
            loss = reference_loss(recon, x, mu, logvar)
            loss.backward()
            train_loss += loss.item()
            optimizer.step()
        t1 = time.perf_counter()
        model.eval()
        valid_loss = 0.0
        with torch.no_grad():
            for x, _ in valid_loader:
                recon, mu, logvar = model(x)
                valid_loss += reference_loss(recon, x, mu, logvar).item()
        t2 = time.perf_counter()
        history.append({"epoch": epoch, "train_seconds": t1 - t0, "epoch_seconds": t2 - t0,
                        "train_loss": train_loss / len(train_loader.dataset),
                        "valid_elbo": -valid_loss / len(valid_loader.dataset)})
    def encode(x):
        mu, logvar = model.encode(x)
        return mu, torch.exp(0.5 * logvar)

    return history, encode, model.logits, {}


# ----------------------------------------------------------------------------------------- (b) pythae
def train_with_pythae(model, data: dict, epochs: int, batch_size: int, lr: float) -> list[dict]:
    """Train a pythae model the way pythae's users do: TrainingPipeline (its BaseTrainer), Adam, no CUDA; return the
    epochs' timings and losses (epoch = pythae's on_epoch_begin .. on_epoch_end callbacks)."""
    import shutil

    from pythae.pipelines import TrainingPipeline
    from pythae.trainers import BaseTrainerConfig
    from pythae.trainers.training_callbacks import TrainingCallback

    class EpochTimer(TrainingCallback):
        """Epoch = on_epoch_begin .. on_epoch_end (train loop, eval loop, pythae's best-model copy)."""

        def __init__(self):
            self.history, self.t0, self.t1 = [], None, None

        def on_epoch_begin(self, training_config, **kwargs):
            self.t0 = time.perf_counter()

        def on_eval_step_begin(self, training_config, **kwargs):
            self.t1 = time.perf_counter()

        def on_epoch_end(self, training_config, **kwargs):
            t2 = time.perf_counter()
            self.history.append({"epoch": len(self.history) + 1, "train_seconds": self.t1 - self.t0,
                                 "epoch_seconds": t2 - self.t0})

        def on_log(self, training_config, logs, **kwargs):
            self.history[-1]["train_loss"] = logs.get("train_epoch_loss")
            self.history[-1]["valid_elbo"] = -logs.get("eval_epoch_loss")

    out_dir = tempfile.mkdtemp(prefix="pythae-bench-")
    config = BaseTrainerConfig(output_dir=out_dir, per_device_train_batch_size=batch_size,
                               per_device_eval_batch_size=batch_size, num_epochs=epochs, learning_rate=lr,
                               optimizer_cls="Adam", seed=0, no_cuda=True)
    timer = EpochTimer()
    try:
        TrainingPipeline(model=model, training_config=config)(
            train_data=data["x_train"].float(), eval_data=data["x_valid"].float(), callbacks=[timer])
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
    return timer.history


def arm_pythae(data: dict, epochs: int, batch_size: int, lr: float):
    """pythae's normal usage: VAE(VAEConfig, encoder, decoder) trained by TrainingPipeline (its BaseTrainer)."""
    from _pythae_model import build_vae, encode_loc_scale, pythae_version

    model = build_vae()
    history = train_with_pythae(model, data, epochs, batch_size, lr)
    extra = {"pythae_version": pythae_version(),
             "usage": "pythae.pipelines.TrainingPipeline(VAE(custom 400/20 MLP encoder/decoder), BaseTrainerConfig)"}
    return history, lambda x: encode_loc_scale(model, x), model.decoder.logits, extra


# --------------------------------------------------------------------------------- (c) plain, tuned
class PlainVAE(nn.Module):
    def __init__(self, hidden: int = HIDDEN, latent: int = LATENT) -> None:
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(D, hidden), nn.ReLU(), nn.Linear(hidden, 2 * latent))  # fused head
        self.dec = nn.Sequential(nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, D))

    def neg_elbo(self, x):
        """Negative ELBO summed over the batch (a 0-d tensor)."""
        mu, logvar = self.enc(x).chunk(2, dim=-1)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        rec = F.binary_cross_entropy_with_logits(self.dec(z), x, reduction="sum")
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum()
        return rec + kl


def arm_plain(data: dict, epochs: int, batch_size: int, lr: float):
    torch.set_flush_denormal(True)
    model = PlainVAE()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, fused=True)
    x_train = data["x_train"].reshape(-1, D).float()
    x_valid = data["x_valid"].reshape(-1, D).float()
    n = len(x_train)
    history = []
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        model.train()
        total = torch.zeros(())
        for idx in torch.randperm(n).split(batch_size):
            loss = model.neg_elbo(x_train[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.detach()
        t1 = time.perf_counter()
        model.eval()
        valid = torch.zeros(())
        with torch.inference_mode():
            for xb in x_valid.split(batch_size):
                valid += model.neg_elbo(xb)
        valid_elbo = -valid.item() / len(x_valid)
        t2 = time.perf_counter()
        history.append({"epoch": epoch, "train_seconds": t1 - t0, "epoch_seconds": t2 - t0,
                        "train_loss": total.item() / n, "valid_elbo": valid_elbo})

    def encode(x):
        mu, logvar = model.enc(x).chunk(2, dim=-1)
        return mu, torch.exp(0.5 * logvar)

    return history, encode, model.dec, {"fused_adam": True, "flush_denormal": True}


# ----------------------------------------------------------------------------------------- (d) vaekit
def arm_vaekit(data: dict, epochs: int, batch_size: int, lr: float, precision: str = "fp32",
               gradients: str = "auto"):
    vaekit = import_vaekit()
    from vaekit.data import Splits

    splits = Splits(name=data["name"], source=data["source"], x_train=data["x_train"], x_valid=data["x_valid"],
                    x_test=data["x_test"], y_train=None, y_valid=None, y_test=None, levels=2,
                    data_shape=tuple(data["data_shape"]))
    # vaekit 0.2 names the config VAEConfig and takes the objective; 0.1 (arm (g) on an older checkout) did not.
    model_config = getattr(vaekit, "VAEConfig", None) or vaekit.ModelConfig
    model = vaekit.VAE(model_config(data_shape=(1, 28, 28), latent_dim=LATENT, hidden=(HIDDEN,),
                                    likelihood="bernoulli", network="mlp"))
    config = vaekit.TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, seed=0, binarize="none",
                                precision=precision, gradients=gradients)
    objective = [vaekit.build_objective("elbo")] if hasattr(vaekit, "build_objective") else []
    result = vaekit.fit(model, splits, config, *objective, run_dir=None, progress=False)
    history = [{"epoch": i + 1, **{k: v for k, v in h.items() if isinstance(v, (int, float, str))}}
               for i, h in enumerate(result.history)]
    model.eval()

    def encode(x):
        q = model.encode(x.reshape(-1, *model.data_shape))
        return q.mean, q.stddev

    def decode_logits(z):
        return model.decode(z).base_dist.logits

    extra = {}
    if hasattr(vaekit, "elbo"):  # cross-check the common function against vaekit's own estimator
        with torch.no_grad():
            x = data["x_test"].float()
            values = [vaekit.elbo(model, xb).elbo for xb in x.split(1000)]
            extra["vaekit_elbo_check"] = torch.cat(values).mean().item()
    extra["best_epoch"] = result.best_epoch  # fit leaves the model at its best validation epoch
    extra["vaekit_version"], extra["vaekit_path"] = vaekit.__version__, str(Path(vaekit.__file__).parent)
    return history, encode, decode_logits, extra


def arm_vaekit_bf16(data: dict, epochs: int, batch_size: int, lr: float):
    """vaekit.fit with bf16 autocast in the training step (validation and test stay float32)."""
    return arm_vaekit(data, epochs, batch_size, lr, precision="bf16")


def arm_vaekit_autograd(data: dict, epochs: int, batch_size: int, lr: float):
    """vaekit.fit with autograd's backward pass instead of the derived gradients."""
    return arm_vaekit(data, epochs, batch_size, lr, gradients="autograd")


ARM_FUNCS = {"a": arm_reference, "b": arm_pythae, "c": arm_plain, "d": arm_vaekit, "e": arm_vaekit_bf16,
             "f": arm_vaekit_autograd, "g": arm_vaekit}


# -------------------------------------------------------------------------------------------- worker
def run_worker(args) -> None:
    """Run one arm in this process and write its JSON result to --result-file."""
    torch.set_num_threads(args.threads)
    data = torch.load(args.data_file, weights_only=False)
    if args.train_subset:
        data["x_train"] = data["x_train"][: args.train_subset]
        data["x_valid"] = data["x_valid"][: args.train_subset]
    torch.manual_seed(0)
    t0 = time.perf_counter()
    history, encode, decode_logits, extra = ARM_FUNCS[args.worker](data, args.epochs, args.batch_size, args.lr)
    wall = time.perf_counter() - t0
    test = elbo_per_image(encode, decode_logits, data["x_test"], samples=args.elbo_samples)
    write_json(args.result_file, {
        "arm": args.worker, "name": ARMS[args.worker], "history": history, "test": test, "fit_wall_seconds": wall,
        "peak_rss_mb": peak_rss_mb(), "ru_maxrss_mb": maxrss_mb(), "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": sys.executable, "n_train": len(data["x_train"]), "n_valid": len(data["x_valid"]), **extra})


# -------------------------------------------------------------------------------------------- parent
def summarize(result: dict, flops_img: float, peak_gflops: float) -> dict:
    """images/s per epoch = training images / whole-epoch seconds: the median over all epochs of all repeats, the
    best epoch (this shared machine switches between a fast and a slow state for minutes at a time, and the best
    epoch is the arm's speed in the fast one), and the first epoch of the first repeat. The test ELBO is the first
    repeat's."""
    n_train = result["n_train"]
    ips = [n_train / h["epoch_seconds"] for h in result["history"]]
    train_ips = [n_train / h["train_seconds"] for h in result["history"] if h.get("train_seconds")]
    med, best = statistics.median(ips), max(ips)
    return {"images_per_s_median": med, "images_per_s_best": best, "images_per_s_first_epoch": ips[0],
            "images_per_s_each_epoch": ips,
            "train_only_images_per_s_median": statistics.median(train_ips) if train_ips else None,
            "achieved_gflops": med * flops_img / 1e9, "utilisation": med * flops_img / 1e9 / peak_gflops,
            "utilisation_best": best * flops_img / 1e9 / peak_gflops}


def run_arm(arm: str, args, data_file: str, tmp: str) -> dict:
    python = str(PYTHAE_PYTHON) if arm == "b" else sys.executable
    if not Path(python).exists():
        return {"arm": arm, "name": ARMS[arm], "error": f"{python} missing: run bash benchmarks/setup_pythae.sh"}
    result_file = os.path.join(tmp, f"arm_{arm}.json")
    cmd = [python, __file__, "--worker", arm, "--data-file", data_file, "--result-file", result_file,
           "--epochs", str(args.epochs), "--batch-size", str(args.batch_size), "--lr", str(args.lr),
           "--threads", str(args.threads), "--elbo-samples", str(args.elbo_samples),
           "--train-subset", str(args.train_subset or 0)]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    if arm == "g":  # the older vaekit first on the path (PYTHONPATH precedes the venv's own install)
        env["PYTHONPATH"] = str(Path(args.before_src).resolve())
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    log = RESULTS_DIR / f"train_speed_arm_{arm}.log"
    print(f"[{arm}] {ARMS[arm]}: running ({python}) ...", flush=True)
    with open(log, "w") as f:
        try:
            proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, timeout=args.timeout, check=False)
        except subprocess.TimeoutExpired:
            return {"arm": arm, "name": ARMS[arm], "error": f"killed after --timeout {args.timeout} s; log {log}"}
    if proc.returncode != 0 or not os.path.exists(result_file):
        tail = log.read_text().strip().splitlines()[-5:]
        return {"arm": arm, "name": ARMS[arm], "error": f"exit {proc.returncode}; log {log}: " + " | ".join(tail)}
    return json.loads(Path(result_file).read_text())


def print_table(results: list[dict], peak: dict, flops_img: float) -> None:
    print(f"\nmatmul peak ({peak['threads']} threads, batch {peak['batch']}, float32): step mix "
          f"{peak['step_mix_gflops']:.1f} GFLOP/s, best single shape {peak['best_shape_gflops']:.1f} GFLOP/s")
    print(f"FLOPs per image (fwd+bwd): {flops_img / 1e6:.2f} MFLOP -> images/s limit at the step-mix peak: "
          f"{peak['step_mix_gflops'] * 1e9 / flops_img:,.0f}\n")
    head = (f"{'arm':<38} {'images/s':>10} {'util':>6} {'best ep.':>10} {'util':>6} {'test ELBO':>10} "
            f"{'RSS MB':>8}")
    print(head + "\n" + "-" * len(head))
    for r in results:
        label = f"({r['arm']}) {r['name']}"
        if "error" in r:
            print(f"{label:<38} failed: {r['error']}")
            continue
        s = r["summary"]
        print(f"{label:<38} {s['images_per_s_median']:>10,.0f} {100 * s['utilisation']:>5.1f}% "
              f"{s['images_per_s_best']:>10,.0f} {100 * s['utilisation_best']:>5.1f}% {r['test']['elbo']:>10.2f} "
              f"{r['peak_rss_mb']:>8.0f}")
    by = {r["arm"]: r for r in results if "error" not in r}
    for ours in ("d", "e", "f"):
        if ours in by:
            print()
            for other in ("a", "b", "c", "g"):
                if other in by:
                    a, b = by[ours]["summary"], by[other]["summary"]
                    print(f"({ours}) {ARMS[ours]} / ({other}) {ARMS[other]}: "
                          f"{a['images_per_s_median'] / b['images_per_s_median']:.2f}x median, "
                          f"{a['images_per_s_best'] / b['images_per_s_best']:.2f}x best epoch")


def busy_warning() -> list[float]:
    """The 1/5/15-minute load averages; warns when other work is running (timings then mean little)."""
    load = list(os.getloadavg())
    if load[0] > 0.5:
        print(f"warning: load average {load[0]:.1f} on {os.cpu_count()} cores -- other processes are running; "
              "these timings are noisy (with 2 threads on a busy 2-core machine OpenMP can slow down 10-50x)",
              file=sys.stderr, flush=True)
    return load


def run_parent(args) -> dict:
    torch.set_num_threads(args.threads)
    load_before = busy_warning()
    arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    unknown = set(arms) - set(ARMS)
    if unknown:
        raise SystemExit(f"unknown arm(s) {sorted(unknown)}; choose from {','.join(ARMS)}")
    if args.before_src and "g" not in arms:
        arms.append("g")
    if "g" in arms and not (args.before_src and (Path(args.before_src) / "vaekit" / "__init__.py").exists()):
        raise SystemExit("arm g needs --before-src PATH, a src/ folder holding vaekit/__init__.py")
    print(f"loading {args.data} ...", flush=True)
    data = load_binary_splits(args.data, seed=0)
    n_train = min(len(data["x_train"]), args.train_subset or len(data["x_train"]))
    flops_img = flops_per_image()
    print("measuring the matmul peak ...", flush=True)
    peak_before = matmul_peak(args.batch_size, min_seconds=args.peak_seconds)
    with tempfile.TemporaryDirectory(prefix="vaekit-bench-") as tmp:
        data_file = os.path.join(tmp, "data.pt")
        torch.save({k: data[k] for k in ("x_train", "x_valid", "x_test", "name", "source", "data_shape")}, data_file)
        # Repeats run the arms in alternating order (a..f, f..a, ...) so that a drift of the machine's speed
        # during the run falls on every arm alike; an arm's images/s is the median over all its epochs.
        by_arm: dict[str, dict] = {}
        for repeat in range(args.repeats):
            for arm in arms if repeat % 2 == 0 else arms[::-1]:
                r = run_arm(arm, args, data_file, tmp)
                if arm not in by_arm or "error" in r:
                    by_arm[arm] = {**r, "repeats": 1}
                elif "error" not in by_arm[arm]:
                    by_arm[arm]["history"] += r["history"]
                    by_arm[arm]["repeats"] += 1
                    by_arm[arm]["peak_rss_mb"] = max(by_arm[arm]["peak_rss_mb"], r["peak_rss_mb"])
        results = [by_arm[arm] for arm in arms]
    print("measuring the matmul peak again ...", flush=True)
    peak = best_peak(peak_before, matmul_peak(args.batch_size, min_seconds=args.peak_seconds))
    load_after = busy_warning()
    out = {"data": {k: data[k] for k in ("name", "source", "loader", "loader_note", "binarized")},
           "n_train": n_train, "n_valid": min(len(data["x_valid"]), args.train_subset or len(data["x_valid"])),
           "n_test": len(data["x_test"]), "epochs": args.epochs, "repeats": args.repeats, "batch_size": args.batch_size, "lr": args.lr,
           "threads": args.threads, "cpu_count": os.cpu_count(), "load_average_before": load_before,
           "load_average_after": load_after, "flops_per_image": flops_img, "matmul_peak": peak,
           "images_per_s_limit": peak["step_mix_gflops"] * 1e9 / flops_img, "arms": results}
    report(out)
    if args.json:
        write_json(args.json, out)
        print(f"\nwrote {args.json}")
    return out


def report(out: dict) -> None:
    """Summarise every arm of a run's results (in place: `summary` per arm, `ratios`) and print the table."""
    results, peak, flops_img = out["arms"], out["matmul_peak"], out["flops_per_image"]
    for r in results:
        if "error" not in r:
            r["summary"] = summarize(r, flops_img, peak["step_mix_gflops"])
    print_table(results, peak, flops_img)
    by = {r["arm"]: r["summary"] for r in results if "error" not in r}
    out["ratios"] = {f"{ours}/{o}": by[ours]["images_per_s_median"] / by[o]["images_per_s_median"]
                     for ours in "def" for o in "abcg" if ours in by and o in by}
    out["ratios_best_epoch"] = {f"{ours}/{o}": by[ours]["images_per_s_best"] / by[o]["images_per_s_best"]
                                for ours in "def" for o in "abcg" if ours in by and o in by}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", choices=DATASETS, default="fashion-mnist")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--repeats", type=int, default=2, help="runs of every arm, in alternating order (default 2)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--threads", type=int, default=2, help="torch threads in every arm and the peak (default 2)")
    p.add_argument("--arms", default="a,b,c,d,e,f",
                   help="comma-separated subset of a,b,c,d,e,f,g (default a-f; g is added by --before-src)")
    p.add_argument("--before-src", help="arm (g): vaekit from this src/ folder (e.g. a checkout before a change)")
    p.add_argument("--train-subset", type=int, default=0,
                   help="use only the first N training (and validation) images -- for quick checks only")
    p.add_argument("--elbo-samples", type=int, default=1, help="z draws per test image in the common test ELBO")
    p.add_argument("--peak-seconds", type=float, default=0.2, help="time per matmul-peak measurement")
    p.add_argument("--timeout", type=float, default=None, help="seconds before an arm's subprocess is killed")
    p.add_argument("--json", help="write all results to this JSON file")
    p.add_argument("--from-json", help="print the table of a saved --json file again (its summaries recomputed)")
    # internal: run one arm in this process (used by the parent)
    p.add_argument("--worker", choices=sorted(ARMS), help=argparse.SUPPRESS)
    p.add_argument("--data-file", help=argparse.SUPPRESS)
    p.add_argument("--result-file", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
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
