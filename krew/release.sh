#!/usr/bin/env bash
# usage: krew/release.sh TARGET [--binary PATH] [--out-dir DIR] [--fast]
#
# Builds the release binary for the Rust target triple TARGET (`cargo build --release --locked
# --target TARGET`; set CARGO=cross to cross-compile), packs `kubectl-dedicated_registry[.exe]` and
# `LICENSE` at the archive root (tar.gz; zip for Windows targets) as
# DIR/kubectl-dedicated-registry_v<version>_<TARGET>.<ext>, and writes DIR/<archive>.sha256 in
# `sha256sum` format. DIR defaults to dist/. Prints the archive path on stdout.
#
# --binary packs an already built executable instead of building (the tests use this); --fast
# compresses with gzip -1 instead of -9 (tests pack a 240 MB debug binary).
# Archives are reproducible where GNU tar is available (sorted names, zero mtime and owners, gzip -n).
set -euo pipefail
shopt -s inherit_errexit
source "$(dirname "$0")/common.sh"

target="" binary="" out_dir="$KREW_REPO_ROOT/dist" level=-9
while [ $# -gt 0 ]; do
    case $1 in
    --binary) binary=${2:?--binary needs a path}; shift 2 ;;
    --out-dir) out_dir=${2:?--out-dir needs a directory}; shift 2 ;;
    --fast) level=-1; shift ;;
    -h | --help) sed -n '2,14p' "$0"; exit 0 ;;
    -*) die "unknown option $1" ;;
    *) [ -z "$target" ] || die "one target only"; target=$1; shift ;;
    esac
done
[ -n "$target" ] || die "usage: krew/release.sh TARGET [--binary PATH] [--out-dir DIR] [--fast]"

version=$(cargo_version)
[ -n "$version" ] || die "no [package] version in Cargo.toml"
tag=v$version
exe=""
case $target in *windows*) exe=.exe ;; esac

if [ -z "$binary" ]; then
    (cd "$KREW_REPO_ROOT" && "${CARGO:-cargo}" build --release --locked --target "$target")
    binary="$KREW_REPO_ROOT/target/$target/release/$BIN_NAME$exe"
fi
[ -f "$binary" ] || die "binary $binary not found"

mkdir -p "$out_dir"
out_dir=$(cd "$out_dir" && pwd)
asset=$(asset_name "$target" "$tag")
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp "$binary" "$stage/$BIN_NAME$exe"
cp "$KREW_REPO_ROOT/LICENSE" "$stage/LICENSE"
chmod 0755 "$stage/$BIN_NAME$exe"
chmod 0644 "$stage/LICENSE"
touch -t 198001010000 "$stage/$BIN_NAME$exe" "$stage/LICENSE"

rm -f "$out_dir/$asset" "$out_dir/$asset.sha256"
case $asset in
*.zip)
    if command -v zip >/dev/null 2>&1; then
        (cd "$stage" && zip -q -X "$level" "$out_dir/$asset" LICENSE "$BIN_NAME$exe")
    elif command -v 7z >/dev/null 2>&1; then
        (cd "$stage" && 7z a -tzip -bso0 "$out_dir/$asset" LICENSE "$BIN_NAME$exe")
    else
        die "need zip or 7z to build $asset"
    fi
    ;;
*)
    if [[ $(tar --version 2>/dev/null) == *'GNU tar'* ]]; then
        tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$stage" \
            -cf - LICENSE "$BIN_NAME" | gzip -n "$level" >"$out_dir/$asset"
    else
        # bsdtar (macOS): no --sort/--mtime, still a valid archive with both files at the root.
        tar -C "$stage" --uid 0 --gid 0 -czf "$out_dir/$asset" LICENSE "$BIN_NAME"
    fi
    ;;
esac
printf '%s  %s\n' "$(sha256_hex "$out_dir/$asset")" "$asset" >"$out_dir/$asset.sha256"
printf '%s\n' "$out_dir/$asset"
