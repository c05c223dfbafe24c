#!/usr/bin/env bash
# Runs every test: unit tests, the HTTP API against real servers on port 0, and the browser tests
# in headless Chromium over WebDriver. Installs missing tools first.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$DEPROV_ROOT"
ensure_build_tools
ensure_browser
build_frontend
say "Running the tests"
# The crash test runs the real binary, which `cargo test` alone does not build.
cargo build --quiet -p deprov-server
cargo test --workspace --exclude deprov-app "$@"
