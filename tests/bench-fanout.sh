#!/usr/bin/env bash
# Fan-out benchmark (issue 10): `secret create -A` over many namespaces against the sandbox with a
# fixed delay on every request to every service (a network round trip), against a
# `kubectl create secret docker-registry` loop over the same namespaces with the same delay.
# Release build. Not part of CI (timings on a shared 2-core machine are noisy); by hand:
#   bash tests/bench-fanout.sh                 # 1,000 namespaces, 40 ms, then 0 ms
#   NAMESPACES=100 LATENCIES="40" bash tests/bench-fanout.sh   # a short run
# GRANTS=namespace runs the plugin as `sandbox-ns-writer`, whose rights on secrets come from one
# RoleBinding per namespace (the cluster-wide access review says no, and it cannot list secrets
# across namespaces); the default GRANTS=cluster runs it as the cluster admin.
# CONCURRENCY sets the plugin's --concurrency (default: its own default); KUBECTL_LOOP=0 skips the
# kubectl loop (for comparing concurrency settings). BENCH_BIN_DIR names a
# directory holding already built release binaries (kubectl-dedicated_registry and
# dedicated-sandbox) to use instead of building them.
set -euo pipefail
cd "$(dirname "$0")/.."
NAMESPACES=${NAMESPACES:-1000}
LATENCIES=${LATENCIES:-"40 0"}
ADDED=${ADDED:-50}

. tests/bench-enter.sh

T=$(mktemp -d)
SANDBOX_PID=
trap '[ -n "$SANDBOX_PID" ] && kill "$SANDBOX_PID" 2>/dev/null; rm -rf "$T"' EXIT
mkdir -p "$T/bin"
BIN=${BENCH_BIN_DIR:-target/release}
cp "$BIN/kubectl-dedicated_registry" "$BIN/dedicated-sandbox" "$T/bin/"
ln -s "${KUBECTL:-${KUBECTL_DIR:-/opt/kubectl-1.36}/kubectl}" "$T/bin/kubectl"
export PATH="$T/bin:$PATH"
plugin=kubectl-dedicated_registry
extra=()
[ -n "${CONCURRENCY:-}" ] && extra=(--concurrency "$CONCURRENCY")
[ "${GRANTS:-cluster}" = namespace ] && extra+=(--context sandbox-ns-writer)

now() { date +%s.%N; }
secs() { python3 -c "print(f'{$2 - $1:.2f}')"; }
live_tokens() { "$plugin" token list -o json 2>/dev/null | python3 -c 'import json,sys; print(sum(1 for t in json.load(sys.stdin) if not t.get("revoked")))'; }

run_one() { # latency_ms
    local latency=$1 dir="$T/l$1"
    mkdir -p "$dir/home"
    export HOME="$dir/home" XDG_CONFIG_HOME="$dir/home/.config"
    "$T/bin/dedicated-sandbox" up --json --dir "$dir/sandbox" --latency "$latency" \
        --extra-namespaces "$NAMESPACES" >"$dir/sandbox.json" 2>/dev/null &
    SANDBOX_PID=$!
    for _ in $(seq 1 200); do [ -s "$dir/sandbox.json" ] && break; sleep 0.05; done
    field() { python3 -c "import json; print(json.load(open('$dir/sandbox.json'))['$1'])"; }
    export KUBECONFIG=$(field kubeconfig)
    local registry; registry=$(field registry_host)
    printf 'alice-password' | "$plugin" login --api "$(field api)" --registry "$registry" \
        --ca-file "$(field ca_file)" --username alice@example.com --password-stdin --org dev-org >/dev/null 2>&1
    # The seeded ns-* namespaces (and, later, the new-* ones).
    local selected=(-A --exclude default --exclude 'team-*')

    local before t0 t1 fresh rerun added mints_fresh mints_rerun mints_added rss loop
    before=$(live_tokens)
    t0=$(now)
    /usr/bin/time -f '%M' -o "$dir/rss" "$plugin" secret create regcred "${selected[@]}" "${extra[@]}" >/dev/null 2>"$dir/fresh.err"
    t1=$(now); fresh=$(secs "$t0" "$t1"); rss=$(cat "$dir/rss")
    mints_fresh=$(( $(live_tokens) - before )); before=$(live_tokens)
    t0=$(now)
    "$plugin" secret create regcred "${selected[@]}" "${extra[@]}" >/dev/null 2>"$dir/rerun.err"
    t1=$(now); rerun=$(secs "$t0" "$t1")
    mints_rerun=$(( $(live_tokens) - before ))
    seq -f 'new-%04g' 1 "$ADDED" | xargs -P 8 -I{} kubectl create namespace {} >/dev/null
    before=$(live_tokens)
    t0=$(now)
    # (With GRANTS=namespace the new namespaces have no RoleBinding: they fail, by design.)
    "$plugin" secret create regcred "${selected[@]}" "${extra[@]}" >/dev/null 2>"$dir/added.err" || true
    t1=$(now); added=$(secs "$t0" "$t1")
    mints_added=$(( $(live_tokens) - before ))
    # The manual way: one kubectl per namespace (no mint at all: the token is given).
    t0=$(now)
    if [ "${KUBECTL_LOOP:-1}" != 0 ]; then
        for i in $(seq -f '%04g' 1 "$NAMESPACES"); do
            kubectl -n "ns-$i" create secret docker-registry manual --docker-server="$registry" \
                --docker-username=token --docker-password=not-a-real-token >/dev/null
        done
    fi
    t1=$(now); loop=$(secs "$t0" "$t1")
    printf '| %s ms | %s | %s s | %s s (%sx) | %s s | %s s | %s / %s / %s | %s MiB |\n' \
        "$latency" "$NAMESPACES" "$loop" "$fresh" "$(python3 -c "print(f'{$loop / $fresh:.1f}')")" \
        "$rerun" "$added" "$mints_fresh" "$mints_rerun" "$mints_added" \
        "$(python3 -c "print(f'{$rss / 1024:.1f}')")" | tee -a "$T/results"
    tail -n 1 "$dir/fresh.err" >&2
    kill "$SANDBOX_PID"; wait "$SANDBOX_PID" 2>/dev/null || true; SANDBOX_PID=
}

echo "concurrency: ${CONCURRENCY:-default}; grants: ${GRANTS:-cluster}"
echo "| delay per request | namespaces | kubectl loop | plugin -A, fresh | re-run (unchanged) | +$ADDED namespaces | mints fresh / re-run / added | peak RSS |"
echo "|---|---|---|---|---|---|---|---|"
for latency in $LATENCIES; do
    run_one "$latency"
done
