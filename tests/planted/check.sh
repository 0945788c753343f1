#!/usr/bin/env bash
# Applies each planted-bug patch of this folder to a scratch worktree of HEAD and checks that
# the suite (or the filter given as $1, a nextest expression) FAILS with it. Exit 1 if a
# planted bug passes. Usage: bash tests/planted/check.sh ['test(secret_fleet) | test(secret_rotate)']
set -euo pipefail
root=$(git rev-parse --show-toplevel)
filter=${1:-all()}
scratch=$(mktemp -d)
trap 'git -C "$root" worktree remove --force "$scratch" >/dev/null 2>&1 || true' EXIT
git -C "$root" worktree add --detach "$scratch" HEAD >/dev/null
# Reuse the main checkout's build cache (dependencies are shared; the crate is rebuilt).
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
missed=0
for patch in "$root"/tests/planted/*.patch; do
  git -C "$scratch" checkout -q -- .
  git -C "$scratch" apply "$patch"
  if (cd "$scratch" && bash .ci/test -E "$filter" >"$scratch/.planted.log" 2>&1); then
    echo "MISSED: $(basename "$patch") passes the suite"
    missed=1
  else
    echo "caught: $(basename "$patch"): $(grep -E '^\s+FAIL ' "$scratch/.planted.log" | sort -u | sed 's/.*\] //' | head -3 | tr '\n' ' ')"
  fi
done
exit $missed
