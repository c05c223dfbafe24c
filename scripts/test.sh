#!/usr/bin/env bash
# Runs every test: unit tests, the HTTP API against real servers on port 0, the browser tests in
# headless Chromium over WebDriver, the LDAP tests against a real Samba AD domain controller
# (provisioned here, started and stopped by PID by the tests themselves), the Lync shell tests
# through the stand-in worker (over a pipe and over an sshd the tests start), and the PowerShell
# worker's syntax check, after `cargo fmt --check` and clippy. PostgreSQL (a cluster of the tests'
# own, stopped by PID on exit) serves the two-instance tests, and then the whole API suite runs
# again on it. Last, fuzzes the API with schemathesis from its OpenAPI document (scripts/fuzz.sh).
# Installs missing tools first. Arguments go to the first `cargo test` (a filter, say).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$DEPROV_ROOT"
ensure_build_tools
ensure_browser
build_frontend
# The crash and LDAP tests run the real binary, which `cargo test` alone does not build.
cargo build --quiet -p deprov-server
ensure_test_dc
ensure_test_servers
ensure_smtp_sink
check_powershell
say "Checking formatting and lints"
cargo fmt --all --check
# Warnings are errors here: the host crates and the front end as it is really built (wasm32).
cargo clippy --quiet --workspace --all-targets -- -D warnings
cargo clippy --quiet -p deprov-app --target wasm32-unknown-unknown -- -D warnings
start_test_postgres
say "Running the tests"
cargo test --workspace --exclude deprov-app "$@"
if [ $# -eq 0 ]; then
  # The browser and LDAP tests are about the page and the directory, not the store: once is enough.
  say "Running the store's unit tests and the API suite again, on PostgreSQL"
  DEPROV_TEST_DATABASE=postgres cargo test -p deprov-server
  DEPROV_TEST_DATABASE=postgres cargo test -p deprov-tests --test integration -- \
    --skip browser:: --skip ldap:: --skip instances::
fi
bash scripts/fuzz.sh
