/**
 * Notebook helpers for the tslab kernel (see notebooks/README.md):
 *   import { showPlot, cellSignal, trainMethods, notebookProfile } from "../kernel-lib/notebook";
 */
export * from './display';
export * from './interrupt';
export * from './profile';
export * from './training';
