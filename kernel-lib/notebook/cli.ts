/**
 * The notebook commands behind the npm scripts:
 *   npm run kernel:install [-- --python=/usr/bin/python3 --binary=<tslab> --prefix=<dir>]
 *   npm run lab [-- --python=…]          JupyterLab (or Notebook) on notebooks/
 *   npm run notebooks:render [-- --profile=mini|smoke|paper]   executed copies → results/notebooks/
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { parseArgs } from 'util';
import { DEFAULT_PYTHON, JUPYTER_INSTALL_HELP, KERNEL_NAME, NOTEBOOKS_DIR, REPO_ROOT, executeNotebooks, installKernel, jupyterStatus, notebookFiles } from './jupyter';

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    options: { python: { type: 'string' }, binary: { type: 'string' }, prefix: { type: 'string' }, profile: { type: 'string' }, out: { type: 'string' } },
    allowPositionals: true,
  });
  const py = values.python ?? DEFAULT_PYTHON;
  if (cmd === 'kernel-install') {
    const dir = installKernel({ python: py, binary: values.binary, prefix: values.prefix });
    process.stdout.write(`registered the '${KERNEL_NAME}' kernel (TypeScript (smear-ts)) in ${dir}\n`);
    return 0;
  }
  if (cmd === 'lab') {
    const st = jupyterStatus(py);
    if (!st.lab && !st.notebook) {
      process.stderr.write(`Neither JupyterLab nor Jupyter Notebook is installed for ${py}.\n${JUPYTER_INSTALL_HELP}\n`);
      return 1;
    }
    const dir = installKernel({ python: py, binary: values.binary, prefix: values.prefix });
    process.stderr.write(`[smear] kernel '${KERNEL_NAME}' registered in ${dir}\n`);
    const app = st.lab ? 'jupyterlab' : 'notebook';
    const module = st.lab ? ['-m', 'jupyterlab'] : ['-m', 'notebook'];
    process.stderr.write(`[smear] starting ${app} on ${path.relative(process.cwd(), NOTEBOOKS_DIR) || '.'}\n`);
    const child = spawn(py, [...module, `--notebook-dir=${NOTEBOOKS_DIR}`, ...positionals], { stdio: 'inherit', cwd: NOTEBOOKS_DIR });
    // Ctrl-C belongs to Jupyter (it asks for confirmation).
    process.on('SIGINT', () => undefined);
    return new Promise((resolve) => child.on('exit', (code) => resolve(code ?? 0)));
  }
  if (cmd === 'render') {
    const out = path.resolve(values.out ?? path.join(REPO_ROOT, 'results', 'notebooks'));
    const files = positionals.length ? positionals.map((p) => path.resolve(p)) : notebookFiles();
    fs.mkdirSync(out, { recursive: true });
    const profile = values.profile ?? process.env.SMEAR_NOTEBOOK_PROFILE ?? 'mini';
    process.stderr.write(`[smear] executing ${files.length} notebooks (${profile} profile) → ${path.relative(process.cwd(), out)}\n`);
    const r = executeNotebooks(files, { python: py, out, report: path.join(out, 'report.json'), env: { SMEAR_NOTEBOOK_PROFILE: profile }, stdio: 'inherit' });
    return r.status;
  }
  process.stderr.write('usage: node --import tsx kernel-lib/notebook/cli.ts kernel-install|lab|render [--python=…] [--binary=…] [--prefix=…] [--profile=…] [--out=…]\n');
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: Error) => {
    process.stderr.write(`${e.message}\n`);
    process.exit(1);
  },
);
