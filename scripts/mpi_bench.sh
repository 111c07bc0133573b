#!/usr/bin/env bash
# Measures data-parallel training on this machine: for the benchmark MLPs W1
# (784-128-10, batch 32) and W2 (784-512-256-128-64-32-10, batch 128) on
# Fashion-MNIST, the epoch time of one process with two JIT threads against
# two MPI ranks bound to one core each, the all-reduce time and bytes per
# step, and the scaling efficiency (one-process time / two-rank time).
#
# The epoch time is (time of a 3-epoch run - time of a 1-epoch run) / 2, so
# start-up, data loading and compilation cancel out. Run it on an idle
# machine; numbers on a shared one are noisy.
#
#   scripts/mpi_bench.sh            # builds with --features mpi first
#   NN_BIN=path/to/nn scripts/mpi_bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# $NN_BIN: an nn already built with the feature (skips the build).
if [ -z "${NN_BIN:-}" ]; then
  cargo build --release --features mpi -q
fi
nn="${NN_BIN:-$(pwd)/${CARGO_TARGET_DIR:-target}/release/nn}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# The workloads of `nn bench` (src/bench/workloads.rs), with the dataset named.
write_model() { # name hidden... (batch is the last argument)
  local name=$1 batch=${!#}
  local hidden=("${@:2:$#-2}")
  {
    echo "model $name {"
    echo "    input image: [28, 28]"
    echo "    flatten"
    for units in "${hidden[@]}"; do
      echo "    dense($units, activation = relu, kernel_initializer = glorot_uniform, bias_initializer = zeros)"
    done
    echo "    dense(10, kernel_initializer = glorot_uniform, bias_initializer = zeros)"
    echo "    train {"
    echo "        optimizer = adam(learning_rate = 1e-3, beta_1 = 0.9, beta_2 = 0.999, epsilon = 1e-7)"
    echo "        loss = sparse_categorical_crossentropy(from_logits = true)"
    echo "        batch_size = $batch"
    echo "        dataset = \"fashion-mnist\""
    echo "    }"
    echo "}"
  } >"$work/$name.nn"
}
write_model w1 128 32
write_model w2 512 256 128 64 32 128

mpi=(mpirun --oversubscribe --bind-to core --map-by core --mca btl self,vader,tcp
  --mca btl_vader_single_copy_mechanism none)
[ "$(id -u)" = 0 ] && mpi+=(--allow-run-as-root)

seconds() { # command... -> wall seconds; the command's output goes to $work/out
  local start end
  start=$(date +%s.%N)
  "$@" >"$work/out" 2>&1 || { cat "$work/out" >&2; exit 1; }
  end=$(date +%s.%N)
  echo "$end - $start" | bc -l
}

printf '%-4s %-22s %10s %14s %14s %12s\n' "" "configuration" "epoch (s)" "all-reduce/step" "bytes/step" "efficiency"
for w in w1 w2; do
  model="$work/$w.nn"
  one1=$(seconds "$nn" fit "$model" --epochs 1 --verbose 0)
  one3=$(seconds "$nn" fit "$model" --epochs 3 --verbose 0)
  one=$(echo "($one3 - $one1) / 2" | bc -l)
  two1=$(seconds "${mpi[@]}" -np 2 "$nn" fit "$model" --epochs 1 --verbose 2)
  two3=$(seconds "${mpi[@]}" -np 2 "$nn" fit "$model" --epochs 3 --verbose 2)
  two=$(echo "($two3 - $two1) / 2" | bc -l)
  # "Data-parallel over 2 ranks: S steps, B bytes all-reduced per step, all-reduce R ms of T ms per step"
  line=$(grep "^Data-parallel over" "$work/out")
  bytes=$(echo "$line" | sed -E 's/.* ([0-9]+) bytes.*/\1/')
  reduce=$(echo "$line" | sed -E 's/.*all-reduce ([0-9.]+) ms of ([0-9.]+) ms.*/\1 ms of \2 ms/')
  printf '%-4s %-22s %10.2f %14s %14s %12s\n' "$w" "1 rank x 2 threads" "$one" "-" "-" "-"
  printf '%-4s %-22s %10.2f %14s %14s %11.0f%%\n' "$w" "2 ranks x 1 thread" "$two" "$reduce" "$bytes" \
    "$(echo "100 * $one / $two" | bc -l)"
done
