/**
 * Compute backends. The one place that loads a TensorFlow.js backend package.
 *
 * Order tried by default (the first that works wins):
 *   gpu        @tensorflow/tfjs-node-gpu  (libtensorflow 2.9.1, CUDA 11.2 + cuDNN 8.1)
 *   webgpu     @tensorflow/tfjs-backend-webgpu on Dawn (npm webgpu): Vulkan / Metal / D3D12;
 *              a hardware adapter only, unless forced (see ./webgpu.ts)
 *   tensorflow @tensorflow/tfjs-node      (native CPU; an extra install, see README)
 *   wasm       @tensorflow/tfjs-backend-wasm (XNNPACK, SIMD; single-threaded in Node)
 *   cpu        @tensorflow/tfjs-backend-cpu  (pure JavaScript; slow, always there)
 *
 * `SMEAR_BACKEND=gpu|webgpu|tensorflow|wasm|cpu` (or `initBackend({ backend })`) forces
 * one; a forced backend that cannot load throws an Error saying why and how to
 * fix it. A native backend is detected by `tf.getBackend() === 'tensorflow'`
 * after loading, never by a successful `require`: with the danfojs-node npm
 * override, `require('@tensorflow/tfjs-node')` can return pure tfjs.
 *
 * On wasm, `initBackend` also registers fills for kernels the wasm backend
 * lacks or runs slowly (see `./wasm-fills`).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as os from 'os';
import './gradients';
import { registerWasmFills } from './wasm-fills';
import { adapterLine, loadWebGpu, webGpuAdapter, WEBGPU_HOW_TO_FIX, type WebGpuAdapterInfo } from './webgpu';

export type BackendName = 'gpu' | 'webgpu' | 'tensorflow' | 'wasm' | 'cpu';
export const BACKEND_ORDER: readonly BackendName[] = ['gpu', 'webgpu', 'tensorflow', 'wasm', 'cpu'];

export interface BackendInfo {
  /** Our name for the backend in use. */
  name: BackendName;
  /** What `tf.getBackend()` reports. */
  tfBackend: string;
  /** The npm package that provides it. */
  package: string;
  /** Whether the user forced it through SMEAR_BACKEND or an option. */
  forced: boolean;
  /** Versions of the tfjs pieces and of Node. */
  versions: Record<string, string>;
  /** Compute threads the backend uses. */
  threads: number;
  /** wasm only: SIMD in use. */
  simd?: boolean;
  /** webgpu only: the adapter Dawn gave (vendor, architecture, limits). */
  adapter?: WebGpuAdapterInfo;
  /** Backends tried before this one, with the reason each was skipped. */
  skipped: { name: BackendName; reason: string }[];
}

export interface InitBackendOptions {
  /** Force one backend ('auto' = try in BACKEND_ORDER). Default: SMEAR_BACKEND or 'auto'. */
  backend?: BackendName | 'auto';
  /** Do not log the choice. */
  quiet?: boolean;
}

const PACKAGES: Record<BackendName, string> = {
  gpu: '@tensorflow/tfjs-node-gpu',
  webgpu: '@tensorflow/tfjs-backend-webgpu',
  tensorflow: '@tensorflow/tfjs-node',
  wasm: '@tensorflow/tfjs-backend-wasm',
  cpu: '@tensorflow/tfjs-backend-cpu',
};

const HOW_TO_FIX: Record<BackendName, string> = {
  gpu:
    'install it where libtensorflow can be downloaded (`npm install @tensorflow/tfjs-node-gpu@4.22.0`) ' +
    'on a machine with CUDA 11.2 and cuDNN 8.1; see "Training on a GPU" in README.md',
  webgpu: WEBGPU_HOW_TO_FIX,
  tensorflow:
    'install it where libtensorflow can be downloaded: `npm install --no-save @tensorflow/tfjs-node@4.22.0` ' +
    '(see the backend table in README.md)',
  wasm: 'reinstall the project dependencies (`npm install`); @tensorflow/tfjs-backend-wasm is a regular dependency',
  cpu: 'reinstall the project dependencies (`npm install`)',
};

let current: BackendInfo | undefined;
let pending: Promise<BackendInfo> | undefined;

function parseBackendName(value: string, source: string): BackendName | 'auto' {
  const v = value.trim().toLowerCase();
  if (v === '' || v === 'auto') return 'auto';
  if ((BACKEND_ORDER as readonly string[]).includes(v)) return v as BackendName;
  throw new Error(
    `${source}: unknown backend '${value}'; expected one of ${BACKEND_ORDER.join(', ')} or auto`,
  );
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message.split('\n')[0] : String(e);
}

/** Try to make `name` the active backend; return null on success or the reason it failed. */
async function tryBackend(name: BackendName, forced: boolean): Promise<string | null> {
  try {
    switch (name) {
      case 'webgpu':
        return await loadWebGpu(forced);
      case 'gpu':
      case 'tensorflow': {
        // eslint-disable-next-line @typescript-eslint/no-var-requires
        require(PACKAGES[name]);
        if (tf.findBackendFactory('tensorflow') == null) {
          return `${PACKAGES[name]} loaded but registered no 'tensorflow' backend (pure tfjs under that name?)`;
        }
        const ok = await tf.setBackend('tensorflow');
        if (!ok || tf.getBackend() !== 'tensorflow') {
          return `${PACKAGES[name]} loaded but the 'tensorflow' backend did not initialise`;
        }
        return null;
      }
      case 'wasm': {
        require(PACKAGES.wasm);
        registerWasmFills();
        const ok = await tf.setBackend('wasm');
        return ok && tf.getBackend() === 'wasm' ? null : 'the wasm backend did not initialise';
      }
      case 'cpu': {
        require(PACKAGES.cpu);
        const ok = await tf.setBackend('cpu');
        return ok && tf.getBackend() === 'cpu' ? null : 'the cpu backend did not initialise';
      }
    }
  } catch (e) {
    const msg = errorMessage(e);
    if (/Cannot find module/.test(msg)) return `${PACKAGES[name]} is not installed`;
    return msg;
  }
}

function versionOf(pkg: string): string | undefined {
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    return require(`${pkg}/package.json`).version as string;
  } catch {
    return undefined;
  }
}

function describe(name: BackendName, forced: boolean, skipped: BackendInfo['skipped']): BackendInfo {
  const versions: Record<string, string> = { node: process.versions.node, 'tfjs-core': tf.version_core };
  const pv = versionOf(PACKAGES[name]);
  if (pv) versions[PACKAGES[name]] = pv;
  const info: BackendInfo = {
    name,
    tfBackend: tf.getBackend(),
    package: PACKAGES[name],
    forced,
    versions,
    threads: name === 'wasm' || name === 'cpu' || name === 'webgpu' ? 1 : os.cpus().length,
    skipped,
  };
  if (name === 'webgpu') {
    info.adapter = webGpuAdapter();
    const dawn = versionOf('webgpu');
    if (dawn) versions.webgpu = dawn;
  }
  if (name === 'wasm') {
    info.simd = tf.env().getBool('WASM_HAS_SIMD_SUPPORT');
    info.threads = tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT') ? os.cpus().length : 1;
  }
  return info;
}

/**
 * Choose and initialise the compute backend once per process (later calls
 * return the same result unless `backend` asks for a different one).
 */
export async function initBackend(options: InitBackendOptions = {}): Promise<BackendInfo> {
  const requested =
    options.backend !== undefined
      ? parseBackendName(options.backend, 'initBackend({ backend })')
      : parseBackendName(process.env.SMEAR_BACKEND ?? '', 'SMEAR_BACKEND');
  if (current && (requested === 'auto' || requested === current.name)) return current;
  if (pending && requested === 'auto') return pending;
  const run = async (): Promise<BackendInfo> => {
    // tfjs's own console notices (e.g. the cpu backend's "install tfjs-node" banner) are
    // replaced by our one-line backend log; SMEAR_DEBUG keeps them.
    if (!process.env.SMEAR_DEBUG) tf.env().set('PROD', true);
    if (requested !== 'auto') {
      const reason = await tryBackend(requested, true);
      if (reason !== null) {
        throw new Error(
          `backend '${requested}' (forced by ${options.backend !== undefined ? 'initBackend option' : 'SMEAR_BACKEND'}) ` +
            `could not load: ${reason}. To fix: ${HOW_TO_FIX[requested]}; or unset SMEAR_BACKEND to fall back automatically.`,
        );
      }
      current = describe(requested, true, []);
    } else {
      const skipped: BackendInfo['skipped'] = [];
      for (const name of BACKEND_ORDER) {
        const reason = await tryBackend(name, false);
        if (reason === null) {
          current = describe(name, false, skipped);
          break;
        }
        skipped.push({ name, reason });
      }
      if (!current) {
        throw new Error(`no TensorFlow.js backend could load: ${skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')}`);
      }
    }
    if (!options.quiet && !process.env.SMEAR_QUIET) {
      const extra = current.name === 'wasm' ? `, SIMD ${current.simd ? 'on' : 'off'}` : '';
      const what = current.adapter
        ? `${current.package}, adapter ${adapterLine(current.adapter)}`
        : `${current.package}, ${current.threads} thread${current.threads === 1 ? '' : 's'}${extra}`;
      process.stderr.write(`[smear] backend: ${current.name} (${what})\n`);
    }
    return current;
  };
  pending = run().finally(() => {
    pending = undefined;
  });
  return pending;
}

/** The backend chosen by `initBackend`, if it ran. */
export function backendInfo(): BackendInfo | undefined {
  return current;
}

export { tf };

/**
 * An error the wasm backend raises when its heap is exhausted, rewritten to say
 * so; undefined for any other error. tfjs-backend-wasm grows its heap up to
 * 4 GB and does not check malloc, so running out shows up as a WebAssembly
 * "memory access out of bounds" (or an abort saying "Cannot enlarge memory"
 * / "Out of memory"), which names neither the cause nor the fix.
 */
export function wasmMemoryError(e: unknown, what: string): Error | undefined {
  const message = e instanceof Error ? e.message : String(e);
  if (tf.getBackend() !== 'wasm' || !/memory access out of bounds|Cannot enlarge memory|Out of memory|Aborted\(OOM\)/i.test(message)) return undefined;
  const heap = (tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } }).wasm?.HEAPU8?.buffer.byteLength;
  const gib = heap ? ` (heap ${(heap / 2 ** 30).toFixed(2)} GiB)` : '';
  return new Error(
    `${what}: the wasm backend ran out of memory${gib}: its heap cannot grow past 4 GB. ` +
      'Lower the batch size or the image size / sequence length, or use a native backend ' +
      `(@tensorflow/tfjs-node or -gpu). Original error: ${message}`,
  );
}

export { webGpuAdapter, webGpuError, webGpuFault, SWIFTSHADER_ICD } from './webgpu';
export type { WebGpuAdapterInfo } from './webgpu';
export { packForRead, readPacked, readMany, readTensor, hostValuesOf } from './host-read';
export type { PackedRead } from './host-read';
