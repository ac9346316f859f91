/**
 * Preloaded into the smear-ts Jupyter kernel (tslab) through NODE_OPTIONS
 * (`--require`, set in the kernel's kernel.json by `npm run kernel:install`).
 *
 * Why: tslab compiles each cell with its own TypeScript (5.0.4) and
 * `rootDir` set to the kernel's working directory, which Jupyter makes the
 * notebook's folder (notebooks/). A cell that imports the library from the
 * repository (`import { … } from "../kernel-lib"`) would pull kernel-lib's
 * sources into that program and fail with TS6059 ("not under 'rootDir'").
 * Two changes make such imports work, with types, completion and hover intact:
 *
 *   1. TypeScript: files that a cell's imports resolve to outside the working
 *      directory (and outside node_modules) are marked as external library
 *      imports, as TypeScript does for packages: they are type-checked for the
 *      cell's benefit but neither emitted nor held to rootDir.
 *   2. Node: tsx's CommonJS hook is registered, so the compiled cell's
 *      `require("../kernel-lib")` loads the TypeScript sources directly.
 *
 * Nothing happens outside the tslab kernel process's main thread (NODE_OPTIONS
 * is inherited by worker threads and child processes).
 */
'use strict';
const path = require('path');
const fs = require('fs');

function isTslabKernel() {
  try {
    if (!require('worker_threads').isMainThread) return false;
    const script = process.argv[1] ? fs.realpathSync(process.argv[1]) : '';
    return /[\\/]tslab[\\/]bin[\\/]tslab(\.js)?$/.test(script) && process.argv.includes('kernel');
  } catch {
    return false;
  }
}

function within(dir, file) {
  const rel = path.relative(dir, file);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

/** Replace tslab's TypeScript module with a view whose createWatchCompilerHost marks out-of-root imports external. */
function patchTypeScript(tslabDir) {
  const tsPath = require.resolve('@tslab/typescript-for-tslab', { paths: [tslabDir] });
  const ts = require(tsPath);
  const view = {};
  for (const k of Object.keys(ts)) Object.defineProperty(view, k, { enumerable: true, configurable: true, get: () => ts[k] });
  Object.defineProperty(view, 'createWatchCompilerHost', {
    enumerable: true,
    value: function createWatchCompilerHost(rootFiles, options, sys, ...rest) {
      const host = ts.createWatchCompilerHost(rootFiles, options, sys, ...rest);
      const root = options && options.rootDir ? path.resolve(options.rootDir) : process.cwd();
      const cache = ts.createModuleResolutionCache(root, (f) => f, options);
      host.resolveModuleNames = (moduleNames, containingFile, _reused, redirectedReference, opts) =>
        moduleNames.map((name) => {
          const r = ts.resolveModuleName(name, containingFile, opts || options, host, cache, redirectedReference).resolvedModule;
          if (!r) return undefined;
          const file = path.resolve(r.resolvedFileName);
          if (!r.isExternalLibraryImport && !within(root, file) && !file.split(path.sep).includes('node_modules')) {
            return { ...r, isExternalLibraryImport: true };
          }
          return r;
        });
      return host;
    },
  });
  require.cache[tsPath].exports = view;
}

if (isTslabKernel()) {
  const tslabDir = path.dirname(path.dirname(fs.realpathSync(process.argv[1])));
  patchTypeScript(tslabDir);
  require('tsx/cjs/api').register();
}
