"""Helpers shared by the benchmark scripts (data, the common test-ELBO, FLOP counts, matmul peak, RSS).

This module needs only the standard library, numpy and torch, so that both vaekit's virtualenv and the
pythae virtualenv (benchmarks/.venv-pythae) can import it: every arm evaluates its test ELBO with the same
function, `elbo_per_image`.
"""

from __future__ import annotations

import gzip
import itertools
import json
import math
import os
import resource
import statistics
import struct
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
PYTHAE_PYTHON = BENCH_DIR / ".venv-pythae" / "bin" / "python"
DATASETS = ("fashion-mnist", "binarized-mnist")
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
D, HIDDEN, LATENT = 784, 400, 20  # the benchmarked MLP: 784-400-20 / 20-400-784


# ----------------------------------------------------------------------------------------------- vaekit
def import_vaekit():
    """Import vaekit, falling back to this checkout's src/ when it is not installed in the venv."""
    try:
        import vaekit
    except ImportError:
        sys.path.insert(0, str(REPO / "src"))
        import vaekit
    return vaekit


# ------------------------------------------------------------------------------------------------- data
def data_root() -> Path:
    """$VAEKIT_DATA, default /work/shared/data."""
    return Path(os.environ.get("VAEKIT_DATA", "/work/shared/data"))


def _read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzipped), as a uint8 array shaped by its header."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    shape = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _read_amat(path: Path) -> np.ndarray:
    """A binarized-MNIST .amat.gz file (one image a line, 784 space-separated 0/1) as uint8 [N, 784]."""
    with gzip.open(path, "rb") as f:
        raw = np.frombuffer(f.read(), dtype=np.uint8)
    digits = raw[(raw == ord("0")) | (raw == ord("1"))] - ord("0")
    if digits.size % D:
        raise ValueError(f"{path}: {digits.size} pixels is not a multiple of {D}")
    return digits.reshape(-1, D)


def _local_splits(name: str) -> dict:
    """A small reader used only while `vaekit.data.load` does not exist."""
    if name == "fashion-mnist":
        train = _read_idx(FASHION_DIR / "train-images-idx3-ubyte.gz")
        test = _read_idx(FASHION_DIR / "t10k-images-idx3-ubyte.gz")
        # 50k/10k/10k like binarized MNIST: the last 10,000 training images are the validation split.
        x = {"x_train": train[:50_000], "x_valid": train[50_000:], "x_test": test}
        levels, source = 256, str(FASHION_DIR)
    elif name == "binarized-mnist":
        folder = data_root() / "binarized-mnist"
        x = {f"x_{s}": _read_amat(folder / f"binarized_mnist_{s}.amat.gz") for s in ("train", "valid", "test")}
        levels, source = 2, str(folder)
    else:
        raise ValueError(f"unknown dataset {name!r}; choose one of {DATASETS}")
    out = {k: torch.from_numpy(np.array(v, copy=True)).reshape(-1, 1, 28, 28) for k, v in x.items()}
    out.update(name=name, source=source, levels=levels, data_shape=(1, 28, 28), loader="benchmarks/_common.py")
    return out


def load_binary_splits(name: str, seed: int = 0) -> dict:
    """Train/valid/test as uint8 0/1 tensors [N, 1, 28, 28], statically binarized when the data is not binary.

    Uses `vaekit.data.load(name)` when it exists (one loader for the project), else `_local_splits`.
    Grey-level data (Fashion-MNIST) gets one seeded Bernoulli(x / (levels - 1)) draw of every image, done once
    here, before anything is timed, so that every arm trains the same Bernoulli likelihood on the same 0/1 data.
    """
    note = None
    try:
        import_vaekit()
        from vaekit.data import load
        s = load(name, cache_dir=data_root())
        splits = {k: getattr(s, k) for k in ("x_train", "x_valid", "x_test")}
        splits.update(name=name, source=str(getattr(s, "source", "")), levels=int(s.levels),
                      data_shape=tuple(s.data_shape), loader="vaekit.data.load")
    except Exception as e:  # noqa: BLE001 - any failure of vaekit's loader: the local reader stands in, recorded
        note = f"vaekit.data.load unavailable ({type(e).__name__}: {e}); used the local reader"
        print(f"note: {note}", file=sys.stderr)
        splits = _local_splits(name)
    splits["loader_note"] = note
    if splits["levels"] > 2:
        g = torch.Generator().manual_seed(seed)
        for k in ("x_train", "x_valid", "x_test"):
            p = splits[k].to(torch.float32) / (splits["levels"] - 1)
            splits[k] = torch.bernoulli(p, generator=g).to(torch.uint8)
        splits["binarized"] = f"static Bernoulli(x/{splits['levels'] - 1}), seed {seed}"
        splits["levels"] = 2
    else:
        splits["binarized"] = "already binary"
    for k in ("x_train", "x_valid", "x_test"):
        splits[k] = splits[k].to(torch.uint8).reshape(-1, *splits["data_shape"]).contiguous()
    return splits


# -------------------------------------------------------------------------------------- the common ELBO
@torch.no_grad()
def elbo_per_image(encode, decode_logits, x: torch.Tensor, *, samples: int = 1, seed: int = 1234,
                   batch_size: int = 1000) -> dict:
    """Mean ELBO (nats per image) of a diagonal-Gaussian-q / Bernoulli-logits VAE, analytic KL.

    encode(x_float [B, 784]) -> (loc [B, d], scale [B, d]);  decode_logits(z [B, d]) -> logits [B, 784].
    The reconstruction term is averaged over `samples` reparameterised draws from a seeded generator; the
    same function, seed and draws are used for every arm.
    """
    g = torch.Generator().manual_seed(seed)
    values = []
    for i in range(0, len(x), batch_size):
        xb = x[i : i + batch_size].reshape(-1, D).to(torch.float32)
        loc, scale = encode(xb)
        kl = 0.5 * (loc.pow(2) + scale.pow(2) - 1.0 - 2.0 * scale.log()).sum(-1)
        rec = torch.zeros(len(xb))
        for _ in range(samples):
            z = loc + scale * torch.randn(loc.shape, generator=g)
            logits = decode_logits(z).reshape(len(xb), D)
            rec += -F.binary_cross_entropy_with_logits(logits, xb, reduction="none").sum(-1)
        values.append(rec / samples - kl)
    v = torch.cat(values).double()
    return {"elbo": v.mean().item(), "stderr": (v.std() / math.sqrt(len(v))).item(), "n": len(v),
            "samples": samples}


@torch.no_grad()
def elbo_mc(encode, decode_logits, log_prior, x: torch.Tensor, *, seed: int = 1234, batch_size: int = 500) -> dict:
    """Mean ELBO (nats per image) of a diagonal-Gaussian-q / Bernoulli-logits model with any prior p(z):
    E_q[log p(x|z) + log p(z) - log q(z|x)], one reparameterised draw per image from a seeded generator.

    encode(x_float [B, 784]) -> (loc [B, d], scale [B, d]); decode_logits(z [B, d]) -> logits [B, 784] (any shape
    with B * 784 values); log_prior(z [B, d]) -> [B]. The same function, seed and draws serve every arm.
    """
    g = torch.Generator().manual_seed(seed)
    values = []
    for i in range(0, len(x), batch_size):
        xb = x[i : i + batch_size].reshape(-1, D).to(torch.float32)
        loc, scale = encode(xb)
        z = loc + scale * torch.randn(loc.shape, generator=g)
        log_q = torch.distributions.Normal(loc, scale).log_prob(z).sum(-1)
        logits = decode_logits(z).reshape(len(xb), D)
        rec = -F.binary_cross_entropy_with_logits(logits, xb, reduction="none").sum(-1)
        values.append(rec + log_prior(z) - log_q)
    v = torch.cat(values).double()
    return {"elbo": v.mean().item(), "stderr": (v.std() / math.sqrt(len(v))).item(), "n": len(v), "samples": 1,
            "estimator": "_common.elbo_mc: E_q[log p(x|z) + log p(z) - log q(z|x)], one seeded draw per image"}


def standard_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) [B] of z [B, d], nats."""
    return torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)


def vamp_log_prob(loc: torch.Tensor, scale: torch.Tensor):
    """The VampPrior's log p(z) = log (1/C) sum_c N(z; loc_c, diag(scale_c^2)), from the posterior's loc and scale
    [C, d] at the C pseudo-inputs: a function z [B, d] -> [B], nats."""
    components = torch.distributions.Normal(loc, scale)

    def log_prior(z: torch.Tensor) -> torch.Tensor:
        return torch.logsumexp(components.log_prob(z[:, None, :]).sum(-1), -1) - math.log(loc.shape[0])

    return log_prior


# ------------------------------------------------------------------------------------------ FLOPs, peak
def layer_shapes(hidden: int = HIDDEN, latent: int = LATENT, d: int = D) -> list[tuple[int, int]]:
    """(in, out) of the four Linear layers: encoder body, fused encoder head (2*latent), decoder body, output."""
    return [(d, hidden), (hidden, 2 * latent), (latent, hidden), (hidden, d)]


def flops_per_image(hidden: int = HIDDEN, latent: int = LATENT, d: int = D) -> float:
    """Forward + backward FLOPs per image: forward 2 * sum(in*out); backward counted as 2x forward."""
    forward = 2 * sum(i * o for i, o in layer_shapes(hidden, latent, d))
    return 3.0 * forward


def _step_matmuls(batch: int, hidden: int, latent: int, d: int):
    """The float32 matrix products of one training step, as (label, fn, flops); tensors made once."""
    out = []
    for i, o in layer_shapes(hidden, latent, d):
        x, w, b, gy = torch.rand(batch, i), torch.rand(o, i), torch.rand(o), torch.rand(batch, o)
        f = 2.0 * batch * i * o
        out.append((f"fwd   addmm {batch}x{i} @ {i}x{o}", lambda x=x, w=w, b=b: torch.addmm(b, x, w.t()), f))
        out.append((f"bwd dX   mm {batch}x{o} @ {o}x{i}", lambda gy=gy, w=w: torch.mm(gy, w), f))
        out.append((f"bwd dW   mm {o}x{batch} @ {batch}x{i}", lambda gy=gy, x=x: torch.mm(gy.t(), x), f))
    return out


def time_matmul(fn, flops: float, *, min_seconds: float = 0.2, repeats: int = 5) -> dict:
    """Seconds and GFLOP/s of one matrix product `fn()`: the best of `repeats` runs of >= `min_seconds` each
    (a peak: other load only ever slows a run down), and the median's GFLOP/s."""
    for _ in range(3):
        fn()
    n = 1
    while True:  # calibrate n so one run takes about min_seconds
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        dt = time.perf_counter() - t0
        if dt >= min_seconds / 4 or n >= 1 << 20:
            break
        n *= 4
    n = max(1, int(n * min_seconds / max(dt, 1e-9)))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        times.append((time.perf_counter() - t0) / n)
    t = min(times)
    return {"gflops": flops / t / 1e9, "seconds": t, "median_gflops": flops / statistics.median(times) / 1e9}


def matmul_peak(batch: int = 128, hidden: int = HIDDEN, latent: int = LATENT, d: int = D, *,
                min_seconds: float = 0.2, repeats: int = 5) -> dict:
    """GFLOP/s of torch.mm/addmm at the shapes of one training step (at the current thread count).

    Each product is timed alone (best of `repeats` runs of >= `min_seconds` each); the peak used for
    utilisation is the step mix: all products of one step back to back = total FLOPs / sum of their times.
    """
    rows, total_f, total_t = [], 0.0, 0.0
    for label, fn, f in _step_matmuls(batch, hidden, latent, d):
        r = time_matmul(fn, f, min_seconds=min_seconds, repeats=repeats)
        rows.append({"op": label, **r})
        total_f += f
        total_t += r["seconds"]
    return {"batch": batch, "threads": torch.get_num_threads(), "shapes": rows,
            "step_mix_gflops": total_f / total_t / 1e9, "best_shape_gflops": max(r["gflops"] for r in rows)}


# ------------------------------------------------------------- FLOPs and peak of any stack of Linear layers
@dataclass(frozen=True)
class Layer:
    """One Linear layer as a training step runs it: `rows` input rows per step, `n_in` -> `n_out` features.

    Its matrix products per step: forward (rows x n_in @ n_in x n_out), the weight gradient (n_out x rows @
    rows x n_in) and, when `input_grad`, the input gradient (rows x n_out @ n_out x n_in); 2 * rows * n_in *
    n_out FLOPs each. `input_grad` is False only for a layer applied to the data (nothing upstream to train).
    """

    rows: int
    n_in: int
    n_out: int
    input_grad: bool = True

    def products(self) -> list[tuple[str, tuple[int, int, int]]]:
        """(kind, (m, k, n)) of each product, an m x k @ k x n matrix product."""
        r, i, o = self.rows, self.n_in, self.n_out
        out = [("fwd addmm", (r, i, o)), ("bwd dW mm", (o, r, i))]
        return out + ([("bwd dX mm", (r, o, i))] if self.input_grad else [])

    def flops(self) -> float:
        return sum(2.0 * m * k * n for _, (m, k, n) in self.products())


def mlp_layers(sizes: list[int] | tuple[int, ...], rows: int, *, on_data: bool = False) -> list[Layer]:
    """The Linear layers of an MLP with the given widths, each applied to `rows` rows per step; `on_data`: the
    first layer reads the data (no input gradient)."""
    return [Layer(rows, i, o, input_grad=not (on_data and j == 0))
            for j, (i, o) in enumerate(itertools.pairwise(sizes))]


def step_flops(layers: list[Layer]) -> float:
    """Matrix-product FLOPs of one training step (forward and backward) of these layers."""
    return sum(layer.flops() for layer in layers)


def _product(m: int, k: int, n: int, kind: str):
    """A timed callable for one m x k @ k x n product, with the operands laid out as nn.Linear's forward and
    backward have them (weights [out, in], activations and their gradients [rows, features], row-major)."""
    if kind.startswith("fwd"):  # addmm(bias, x [rows, in], weight.t())
        x, weight, bias = torch.rand(m, k), torch.rand(n, k), torch.rand(n)
        return lambda: torch.addmm(bias, x, weight.t())
    if "dW" in kind:  # grad_out.t() [out, rows] @ x [rows, in]
        grad_out, x = torch.rand(k, m), torch.rand(k, n)
        return lambda: torch.mm(grad_out.t(), x)
    grad_out, weight = torch.rand(m, k), torch.rand(k, n)  # dX: grad_out [rows, out] @ weight [out, in]
    return lambda: torch.mm(grad_out, weight)


def product_label(kind: str, mkn: tuple[int, int, int]) -> str:
    m, k, n = mkn
    return f"{kind} {m}x{k} @ {k}x{n}"


def time_products(layer_sets: list[list[Layer]], *, min_seconds: float = 0.2, repeats: int = 5) -> dict[str, dict]:
    """Time every distinct matrix product of these layers once, in this process (`time_matmul`): label -> result."""
    timed: dict[str, dict] = {}
    for layers in layer_sets:
        for layer in layers:
            for kind, mkn in layer.products():
                label = product_label(kind, mkn)
                if label not in timed:
                    timed[label] = time_matmul(_product(*mkn, kind), 2.0 * math.prod(mkn),
                                               min_seconds=min_seconds, repeats=repeats)
    return timed


def fastest_products(*tables: dict[str, dict]) -> dict[str, dict]:
    """Several `time_products` tables combined: each product's fastest measurement."""
    best: dict[str, dict] = {}
    for table in tables:
        for label, r in table.items():
            if label not in best or r["seconds"] < best[label]["seconds"]:
                best[label] = r
    return best


def step_mix_gflops(layers: list[Layer], products: dict[str, dict]) -> float:
    """The matrix-product peak of one training step of these layers: its FLOPs over the sum of its products'
    best times (every product of the step run back to back, nothing else)."""
    seconds = sum(products[product_label(kind, mkn)]["seconds"] for layer in layers for kind, mkn in layer.products())
    return step_flops(layers) / seconds / 1e9


# ------------------------------------------------------------------------------------------------- misc
def peak_rss_mb() -> float:
    """Peak resident set size of this process, MB.

    Linux's VmHWM (/proc/self/status) when available: the high-water mark of this process's own address space.
    `getrusage(RUSAGE_SELF).ru_maxrss` is not used for the arms because Linux carries it across fork+exec, so a
    subprocess started by a parent that had 600 MB resident reports at least 600 MB whatever it used itself.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return maxrss_mb()


def run_measured(command: list[str], env: dict | None = None, cwd: Path | None = None) -> tuple[str, float, float]:
    """Run `command` as a child process; its stdout, peak resident memory (MiB, the child's own rusage) and wall
    seconds. A failing command ends the benchmark (its stderr passes through)."""
    import subprocess

    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env, cwd=cwd)
    assert child.stdout is not None
    out = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed (exit {os.waitstatus_to_exitcode(status)}); see above")
    return out, usage.ru_maxrss / 1024, time.perf_counter() - started


def maxrss_mb() -> float:
    """getrusage(RUSAGE_SELF).ru_maxrss in MB (KiB on Linux); see `peak_rss_mb` for why it can overstate."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def set_threads(n: int) -> None:
    torch.set_num_threads(n)


def write_json(path: str | Path, obj) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(obj, indent=2, default=str) + "\n")


def best_peak(*peaks: dict) -> dict:
    """Combine several `matmul_peak` measurements shape by shape, keeping each shape's fastest time."""
    rows = []
    for shape_rows in zip(*(p["shapes"] for p in peaks)):
        rows.append(min(shape_rows, key=lambda r: r["seconds"]))
    flops = sum(r["gflops"] * r["seconds"] for r in rows)
    seconds = sum(r["seconds"] for r in rows)
    return {**peaks[0], "shapes": rows, "step_mix_gflops": flops / seconds,
            "best_shape_gflops": max(r["gflops"] for r in rows), "measurements": len(peaks),
            "step_mix_gflops_each": [p["step_mix_gflops"] for p in peaks]}
