#!/usr/bin/env bash
# Measures the plugin against the local sandbox: start-up, the idempotent re-run of
# `secret create` (refresh + read, nothing minted), and a full create (refresh, mint, verify,
# write), with hyperfine; and the peak memory of a full create with GNU time.
# Release build. Not part of CI (timings on a shared 2-core machine are noisy); run it by hand:
#   bash tests/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${BENCH_INSIDE_KEYRING:-}" ]; then
    .ci/install-deps
    command -v hyperfine >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends hyperfine time >/dev/null
    [ -x /usr/bin/time ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends time >/dev/null
    cargo build --quiet --locked --release --bins --workspace
    export BENCH_INSIDE_KEYRING=1
    unset HTTP_PROXY HTTPS_PROXY ALL_PROXY http_proxy https_proxy all_proxy
    exec dbus-run-session -- .ci/with-keyring bash "$0" "$@" </dev/null
fi

T=$(mktemp -d)
trap 'kill "$SANDBOX_PID" 2>/dev/null; rm -rf "$T"' EXIT
mkdir -p "$T/bin" "$T/home"
cp target/release/kubectl-dedicated_registry "$T/bin/"
ln -s "${KUBECTL:-${KUBECTL_DIR:-/opt/kubectl-1.36}/kubectl}" "$T/bin/kubectl"
export PATH="$T/bin:$PATH" HOME="$T/home" XDG_CONFIG_HOME="$T/home/.config"
target/release/dedicated-sandbox up --json --dir "$T/sandbox" >"$T/sandbox.json" 2>/dev/null &
SANDBOX_PID=$!
for _ in $(seq 1 100); do [ -s "$T/sandbox.json" ] && break; sleep 0.05; done
field() { python3 -c "import json; print(json.load(open('$T/sandbox.json'))['$1'])"; }
export KUBECONFIG=$(field kubeconfig)
printf 'alice-password' | kubectl-dedicated_registry login --api "$(field api)" --registry "$(field registry_host)" \
    --ca-file "$(field ca_file)" --username alice@example.com --password-stdin --org dev-org 2>/dev/null
kubectl-dedicated_registry -n team-a secret create regcred >/dev/null 2>&1

hyperfine -N --warmup 3 --runs 30 --style basic \
    -n 'kubectl-dedicated_registry --help' 'kubectl-dedicated_registry --help' \
    -n 'kubectl dedicated-registry --help' 'kubectl dedicated-registry --help' \
    -n 'secret create (unchanged)' 'kubectl-dedicated_registry -n team-a secret create regcred'
hyperfine -N --runs 20 --style basic \
    -n 'secret create (new: mint, verify, write)' \
    'kubectl-dedicated_registry -n team-b secret create regcred --rotate'
/usr/bin/time -f 'peak RSS of a full secret create: %M KiB' \
    kubectl-dedicated_registry -n team-b secret create regcred --rotate >/dev/null
