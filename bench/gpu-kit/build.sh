#!/usr/bin/env bash
# Build a self-contained kit that runs `npm run bench:gpu` (and the webgpu tests) on a Linux
# x86-64 GPU machine that has no npm access: a cluster node, a locked-down container, a lent
# accelerator. Output: .gpu-kit/ (git-ignored), about 38 MB:
#   node.xz                      this machine's Node binary, compressed
#   gpu-bench.js, webgpu-test.js bench/gpu.bench.ts and test/backend/webgpu.test.ts bundled with
#                                every JS dependency (esbuild; sharp, unused by both, stubbed)
#   node_modules/webgpu/         Dawn's Node bindings, linux-x64 dawn.node only (compressed)
#   debs/                        Debian's libvulkan1 (the Vulkan loader), for machines without one
#   run.sh                       unpacks all that and runs the benchmark, then the tests
# Copy .gpu-kit/ and bench/reference/ (the PyTorch anchor) to the GPU machine, keeping the
# repository layout, and run `bash .gpu-kit/run.sh OUT_DIR` from the repository root there.
set -euo pipefail
cd "$(dirname "$0")/../.."
KIT=.gpu-kit
rm -rf "$KIT"; mkdir -p "$KIT/node_modules/webgpu/dist/linux-x64" "$KIT/debs"
common=(--bundle --platform=node --format=cjs --target=node20 --ignore-annotations --log-level=warning
  --external:webgpu --alias:sharp=./bench/gpu-kit/sharp-stub.js --external:tsx
  --external:@tensorflow/tfjs-node --external:@tensorflow/tfjs-node-gpu --external:@tensorflow/tfjs-backend-wasm)
npx esbuild bench/gpu.bench.ts "${common[@]}" --outfile="$KIT/gpu-bench.js"
npx esbuild test/backend/webgpu.test.ts "${common[@]}" --outfile="$KIT/webgpu-test.js"
cp node_modules/webgpu/index.js node_modules/webgpu/package.json "$KIT/node_modules/webgpu/"
xz -T0 -6 -c node_modules/webgpu/dist/linux-x64/dawn.node > "$KIT/node_modules/webgpu/dist/linux-x64/dawn.node.xz"
xz -T0 -6 -c "$(command -v node)" > "$KIT/node.xz"
if command -v apt-get >/dev/null; then
  (cd "$KIT/debs" && apt-get download libvulkan1 >/dev/null 2>&1) || echo "note: apt-get download libvulkan1 failed; the kit relies on the target's Vulkan loader"
fi
cp bench/gpu-kit/run.sh "$KIT/run.sh"
du -sh "$KIT"
