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
 * And one repair: tslab sends every output (stream text, displays, status)
 * on its iopub socket with zeromq 6's `send` and ignores the promise it
 * returns. zeromq sends synchronously up to 512 times in a row, then defers
 * one send to the next turn of the event loop, and any send made before that
 * turn throws EBUSY ("Socket is busy writing; only one send operation may be
 * in progress at any time"). A cell that prints or updates a display quickly
 * got that error from console.log, or lost its idle status and hung, or (an
 * error in tslab's own unhandled-rejection report) killed the kernel (issue
 * 12). 3. The Publisher's `send` is queued here: a send made while one is in
 * progress waits for it, in order, and a failed send is reported on the
 * kernel's own stderr (the Jupyter server's log), never thrown.
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

/** Queue sends on zeromq Publisher sockets (tslab's iopub): one in progress at a time, in order, never throwing. */
function serialisePublisherSends(tslabDir) {
  const zmq = require(require.resolve('zeromq', { paths: [tslabDir] }));
  const proto = zmq.Publisher.prototype;
  const nativeSend = proto.send;
  if (typeof nativeSend !== 'function' || nativeSend.smearQueued) return;
  const queues = new WeakMap();
  const report = (e) => {
    try {
      fs.writeSync(2, `[smear-ts kernel] an iopub message was not sent: ${e && e.message ? e.message : String(e)}\n`);
    } catch {
      // nowhere left to report
    }
  };
  function pump(sock, q) {
    const next = q.waiting.shift();
    if (!next) {
      q.busy = false;
      return;
    }
    q.busy = true;
    let sent;
    try {
      sent = nativeSend.call(sock, next.msg);
    } catch (e) {
      // Busy because something sent around the queue: try again on the next turn.
      if (e && e.code === 'EBUSY' && next.tries++ < 1000) {
        q.waiting.unshift(next);
        setImmediate(() => pump(sock, q));
        return;
      }
      sent = Promise.reject(e);
    }
    Promise.resolve(sent).then(
      () => next.resolve(),
      (e) => {
        // A socket closed at shutdown drops what is left, as tslab's own sends did.
        if (!sock.closed) report(e);
        next.resolve();
      },
    ).then(() => pump(sock, q));
  }
  const queuedSend = function send(msg) {
    let q = queues.get(this);
    if (!q) queues.set(this, (q = { busy: false, waiting: [] }));
    return new Promise((resolve) => {
      q.waiting.push({ msg, resolve, tries: 0 });
      if (!q.busy) pump(this, q);
    });
  };
  queuedSend.smearQueued = true;
  Object.defineProperty(proto, 'send', { configurable: true, writable: true, value: queuedSend });
}

if (isTslabKernel()) {
  const tslabDir = path.dirname(path.dirname(fs.realpathSync(process.argv[1])));
  patchTypeScript(tslabDir);
  serialisePublisherSends(tslabDir);
  require('tsx/cjs/api').register();
}
