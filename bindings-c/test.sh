#!/usr/bin/env bash
# Builds libsliceplane, checks the committed header for drift, runs the C
# tests (plain against the static and the shared library, under valgrind,
# and with AddressSanitizer + UBSan) and the Go package's vet and tests
# (with the race detector). Idempotent; installs the pinned cbindgen and
# valgrind when missing.
#   bash bindings-c/test.sh               all of it
#   SLICEPLANE_BENCH=1 bash bindings-c/test.sh   also the C and Go bulk-ingest benchmarks
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

CBINDGEN_VERSION=0.29.2
step() { printf '\n==> %s\n' "$*"; }

step "cbindgen ${CBINDGEN_VERSION}"
if ! command -v cbindgen >/dev/null 2>&1 || [ "$(cbindgen --version)" != "cbindgen ${CBINDGEN_VERSION}" ]; then
  cargo install cbindgen --version "${CBINDGEN_VERSION}" --locked --force --quiet
fi
cbindgen --version

if ! command -v valgrind >/dev/null 2>&1; then
  step "installing valgrind"
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq valgrind; else sudo apt-get update -qq && sudo apt-get install -y -qq valgrind; fi
fi

step "cargo build -p sliceplane-c --release"
cargo build -p sliceplane-c --release --locked
lib="$root/target/release"

step "header drift (include/sliceplane.h vs a fresh cbindgen run)"
fresh="$(mktemp)"
trap 'rm -f "$fresh"' EXIT
cbindgen --quiet --config bindings-c/cbindgen.toml --crate sliceplane-c --output "$fresh" bindings-c
if ! diff -u include/sliceplane.h "$fresh"; then
  echo "include/sliceplane.h is stale: regenerate it with" >&2
  echo "  cbindgen --config bindings-c/cbindgen.toml --crate sliceplane-c --output include/sliceplane.h bindings-c" >&2
  exit 1
fi

step "header compiles as C11 and as C++17"
gcc -std=c11 -Wall -Wextra -Werror -fsyntax-only -x c include/sliceplane.h
if command -v g++ >/dev/null 2>&1; then
  g++ -std=c++17 -Wall -Wextra -Werror -fsyntax-only -x c++ include/sliceplane.h
fi

out="$root/target/ctest"
mkdir -p "$out"
CFLAGS=(-std=c11 -Wall -Wextra -Werror -g -I"$root/include")
LIBS=(-lpthread -ldl -lm)
src=bindings-c/tests/test_sliceplane.c
conf=bindings-c/tests/conformance.c
fixtures="$root/tests/conformance"

step "C tests (static library)"
gcc "${CFLAGS[@]}" -O1 "$src" "$lib/libsliceplane.a" "${LIBS[@]}" -o "$out/test_static"
"$out/test_static"

step "C conformance fixtures (tests/conformance)"
gcc "${CFLAGS[@]}" -O1 "$conf" "$lib/libsliceplane.a" "${LIBS[@]}" -o "$out/conformance"
"$out/conformance" "$fixtures"

step "C tests (shared library)"
gcc "${CFLAGS[@]}" -O1 "$src" -L"$lib" -lsliceplane "${LIBS[@]}" -o "$out/test_shared"
LD_LIBRARY_PATH="$lib" "$out/test_shared"

step "C tests under valgrind"
valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite,possible --error-exitcode=1 "$out/test_static"
valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite,possible --error-exitcode=1 "$out/conformance" "$fixtures"

step "C tests with -fsanitize=address,undefined"
gcc "${CFLAGS[@]}" -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all \
  "$src" "$lib/libsliceplane.a" "${LIBS[@]}" -o "$out/test_asan"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 "$out/test_asan"
gcc "${CFLAGS[@]}" -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all \
  "$conf" "$lib/libsliceplane.a" "${LIBS[@]}" -o "$out/conformance_asan"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 "$out/conformance_asan" "$fixtures"

if [ "${SLICEPLANE_BENCH:-0}" != "0" ]; then
  step "C bulk-ingest benchmark"
  gcc -std=c11 -Wall -Wextra -Werror -O2 -I"$root/include" bindings-c/tests/bench_ingest.c \
    "$lib/libsliceplane.a" "${LIBS[@]}" -o "$out/bench_ingest"
  "$out/bench_ingest"
fi

if ! command -v go >/dev/null 2>&1; then
  echo "go not found: install Go >= 1.26 (https://go.dev/dl/) to test bindings-go" >&2
  exit 1
fi
step "Go: go vet, go test -race (bindings-go, links target/release/libsliceplane.a)"
cd "$root/bindings-go"
export CGO_ENABLED=1
unformatted="$(gofmt -l .)"
if [ -n "$unformatted" ]; then echo "gofmt needed: $unformatted" >&2; exit 1; fi
go vet ./...
go test -race -count=1 ./...
if [ "${SLICEPLANE_BENCH:-0}" != "0" ]; then
  go test -run '^$' -bench ApplyJSONLines -benchtime 3x -count=1 .
fi

step "bindings-c: all checks passed"
