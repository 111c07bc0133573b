#!/usr/bin/env bash
# Runs the file-format fuzz targets one after another at the lowest CPU
# priority, each for SECONDS (default 600), from the seeds in fuzz/corpus/
# (python3 fuzz/seeds.py writes them), with inputs up to 1 MiB so the depth
# and size limits are reachable. Build first: cargo +nightly fuzz build -O
#
#   fuzz/campaign.sh [SECONDS] [TARGET…]
#
# Each target's log (with libFuzzer's final stats) goes to fuzz/logs/<target>.log,
# crashers to fuzz/artifacts/<target>/.
set -uo pipefail
cd "$(dirname "$0")"
seconds=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(pickle npz npy idx csv checkpoint weights image_folder)
bin=${FUZZ_BIN_DIR:-target/x86_64-unknown-linux-gnu/release}
mkdir -p logs
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  echo "$(date -u +%H:%M:%S) $t for ${seconds}s"
  nice -n 19 "$bin/$t" "corpus/$t" -max_total_time="$seconds" -max_len=1048576 -timeout=30 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="artifacts/$t/" >"logs/$t.log" 2>&1
  echo "$(date -u +%H:%M:%S) $t exit $?: $(grep -E 'stat::number_of_executed_units|SUMMARY' "logs/$t.log" | tr '\n' ' ')"
done
