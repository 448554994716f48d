#!/usr/bin/env bash
# Runs every gate and every test of the project. Called by .ci/run.
# Usage: bash scripts/test.sh        (SLICEPLANE_FUZZ_SECONDS=N sets the fuzz pass per target; 0 skips it)
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (workspace, all targets) -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test (workspace: core scenarios, properties, schema checks, fuzz corpus replay, policy, generator, CLI end-to-end)"
cargo test --workspace --locked

step "Node.js package (napi-rs): build, tsc --noEmit, node --test"
bash bindings-node/test.sh

step "Python package (pyo3 + maturin): pip install, mypy --strict, pytest"
bash bindings-python/test.sh

step "C ABI and Go package: header drift, C tests (plain, valgrind, ASan), go vet, go test -race"
bash bindings-c/test.sh

step "sliceplane-operator and deploy/: gofmt, go vet, go test -race, manifests, promtool test rules"; bash operator/test.sh

step "Against a real API server: embedded etcd + apiextensions server, CRDs installed, eight scenarios"
bash integration/test.sh

if [ -d fuzz ]; then
  secs="${SLICEPLANE_FUZZ_SECONDS:-15}"
  if [ "$secs" != "0" ]; then
    step "short fuzz pass (${secs}s per target)"
    if ! command -v cargo-fuzz >/dev/null 2>&1; then
      cargo install cargo-fuzz --locked --version 0.13.2 --quiet
    fi
    for t in $(cargo fuzz list --fuzz-dir fuzz 2>/dev/null); do
      echo "fuzz target $t"
      cargo +nightly fuzz run --fuzz-dir fuzz "$t" fuzz/corpus/"$t" -- -max_total_time="$secs" -rss_limit_mb=4096 2>&1 | tail -n 3
    done
  fi
fi

step "all checks passed"
