/**
 * Einsum: missing from tfjs-backend-wasm 4.22. A general fallback that mirrors
 * tfjs-backend-cpu's kernel (transpose / reshape every operand to a common
 * dim order, multiply with broadcasting, sum out contracted dims one at a
 * time) built from the wasm Transpose / Reshape / Multiply / Sum / Identity
 * kernels. Correct for every equation tf.einsum accepts, but it materialises
 * the full broadcast product, so prefer tf.matMul for large contractions. No
 * speed-up to report: there was no kernel before.
 */
import * as tf from '@tensorflow/tfjs-core';
import { KernelArgs, asWasm, runWasmKernel } from './wasm-util';

export function einsumFill(args: KernelArgs): tf.TensorInfo {
  const backend = asWasm(args.backend);
  const { equation } = args.attrs as unknown as { equation: string };
  const tensors = args.inputs as unknown as tf.TensorInfo[];
  const n = Array.isArray(tensors) ? tensors.length : Object.keys(tensors).length;
  const list: tf.TensorInfo[] = Array.isArray(tensors)
    ? tensors
    : Array.from({ length: n }, (_, i) => (tensors as unknown as Record<string, tf.TensorInfo>)[i]);
  const bu = tf.backend_util;
  const { allDims, summedDims, idDims } = bu.decodeEinsumEquation(equation, list.length);
  bu.checkEinsumDimSizes(allDims.length, idDims, list as unknown as tf.Tensor[]);
  const { path, steps } = bu.getEinsumComputePath(summedDims, idDims);
  const inputs = new Set(list);
  const temps: tf.TensorInfo[] = [];
  let out: tf.TensorInfo | null = null;
  let numDimsRemaining = allDims.length;
  try {
    for (let i = 0; i < steps.length; ++i) {
      for (const idTerm of steps[i]) {
        const { permutationIndices: perm, expandDims } = bu.getEinsumPermutation(numDimsRemaining, idDims[idTerm]);
        let x = list[idTerm];
        if (!bu.isIdentityPermutation(perm)) {
          x = runWasmKernel('Transpose', backend, { x }, { perm });
          temps.push(x);
        }
        const target = x.shape.slice();
        for (const d of expandDims) target.splice(d, 0, 1);
        if (!tf.util.arraysEqual(x.shape, target)) {
          x = runWasmKernel('Reshape', backend, { x }, { shape: target });
          temps.push(x);
        }
        if (out === null) {
          out = x;
        } else {
          out = runWasmKernel('Multiply', backend, { a: x, b: out });
          temps.push(out);
        }
      }
      if (i < steps.length - 1) {
        if (path[i] >= 0) {
          out = runWasmKernel('Sum', backend, { x: out as tf.TensorInfo }, {
            axis: path[i] - (allDims.length - numDimsRemaining),
            keepDims: false,
          });
          temps.push(out);
        }
        numDimsRemaining--;
      }
    }
    if (out === null) throw new Error(`Einsum (wasm fill): nothing to compute for '${equation}'`);
    if (inputs.has(out)) {
      out = runWasmKernel('Identity', backend, { x: out });
      temps.push(out);
    }
    return out;
  } finally {
    for (const t of temps) if (t !== out) backend.disposeData(t.dataId);
  }
}
