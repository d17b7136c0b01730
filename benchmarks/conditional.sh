#!/usr/bin/env bash
# The runs of BENCHMARKS.md's "Labels and conditional models" section, one after another, each limited to about 15
# minutes of training on the shared 2-core machine (MADE 20).
# Usage: VAEKIT_DATA=/work/shared/data bash benchmarks/conditional.sh [NAME ...]   (default: all, in order)
# Runs go to runs/conditional/NAME, the evaluations' JSON to benchmarks/results/conditional/NAME.json.
set -euo pipefail
cd "$(dirname "$0")/.."
VAEKIT=${VAEKIT:-.venv/bin/vaekit}
RUNS=runs/conditional
OUT=benchmarks/results/conditional
mkdir -p "$RUNS" "$OUT"
FM="--data fashion-mnist"
M2ARCH="--hidden 500 --latent-dim 50"  # Kingma et al. 2014's MNIST architecture, for M2, the CVAE and the VAE

train() {  # NAME ARGS...: train once (a finished run is kept); the summary (with training seconds) to NAME.train.json
  local name=$1; shift
  if [ ! -f "$OUT/$name.train.json" ]; then
    $VAEKIT train --out "$RUNS/$name" --json "$@" > "$OUT/$name.train.json.part"
    mv "$OUT/$name.train.json.part" "$OUT/$name.train.json"
  fi
}
evaluate() {  # NAME ARGS...
  local name=$1; shift
  $VAEKIT evaluate "$RUNS/$name" --json "$@" > "$OUT/$name.json"
}

# Every run stops after the epoch in which its training passed 15 minutes (--max-minutes; MADE 20); the epochs it ran
# are in its metrics.jsonl (rerun with --epochs N and no --max-minutes to repeat it exactly).
T="--max-minutes 15"
declare -A JOBS
JOBS[classifier]="train classifier --model classifier $FM --hidden 500 --epochs 100 --patience 8 $T; evaluate classifier"
JOBS[classifier-100]="train classifier-100 --model classifier $FM --hidden 500 --labelled 100 --batch-size 100 --epochs 500 --patience 100 $T; evaluate classifier-100"
JOBS[classifier-1000]="train classifier-1000 --model classifier $FM --hidden 500 --labelled 1000 --batch-size 100 --epochs 300 --patience 50 $T; evaluate classifier-1000"
JOBS[vae]="train vae $FM $M2ARCH --epochs 200 $T; evaluate vae --importance-samples 200 --probe --labelled 100 && cp $OUT/vae.json $OUT/vae-probe-100.json; evaluate vae --importance-samples 200 --probe --labelled 1000 && cp $OUT/vae.json $OUT/vae-probe-1000.json"
JOBS[cvae]="train cvae --model cvae $FM $M2ARCH --epochs 200 $T; evaluate cvae --importance-samples 200"
JOBS[m2-100]="train m2-100 --model m2 $FM --labelled 100 --batch-size 64 --labelled-batch 32 --epochs 200 $T; evaluate m2-100 --importance-samples 20"
JOBS[m2-1000]="train m2-1000 --model m2 $FM --labelled 1000 --batch-size 64 --labelled-batch 32 --epochs 200 $T; evaluate m2-1000 --importance-samples 20"
JOBS[amortised]="train amortised $FM --hidden 400 --latent-dim 20 --epochs 200 $T; evaluate amortised --importance-samples 200 --gaps 100 --gap-steps 200"
JOBS[non-amortised]="train non-amortised $FM --hidden 400 --latent-dim 20 --epochs 200 $T --encoder none --inference-steps 50; evaluate non-amortised --importance-samples 200"
JOBS[made]="train made --model made --data binarized-mnist --hidden 500 --batch-size 100 --epochs 500 --max-minutes 20; evaluate made"
ORDER=(classifier-100 classifier-1000 m2-100 vae m2-1000 classifier cvae amortised non-amortised made)

for name in "${@:-${ORDER[@]}}"; do
  echo "== $name: ${JOBS[$name]}" >&2
  eval "${JOBS[$name]}"
done
