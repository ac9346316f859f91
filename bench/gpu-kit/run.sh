#!/usr/bin/env bash
# Run on the GPU machine from the repository root: bash .gpu-kit/run.sh [OUT_DIR] [bench:gpu options…]
# Writes OUT_DIR/log.txt, OUT_DIR/gpu.json (bench results, saved after every measurement) and
# OUT_DIR/webgpu-test.txt (the webgpu-vs-cpu tests on this GPU). Stops itself within ~9.5 minutes.
set -u
OUT=${1:-gpu-kit-out}; shift || true
mkdir -p "$OUT"
exec > >(tee -a "$OUT/log.txt") 2>&1
T0=$(date +%s)
KIT=.gpu-kit
if ! ldconfig -p | grep -q libvulkan.so.1; then
  for f in "$KIT"/debs/*.deb; do [ -f "$f" ] && dpkg -x "$f" /; done; ldconfig
fi
echo "== nvidia-smi"; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
echo "== vulkan loader"; ldconfig -p | grep -i libvulkan || echo none
if [ -z "${VK_ICD_FILENAMES:-}" ]; then
  for d in /usr/local/nvidia/share/vulkan/icd.d /usr/share/vulkan/icd.d /etc/vulkan/icd.d; do
    [ -f "$d/nvidia_icd.json" ] && { export VK_ICD_FILENAMES="$d/nvidia_icd.json"; break; }
  done
fi
echo "VK_ICD_FILENAMES=${VK_ICD_FILENAMES:-unset}"
NODE=$(command -v node || true)
if [ -z "$NODE" ]; then xz -dc "$KIT/node.xz" > /tmp/smear-node && chmod +x /tmp/smear-node && NODE=/tmp/smear-node; fi
echo "== node $($NODE --version)"
D="$KIT/node_modules/webgpu/dist/linux-x64"; [ -f "$D/dawn.node" ] || xz -dc "$D/dawn.node.xz" > "$D/dawn.node"
echo "== torch"; python3 -c "import torch; print(torch.__version__, torch.cuda.is_available())" 2>&1 | tail -1
echo "== bench:gpu ($(( $(date +%s) - T0 )) s)"
timeout 430 "$NODE" "$KIT/gpu-bench.js" --no-write --out "$OUT/gpu.json" "$@"
echo "== bench exit $? ($(( $(date +%s) - T0 )) s)"
LEFT=$(( 560 - ($(date +%s) - T0) ))
if [ $LEFT -gt 40 ]; then
  echo "== webgpu tests on this GPU (at most ${LEFT} s)"
  CI=true timeout $LEFT "$NODE" --test --test-reporter=spec "$KIT/webgpu-test.js" > "$OUT/webgpu-test.txt" 2>&1
  echo "== tests exit $?"; tail -12 "$OUT/webgpu-test.txt"
fi
echo "== done ($(( $(date +%s) - T0 )) s)"
