#!/usr/bin/env bash
# Runs the portal on the embedded defaults: the simulated directory (5,000 users), state under
# ./data. Installs missing tools first. Extra arguments go to `deprov serve`
# (e.g. --listen 0.0.0.0:8080 --sim-users 100000); `deprov serve --help` lists them.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$DEPROV_ROOT"
ensure_build_tools
build_frontend
say "Building the server"
cargo build --release --quiet -p deprov-server
exec target/release/deprov serve "$@"
