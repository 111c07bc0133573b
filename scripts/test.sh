#!/usr/bin/env bash
# The test command: makes sure the system packages the suites need are
# installed, then runs every suite in release mode (the tutorial tests train
# real models). Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

# Fashion-MNIST for the end-to-end tutorials; a font for the plots; Open MPI
# (and libclang, which the MPI bindings' build needs) for the MPI suite.
packages=(dataset-fashion-mnist fonts-dejavu-core fontconfig openmpi-bin libopenmpi-dev libclang-dev)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "The tests need these packages; install them once with:" >&2
    echo "  sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

cargo test --release --workspace "$@"

# Data-parallel training under mpirun (feature `mpi`): only when no extra
# arguments narrowed the run to other suites.
if [ $# -eq 0 ]; then
  cargo test --release --features mpi --test mpi
fi
