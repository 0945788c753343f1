# Shared by krew/release.sh and krew/render-manifest.sh (sourced, not run).
# The version comes from Cargo.toml only, so the archives, the manifest and `--version` agree.

KREW_REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN_NAME=kubectl-dedicated_registry
ASSET_PREFIX=kubectl-dedicated-registry

# The [package] version in Cargo.toml.
cargo_version() {
    awk '/^\[package\]/ { p = 1; next } /^\[/ { p = 0 }
         p && /^version[[:space:]]*=/ { sub(/^[^"]*"/, ""); sub(/".*$/, ""); print; exit }' \
        "$KREW_REPO_ROOT/Cargo.toml"
}

# Release archive name for a Rust target triple and tag: tar.gz, or zip for Windows.
asset_name() { # target tag
    case $1 in
    *windows*) printf '%s_%s_%s.zip\n' "$ASSET_PREFIX" "$2" "$1" ;;
    *) printf '%s_%s_%s.tar.gz\n' "$ASSET_PREFIX" "$2" "$1" ;;
    esac
}

# Lowercase hex sha256 of a file (sha256sum on Linux, shasum on macOS).
sha256_hex() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | cut -d' ' -f1
    else
        shasum -a 256 "$1" | cut -d' ' -f1
    fi
}

die() {
    printf '%s: %s\n' "$(basename "$0")" "$*" >&2
    exit 1
}
