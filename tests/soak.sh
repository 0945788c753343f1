#!/usr/bin/env bash
# The long soak (issues 9, 26): 200 rounds of a random mix of `secret create regcred -A`,
# `secret rotate regcred -A`, `secret create regcred -A --rotate`, `-n NS secret create regcred
# --rotate`, `-n NS secret delete regcred` and `token prune --yes` over seven namespaces, with
# random faults on every service (including writes that land but lose their reply inside a
# `rotate -A` group). After every run: every managed secret holds a live credential and every live
# credential the plugin minted is held or was reported as left behind.
# CI runs the same test with 24 rounds (33 s). Replay a failure with SOAK_SEED=<seed printed>.
# On 2026-12-08 (seed 1796692128621727821, busy 2-core machine): 396 runs, 655 faults (109 503,
# 100 delays, 90 500, 82 dropped, 78 429, 68 unknown-outcome writes, 52 409, 51 lost replies,
# 25 500s after a landed write), 104 runs failed, 374 tokens minted, at the end 4 live tokens
# held by 7 secrets; 279 s. The planted group-undo bug fails it at SOAK_SEED=1, round 7.
#
#   bash tests/soak.sh              # 200 rounds
#   SOAK_RUNS=500 bash tests/soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export SOAK_RUNS=${SOAK_RUNS:-200}
exec bash .ci/test -E 'test(soak::)' --no-capture
