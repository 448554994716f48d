#!/usr/bin/env bash
# Builds the Node.js bindings from source and runs their tests.
# Needs Node >= 20.17 and a Rust toolchain. Idempotent.
set -euo pipefail
cd "$(dirname "$0")"

npm ci --no-audit --no-fund
npm run build
npx --no-install tsc --noEmit -p test
node --test test/
