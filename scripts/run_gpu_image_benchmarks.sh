#!/usr/bin/env bash
# GPU runs of the RSWNet recipe (one lent GPU, one 10-minute command), recorded in
# benchmarks/rswnet_fashion_mnist.md. Usage:  scripts/run_gpu_image_benchmarks.sh OUT_DIR [SEEDS_224]
#   1. the recipe at 224 px, seeds 0-2, one run at a time (throughput and peak GPU memory are the GPU's alone);
#   2. then the recipe at 32 px, seeds 0-2, three runs at once (DEC on the MLP autoencoder, the
#      comparison, runs on a CPU: scripts/bench_experiments.py, see benchmarks/rswnet_fashion_mnist.md).
# All on the 10,000 test images of Fashion-MNIST (data.split=test): the recipe's 10 + 10 epochs over all
# 70k at 224 px do not fit one 10-minute command. PYAGC_DATA must hold torchvision/FashionMNIST/raw.
set -uo pipefail
out=${1:?output folder}
seeds224=${2:-0 1 2}
mkdir -p "$out"
bench="python3 scripts/bench_experiments.py --out-dir $out/runs"
$bench --title "RSWNet recipe at 224 px on Fashion-MNIST test (10k), one run at a time" --seeds $seeds224 \
  --parallel 1 --max-minutes 2.6 --json "$out/rswnet224.json" --md "$out/rswnet224.md" \
  --run "rswnet_224px|experiment=rswnet_fashion_mnist image_size=224 data.split=test trainer=gpu" \
  > "$out/rswnet224.log" 2>&1
$bench --title "RSWNet recipe at 32 px on Fashion-MNIST test (10k), three runs at once" --seeds 0 1 2 \
  --parallel 3 --no-prewarm --max-minutes 1.5 --json "$out/rswnet32.json" --md "$out/rswnet32.md" \
  --run "rswnet_32px|experiment=rswnet_fashion_mnist image_size=32 data.split=test trainer=gpu" \
  > "$out/rswnet32.log" 2>&1
tail -n 30 "$out"/*.md
