/** T5 v1.1 with the reference's routing blocks (SPEC §2): config, model, checkpoints. */
export * from './config';
export * from './model';
export * from './weights';
