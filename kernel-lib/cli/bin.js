#!/usr/bin/env node
// The `smear` command (package bin). Loads the TypeScript CLI through tsx.
'use strict';
// sharp (image decoding) runs on libuv's thread pool, 4 threads unless set before it starts.
if (process.env.UV_THREADPOOL_SIZE === undefined) {
  process.env.UV_THREADPOOL_SIZE = String(Math.max(4, require('os').cpus().length + 4));
}
require('tsx/cjs');
require('./main.ts')
  .main(process.argv.slice(2))
  .then((code) => {
    process.exitCode = code;
  })
  .catch((err) => {
    process.stderr.write(`smear: ${err && err.message ? err.message : String(err)}\n`);
    if (process.env.SMEAR_DEBUG) process.stderr.write(`${err && err.stack}\n`);
    process.exitCode = 1;
  });
