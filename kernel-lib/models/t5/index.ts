/** T5 v1.1 with the reference's routing blocks (kernel-lib/docs/reference-code.md#t5-backbone): config, model, checkpoints. */
export * from './config';
export * from './model';
export * from './weights';
