#!/usr/bin/env bash
# The main job end to end on the local sandbox, as an operator would run it:
#   log in (password from stdin), create the pull secret, re-run it (unchanged), apply a Pod
#   that uses it, and read both back with the real kubectl 1.36.
# Everything runs locally: the emulated Dedicated environment and Kubernetes API server
# (dedicated-sandbox), a throw-away Secret Service keyring, and the real kubectl.
#
#   bash tests/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${DEMO_INSIDE_KEYRING:-}" ]; then
    echo "demo: installing kubectl 1.36, docker-registry and a Secret Service if missing (.ci/install-deps)" >&2
    .ci/install-deps
    # The first build on a fresh machine takes about 6 minutes on 2 cores: say so (friction 7).
    if [ ! -x target/debug/kubectl-dedicated_registry ] || [ ! -x target/debug/dedicated-sandbox ]; then
        echo "demo: building the plugin and the sandbox (first time: about 6 minutes on 2 cores)..." >&2
    fi
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

# The plugin and kubectl 1.36 on PATH, as krew would arrange it; a private HOME and settings.
mkdir -p "$T/bin" "$T/home"
cp target/debug/kubectl-dedicated_registry "$T/bin/"
ln -s "${KUBECTL:-${KUBECTL_DIR:-/opt/kubectl-1.36}/kubectl}" "$T/bin/kubectl"
export PATH="$T/bin:$PATH" HOME="$T/home" XDG_CONFIG_HOME="$T/home/.config"

target/debug/dedicated-sandbox up --json --dir "$T/sandbox" >"$T/sandbox.json" 2>"$T/sandbox.log" &
SANDBOX_PID=$!
for _ in $(seq 1 100); do [ -s "$T/sandbox.json" ] && break; sleep 0.05; done
field() { python3 -c "import json,sys; print(json.load(open('$T/sandbox.json'))['$1'])"; }
API=$(field api) REGISTRY=$(field registry_host) CA=$(field ca_file)
export KUBECONFIG=$(field kubeconfig)

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

step "kubectl dedicated-registry login --api $API --registry $REGISTRY --ca-file ... --username alice@example.com --password-stdin --org dev-org"
printf 'alice-password\n' | kubectl dedicated-registry login --api "$API" --registry "$REGISTRY" \
    --ca-file "$CA" --username alice@example.com --password-stdin --org dev-org

step "kubectl dedicated-registry status"
kubectl dedicated-registry status

step "kubectl dedicated-registry -n team-a secret create regcred --docker-email a@b.c"
kubectl dedicated-registry -n team-a secret create regcred --docker-email a@b.c

step "kubectl dedicated-registry -n team-a secret create regcred --docker-email a@b.c   # again: no new token"
kubectl dedicated-registry -n team-a secret create regcred --docker-email a@b.c

step "kubectl dedicated-registry -n team-a pod apply --image demo/hello:v1 --secret regcred"
kubectl dedicated-registry -n team-a pod apply --image demo/hello:v1 --secret regcred

step "kubectl -n team-a get secret regcred"
kubectl -n team-a get secret regcred
step "kubectl -n team-a get pod hello -o jsonpath='{.spec.imagePullSecrets[0].name} {.spec.containers[0].image}'"
kubectl -n team-a get pod hello -o jsonpath='{.spec.imagePullSecrets[0].name} {.spec.containers[0].image}{"\n"}'

step "kubectl dedicated-registry logout"
kubectl dedicated-registry logout
printf '\ndemo: OK\n'
