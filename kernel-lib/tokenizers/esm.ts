/**
 * Loads an ESM-only package from this CommonJS code base.
 *
 * With `"module": "commonjs"`, TypeScript compiles `await import('x')` into
 * `require('x')`, which would load an ESM-only package through require(esm)
 * (experimental in Node 20) or fail. A Function-constructed `import()` is left
 * alone by both tsc and tsx, so Node's real ESM loader runs. The specifier is
 * resolved first (with this module's `require.resolve`, honouring the
 * package's `exports`) and passed as an absolute file URL, so the result does
 * not depend on the working directory. Works under tsx and under plain
 * `node` on tsc's CommonJS output (tested).
 */
import { pathToFileURL } from 'url';

// eslint-disable-next-line @typescript-eslint/no-implied-eval
const nativeImport = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<unknown>;

const cache = new Map<string, Promise<unknown>>();

export function importEsm<T = unknown>(pkg: string, where = 'importEsm'): Promise<T> {
  let p = cache.get(pkg);
  if (!p) {
    let resolved: string;
    try {
      resolved = require.resolve(pkg);
    } catch (e) {
      return Promise.reject(new Error(`${where}: cannot resolve package '${pkg}' (${(e as Error).message}); is it installed (npm ci)?`));
    }
    p = nativeImport(pathToFileURL(resolved).href);
    cache.set(pkg, p);
  }
  return p as Promise<T>;
}
