/**
 * Creating folders the user names (run folders, output folders) with a clear
 * error where they cannot be made. Node's `mkdir(..., { recursive: true })`
 * never returns under /proc (it retries the ENOENT of a virtual file system
 * forever), so the missing components are created one by one.
 */
import * as fs from 'fs';
import * as path from 'path';

const HINTS: Record<string, string> = {
  ENOENT: 'its parent does not accept new folders (a virtual file system such as /proc or /sys?)',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'a read-only file system',
  ENOSPC: 'the disk is full',
  ENOTDIR: 'a file is in the way',
};

/**
 * The nearest existing ancestor of `abs` (itself if it exists), which must be a folder, and the
 * missing folders below it, outermost first. Errors start with `what` and say `cannot <verb> abs`.
 */
function existingAncestor(abs: string, what: string, verb: string): { existing: string; missing: string[] } {
  const missing: string[] = [];
  let cur = abs;
  for (;;) {
    let st: fs.Stats | undefined;
    try {
      st = fs.statSync(cur);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new Error(`${what}: cannot ${verb} ${abs}: ${cur}: ${code ?? (e as Error).message}${code && HINTS[code] ? ` (${HINTS[code]})` : ''}`);
    }
    if (st) {
      if (!st.isDirectory()) throw new Error(`${what}: cannot ${verb} ${abs}: ${cur} is a file, not a folder`);
      return { existing: cur, missing };
    }
    missing.unshift(cur);
    const parent = path.dirname(cur);
    if (parent === cur) return { existing: cur, missing };
    cur = parent;
  }
}

/** Create `dir` and its missing parents; `what` (e.g. "option runDir (--run-dir)") starts the error message. */
export function makeDir(dir: string, what: string): void {
  const abs = path.resolve(dir);
  const { missing } = existingAncestor(abs, what, 'create');
  for (const d of missing) {
    try {
      fs.mkdirSync(d);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' && fs.statSync(d).isDirectory()) continue;
      throw new Error(`${what}: cannot create ${abs}: mkdir ${d}: ${code ?? (e as Error).message}${code && HINTS[code] ? ` (${HINTS[code]})` : ''}`);
    }
  }
}

/** Kernel file systems that hold no user files (statfs magic numbers): proc, sysfs, cgroup, cgroup2, devpts, debugfs, tracefs, securityfs, configfs, bpf. */
const VIRTUAL_FS: Record<number, string> = {
  0x9fa0: 'proc',
  0x62656572: 'sysfs',
  0x27e0eb: 'cgroup',
  0x63677270: 'cgroup2',
  0x1cd1: 'devpts',
  0x64626720: 'debugfs',
  0x74726163: 'tracefs',
  0x73636673: 'securityfs',
  0x62656570: 'configfs',
  0xcafe4a11: 'bpf',
};

/**
 * Whether `dir` exists as a writable folder or can be created, without creating anything:
 * its nearest existing ancestor must be a writable folder on a file system that holds
 * files (not /proc, /sys and the like). Throws an Error starting with `what` otherwise.
 */
export function checkDirCreatable(dir: string, what: string): void {
  const abs = path.resolve(dir);
  const { existing: cur } = existingAncestor(abs, what, 'use');
  let type: number | undefined;
  try {
    type = Number(fs.statfsSync(cur).type);
  } catch {
    /* statfs unavailable (e.g. some platforms): the writes below report */
  }
  if (type !== undefined && VIRTUAL_FS[type]) {
    throw new Error(`${what}: cannot use ${abs}: ${cur} is on the kernel's ${VIRTUAL_FS[type]} file system, which holds no files (expected a folder on a disk)`);
  }
  try {
    fs.accessSync(cur, fs.constants.W_OK | fs.constants.X_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(`${what}: cannot use ${abs}: ${cur} is not writable${code ? ` (${code}${HINTS[code] ? `: ${HINTS[code]}` : ''})` : ''}`);
  }
}
