/**
 * The WebGPU backend in Node: Dawn's Node bindings (npm `webgpu`, prebuilt
 * `dawn.node` for linux-x64, macOS and Windows) provide `navigator.gpu`, and
 * `@tensorflow/tfjs-backend-webgpu` runs on it. On Linux Dawn drives the GPU
 * through Vulkan (the Vulkan loader `libvulkan.so.1` plus the driver's ICD:
 * NVIDIA's driver ships one), on macOS through Metal, on Windows through D3D12;
 * no CUDA toolkit is involved.
 *
 * Adapters: the automatic backend choice takes a hardware adapter only. A
 * software adapter (SwiftShader, lavapipe, any `isFallbackAdapter`) is correct
 * but far too slow to train on, so it is used only when the backend is forced
 * (`SMEAR_BACKEND=webgpu`); the tests run on SwiftShader that way
 * (`VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json`, from Debian's
 * `chromium` package).
 *
 * Reads: tfjs-backend-webgpu implements synchronous reads (`dataSync`,
 * `arraySync`) through OffscreenCanvas, which Node lacks, so they throw here;
 * the library reads with `await t.data()` only (see ./host-read.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import { registerWebGpuFills } from './webgpu-fills';

/** What Dawn says about the adapter in use (GPUAdapterInfo plus the limits that bound tensor sizes). */
export interface WebGpuAdapterInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** True for a CPU implementation (SwiftShader, lavapipe, llvmpipe, or Dawn's own fallback flag). */
  software: boolean;
  limits: { maxBufferSize: number; maxStorageBufferBindingSize: number; maxComputeWorkgroupStorageSize: number };
  /** Vulkan ICD files named by the environment, if any (VK_ICD_FILENAMES / VK_DRIVER_FILES). */
  icd?: string;
}

/** Where Debian's chromium package puts SwiftShader's Vulkan ICD (a CPU Vulkan driver). */
export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

export const WEBGPU_HOW_TO_FIX =
  'install the optional dependencies `webgpu` and `@tensorflow/tfjs-backend-webgpu` (`npm install`), and a GPU driver ' +
  'Dawn can use: on Linux the Vulkan loader (Debian/Ubuntu: `apt-get install libvulkan1`) plus the driver\'s Vulkan ICD ' +
  '(NVIDIA\'s driver ships nvidia_icd.json; point VK_ICD_FILENAMES at it if the loader does not find it); for a software ' +
  `adapter (tests only) \`apt-get install chromium libvulkan1\` and VK_ICD_FILENAMES=${SWIFTSHADER_ICD}; macOS uses Metal, Windows D3D12`;

const SOFTWARE = /swiftshader|lavapipe|llvmpipe|softpipe|warp|basic render/i;

type GpuAdapter = {
  info?: Record<string, unknown>;
  isFallbackAdapter?: boolean;
  limits: Record<string, number>;
  requestAdapterInfo?: () => Promise<Record<string, unknown>>;
};
type Gpu = { requestAdapter(opts?: Record<string, unknown>): Promise<GpuAdapter | null> };

let adapterInfo: WebGpuAdapterInfo | undefined;

/** The adapter the webgpu backend runs on, once `loadWebGpu` succeeded. */
export function webGpuAdapter(): WebGpuAdapterInfo | undefined {
  return adapterInfo;
}

/** Provide `navigator.gpu` from Dawn's Node bindings (once per process). */
function installNavigatorGpu(): Gpu {
  const g = globalThis as unknown as { navigator?: { gpu?: Gpu } };
  if (g.navigator?.gpu) return g.navigator.gpu;
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const dawn = require('webgpu') as { create(flags: string[]): Gpu; globals: Record<string, unknown> };
  Object.assign(globalThis, dawn.globals);
  if (!g.navigator) Object.defineProperty(globalThis, 'navigator', { value: {}, configurable: true, writable: true });
  const gpu = dawn.create([]);
  Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
  return gpu;
}

/**
 * On Linux, the automatic choice does not load Dawn where no Vulkan driver
 * manifest (ICD) is installed, or only software ones (lavapipe, SwiftShader):
 * no adapter could be taken, and Dawn would print its Vulkan warnings at every
 * start. Null where a driver may be there (or on other platforms).
 */
function noHardwareVulkanDriver(): string | null {
  if (process.platform !== 'linux' || process.env.VK_ICD_FILENAMES || process.env.VK_DRIVER_FILES) return null;
  const fs = require('fs') as typeof import('fs');
  const dataDirs = (process.env.XDG_DATA_DIRS || '/usr/local/share:/usr/share').split(':');
  const dirs = [...new Set(['/etc/vulkan/icd.d', ...dataDirs.map((d) => `${d}/vulkan/icd.d`), '/usr/share/vulkan/icd.d'])];
  const files = dirs.flatMap((d) => {
    try {
      return fs.readdirSync(d).filter((f) => f.endsWith('.json'));
    } catch {
      return [];
    }
  });
  if (files.length === 0) return `no Vulkan driver (ICD) is installed (none in ${dirs.join(', ')}; VK_ICD_FILENAMES unset)`;
  if (files.every((f) => /lvp|lavapipe|swiftshader/i.test(f))) {
    return `only software Vulkan drivers are installed (${files.join(', ')}): too slow to train on; force it with SMEAR_BACKEND=webgpu (tests)`;
  }
  return null;
}

function describeAdapter(a: GpuAdapter, info: Record<string, unknown>): WebGpuAdapterInfo {
  const str = (k: string) => (typeof info[k] === 'string' ? (info[k] as string) : '');
  const out: WebGpuAdapterInfo = {
    vendor: str('vendor'),
    architecture: str('architecture'),
    device: str('device'),
    description: str('description'),
    software: false,
    limits: {
      maxBufferSize: a.limits.maxBufferSize,
      maxStorageBufferBindingSize: a.limits.maxStorageBufferBindingSize,
      maxComputeWorkgroupStorageSize: a.limits.maxComputeWorkgroupStorageSize,
    },
  };
  out.software =
    a.isFallbackAdapter === true || info.isFallbackAdapter === true || SOFTWARE.test(`${out.architecture} ${out.device} ${out.description}`);
  const icd = process.env.VK_ICD_FILENAMES ?? process.env.VK_DRIVER_FILES;
  if (icd) out.icd = icd;
  return out;
}

/** One line naming the adapter, for the backend log. */
export function adapterLine(a: WebGpuAdapterInfo): string {
  const name = [a.vendor, a.architecture, a.description || a.device].filter((s) => s).join(' / ');
  return `${name || 'unnamed adapter'}${a.software ? ', software' : ''}`;
}

/**
 * Make `webgpu` the tfjs backend. Returns null on success or the reason it
 * cannot be used. `allowSoftware` is true only when the user forced the backend.
 */
export async function loadWebGpu(allowSoftware: boolean): Promise<string | null> {
  if (!allowSoftware) {
    const why = noHardwareVulkanDriver();
    if (why) return why;
  }
  let gpu: Gpu;
  try {
    gpu = installNavigatorGpu();
  } catch (e) {
    const msg = e instanceof Error ? e.message.split('\n')[0] : String(e);
    if (/Cannot find module 'webgpu'/.test(msg)) return 'the optional dependency `webgpu` (Dawn for Node) is not installed';
    return `Dawn's Node bindings (npm webgpu) failed to load: ${msg}`;
  }
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) {
    const icd = process.env.VK_ICD_FILENAMES ?? process.env.VK_DRIVER_FILES;
    return (
      'Dawn found no GPU adapter' +
      (icd ? ` (VK_ICD_FILENAMES/VK_DRIVER_FILES = ${icd})` : ' (no Vulkan ICD named in VK_ICD_FILENAMES)') +
      (process.platform === 'linux' ? '; on Linux it needs the Vulkan loader (libvulkan.so.1) and a driver ICD' : '')
    );
  }
  const raw = adapter.info ?? (adapter.requestAdapterInfo ? await adapter.requestAdapterInfo() : {});
  const info = describeAdapter(adapter, raw as Record<string, unknown>);
  if (info.software && !allowSoftware) {
    return `only a software adapter is available (${adapterLine(info)}): too slow to train on; force it with SMEAR_BACKEND=webgpu (tests)`;
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    require('@tensorflow/tfjs-backend-webgpu');
    registerWebGpuFills();
  } catch (e) {
    const msg = e instanceof Error ? e.message.split('\n')[0] : String(e);
    if (/Cannot find module/.test(msg)) return 'the optional dependency @tensorflow/tfjs-backend-webgpu is not installed';
    return msg;
  }
  const ok = await tf.setBackend('webgpu');
  if (!ok || tf.getBackend() !== 'webgpu') return `the webgpu backend did not initialise on ${adapterLine(info)}`;
  adapterInfo = info;
  watchDeviceLoss();
  return null;
}

let lostReason: string | undefined;
let deviceError: string | undefined;

/**
 * A fault the GPU device reported since the backend loaded: the device was
 * lost (Dawn resolves `device.lost`), or a WebGPU error no one captured (an
 * allocation that failed, a buffer over a limit: WebGPU reports these
 * asynchronously, as 'uncapturederror' events, not as exceptions).
 */
export function webGpuFault(): string | undefined {
  if (lostReason) return `the GPU device was lost (${lostReason})`;
  if (deviceError) {
    const size = /memory|size|exceed|allocat/i.test(deviceError) ? '; if a tensor was too large, lower the batch size or the image size / sequence length' : '';
    return `the GPU device reported an error: ${deviceError}${size}`;
  }
  return undefined;
}

type Device = {
  destroy?: () => void;
  lost?: Promise<{ reason?: string; message?: string }>;
  addEventListener?: (type: string, fn: (ev: { error?: { message?: string } }) => void) => void;
};

function watchDeviceLoss(): void {
  const device = (tf.backend() as unknown as { device?: Device }).device;
  device?.lost?.then((l) => {
    lostReason = `${l.reason ?? 'unknown'}${l.message ? `: ${l.message}` : ''}`;
  });
  device?.addEventListener?.('uncapturederror', (ev) => {
    if (!deviceError) deviceError = (ev.error?.message?.split('\n')[0] ?? 'unknown error').replace(/\.$/, '');
  });
  // Release the device before Node tears down: after a WebGPU error, Dawn's own teardown at
  // process exit crashes (SIGSEGV, seen on SwiftShader), turning a clean error exit into a crash.
  process.once('exit', () => {
    try {
      device?.destroy?.();
    } catch {
      // already gone
    }
  });
}

/**
 * Rewrite a failure inside a step on the webgpu backend into an error that
 * says what happened (device lost, out of memory); undefined for other errors.
 */
export function webGpuError(e: unknown, what: string): Error | undefined {
  if (tf.getBackend() !== 'webgpu') return undefined;
  const message = e instanceof Error ? e.message : String(e);
  const fault = webGpuFault();
  if (fault) return new Error(`${what}: ${fault}.${message ? ` Original error: ${message}` : ''}`);
  if (/out of memory|OutOfMemory|Failed to allocate|exceeds the max buffer size|maxBufferSize|maxStorageBufferBindingSize/i.test(message)) {
    const lim = adapterInfo ? ` (adapter limits: maxBufferSize ${adapterInfo.limits.maxBufferSize} B, maxStorageBufferBindingSize ${adapterInfo.limits.maxStorageBufferBindingSize} B)` : '';
    return new Error(`${what}: the GPU ran out of memory or a tensor exceeds a buffer limit${lim}; lower the batch size or the image size / sequence length. Original error: ${message}`);
  }
  return undefined;
}
