#!/usr/bin/env bash
# Runs every test: unit tests, the HTTP API against real servers on port 0, the browser tests in
# headless Chromium over WebDriver, and the LDAP tests against a real Samba AD domain controller
# (provisioned here, started and stopped by PID by the tests themselves). Installs missing tools
# first.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$DEPROV_ROOT"
ensure_build_tools
ensure_browser
build_frontend
# The crash and LDAP tests run the real binary, which `cargo test` alone does not build.
cargo build --quiet -p deprov-server
ensure_test_dc
say "Running the tests"
cargo test --workspace --exclude deprov-app "$@"
