#!/usr/bin/env bash
# Contrastive Clustering on one lent GPU inside one 10-minute command (results for benchmarks/contrastive_images.md).
# Usage:  scripts/run_gpu_contrastive_benchmarks.sh OUT_DIR [MNIST_EPOCHS] [SEEDS]
#   USPS (9,298 images, 16 px): the experiment's 500 epochs (cut at 8 minutes), seeds SEEDS, all at once;
#   MNIST and Fashion-MNIST (70k, 28 px): MNIST_EPOCHS epochs (default 40) of seed SEEDS[0] each, beside them.
# Every run's training stops at 8 minutes (trainer.max_time) and is then evaluated; `epochs run` in the
# table says how far each got. PYAGC_DATA must hold torchvision/{MNIST,FashionMNIST}/raw and usps/.
# Lesson from the first GPU session: 15 runs at once time-slice one GPU so badly that none finished.
set -uo pipefail
out=${1:?output folder}; epochs=${2:-40}; seeds=${3:-0 1 2}
first=${seeds%% *}
mkdir -p "$out"
bench="python3 scripts/bench_experiments.py --out-dir $out/runs --max-minutes 8"
$bench --prewarm-only --run "m|experiment=contrastive_mnist" --run "f|experiment=contrastive_fashion_mnist" \
  --run "u|experiment=contrastive_usps" || exit 1
$bench --no-prewarm --title "Contrastive Clustering on USPS, GPU" --seeds $seeds --parallel 3 \
  --json "$out/usps.json" --md "$out/usps.md" \
  --run "contrastive_usps|experiment=contrastive_usps trainer=gpu" > "$out/usps.log" 2>&1 &
$bench --no-prewarm --title "Contrastive Clustering on MNIST / Fashion-MNIST ($epochs epochs), GPU" --seeds $first \
  --parallel 2 --json "$out/mnist.json" --md "$out/mnist.md" \
  --run "contrastive_mnist|experiment=contrastive_mnist model.epochs=$epochs trainer=gpu" \
  --run "contrastive_fashion_mnist|experiment=contrastive_fashion_mnist model.epochs=$epochs trainer=gpu" \
  > "$out/mnist.log" 2>&1 &
wait
tail -n 25 "$out"/*.md
