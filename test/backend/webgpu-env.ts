/**
 * Where the webgpu tests get an adapter: on a machine without a GPU, Dawn's
 * Vulkan backend on SwiftShader (the CPU Vulkan driver Debian's `chromium`
 * ships) with the Vulkan loader (`libvulkan1`); `.ci/run` installs both. A
 * user's own VK_ICD_FILENAMES (a real GPU's ICD) is kept.
 *
 * In CI a missing adapter is a failure, never a skip; elsewhere the tests
 * are skipped with the reason and the command that installs what is missing.
 */
import * as fs from 'node:fs';

export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

function hasVulkanLoader(): boolean {
  return ['/usr/lib/x86_64-linux-gnu/libvulkan.so.1', '/usr/lib/aarch64-linux-gnu/libvulkan.so.1', '/usr/lib/libvulkan.so.1', '/usr/lib64/libvulkan.so.1'].some((f) =>
    fs.existsSync(f),
  );
}

/** Environment for a process that should get the software adapter, or why it cannot. */
export function webgpuTestEnv(): { env: Record<string, string>; missing?: string } {
  const icd = process.env.VK_ICD_FILENAMES ?? SWIFTSHADER_ICD;
  const missing: string[] = [];
  if (!fs.existsSync(icd)) missing.push(`the Vulkan ICD ${icd} (apt-get install chromium)`);
  if (process.platform === 'linux' && !hasVulkanLoader()) missing.push('the Vulkan loader libvulkan.so.1 (apt-get install libvulkan1)');
  return { env: { VK_ICD_FILENAMES: icd, SMEAR_BACKEND: 'webgpu' }, missing: missing.length ? missing.join(' and ') : undefined };
}

/**
 * `{ skip }` options for node:test: skip with the reason outside CI; in CI,
 * run (the test then fails on the missing adapter, with its message).
 */
export function webgpuSkip(): { skip: string | false } {
  const { missing } = webgpuTestEnv();
  if (!missing || process.env.CI) return { skip: false };
  return { skip: `no WebGPU adapter for tests: missing ${missing}` };
}
