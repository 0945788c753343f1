# Sourced by the benchmark scripts (tests/bench-*.sh), first thing after `cd` to the root: outside
# the keyring session it installs the real components, builds the release binaries unless
# BENCH_BIN_DIR names built ones, and runs the calling script again inside a throw-away Secret
# Service session with stdin closed and no proxy; inside it returns at once.
if [ -z "${BENCH_INSIDE_KEYRING:-}" ]; then
    .ci/install-deps
    [ -n "${BENCH_BIN_DIR:-}" ] || cargo build --quiet --locked --release --bins --workspace
    export BENCH_INSIDE_KEYRING=1
    unset HTTP_PROXY HTTPS_PROXY ALL_PROXY http_proxy https_proxy all_proxy
    exec dbus-run-session -- .ci/with-keyring bash "$0" "$@" </dev/null
fi
