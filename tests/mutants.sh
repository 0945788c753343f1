#!/usr/bin/env bash
# Mutation testing with cargo-mutants (from crates.io): mutates the given source files one change
# at a time and runs the tests that cover them; a mutant no test notices ("missed") is a silent
# bug the suite would let through. Not run in CI: it takes tens of minutes on 2 cores.
#
#   bash tests/mutants.sh FILE... -- NEXTEST_FILTER [CARGO_MUTANTS_ARG...]
#
#   bash tests/mutants.sh src/redact.rs -- 'test(verbose) | test(redact) | test(scrub)'
#   bash tests/mutants.sh src/verify.rs -- 'test(verif)' --timeout 120
#
# Results go to target/mutants/mutants.out/ (caught.txt, missed.txt, unviable.txt, timeout.txt);
# record the counts and a reason for every remaining missed mutant in tests/mutants-missed.md.
# Runs under the same keyring session and components as .ci/test.
set -euo pipefail
cd "$(dirname "$0")/.."

files=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    files+=("$1")
    shift
done
if [ "${#files[@]}" = 0 ] || [ $# -lt 2 ]; then
    sed -n '2,12p' "$0" >&2
    exit 2
fi
shift # --
filter=$1
shift

if [ -z "${MUTANTS_INSIDE_KEYRING:-}" ]; then
    command -v cargo-mutants >/dev/null || cargo install --locked cargo-mutants
    .ci/install-deps
    export MUTANTS_INSIDE_KEYRING=1
    export KUBECTL=${KUBECTL_DIR:-/opt/kubectl-1.36}/kubectl
    unset HTTP_PROXY HTTPS_PROXY ALL_PROXY http_proxy https_proxy all_proxy
    exec dbus-run-session -- .ci/with-keyring bash "$0" "${files[@]}" -- "$filter" "$@" </dev/null
fi

file_args=()
for f in "${files[@]}"; do
    [ -f "$f" ] || { echo "mutants: no such file: $f" >&2; exit 2; }
    file_args+=(--file "$f")
done

# --copy-target copies target/ into a scratch tree (the first mutant still rebuilds most of it
# there: ~9 min on the 2-core machine); MUTANTS_IN_PLACE=1 mutates this tree and reuses its
# target/ directly (much faster; do not edit the tree meanwhile; files are restored at the end).
# Only the mutated package's tests run (the plugin's unit tests and tests/it), filtered.
if [ -n "${MUTANTS_IN_PLACE:-}" ]; then
    where=(--in-place)
else
    where=(--copy-target true)
fi
exec cargo mutants \
    --test-tool nextest \
    "${where[@]}" \
    --output target/mutants \
    --timeout "${MUTANTS_TIMEOUT:-180}" \
    "${file_args[@]}" \
    "$@" \
    -- -E "$filter"
