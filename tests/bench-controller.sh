#!/usr/bin/env bash
# The controller at scale (issue 21): over N namespaces (default: 1,000 and 10,000), the time of
# its first pass (every namespace supplied, /readyz ready), then, ROUNDS times, the time from
# `kubectl create namespace` to the secret in it (as kubectl sees it, polled every 20 ms), and
# its memory: resident after the rounds and peak (GNU time). One mint per run.
# Release build. Not part of CI as such (the suite runs a short version on the debug build); by hand:
#   bash tests/bench-controller.sh                       # 1,000 and 10,000 namespaces
#   SIZES="200" ROUNDS=3 bash tests/bench-controller.sh  # a short run
# BENCH_BIN_DIR names a directory holding already built binaries (kubectl-dedicated_registry and
# dedicated-sandbox) to use instead of building the release ones. LATENCY_MS adds a delay to
# every request of every service (default 0).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${SIZES:-1000 10000}
ROUNDS=${ROUNDS:-5}
LATENCY_MS=${LATENCY_MS:-0}

. tests/bench-enter.sh

T=$(mktemp -d)
SANDBOX_PID=
CONTROLLER_PID=
stop_all() {
    [ -n "$CONTROLLER_PID" ] && { pkill -TERM -P "$CONTROLLER_PID" 2>/dev/null; wait "$CONTROLLER_PID" 2>/dev/null; }
    [ -n "$SANDBOX_PID" ] && { kill "$SANDBOX_PID" 2>/dev/null; wait "$SANDBOX_PID" 2>/dev/null; }
    CONTROLLER_PID=
    SANDBOX_PID=
}
trap 'stop_all; rm -rf "$T"' EXIT
mkdir -p "$T/bin"
BIN=${BENCH_BIN_DIR:-target/release}
cp "$BIN/kubectl-dedicated_registry" "$BIN/dedicated-sandbox" "$T/bin/"
ln -s "${KUBECTL:-${KUBECTL_DIR:-/opt/kubectl-1.36}/kubectl}" "$T/bin/kubectl"
export PATH="$T/bin:$PATH"
unset KUBECTL_DEDICATED_REGISTRY_PROFILE KUBECTL_DEDICATED_REGISTRY_CONFIG
plugin=kubectl-dedicated_registry
now() { date +%s.%N; }
live_tokens() { "$plugin" token list -o json 2>/dev/null | python3 -c 'import json,sys; print(sum(1 for t in json.load(sys.stdin) if not t.get("revoked")))'; }
since() { python3 -c "print(f'{$(now) - $1:.2f}')"; }

echo "| namespaces | first pass | new namespace supplied (median / max of $ROUNDS) | RSS after | peak RSS | mints |"
echo "|---|---|---|---|---|---|"
for size in $SIZES; do
    run="$T/run-$size"
    mkdir -p "$run/home"
    export HOME="$run/home" XDG_CONFIG_HOME="$run/home/.config"
    dedicated-sandbox up --json --dir "$run/sandbox" --extra-namespaces "$size" --latency "$LATENCY_MS" \
        >"$run/sandbox.json" 2>/dev/null &
    SANDBOX_PID=$!
    for _ in $(seq 1 600); do [ -s "$run/sandbox.json" ] && break; sleep 0.05; done
    field() { python3 -c "import json; print(json.load(open('$run/sandbox.json'))['$1'])"; }
    export KUBECONFIG=$(field kubeconfig)
    # A profile whose API key comes from a variable, as in a Pod (no keyring).
    export IBMCLOUD_API_KEY=$(python3 -c "import json; print([u['api_key'] for u in json.load(open('$run/sandbox.json'))['users'] if u.get('api_key')][0])")
    "$plugin" login --api "$(field api)" --registry "$(field registry_host)" --ca-file "$(field ca_file)" \
        --org dev-org --apikey-env >/dev/null 2>"$run/login.err" || { cat "$run/login.err" >&2; exit 1; }
    expected=$(kubectl get namespaces -o name | grep -vc '^namespace/kube-')
    before=$(live_tokens)
    start=$(now)
    /usr/bin/time -f '%M' -o "$run/rss" "$plugin" controller regcred -A --listen 127.0.0.1:0 \
        --lease-namespace default --identity bench --resync 1h >"$run/out" 2>"$run/err" &
    CONTROLLER_PID=$!
    until grep -q 'first pass done' "$run/err"; do
        kill -0 "$CONTROLLER_PID" 2>/dev/null || { cat "$run/err" >&2; echo "bench-controller: the controller ended early" >&2; exit 1; }
        sleep 0.05
    done
    first=$(since "$start")
    have=$(kubectl get secrets -A --field-selector metadata.name=regcred -o name | wc -l)
    [ "$have" -ge "$expected" ] || { echo "bench-controller: $have of $expected namespaces supplied" >&2; exit 1; }
    waits=()
    for round in $(seq 1 "$ROUNDS"); do
        ns="bench-new-$round"
        t0=$(now)
        kubectl create namespace "$ns" >/dev/null
        until kubectl -n "$ns" get secret regcred -o name >/dev/null 2>&1; do sleep 0.02; done
        waits+=("$(since "$t0")")
    done
    pid=$(pgrep -P "$CONTROLLER_PID" | head -n 1 || true)
    rss_after=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    mints=$(( $(live_tokens) - before ))
    stop_all
    peak=$(tail -n 1 "$run/rss")
    stats=$(python3 -c "import statistics,sys; w=[float(x) for x in sys.argv[1:]]; print(f'{statistics.median(w):.2f} s / {max(w):.2f} s')" "${waits[@]}")
    mib() { python3 -c "print(f'{$1 / 1024:.1f} MiB')"; }
    echo "| $expected | $first s | $stats | $(mib "$rss_after") | $(mib "$peak") | $mints |"
done
