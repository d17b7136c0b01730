"""Issue 18, section 4: time to quality. vaekit's race recipe against pythae 0.1.2's VAE with its documented
defaults, on the same data and split (static binarized MNIST: 50,000 training and 10,000 validation images), one
library after the other in alternating order, each at most --minutes of training: the training seconds each needs
until its validation ELBO first reaches -105, -100 and -95 nats per image.

Arms
    vaekit  `vaekit train` with RECIPE below (the VampPrior row's model, without its warm-up and averaging, which
            help the final figure and slow the first epochs); figures from its metrics.jsonl: `train_seconds`
            (the epoch's training steps, not its validation) summed, and `valid_elbo_nats`.
    pythae  pythae.models.VAE with pythae's default networks (Encoder_VAE_MLP / Decoder_AE_MLP: 784-512-latent)
            trained by its TrainingPipeline with BaseTrainerConfig's defaults (Adam, learning rate 1e-4, batches of
            64); latent_dim 50 as vaekit's and reconstruction_loss "bce" (its default "mse" is not a likelihood
            of binary data). After every epoch a callback scores the validation split with `_common.elbo_per_image`
            (analytic KL, one seeded draw per image) outside the timed span.

Each arm runs in its own process with --threads threads and stops when it reaches the last threshold or spends
--minutes of training.

    VAEKIT_DATA=../shared/data .venv/bin/python benchmarks/race.py --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PYTHAE_PYTHON, REPO, RESULTS_DIR, write_json  # noqa: E402

THRESHOLDS = (-105.0, -100.0, -95.0)
RECIPE = ["--data", "binarized-mnist", "--prior", "vamp", "--prior-components", "500", "--hidden", "500", "500",
          "--latent-dim", "50", "--batch-size", "200", "--epochs", "100", "--lr", "1e-3", "--lr-schedule", "cosine",
          "--lr-final", "1e-5", "--seed", "0"]


def reached(curve: list[tuple[float, float]], thresholds=THRESHOLDS) -> dict[str, float | None]:
    """Training seconds at the first epoch whose validation ELBO is >= each threshold (None: not reached).
    `curve`: (cumulative training seconds, validation ELBO in nats) per epoch."""
    return {f"{t:g}": next((s for s, elbo in curve if elbo >= t), None) for t in thresholds}


def vaekit_arm(args, out: Path) -> dict:
    """`vaekit train RECIPE` in a child process, watched through its metrics.jsonl; stopped at the last threshold
    or after --minutes of training seconds."""
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "vaekit", "train", *RECIPE, "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    child = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO)
    curve: list[tuple[float, float]] = []
    while child.poll() is None:
        time.sleep(2)
        metrics = out / "metrics.jsonl"
        rows = [json.loads(line) for line in metrics.read_text().splitlines()] if metrics.exists() else []
        total, curve = 0.0, []
        for row in rows:
            total += row["train_seconds"]
            curve.append((total, row["valid_elbo_nats"]))
        if curve and (curve[-1][1] >= THRESHOLDS[-1] or curve[-1][0] >= 60 * args.minutes):
            child.terminate()
    child.wait()
    return {"command": "vaekit train " + shlex.join(cmd[4:]), "curve": curve}


def pythae_worker(data_file: str, minutes: float, result_file: str) -> None:
    """Inside benchmarks/.venv-pythae: pythae's VAE with its defaults, timed per epoch, scored between epochs."""
    import torch
    from _common import elbo_per_image
    from pythae.models import VAE, VAEConfig
    from pythae.pipelines import TrainingPipeline
    from pythae.trainers import BaseTrainerConfig
    from pythae.trainers.training_callbacks import TrainingCallback

    data = torch.load(data_file)
    valid = data["x_valid"].float()

    class Done(Exception):
        pass

    class Scorer(TrainingCallback):
        def __init__(self, model) -> None:
            self.model, self.curve, self.total, self.t0 = model, [], 0.0, 0.0

        def on_epoch_begin(self, training_config, **kwargs) -> None:
            self.t0 = time.perf_counter()

        def on_epoch_end(self, training_config, **kwargs) -> None:
            self.total += time.perf_counter() - self.t0
            model = self.model.eval()
            dec = model.decoder.layers
            with torch.no_grad():
                elbo = elbo_per_image(lambda x: (lambda o: (o.embedding, (0.5 * o.log_covariance).exp()))(
                    model.encoder(x.reshape(-1, 1, 28, 28))), lambda z: dec[1][0](dec[0](z)), valid)["elbo"]
            model.train()
            self.curve.append((self.total, elbo))
            print(json.dumps({"seconds": self.total, "valid_elbo": elbo}), flush=True)
            if elbo >= THRESHOLDS[-1] or self.total >= 60 * minutes:
                raise Done

    torch.manual_seed(0)
    model = VAE(VAEConfig(input_dim=(1, 28, 28), latent_dim=50, reconstruction_loss="bce"))
    out_dir = tempfile.mkdtemp(prefix="pythae-race-")
    config = BaseTrainerConfig(output_dir=out_dir, num_epochs=10_000, seed=0, no_cuda=True)
    scorer = Scorer(model)
    try:
        TrainingPipeline(model=model, training_config=config)(
            train_data=data["x_train"].float().reshape(-1, 1, 28, 28), callbacks=[scorer])
    except Done:
        pass
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
    write_json(result_file, {"curve": scorer.curve, "config": {k: str(v) for k, v in vars(config).items()}})


def pythae_arm(args, data_file: str, result_file: str) -> dict:
    cmd = [str(PYTHAE_PYTHON), __file__, "--worker", data_file, "--result-file", result_file,
           "--minutes", str(args.minutes)]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, cwd=REPO)
    result = json.loads(Path(result_file).read_text())
    return {"command": "pythae.models.VAE(VAEConfig(input_dim=(1, 28, 28), latent_dim=50, reconstruction_loss="
                       "'bce')) + TrainingPipeline(BaseTrainerConfig(num_epochs=10000, seed=0, no_cuda=True))",
            **result}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=30.0, help="training minutes per arm at most")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--order", nargs="+", default=["pythae", "vaekit"], choices=("pythae", "vaekit"))
    p.add_argument("--runs", type=Path, default=REPO / "runs" / "race")
    p.add_argument("--json", type=Path, default=RESULTS_DIR / "race.json")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--result-file", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return pythae_worker(args.worker, args.minutes, args.result_file)
    if not PYTHAE_PYTHON.exists():
        raise SystemExit(f"{PYTHAE_PYTHON} missing: run `bash benchmarks/setup_pythae.sh` first")
    import torch
    from _common import load_binary_splits

    args.runs.mkdir(parents=True, exist_ok=True)
    data_file = str(args.runs / "data.pt")
    splits = load_binary_splits("binarized-mnist")
    torch.save({k: splits[k] for k in ("x_train", "x_valid")}, data_file)
    load = os.getloadavg()
    results: dict = {"thresholds_nats": list(THRESHOLDS), "minutes_per_arm": args.minutes, "threads": args.threads,
                     "order": args.order, "load_average_before": load, "arms": []}
    for i, arm in enumerate(args.order):
        started = time.perf_counter()
        run = (vaekit_arm(args, args.runs / f"vaekit-{i}") if arm == "vaekit"
               else pythae_arm(args, data_file, str(args.runs / f"pythae-{i}.json")))
        run |= {"arm": arm, "wall_seconds": time.perf_counter() - started, "reached": reached(run["curve"]),
                "epochs": len(run["curve"]), "best_valid_elbo": max((e for _, e in run["curve"]), default=None)}
        results["arms"].append(run)
        print(f"{arm:<7} {run['epochs']:>4} epochs, best validation ELBO {run['best_valid_elbo']:.2f} nats; seconds "
              "to " + ", ".join(f"{t}: {'not reached' if s is None else f'{s:.0f}'}" for t, s in run["reached"].items()),
              flush=True)
    results["load_average_after"] = os.getloadavg()
    write_json(args.json, results)


if __name__ == "__main__":
    main()
