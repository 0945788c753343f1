#!/usr/bin/env bash
# usage: bash deploy/image/build.sh [--binary PATH]... [--out DIR] [--tag TAG] [--fast]
#                                   [--push docker://HOST/REPO:TAG [-- SKOPEO_COPY_ARGS...]]
#
# Builds the controller's container image as an OCI image layout in DIR (default
# target/image/oci), with no container daemon: deploy/image/oci.py writes the layer, config,
# manifest and index (scratch base, static binary, user 65532:65532, entrypoint
# `kubectl-dedicated_registry controller`; see its header). TAG defaults to v<Cargo.toml version>.
#
# Without --binary it builds the static binary first:
#   cargo build --release --locked --target x86_64-unknown-linux-musl
# (the musl target is added with rustup when missing; ring's C code needs musl-gcc, Debian's
# musl-tools). --binary takes already built Linux binaries instead (one per architecture, e.g. the
# krew release's musl builds); a dynamically linked one is refused. --fast compresses with gzip -1
# (tests). --push copies the image (every platform) to a registry with skopeo (Debian's skopeo
# package); arguments after `--` go to `skopeo copy` (e.g. --dest-authfile FILE, --dest-cert-dir DIR).
# Prints the JSON summary of oci.py on stdout.
set -euo pipefail
shopt -s inherit_errexit

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
die() { printf 'deploy/image/build.sh: %s\n' "$*" >&2; exit 1; }

binaries=() out="$root/target/image/oci" tag="" level=9 push="" allow_dynamic=() skopeo_args=()
while [ $# -gt 0 ]; do
    case $1 in
    --binary) binaries+=("${2:?--binary needs a path}"); shift 2 ;;
    --out) out=${2:?--out needs a directory}; shift 2 ;;
    --tag) tag=${2:?--tag needs a tag}; shift 2 ;;
    --fast) level=1; shift ;;
    --push) push=${2:?--push needs docker://HOST/REPO:TAG}; shift 2 ;;
    # Only for the tests of this script, which pack the debug build: such an image cannot run.
    --allow-dynamic-for-tests) allow_dynamic=(--allow-dynamic); shift ;;
    --) shift; skopeo_args=("$@"); break ;;
    -h | --help) sed -n '2,18p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
    esac
done

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$root/Cargo.toml" | head -n 1)
[ -n "$version" ] || die "no version in Cargo.toml"
tag=${tag:-v$version}

if [ ${#binaries[@]} -eq 0 ]; then
    target=x86_64-unknown-linux-musl
    if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
        rustup target add "$target" >&2 || die "cannot add the Rust target $target (rustup target add $target)"
    fi
    command -v musl-gcc >/dev/null || die "musl-gcc not found: apt-get install musl-tools"
    start=$(date +%s)
    (cd "$root" && cargo build --release --locked --target "$target" >&2)
    printf 'deploy/image/build.sh: built %s in %s s\n' "$target" "$(($(date +%s) - start))" >&2
    binaries=("$root/target/$target/release/kubectl-dedicated_registry")
fi

# Reproducible: the files' mtime and the image's created time are the commit's time.
created=1970-01-01T00:00:00Z revision=""
if git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then
    revision=$(git -C "$root" rev-parse HEAD)
    created=$(TZ=UTC git -C "$root" log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ)
fi

rm -rf "$out"
mkdir -p "$out"
args=(--out "$out" --tag "$tag" --created "$created" --gzip-level "$level" --version "$version"
    --source https://github.com/kubectl-dedicated-registry/kubectl-dedicated-registry)
[ -z "$revision" ] || args+=(--revision "$revision")
for b in "${binaries[@]}"; do
    [ -f "$b" ] || die "binary $b not found"
    args+=(--binary "$b")
done
summary=$(python3 "$here/oci.py" "${args[@]}" "${allow_dynamic[@]}")
printf '%s\n' "$summary"
printf 'deploy/image/build.sh: wrote %s (tag %s), %s bytes of blobs\n' "$out" "$tag" \
    "$(du -sb "$out/blobs" | cut -f1)" >&2

if [ -n "$push" ]; then
    command -v skopeo >/dev/null || die "skopeo not found: apt-get install skopeo"
    skopeo copy --all --quiet "${skopeo_args[@]}" "oci:$out:$tag" "$push" >&2
    printf 'deploy/image/build.sh: pushed %s\n' "$push" >&2
fi
