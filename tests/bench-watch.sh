#!/usr/bin/env bash
# Memory of `secret create -A --watch` (issue 24, N6): the watch over many namespaces, from its
# first pass until it is idle (every namespace holds the secret), then SIGTERM; GNU time reports
# the peak RSS. This is what the in-cluster Deployment's memory limit must cover.
# Release build. Not part of CI as such (the suite runs a short version on the debug build); by hand:
#   bash tests/bench-watch.sh                    # 5,000 extra namespaces
#   NAMESPACES=200 bash tests/bench-watch.sh     # a short run
# BENCH_BIN_DIR names a directory holding already built binaries (kubectl-dedicated_registry and
# dedicated-sandbox) to use instead of building the release ones.
set -euo pipefail
cd "$(dirname "$0")/.."
NAMESPACES=${NAMESPACES:-5000}
IDLE=${IDLE:-3}

. tests/bench-enter.sh

T=$(mktemp -d)
SANDBOX_PID=
WATCH_PID=
trap '[ -n "$WATCH_PID" ] && kill "$WATCH_PID" 2>/dev/null; [ -n "$SANDBOX_PID" ] && kill "$SANDBOX_PID" 2>/dev/null; rm -rf "$T"' EXIT
mkdir -p "$T/bin" "$T/home"
BIN=${BENCH_BIN_DIR:-target/release}
cp "$BIN/kubectl-dedicated_registry" "$BIN/dedicated-sandbox" "$T/bin/"
ln -s "${KUBECTL:-${KUBECTL_DIR:-/opt/kubectl-1.36}/kubectl}" "$T/bin/kubectl"
export PATH="$T/bin:$PATH" HOME="$T/home" XDG_CONFIG_HOME="$T/home/.config"
unset KUBECTL_DEDICATED_REGISTRY_PROFILE KUBECTL_DEDICATED_REGISTRY_CONFIG
plugin=kubectl-dedicated_registry

dedicated-sandbox up --json --dir "$T/sandbox" --extra-namespaces "$NAMESPACES" >"$T/sandbox.json" 2>/dev/null &
SANDBOX_PID=$!
for _ in $(seq 1 400); do [ -s "$T/sandbox.json" ] && break; sleep 0.05; done
field() { python3 -c "import json; print(json.load(open('$T/sandbox.json'))['$1'])"; }
export KUBECONFIG=$(field kubeconfig)
printf 'alice-password' | "$plugin" login --api "$(field api)" --registry "$(field registry_host)" \
    --ca-file "$(field ca_file)" --username alice@example.com --password-stdin --org dev-org >/dev/null 2>&1
expected=$(kubectl get namespaces -o name | grep -vc '^namespace/kube-')

start=$(date +%s.%N)
/usr/bin/time -f '%M' -o "$T/rss" "$plugin" secret create regcred -A --watch >"$T/watch.out" 2>"$T/watch.err" &
WATCH_PID=$!
# Idle: every selected namespace holds the secret.
until [ "$(kubectl get secrets -A --field-selector metadata.name=regcred -o name 2>/dev/null | wc -l)" -ge "$expected" ]; do
    kill -0 "$WATCH_PID" 2>/dev/null || { cat "$T/watch.err" >&2; echo "bench-watch: the watch ended early" >&2; exit 1; }
    sleep 0.5
done
converged=$(python3 -c "print(f'{$(date +%s.%N) - $start:.1f}')")
sleep "$IDLE"
# SIGTERM to the plugin itself (GNU time would die of it and leave the plugin behind).
pkill -TERM -P "$WATCH_PID"
wait "$WATCH_PID" || { cat "$T/watch.err" >&2; echo "bench-watch: the watch failed" >&2; exit 1; }
WATCH_PID=
rss=$(tail -n 1 "$T/rss")
printf 'bench-watch: %s namespaces converged in %s s; peak RSS of --watch: %s MiB (%s KiB)\n' \
    "$expected" "$converged" "$(python3 -c "print(f'{$rss / 1024:.1f}')")" "$rss"
