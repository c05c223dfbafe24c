#!/usr/bin/env bash
# A real Active Directory for deprov's tests and benchmarks: Samba's AD domain controller from
# Debian's packages, extended with Lync's msRTCSIP-* attributes and loaded with a generated
# directory (`deprov lab-ldif`) plus the people the sign-in tests use.
#
#   scripts/samba-dc.sh install                     Debian's samba packages, if missing (root)
#   scripts/samba-dc.sh template USERS SEED         provision (cached) a stopped DC; prints its folder
#   scripts/samba-dc.sh start DIR IP                start the DC in DIR on 127.0.0.N; prints its pid
#   scripts/samba-dc.sh stop DIR                    stop it, by the pid it wrote
#
# A template is provisioned once per (script, directory) and reused; tests copy it and start the
# copy on a loopback address of its own, so several DCs run at once (ports 389/636 are fixed).
# The realm is CONTOSO.COM, the simulator's domain, so generated users keep their DNs and GUIDs.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
TOOLS="${DEPROV_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/deprov-tools}"
REALM=CONTOSO.COM
DOMAIN=CONTOSO
BASE_DN="DC=contoso,DC=com"
# Test-only secrets of a throw-away lab domain (the tests know them too: tests/support/dc.rs).
ADMIN_PASSWORD='Adm1n-Passw0rd!'
SVC_PASSWORD='Svc-deprov-Passw0rd1'
PEOPLE_PASSWORD='Correct-Horse-42'

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { echo "samba-dc: $*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    die "'$*' needs root (or sudo)"
  fi
}

install() {
  if command -v samba >/dev/null && command -v ldbmodify >/dev/null && command -v samba-tool >/dev/null \
     && command -v openssl >/dev/null; then
    return
  fi
  say "Installing Debian's Samba AD DC packages (about 20 s)"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends \
    samba samba-ad-provision samba-dsdb-modules samba-vfs-modules ldb-tools ldap-utils openssl >/dev/null
}

# Writes DIR/etc/smb.conf for a DC answering on IP only (LDAP and LDAPS, nothing else).
configure() {
  local dir=$1 ip=$2
  cat >"$dir/etc/smb.conf" <<EOF
[global]
	netbios name = DC1
	realm = $REALM
	workgroup = $DOMAIN
	server role = active directory domain controller
	server services = ldap
	interfaces = $ip/8
	bind interfaces only = yes
	private dir = $dir/private
	state directory = $dir/state
	cache directory = $dir/cache
	lock directory = $dir/lock
	binddns dir = $dir/bind-dns
	pid directory = $dir/pid
	ncalrpc dir = $dir/ncalrpc
	log file = $dir/log/samba.log
	tls enabled = yes
	tls keyfile = $dir/tls/server.key
	tls certfile = $dir/tls/server.pem
	tls cafile = $dir/tls/ca.pem
EOF
}

# A CA, a server certificate valid for dc1.contoso.com and every 127.0.0.N, and a second CA that
# signed nothing here (the "wrong CA file" test).
certificates() {
  local tls=$1/tls
  mkdir -p "$tls"
  local sans="DNS:dc1.contoso.com,DNS:localhost"
  for n in $(seq 2 254); do sans="$sans,IP:127.0.0.$n"; done
  (
    cd "$tls"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 3650 -subj "/CN=deprov test CA" 2>/dev/null
    openssl req -x509 -newkey rsa:2048 -nodes -keyout other-ca.key -out other-ca.pem -days 3650 -subj "/CN=some other CA" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=dc1.contoso.com" 2>/dev/null
    printf 'subjectAltName=%s\n' "$sans" >san.cnf
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 3650 -extfile san.cnf 2>/dev/null
    chmod 600 server.key ca.key other-ca.key
  )
}

# Lync's schema extension, offline, in the three runs Samba needs (private OIDs: Microsoft's are
# not published in a verified form).
extend_schema() {
  local sam=$1/private/sam.ldb schema="CN=Schema,CN=Configuration,$BASE_DN" oid=1.2.840.113556.1.8000.2554.47231
  local attrs="" n=0
  while read -r name syntax om single; do
    n=$((n + 1))
    attrs+="dn: CN=${name},$schema
objectClass: top
objectClass: attributeSchema
cn: ${name}
lDAPDisplayName: msRTCSIP-${name}
attributeID: $oid.1.$n
attributeSyntax: $syntax
oMSyntax: $om
isSingleValued: $single
"
    if [ "$name" = PrimaryHomeServer ]; then attrs+="oMObjectClass:: KwwCh3McAIVK
"; fi
    # Lync looks users up by SIP address: indexed, as in Lync's own schema extension.
    if [ "$name" = PrimaryUserAddress ]; then attrs+="searchFlags: 1
"; fi
    attrs+="
"
  done <<'EOF'
PrimaryUserAddress 2.5.5.12 64 TRUE
UserEnabled 2.5.5.8 1 TRUE
PrimaryHomeServer 2.5.5.1 127 TRUE
DeploymentLocator 2.5.5.12 64 TRUE
Line 2.5.5.12 64 TRUE
OptionFlags 2.5.5.9 2 TRUE
EOF
  local update=(--option="dsdb:schema update allowed=true")
  printf '%s' "$attrs" | ldbadd -H "$sam" "${update[@]}" >/dev/null
  ldbadd -H "$sam" "${update[@]}" >/dev/null <<EOF
dn: CN=ms-RTC-SIP-User-Extension,$schema
objectClass: top
objectClass: classSchema
cn: ms-RTC-SIP-User-Extension
lDAPDisplayName: msRTCSIP-UserExtension
governsID: $oid.2.1
objectClassCategory: 3
subClassOf: top
mayContain: msRTCSIP-PrimaryUserAddress
mayContain: msRTCSIP-UserEnabled
mayContain: msRTCSIP-PrimaryHomeServer
mayContain: msRTCSIP-DeploymentLocator
mayContain: msRTCSIP-Line
mayContain: msRTCSIP-OptionFlags
EOF
  ldbmodify -H "$sam" "${update[@]}" >/dev/null <<EOF
dn: CN=User,$schema
changetype: modify
add: auxiliaryClass
auxiliaryClass: msRTCSIP-UserExtension
EOF
}

password_b64() { printf '"%s"' "$1" | iconv -t UTF-16LE | base64 -w0; }

# The people the sign-in tests use, and the service account deprov reads AD as.
people() {
  local ou="OU=deprov test people,$BASE_DN" pw svc
  pw=$(password_b64 "$PEOPLE_PASSWORD")
  svc=$(password_b64 "$SVC_PASSWORD")
  person() { # cn sam uac extra-lines
    # `mail` differs from the UPN on purpose: deprov must mail people at the address AD gives.
    printf 'dn: CN=%s,%s\nchangetype: add\nobjectClass: user\nsAMAccountName: %s\nuserPrincipalName: %s@contoso.com\nmail: %s@mail.contoso.com\ndisplayName: %s\nuserAccountControl: %s\nunicodePwd:: %s\n\n' \
      "$1" "$ou" "$2" "$2" "$2" "$1" "$3" "$pw"
  }
  group() { # cn members...
    local cn=$1; shift
    printf 'dn: CN=%s,%s\nchangetype: add\nobjectClass: group\nsAMAccountName: %s\n' "$cn" "$ou" "$cn"
    for member in "$@"; do printf 'member: CN=%s,%s\n' "$member" "$ou"; done
    printf '\n'
  }
  {
    printf 'dn: %s\nchangetype: add\nobjectClass: organizationalUnit\n\n' "$ou"
    printf 'dn: CN=svc-deprov,%s\nchangetype: add\nobjectClass: user\nsAMAccountName: svc-deprov\nuserAccountControl: 66048\nunicodePwd:: %s\n\n' "$ou" "$svc"
    person "Ada Approver" ada.approver 512
    person "Adam Admin" adam.admin 512
    person "Mia Manager" mia.manager 512
    person "Nina Norole" nina.norole 512
    person "Dora Disabled" dora.disabled 514
    person "Lou Locked" lou.locked 512
    # Nested: Ada is an approver through an inner group.
    group "deprov approvers inner" "Ada Approver" "Dora Disabled" "Lou Locked"
    group "deprov approvers" "deprov approvers inner"
    group "deprov admins" "Adam Admin"
    group "deprov requesters" "Mia Manager"
  } | ldbmodify -H "$1/private/sam.ldb" >/dev/null
}

template() {
  local users=${1:-300} seed=${2:-7}
  install
  local deprov="$ROOT/target/debug/deprov"
  [ -x "$deprov" ] || (cd "$ROOT" && cargo build --quiet -p deprov-server)
  local ldif
  ldif=$(mktemp)
  local pools
  pools=$(mktemp)
  "$deprov" lab-ldif --users "$users" --seed "$seed" --pools-file "$pools" >"$ldif"
  local key
  key=$( (cat "${BASH_SOURCE[0]}" "$ldif") | sha256sum | cut -c1-16)
  local dir="$TOOLS/samba/dc-$users-$seed-$key"
  if [ -f "$dir/ready" ]; then
    rm -f "$ldif" "$pools"
    echo "$dir"
    return
  fi
  say "Provisioning a Samba AD DC with $users generated users (once; cached in $dir)"
  # Older templates of the same size (another script or directory version) are of no more use.
  rm -rf "$TOOLS/samba/dc-$users-$seed-"*
  mkdir -p "$dir"
  samba-tool domain provision --realm="$REALM" --domain="$DOMAIN" --server-role=dc --dns-backend=NONE \
    --targetdir="$dir" --host-name=dc1 --adminpass="$ADMIN_PASSWORD" \
    --option="interfaces = 127.0.0.2/8" --option="bind interfaces only = yes" >"$dir/provision.log" 2>&1 \
    || { tail -20 "$dir/provision.log" >&2; die "provisioning failed"; }
  mkdir -p "$dir/log" "$dir/pid" "$dir/ncalrpc" "$dir/lock" "$dir/cache" "$dir/bind-dns"
  certificates "$dir"
  extend_schema "$dir"
  # Lockout after three wrong passwords, so the locked-account case can be made for real.
  samba-tool domain passwordsettings set -H "$dir/private/sam.ldb" --account-lockout-threshold=3 \
    --account-lockout-duration=30 --reset-account-lockout-after=30 >/dev/null
  ldbmodify -H "$dir/private/sam.ldb" --controls=relax:0 "$ldif" >/dev/null
  people "$dir"
  cp "$pools" "$dir/pools.txt"
  rm -f "$ldif" "$pools"
  touch "$dir/ready"
  echo "$dir"
}

start() {
  local dir=$1 ip=$2
  [ -f "$dir/private/sam.ldb" ] || die "$dir is not a provisioned DC"
  configure "$dir" "$ip"
  rm -f "$dir/pid/samba.pid"
  samba -s "$dir/etc/smb.conf" -M single -D
  for _ in $(seq 1 100); do
    if [ -s "$dir/pid/samba.pid" ] && (exec 3<>"/dev/tcp/$ip/636") 2>/dev/null; then
      cat "$dir/pid/samba.pid"
      return
    fi
    sleep 0.1
  done
  tail -20 "$dir/log/samba.log" >&2 || true
  die "the DC in $dir did not start on $ip"
}

stop() {
  local dir=$1 pid
  pid=$(cat "$dir/pid/samba.pid" 2>/dev/null) || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}

command=${1:-}
shift || true
case "$command" in
  install) install ;;
  template) template "$@" ;;
  start) start "$@" ;;
  stop) stop "$@" ;;
  *) die "usage: samba-dc.sh install | template USERS SEED | start DIR IP | stop DIR" ;;
esac
