#!/usr/bin/env bash
# Installs what deprov needs on a fresh machine of this kind (rustup, cargo, Node/npm and apt are
# assumed) and skips whatever is already there. Sourced by run.sh and test.sh; see
# ../shared/TOOLCHAIN.md for why each piece is installed the way it is.
#   ensure_build_tools   wasm32 target, Trunk 0.21.14, wasm-bindgen CLI (= Cargo.lock), wasm-opt,
#                        wasm-split-cli
#   ensure_browser       Debian's chromium and chromium-driver, for the browser tests
#   build_frontend       Trunk release build into dist/
#   ensure_test_dc       a provisioned Samba AD DC template for the LDAP tests (scripts/samba-dc.sh)
#   ensure_test_servers  Debian's openssh-server (the tests start their own sshd)
#   check_powershell     the Lync shell worker script, parsed with the PowerShell grammar from npm
#   ensure_schemathesis  the API fuzzer (schemathesis from PyPI) in a virtualenv; sets SCHEMATHESIS
#   ensure_smtp_sink     the tests' SMTP server (aiosmtpd from PyPI) in a virtualenv; exports
#                        DEPROV_TEST_SMTP_PYTHON
#   start_test_postgres  Debian's PostgreSQL, a cluster of the tests' own on a free loopback port,
#                        started now and stopped by PID when the calling script exits; exports
#                        DEPROV_TEST_POSTGRES and DEPROV_TEST_POSTGRES_PASSWORD_FILE

DEPROV_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Tools that are not cargo binaries live here, outside the checkout, so clean clones reuse them.
DEPROV_TOOLS="${DEPROV_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/deprov-tools}"
TRUNK_VERSION=0.21.14
# The wasm splitter scripts/split.mjs runs (the one cargo-leptos uses, as a command).
WASM_SPLIT_VERSION=0.2.4
BINARYEN_VERSION=132
# The PowerShell grammar: web-tree-sitter's wasm build (the native module needs a newer libstdc++).
WEB_TREE_SITTER_VERSION=0.25.10
TREE_SITTER_POWERSHELL_VERSION=0.26.4
# The API fuzzer scripts/fuzz.sh runs (its command line changed in 4.0).
SCHEMATHESIS_VERSION=4.32.5
# The SMTP server the mail tests start (tests/fixtures/smtp-sink.py).
AIOSMTPD_VERSION=1.4.6
export PATH="$HOME/.cargo/bin:$DEPROV_TOOLS/node_modules/.bin:$PATH"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# The wasm-bindgen version Cargo.lock resolved: the CLI must match it exactly.
wasm_bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$DEPROV_ROOT/Cargo.lock"
}

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "deprov setup: '$*' needs root (or sudo)." >&2; return 1
  fi
}

ensure_build_tools() {
  local component
  for component in clippy rustfmt; do
    if ! rustup component list --installed | grep -q "^$component"; then
      say "Adding the $component component"
      rustup component add "$component"
    fi
  done
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    say "Adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
  if [ "$(trunk --version 2>/dev/null)" != "trunk $TRUNK_VERSION" ]; then
    say "Installing Trunk $TRUNK_VERSION (about 9 minutes on 2 cores, once)"
    cargo install "trunk@$TRUNK_VERSION" --locked
  fi
  local bindgen
  bindgen="$(wasm_bindgen_version)"
  if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $bindgen" ]; then
    say "Installing wasm-bindgen-cli $bindgen (about 3 minutes, once)"
    # Not --locked: one of its locked dependencies is missing from the registry.
    cargo install "wasm-bindgen-cli@$bindgen"
  fi
  if ! cargo install --list | grep -qx "wasm_split_cli_support v$WASM_SPLIT_VERSION:"; then
    say "Installing wasm-split-cli $WASM_SPLIT_VERSION (about 4 minutes, once)"
    cargo install "wasm_split_cli_support@$WASM_SPLIT_VERSION" --features build-binary --locked
  fi
  if ! wasm-opt --version 2>/dev/null | grep -q "version $BINARYEN_VERSION"; then
    say "Installing wasm-opt (binaryen $BINARYEN_VERSION from npm; Debian's 108 breaks the module)"
    mkdir -p "$DEPROV_TOOLS"
    npm install --prefix "$DEPROV_TOOLS" --no-audit --no-fund --silent "binaryen@$BINARYEN_VERSION"
  fi
}

ensure_browser() {
  if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    say "Installing Debian's chromium and chromium-driver for the browser tests"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq chromium chromium-driver >/dev/null
  fi
}

build_frontend() {
  say "Building the front end into dist/"
  (cd "$DEPROV_ROOT" && trunk build --release --offline --quiet)
}

# The LDAP tests copy this template and start each copy on a loopback address of their own. Where
# no DC can be provisioned (no root for apt, say), they print why and skip; they never pass silently.
ensure_test_dc() {
  say "Preparing a Samba AD domain controller for the LDAP tests"
  local dir
  if dir=$(bash "$DEPROV_ROOT/scripts/samba-dc.sh" template 300 7); then
    export DEPROV_TEST_DC_TEMPLATE="$dir"
  else
    export DEPROV_TEST_DC_UNAVAILABLE="scripts/samba-dc.sh could not provision a Samba AD DC (its error is above)"
    say "No Samba AD DC: the tests that need one will say so and skip"
  fi
}

ensure_test_servers() {
  if [ ! -x /usr/sbin/sshd ] || ! command -v ssh >/dev/null || ! command -v python3 >/dev/null; then
    say "Installing Debian's openssh-server (the SSH transport test starts its own sshd)"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends \
      openssh-server openssh-client python3 >/dev/null
  fi
}

# PowerShell cannot run here: the worker script is checked against the PowerShell grammar.
check_powershell() {
  local modules="$DEPROV_TOOLS/node_modules"
  if [ ! -f "$modules/tree-sitter-powershell/tree-sitter-powershell.wasm" ] \
     || ! grep -q "\"version\": \"$WEB_TREE_SITTER_VERSION\"" "$modules/web-tree-sitter/package.json" 2>/dev/null; then
    say "Installing the PowerShell grammar (web-tree-sitter $WEB_TREE_SITTER_VERSION, tree-sitter-powershell $TREE_SITTER_POWERSHELL_VERSION)"
    mkdir -p "$DEPROV_TOOLS"
    npm install --prefix "$DEPROV_TOOLS" --no-audit --no-fund --silent \
      "web-tree-sitter@$WEB_TREE_SITTER_VERSION" "tree-sitter-powershell@$TREE_SITTER_POWERSHELL_VERSION"
  fi
  say "Checking the Lync shell worker's PowerShell syntax"
  node "$DEPROV_ROOT/shell/check-syntax.mjs" "$modules" "$DEPROV_ROOT/shell/lync-shell.ps1"
}

ensure_python_venv() {
  if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    say "Installing Debian's python3-venv (for the test tools' virtualenvs)"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
  fi
}

# In a virtualenv of its own under $DEPROV_TOOLS, named by version, so a pin change installs afresh.
ensure_smtp_sink() {
  local venv="$DEPROV_TOOLS/aiosmtpd-$AIOSMTPD_VERSION"
  export DEPROV_TEST_SMTP_PYTHON="$venv/bin/python"
  if "$DEPROV_TEST_SMTP_PYTHON" -c 'import aiosmtpd' 2>/dev/null; then
    return
  fi
  ensure_python_venv
  say "Installing aiosmtpd $AIOSMTPD_VERSION from PyPI (the mail tests' SMTP server)"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "aiosmtpd==$AIOSMTPD_VERSION"
}

# In a virtualenv of its own under $DEPROV_TOOLS, named by version, so a pin change installs afresh.
ensure_schemathesis() {
  local venv="$DEPROV_TOOLS/schemathesis-$SCHEMATHESIS_VERSION"
  SCHEMATHESIS="$venv/bin/st"
  if [ "$("$SCHEMATHESIS" --version 2>/dev/null)" = "st, version $SCHEMATHESIS_VERSION" ]; then
    return
  fi
  ensure_python_venv
  say "Installing schemathesis $SCHEMATHESIS_VERSION from PyPI (about a minute, once)"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
}

# A throwaway cluster for the tests: its own folder, port and password, run as the `postgres`
# user (PostgreSQL refuses root), stopped by PID on exit (and on Ctrl-C or SIGTERM).
start_test_postgres() {
  if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    say "Installing Debian's PostgreSQL (the tests' shared database)"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null
  fi
  local bin run_as=() cluster port
  bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
  cluster="$(mktemp -d /tmp/deprov-test-pg.XXXXXX)"
  DEPROV_TEST_POSTGRES_CLUSTER="$cluster"
  trap 'stop_test_postgres' EXIT
  trap 'stop_test_postgres; exit 130' INT TERM
  if [ "$(id -u)" = 0 ]; then
    chown postgres: "$cluster"
    run_as=(runuser -u postgres --)
  fi
  head -c 18 /dev/urandom | base64 | tr -d '/+=' > "$cluster/password"
  chmod 600 "$cluster/password"
  cp "$cluster/password" "$cluster/pw-for-initdb"
  if [ "$(id -u)" = 0 ]; then chown postgres: "$cluster/pw-for-initdb"; fi
  "${run_as[@]}" "$bin/initdb" --pgdata="$cluster/data" --username=deprov --pwfile="$cluster/pw-for-initdb" \
    --auth=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  rm -f "$cluster/pw-for-initdb"
  port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  "${run_as[@]}" "$bin/postgres" -D "$cluster/data" -p "$port" -c listen_addresses=127.0.0.1 \
    -c unix_socket_directories="$cluster/data" -c fsync=off -c max_connections=300 \
    >"$cluster/postgres.log" 2>&1 &
  for _ in $(seq 1 100); do
    "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" && break
    sleep 0.1
  done
  "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" || { cat "$cluster/postgres.log" >&2; return 1; }
  export DEPROV_TEST_POSTGRES="postgres://deprov@127.0.0.1:$port/postgres"
  export DEPROV_TEST_POSTGRES_PASSWORD_FILE="$cluster/password"
  say "PostgreSQL for the tests on 127.0.0.1:$port (PID $(head -1 "$cluster/data/postmaster.pid"))"
}

stop_test_postgres() {
  local cluster="${DEPROV_TEST_POSTGRES_CLUSTER:-}" pid
  [ -n "$cluster" ] || return 0
  DEPROV_TEST_POSTGRES_CLUSTER=
  # The server's own PID from its pid file (not runuser's, which does not pass signals on), read
  # now: whatever point the start reached, a server that runs is stopped.
  pid="$(head -1 "$cluster/data/postmaster.pid" 2>/dev/null || true)"
  if [ -n "$pid" ]; then
    # SIGINT: PostgreSQL's fast shutdown; SIGQUIT (immediate) if that takes over 10 s.
    kill -INT "$pid" 2>/dev/null || true
    for signal in QUIT KILL; do
      for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break 2
        sleep 0.1
      done
      kill -"$signal" "$pid" 2>/dev/null || true
    done
  fi
  rm -rf "$cluster"
}
