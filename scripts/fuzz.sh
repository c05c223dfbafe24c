#!/usr/bin/env bash
# Fuzzes the HTTP API with schemathesis against the real binary, from its own OpenAPI document:
# once signed in (an account with every role, the session cookie and the CSRF header) and once
# anonymous. Fails on any 5xx, any status the document does not list for the operation, and any
# body or content type that does not match it. Sign-out is left out (it would end the session
# the signed-in run uses), and so are the event streams when signed in (they never end). Runs on
# a server of its own, on a free port with a temporary data folder, stopped by its PID on exit.
# scripts/test.sh runs it; alone: scripts/fuzz.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$DEPROV_ROOT"
ensure_schemathesis
# A few minutes in all on two cores: most of it signed in, where the handlers are reached.
SIGNED_IN_SECONDS=150
ANONYMOUS_SECONDS=45

cargo build --quiet -p deprov-server
binary="${CARGO_TARGET_DIR:-$DEPROV_ROOT/target}/debug/deprov"
data="$(mktemp -d "${TMPDIR:-/tmp}/deprov-fuzz.XXXXXX")"
server=""
stop() {
  if [ -n "$server" ]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  rm -rf "$data"
}
trap stop EXIT

password="fuzz-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
printf '%s\n' "$password" |
  "$binary" user add fuzz --role requester --role approver --role admin --role auditor \
    --data-dir "$data" >/dev/null
printf '%s\n' "$password" |
  "$binary" user add fuzz-approver --role approver --data-dir "$data" >/dev/null
"$binary" serve --data-dir "$data" --listen 127.0.0.1:0 --static-dir dist --sim-users 300 \
  --sim-churn off --demo-accounts off >"$data/server.log" 2>&1 &
server=$!
base=""
for _ in $(seq 100); do
  base="$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$data/server.log" 2>/dev/null | head -n 1 || true)"
  [ -n "$base" ] && break
  if ! kill -0 "$server" 2>/dev/null; then
    cat "$data/server.log" >&2
    echo "fuzz: the server did not start" >&2
    exit 1
  fi
  sleep 0.3
done
[ -n "$base" ] || { echo "fuzz: the server did not say where it listens" >&2; exit 1; }

# Signs in as the browser does and files two requests, #1 left pending and #2 approved (the
# document's example request number is 1), so the fuzzer reaches real requests and execution
# plans. Prints the session cookie and its CSRF token.
read -r cookie csrf < <(FUZZ_PASSWORD="$password" "$(dirname "$SCHEMATHESIS")/python" - "$base" <<'PY'
import json, os, sys, urllib.request

def call(method, path, body=None, session=None):
    headers = {"content-type": "application/json"}
    if session:
        headers.update({"cookie": "deprov_session=" + session[0], "x-csrf-token": session[1]})
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(sys.argv[1] + path, data, headers, method=method)
    with urllib.request.urlopen(request) as response:
        return response.headers.get("set-cookie"), json.load(response)

def sign_in(name):
    password = os.environ["FUZZ_PASSWORD"]
    cookie, me = call("POST", "/api/session", {"name": name, "password": password})
    return cookie.split(";")[0].split("=", 1)[1], me["csrf_token"]

fuzz, approver = sign_in("fuzz"), sign_in("fuzz-approver")
_, found = call("GET", "/api/users?ad=enabled&lync=enabled&limit=100", session=fuzz)
fit = [u for u in found["users"] if not (u["protected"] or u["homed_online"]) and u["title"]]
for user in fit[:2]:
    new = {"user_id": user["id"], "reason": "resignation", "reason_text": "fuzz", "urgency": "standard"}
    _, request = call("POST", "/api/requests", new, fuzz)
decision = {"version": request["version"], "comment": "fuzz"}
call("POST", "/api/requests/%d/approve" % request["id"], decision, approver)
print(*fuzz)
PY
)
# Credentials for the document's security schemes (session: the cookie; csrf: the header).
cat >"$data/signed-in.toml" <<EOF
[auth.openapi.session]
api_key = "$cookie"
[auth.openapi.csrf]
api_key = "$csrf"
EOF

# One worker: Hypothesis's caches are not safe across schemathesis's threads on CPython 3.11 (it
# then fails with errors of its own, not the API's).
fuzz() {
  local what="$1"
  shift
  say "Fuzzing the API $what"
  # From the data folder: schemathesis leaves its cache (.schemathesis/) where it runs.
  (cd "$data" && "$SCHEMATHESIS" "$@" "$base/api/openapi.json" --url "$base" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --exclude-operation-id sign_out --request-timeout 10 --workers 1)
}
passed=0
failed=0
if fuzz "signed in" --config-file "$data/signed-in.toml" run \
  --exclude-path-regex '/(stream|events)$' --max-time "$SIGNED_IN_SECONDS"; then
  passed=$((passed + 1))
else
  failed=$((failed + 1))
fi
if fuzz "anonymous" run --max-time "$ANONYMOUS_SECONDS"; then
  passed=$((passed + 1))
else
  failed=$((failed + 1))
fi
if [ "$failed" -gt 0 ]; then
  echo "The server's log:" >&2
  grep -v ' INFO ' "$data/server.log" | tail -n 40 >&2 || true
fi
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
