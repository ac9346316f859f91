/** GLUE for the T5-GLUE setting: tasks, readers (TSV / parquet), Hyperformer splits, promptsource prompts, mini-GLUE. */
export * from './tasks';
export * from './readers';
export * from './splits';
export * from './prompts';
export { TorchMT19937, torchRandperm, RANDPERM_SMALL_N_LIMIT } from './torch-random';
export { generateMiniGlue, MINI_RULES, MINI_SPLIT_OPTIONS, MINI_VOCAB, miniWords } from './mini';
export type { MiniGlueOptions, MiniGlueResult } from './mini';
export { parseYaml } from './yaml-lite';
export type { YamlValue } from './yaml-lite';
