#!/usr/bin/env bash
# usage: krew/render-manifest.sh [--sums FILE] [--output FILE] [--check] [--expect-tag TAG]
#        krew/render-manifest.sh --placeholder
#
# Renders the krew manifest plugin-manifest/dedicated-registry.yaml from the krew-release-bot
# template krew/.krew.yaml, the way the bot does: `{{ .TagName }}` becomes `v` + the version in
# Cargo.toml, and each `{{addURIAndSha "URL" .TagName }}` line becomes `uri: URL` and
# `sha256: "<hex>"` at that line's indentation. The checksums come from FILE (default
# plugin-manifest/SHA256SUMS, `sha256sum` format, `#` comments allowed) keyed by the archive name;
# the bot downloads and hashes the same archives, so both renderings agree.
#
#   --sums FILE        checksums to use (e.g. `cat dist/*.sha256` from krew/release.sh)
#   --output FILE      where to write (default plugin-manifest/dedicated-registry.yaml; - = stdout)
#   --check            do not write; exit 1 if the output file differs from a fresh rendering
#   --expect-tag TAG   fail unless TAG is `v` + the Cargo.toml version (the release workflow)
#   --placeholder      after a version bump, before the release exists: write SHA256SUMS with
#                      all-zero checksums for the new archive names, then render
set -euo pipefail
shopt -s inherit_errexit
source "$(dirname "$0")/common.sh"

template="$KREW_REPO_ROOT/krew/.krew.yaml"
sums="$KREW_REPO_ROOT/plugin-manifest/SHA256SUMS"
output="$KREW_REPO_ROOT/plugin-manifest/dedicated-registry.yaml"
check=0 expect_tag="" placeholder=0
while [ $# -gt 0 ]; do
    case $1 in
    --sums) sums=${2:?--sums needs a file}; shift 2 ;;
    --output) output=${2:?--output needs a file}; shift 2 ;;
    --check) check=1; shift ;;
    --expect-tag) expect_tag=${2:?--expect-tag needs a tag}; shift 2 ;;
    --placeholder) placeholder=1; shift ;;
    -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
    *) die "unknown argument $1" ;;
    esac
done

version=$(cargo_version)
[ -n "$version" ] || die "no [package] version in Cargo.toml"
tag=v$version
if [ -n "$expect_tag" ] && [ "$expect_tag" != "$tag" ]; then
    die "tag $expect_tag does not match Cargo.toml version $version (expected $tag)"
fi

addurisha='^([[:space:]]*)\{\{[[:space:]]*addURIAndSha[[:space:]]+"([^"]+)"[[:space:]]+\.TagName[[:space:]]*\}\}[[:space:]]*$'
tagname='{{ .TagName }}'

if [ "$placeholder" = 1 ]; then
    {
        echo "# sha256 of the release archives of $tag (sha256sum format)."
        echo "# All zeros: placeholders until the release workflow publishes the archives; replace"
        echo "# this file with the release's SHA256SUMS asset, then run krew/render-manifest.sh."
        while IFS= read -r line || [ -n "$line" ]; do
            line=${line//"$tagname"/$tag}
            if [[ $line =~ $addurisha ]]; then
                printf '%064d  %s\n' 0 "${BASH_REMATCH[2]##*/}"
            fi
        done <"$template"
    } >"$KREW_REPO_ROOT/plugin-manifest/SHA256SUMS"
    sums="$KREW_REPO_ROOT/plugin-manifest/SHA256SUMS"
fi

[ -f "$sums" ] || die "checksum file $sums not found"

lookup_sha() { # asset
    local hex name found=""
    while read -r hex name; do
        case $hex in '' | '#'*) continue ;; esac
        name=${name#\*}
        if [ "$name" = "$1" ]; then
            [[ $hex =~ ^[a-f0-9]{64}$ ]] || die "checksum of $1 in $sums is not 64 lowercase hex digits"
            found=$hex
        fi
    done <"$sums"
    [ -n "$found" ] || die "no checksum for $1 in $sums"
    printf '%s\n' "$found"
}

render() {
    local line indent uri sha
    while IFS= read -r line || [ -n "$line" ]; do
        line=${line//"$tagname"/$tag}
        if [[ $line =~ $addurisha ]]; then
            indent=${BASH_REMATCH[1]}
            uri=${BASH_REMATCH[2]}
            sha=$(lookup_sha "${uri##*/}")
            # Quoted: an unquoted hex digest made only of digits (or digits and one `e`) is a YAML
            # number, which krew's decoder refuses for the string field.
            printf '%suri: %s\n%ssha256: "%s"\n' "$indent" "$uri" "$indent" "$sha"
        elif [[ $line == *'{{'* ]]; then
            die "unsupported template expression in $template: $line"
        else
            printf '%s\n' "$line"
        fi
    done <"$template"
}

rendered=$(render)
if [ "$check" = 1 ]; then
    if ! diff -u "$output" - <<<"$rendered"; then
        die "$output is out of date; run krew/render-manifest.sh"
    fi
elif [ "$output" = - ]; then
    printf '%s\n' "$rendered"
else
    printf '%s\n' "$rendered" >"$output"
fi
