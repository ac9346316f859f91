/**
 * Jupyter integration: the project's kernel spec (tslab with this
 * repository's node_modules, registered as "smear-ts"), starting JupyterLab
 * or Notebook on notebooks/, and headless execution of the notebooks.
 *
 * The kernel spec runs `node_modules/.bin/tslab kernel` (absolute path) with
 * NODE_OPTIONS preloading kernel-preload.js, which lets cells import the
 * TypeScript library from the repository (`import … from "../kernel-lib"`).
 * Jupyter (JupyterLab, Notebook, nbclient) and VS Code find kernels in
 * Jupyter's kernel folders; `installKernel` writes one there through
 * jupyter_client of the given Python, exactly like `tslab install`.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
export const KERNEL_NAME = 'smear-ts';
export const DEFAULT_PYTHON = '/usr/bin/python3';
export const NOTEBOOKS_DIR = path.join(REPO_ROOT, 'notebooks');
export const RUNNER = path.join(REPO_ROOT, 'test', 'notebooks', 'run_notebooks.py');
export const PRELOAD = path.join(__dirname, 'kernel-preload.js');

export const JUPYTER_INSTALL_HELP =
  'Install Jupyter with: sudo apt-get install -y jupyter-notebook jupyter-nbconvert python3-nbclient python3-ipykernel ' +
  '(Debian/Ubuntu), or `pip install jupyterlab` (then pass --python=$(which python3)).';

export function defaultBinary(): string {
  return path.join(REPO_ROOT, 'node_modules', '.bin', 'tslab');
}

export interface KernelSpec {
  argv: string[];
  display_name: string;
  language: string;
  interrupt_mode: 'signal';
  env: Record<string, string>;
  metadata: Record<string, unknown>;
}

export function kernelSpec(binary = defaultBinary()): KernelSpec {
  // `--require=<path>`: NODE_OPTIONS splits on spaces, so quote a path that has them.
  const req = PRELOAD.includes(' ') ? `--require="${PRELOAD}"` : `--require=${PRELOAD}`;
  return {
    argv: [binary, 'kernel', '--config-path', '{connection_file}'],
    display_name: 'TypeScript (smear-ts)',
    language: 'typescript',
    interrupt_mode: 'signal',
    env: { NODE_OPTIONS: req },
    metadata: { 'smear-ts': { repository: REPO_ROOT } },
  };
}

export interface InstallOptions {
  python?: string;
  binary?: string;
  /** Kernel folder prefix ({prefix}/share/jupyter/kernels/); default: the user's registry. */
  prefix?: string;
  name?: string;
}

function python(opts: { python?: string }): string {
  return opts.python ?? DEFAULT_PYTHON;
}

/** Whether `python` has jupyter_client (and which front ends). */
export function jupyterStatus(py = DEFAULT_PYTHON): { python: boolean; client: boolean; lab: boolean; notebook: boolean; nbclient: boolean } {
  const probe = spawnSync(
    py,
    ['-c', 'import importlib.util as u, json; print(json.dumps({m: u.find_spec(m) is not None for m in ["jupyter_client", "jupyterlab", "notebook", "nbclient"]}))'],
    { encoding: 'utf8' },
  );
  if (probe.error || probe.status !== 0) return { python: false, client: false, lab: false, notebook: false, nbclient: false };
  const m = JSON.parse(probe.stdout.trim()) as Record<string, boolean>;
  return { python: true, client: m.jupyter_client, lab: m.jupyterlab, notebook: m.notebook, nbclient: m.nbclient };
}

/** Register the kernel; returns the kernel folder. Throws with the install command when Jupyter is missing. */
export function installKernel(opts: InstallOptions = {}): string {
  const py = python(opts);
  const binary = path.resolve(opts.binary ?? defaultBinary());
  if (!fs.existsSync(binary)) throw new Error(`tslab not found at ${binary}: run \`npm install\` first (or pass --binary=<tslab>)`);
  const st = jupyterStatus(py);
  if (!st.python) throw new Error(`Python not found at ${py} (pass --python=<python3>). ${JUPYTER_INSTALL_HELP}`);
  if (!st.client) throw new Error(`Jupyter is not installed for ${py} (no jupyter_client). ${JUPYTER_INSTALL_HELP}`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'smear-kernel-'));
  try {
    fs.writeFileSync(path.join(tmp, 'kernel.json'), `${JSON.stringify(kernelSpec(binary), null, 1)}\n`);
    const name = opts.name ?? KERNEL_NAME;
    const code =
      'import sys; from jupyter_client.kernelspec import KernelSpecManager as K; ' +
      'p = sys.argv[3] or None; print(K().install_kernel_spec(sys.argv[1], sys.argv[2], user=p is None, prefix=p))';
    const r = spawnSync(py, ['-c', code, tmp, name, opts.prefix ? path.resolve(opts.prefix) : ''], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`kernel registration failed: ${r.stderr || r.stdout}`);
    return r.stdout.trim().split('\n').pop()!;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** Register the kernel into a fresh temporary prefix; returns the JUPYTER_PATH to use and a cleanup. */
export function temporaryKernel(opts: Omit<InstallOptions, 'prefix'> = {}): { jupyterPath: string; prefix: string; cleanup(): void } {
  const prefix = fs.mkdtempSync(path.join(os.tmpdir(), 'smear-jupyter-'));
  installKernel({ ...opts, prefix });
  return { prefix, jupyterPath: path.join(prefix, 'share', 'jupyter'), cleanup: () => fs.rmSync(prefix, { recursive: true, force: true }) };
}

/** The notebooks, in order. */
export function notebookFiles(dir = NOTEBOOKS_DIR): string[] {
  return fs
    .readdirSync(dir)
    .filter((f) => /^\d\d-.*\.ipynb$/.test(f))
    .sort()
    .map((f) => path.join(dir, f));
}

export interface ExecuteOptions {
  python?: string;
  /** Folder for the executed copies (with outputs). */
  out?: string;
  /** JSON report file. */
  report?: string;
  /** Extra environment (e.g. SMEAR_NOTEBOOK_PROFILE=smoke). */
  env?: Record<string, string>;
  timeoutPerCell?: number;
  stdio?: 'inherit' | 'pipe';
}

/** Execute notebooks top to bottom through nbclient with the kernel in a temporary prefix. */
export function executeNotebooks(files: string[], opts: ExecuteOptions = {}): { status: number; stdout: string; stderr: string } {
  const py = python(opts);
  const st = jupyterStatus(py);
  if (!st.nbclient) throw new Error(`nbclient is not installed for ${py}. ${JUPYTER_INSTALL_HELP}`);
  const k = temporaryKernel({ python: py });
  try {
    const args = [RUNNER, 'run', ...(opts.out ? ['--out', opts.out] : []), ...(opts.report ? ['--report', opts.report] : []), '--timeout', String(opts.timeoutPerCell ?? 1800), ...files];
    const r = spawnSync(py, args, {
      encoding: 'utf8',
      stdio: opts.stdio === 'inherit' ? 'inherit' : 'pipe',
      env: { ...process.env, ...opts.env, JUPYTER_PATH: k.jupyterPath },
      maxBuffer: 64 * 1024 * 1024,
    });
    return { status: r.status ?? 1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  } finally {
    k.cleanup();
  }
}
