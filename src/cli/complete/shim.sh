#!/bin/sh
# kubectl's plugin completion runs this for `kubectl dedicated-registry <TAB>`.
# Written by `kubectl dedicated-registry completion kubectl-shim`.
plugin="${0%/*}/kubectl-dedicated_registry"
[ -x "$plugin" ] || plugin=kubectl-dedicated_registry
exec "$plugin" __complete "$@"
