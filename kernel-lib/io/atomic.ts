/**
 * Atomic file writes: write a temporary file in the destination's directory,
 * fsync it, rename it over the destination, then fsync the directory (best
 * effort). Readers see either the old file or the complete new one, never a
 * partial write, even if the process dies mid-way.
 */
import { promises as fsp } from 'fs';
import * as fsSync from 'fs';
import * as path from 'path';
import { randomBytes } from 'crypto';

export type AtomicData = string | Uint8Array | readonly Uint8Array[];

/** Write `data` (a string as UTF-8, bytes, or a list of byte chunks written in order) to `file` atomically. */
export async function writeFileAtomic(file: string, data: AtomicData): Promise<void> {
  const dir = path.dirname(path.resolve(file));
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let handle: fsp.FileHandle | undefined;
  try {
    handle = await fsp.open(tmp, 'wx', 0o644);
    const chunks = typeof data === 'string' ? [Buffer.from(data, 'utf8')] : data instanceof Uint8Array ? [data] : data;
    for (const chunk of chunks) {
      let off = 0;
      while (off < chunk.byteLength) {
        const { bytesWritten } = await handle.write(chunk, off, chunk.byteLength - off);
        off += bytesWritten;
      }
    }
    await handle.sync();
    await handle.close();
    handle = undefined;
    await fsp.rename(tmp, file);
  } catch (e) {
    if (handle) await handle.close().catch(() => undefined);
    await fsp.unlink(tmp).catch(() => undefined);
    throw new Error(`writeFileAtomic ${file}: ${(e as Error).message}`);
  }
  // Persist the rename itself (not supported on every platform, e.g. Windows).
  try {
    const dh = await fsp.open(dir, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  } catch {
    /* best effort */
  }
}

/** Synchronous `writeFileAtomic` (temp file + fsync + rename) for code paths that are synchronous. */
export function writeFileAtomicSync(file: string, data: string | Uint8Array): void {
  const dir = path.dirname(path.resolve(file));
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let fd: number | undefined;
  try {
    fd = fsSync.openSync(tmp, 'wx', 0o644);
    fsSync.writeFileSync(fd, data);
    fsSync.fsyncSync(fd);
    fsSync.closeSync(fd);
    fd = undefined;
    fsSync.renameSync(tmp, file);
  } catch (e) {
    if (fd !== undefined) fsSync.closeSync(fd);
    fsSync.rmSync(tmp, { force: true });
    throw new Error(`writeFileAtomic ${file}: ${(e as Error).message}`);
  }
}

/** The temporary files `writeFileAtomic` makes: `.<name>.<pid>.<12 hex>.tmp`. */
const TMP_NAME = /^\..+\.(\d+)\.[0-9a-f]{12}\.tmp$/;

function running(pid: number): boolean {
  if (pid === process.pid) return false; // nothing of ours is being written when a run starts
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Remove the partial temporary files of atomic writes killed mid-way (e.g. `kill -9`
 * during a checkpoint write) in `dir`, leaving those of writers still running. Returns
 * the files removed.
 */
export function removeStaleTmpFiles(dir: string): string[] {
  let names: string[];
  try {
    names = fsSync.readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = TMP_NAME.exec(name);
    if (!m || running(Number(m[1]))) continue;
    const file = path.join(dir, name);
    try {
      if (!fsSync.statSync(file).isFile()) continue;
      fsSync.rmSync(file);
      removed.push(file);
    } catch {
      /* gone meanwhile */
    }
  }
  return removed;
}
