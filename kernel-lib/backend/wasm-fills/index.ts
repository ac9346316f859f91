/**
 * Kernel fills for the wasm backend (registered by `initBackend`).
 * Placeholder: filled in by the wasm-fills work.
 */
let registered = false;

export function registerWasmFills(): void {
  if (registered) return;
  registered = true;
}
