#!/usr/bin/env bash
# The icr.io job end to end on the local sandbox (issue 20), as an operator would run it:
#   log in to IAM with an API key (from stdin; kept in the OS keyring), create the pull
#   secret in every namespace (one service ID, one Reader policy, one API key for the
#   cluster), re-run it (unchanged), rotate the key, list and prune keys, and read the
#   secrets back with the real kubectl 1.36.
# Everything runs locally: the emulated IAM, Identity/Policy APIs and icr.io front
# (dedicated-sandbox, its icr.io names pinned to loopback), a throw-away Secret Service
# keyring, and the real kubectl.
#
#   bash tests/demo-icr.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${CARGO_TARGET_DIR:-target}/debug

if [ -z "${DEMO_INSIDE_KEYRING:-}" ]; then
    echo "demo-icr: installing kubectl 1.36, docker-registry and a Secret Service if missing (.ci/install-deps)" >&2
    .ci/install-deps
    echo "demo-icr: building the plugin and the sandbox (first time: about 6 minutes on 2 cores)..." >&2
    cargo build --locked --bins --workspace
    export DEMO_INSIDE_KEYRING=1
    unset HTTP_PROXY HTTPS_PROXY ALL_PROXY http_proxy https_proxy all_proxy
    exec dbus-run-session -- .ci/with-keyring bash "$0" "$@" </dev/null
fi

T=$(mktemp -d)
cleanup() {
    [ -n "${SANDBOX_PID:-}" ] && kill "$SANDBOX_PID" 2>/dev/null && wait "$SANDBOX_PID" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT

mkdir -p "$T/bin" "$T/home"
cp "$BUILD/kubectl-dedicated_registry" "$T/bin/"
ln -s "${KUBECTL:-${KUBECTL_DIR:-/opt/kubectl-1.36}/kubectl}" "$T/bin/kubectl"
export PATH="$T/bin:$PATH" HOME="$T/home" XDG_CONFIG_HOME="$T/home/.config"

"$BUILD/dedicated-sandbox" up --json --dir "$T/sandbox" >"$T/sandbox.json" 2>"$T/sandbox.log" &
SANDBOX_PID=$!
for _ in $(seq 1 100); do [ -s "$T/sandbox.json" ] && break; sleep 0.05; done
field() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval('d' + sys.argv[2]))" "$T/sandbox.json" "$1"; }
IAM=$(field "['iam']") CA=$(field "['ca_file']") PORT=$(field "['icr']['address'].split(':')[1]")
export KUBECONFIG=$(field "['kubeconfig']")
# The sandbox serves every icr.io domain on one loopback port: pin the names there.
export KUBECTL_DEDICATED_REGISTRY_RESOLVE=$(field "['icr']['resolve']")
REGISTRY=us.icr.io:$PORT
KEY=dana-ibm-api-key-0123456789abcdefghijklmnop

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

step "kubectl dedicated-registry login --registry $REGISTRY --iam-url $IAM --ca-file ... --registry-namespace team-ns --apikey-stdin < key.txt"
printf '%s\n' "$KEY" | kubectl dedicated-registry login --registry "$REGISTRY" --iam-url "$IAM" \
    --ca-file "$CA" --registry-namespace team-ns --apikey-stdin

step "kubectl dedicated-registry status"
kubectl dedicated-registry status

step "kubectl dedicated-registry secret create regcred -A"
kubectl dedicated-registry secret create regcred -A

step "kubectl dedicated-registry secret create regcred -A   # again: no new service ID, policy or key"
kubectl dedicated-registry secret create regcred -A

step "kubectl dedicated-registry token list"
kubectl dedicated-registry token list

step "kubectl dedicated-registry secret rotate regcred -A"
kubectl dedicated-registry secret rotate regcred -A

step "kubectl dedicated-registry -n team-a secret create own   # a namespace's own key"
kubectl dedicated-registry -n team-a secret create own
step "kubectl -n team-a delete secret own && kubectl dedicated-registry token prune --yes"
kubectl -n team-a delete secret own
kubectl dedicated-registry token prune --yes

step "kubectl -n team-b get secret regcred -o jsonpath='{.type} {.metadata.annotations.kubectl-dedicated-registry/token-id}'"
kubectl -n team-b get secret regcred -o jsonpath='{.type} {.metadata.annotations.kubectl-dedicated-registry/token-id}{"\n"}'
step "kubectl -n team-b get secret regcred -o jsonpath='{.data.\.dockerconfigjson}' | base64 -d | (username only)"
kubectl -n team-b get secret regcred -o jsonpath='{.data.\.dockerconfigjson}' | base64 -d |
    python3 -c 'import json,sys; a=json.load(sys.stdin)["auths"]; print({h: v["username"] for h, v in a.items()})'

step "kubectl dedicated-registry logout"
kubectl dedicated-registry logout
printf '\ndemo-icr: OK\n'
