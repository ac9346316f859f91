#!/usr/bin/env node
// The `smear` command (package bin). Loads the TypeScript CLI through tsx.
'use strict';
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
