#!/bin/sh
# Leaves only linux-x64 native binaries in a production node_modules (the images are linux/amd64). onnxruntime-node
# ships every platform's build in its tarball (≈ 245 MB of darwin, win32 and linux-arm64); sharp's per-platform
# packages are optional dependencies, so pnpm already installs only the host's. Used by both Dockerfiles and by
# test/image-layout.test.ts.    usage: prune-platforms.sh <node_modules>
set -eu
modules="$1"
found=0
for napi in "$modules"/.pnpm/onnxruntime-node@*/node_modules/onnxruntime-node/bin/napi-v6; do
  [ -d "$napi" ] || continue
  found=1
  rm -rf "$napi/darwin" "$napi/win32" "$napi/linux/arm64"
  [ -f "$napi/linux/x64/onnxruntime_binding.node" ] || { echo "prune-platforms: no linux-x64 binding in $napi" >&2; exit 1; }
done
[ "$found" = 1 ] || { echo "prune-platforms: onnxruntime-node not found under $modules/.pnpm" >&2; exit 1; }
