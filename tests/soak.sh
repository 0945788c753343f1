#!/usr/bin/env bash
# The long soak (issue 9): 200 `secret create --rotate` runs against the sandbox with random
# faults on every service; at the end, live tokens == managed secrets and the login refreshes.
# CI runs the same test with 24 runs. Replay a failure with SOAK_SEED=<seed printed>.
#
#   bash tests/soak.sh              # 200 runs
#   SOAK_RUNS=500 bash tests/soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export SOAK_RUNS=${SOAK_RUNS:-200}
exec bash .ci/test -E 'test(soak::)' --no-capture
