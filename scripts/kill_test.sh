#!/usr/bin/env bash
# Kill test: a fit that checkpoints every few steps is killed with SIGKILL at
# random moments and resumed each time; in the end its weights, History JSON,
# CSV log and last checkpoint must be byte-identical (`cmp`) to those of an
# uninterrupted run.
#
#   scripts/kill_test.sh [KILLS] [SEED]      (defaults: 50 kills, seed 1)
#
# Uses target/release/nn (build it first: cargo build --release), or $NN_BIN.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
kills=${1:-50}
RANDOM=${2:-1}
nn=${NN_BIN:-$root/target/release/nn}
[ -x "$nn" ] || { echo "no nn binary at $nn; run cargo build --release first" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Dropout (masks depend on the step), shuffling, a validation split, metric
# sums over the epoch, and callbacks with state (plateau counter, CSV rows).
cat >"$work/model.nn" <<'EOF'
model killed {
    input features: [4]
    dense(32, activation = relu)
    dropout(0.3)
    dense(3, activation = softmax)
    train {
        optimizer = adam(learning_rate = 0.01)
        loss = sparse_categorical_crossentropy
        metrics = [accuracy]
        batch_size = 4
        epochs = 40
        validation_split = 0.2
        dataset = "iris"
        callbacks = [csv_logger("log.csv"), reduce_lr_on_plateau(patience = 2, factor = 0.5)]
    }
}
EOF
fit=(fit "$work/model.nn" --verbose 0 --checkpoint ckpt --checkpoint-every 7 --save weights.st --history history.json)

mkdir "$work/ref" "$work/run"
start=$(date +%s%N)
(cd "$work/ref" && "$nn" "${fit[@]}" >/dev/null)
took_ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "uninterrupted run: ${took_ms} ms"

cd "$work/run"
killed=0
while [ "$killed" -lt "$kills" ]; do
  resume=()
  [ -e ckpt ] && resume=(--resume ckpt)
  "$nn" "${fit[@]}" "${resume[@]}" >/dev/null 2>stderr.txt &
  pid=$!
  # A random moment within one uninterrupted run's time (plus start-up).
  delay_ms=$(( RANDOM % (took_ms + 1) ))
  sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
  if kill -9 "$pid" 2>/dev/null; then
    wait "$pid" 2>/dev/null || true
    killed=$((killed + 1))
  else
    # It finished first: it must have succeeded; start over to get more kills.
    wait "$pid" || { cat stderr.txt >&2; echo "a run exited with an error" >&2; exit 1; }
    rm -f ckpt weights.st history.json log.csv
  fi
done
echo "killed $killed times; finishing"
resume=()
[ -e ckpt ] && resume=(--resume ckpt)
"$nn" "${fit[@]}" "${resume[@]}" >/dev/null

status=0
for f in weights.st history.json log.csv ckpt; do
  if cmp "$work/ref/$f" "$work/run/$f"; then
    echo "identical: $f"
  else
    status=1
  fi
done
if ls -A "$work/run" | grep -q '\.tmp-'; then
  echo "stale temporary files left behind:" >&2
  ls -A "$work/run" >&2
  status=1
fi
exit $status
