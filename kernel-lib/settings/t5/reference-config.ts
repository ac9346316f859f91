/**
 * The reference code's T5 adapter configuration files, read as they are:
 * r-three/smear `hyperformer/hyperformer/configs/adapter/<name>.json` (one per
 * method, e.g. `parameter_averaging_routing.json`,
 * `task_routing_same_rte_mnli_onlyencoder.json`, `one_adapter.json`).
 *
 * Follows, in the reference repository:
 *   hyperformer/hyperformer/training_args.py       every key the file may hold (ModelArguments,
 *                                                   DataTrainingArguments, Seq2SeqTrainingArguments
 *                                                   on transformers' TrainingArguments,
 *                                                   AdapterTrainingArguments) and its default
 *   hyperformer/hyperformer/finetune_t5_trainer.py  which of them reach the adapter configuration
 *                                                   (adapter_config.<key> = adapter_args.<key>; the
 *                                                   Gumbel keys only for gs_st_routing, the baseline
 *                                                   and loss weights only for reinf_bl_routing)
 *   hyperformer/hyperformer/configs/adapter/*.json  the twelve method files
 * (`adapter_configuration.py`, which the reference imports as AutoAdapterConfig, only
 * declares the same fields with defaults; the values come from the arguments above.)
 *
 * Every key falls in one of four groups (tables below):
 *   honoured      changes the model, its losses or training here as in the reference
 *   fixed         changes the model; only the value this project implements is accepted,
 *                 any other value is an error naming the key
 *   not used      known to the reference, no effect on what smear-ts computes (output
 *                 folders, logging, evaluation switches, hub names): accepted silently,
 *                 recorded in config.json
 *   unknown       not an argument of the reference: listed once as ignored
 *
 * Honoured keys (those of one method are read by that method: its `referenceArguments`
 * in kernel-lib/routing/methods/, which also says which keys other methods refuse):
 *   routing_estimator        the method (its reference name; null = one adapter)
 *   num_adapters             N
 *   reduction_factor, model_dim   d = model_dim / reduction_factor (integer division as the
 *                            reference's `//`); model_dim must equal the backbone's d_model
 *   same_rte_mnli, only_in_encoder   RTE uses MNLI's expert in encoder blocks (tag routing;
 *                            both true, or same_rte_mnli false)
 *   load_loss_weight         DSelect-k: the regulariser weight; Top-k with use_load_balancing:
 *                            the Switch load-balancing weight; must be 0 for other methods
 *   use_load_balancing       Top-k: the Switch load-balancing loss (and its LayerNorm quirk)
 *   num_routers              must be 1 (one router per block, as every reference run)
 *   router_init_scale        initialisation scale of fresh routing blocks
 *   expert_dropout           expert dropout in training (the files hold 0; the README's SMEAR
 *                            and Top-k runs pass 0.1 on the reference's command line)
 *   adapter_temp, anneal_rate, min_temp   ST-Gumbel τ0, rate, floor (gs_st_routing only)
 *   bl_reduction_factor, policy_weight, policy_entropy_weight, value_function_weight,
 *   value_loss_type ('Huber')   REINFORCE (reinf_bl_routing only)
 *   skill_lr_ratio           Latent Skills' learning-rate multiplier
 *   learning_rate, warmup_steps, max_steps, label_smoothing, per_device_train_batch_size,
 *   per_device_eval_batch_size, eval_steps (evaluation period = Gumbel anneal period),
 *   logging_steps, max_source_length, max_target_length, data_seed   training and data
 *   tasks, eval_tasks        must be the eight GLUE tasks in the reference order (task ids,
 *                            and so tag routing, follow it)
 */
import * as fs from 'fs';
import { getMethod, METHODS, SINGLE_ADAPTER } from '../../routing/registry';
import type { OptionValues, ReferenceArguments, RoutingMethod } from '../../routing/method';
import type { RoutingBlockConfig } from '../../routing/types';
import { GLUE_TASKS } from '../../datasets/glue/tasks';

/** What a reference adapter configuration file sets here. */
export interface T5ReferenceConfig {
  /** The file it came from (as given). */
  file: string;
  /** Friendly method name. */
  method: string;
  numExperts: number;
  bottleneck: number;
  /** model_dim of the file (the backbone's d_model must equal it). */
  modelDim: number;
  sameRteMnliInEncoder: boolean;
  /** Routing-block options (RoutingBlockConfig fields: expertDropout, initScale and the method's own). */
  routing: Partial<RoutingBlockConfig>;
  /** The method's training options (a run configuration's `losses` entries). */
  losses: OptionValues;
  train: {
    lr?: number;
    warmupSteps?: number;
    maxSteps?: number;
    labelSmoothing?: number;
    batchSize?: number;
    evalBatchSize?: number;
    evalEvery?: number;
    logEvery?: number;
  };
  data: { dataSeed?: number; maxInputLength?: number; maxTargetLength?: number };
  tasks: string[];
  /** Keys the reference knows that have no effect here. */
  notUsed: string[];
  /** Keys that are no argument of the reference (ignored). */
  unknown: string[];
}

/** Model-changing keys whose only supported value is the one given (what smear-ts implements). */
export const FIXED_KEYS: Readonly<Record<string, unknown>> = {
  num_routers: 1,
  normalize_router_weights: true,
  renormalize_adapter_probs: true,
  no_router_bias: true,
  jitter_noise: 0,
  token_dropout: 0,
  epsilon_greedy: 0,
  same_init_then_branch: -1,
  non_linear_router: false,
  cosine_router: false,
  train_lora: false,
  train_ia3: false,
  lora_tieB: false,
  bias_in_up_sampler: false,
  same_experts_across_routers: false,
  only_train_router: false,
  dselectk1_mode: false,
  value_loss_type: 'Huber',
  adapter_config_name: 'adapter',
  train_adapters: true,
  unfreeze_lm_head: false,
  unfreeze_layer_norms: true,
  unfreeze_model: false,
  freeze_model: false,
  freeze_encoder: false,
  freeze_embeds: false,
  freeze_model_but_lm_head: false,
  freeze_model_but_task_embeddings: false,
  add_layer_norm_before_adapter: false,
  add_layer_norm_after_adapter: true,
  conditional_layer_norm: false,
  train_adapters_blocks: false,
  unique_hyper_net: false,
  efficient_unique_hyper_net: false,
  train_task_embeddings: false,
  generate_classifier_weights: false,
  supervised_loss_weight: 0,
  lr_scheduler: 'constant_w_warmup',
  gradient_accumulation_steps: 1,
  temperature: 1,
  split_validation_test: true,
  semi_supervised_ratio: 1,
  adafactor: false,
  ignore_pad_token_for_loss: true,
  n_train: -1,
  n_val: -1,
  n_test: -1,
  weight_decay: 0,
  adam_beta1: 0.9,
  adam_beta2: 0.999,
  adam_epsilon: 1e-8,
  max_grad_norm: 1,
  dropout: null,
  attention_dropout: null,
  encoder_layerdrop: null,
  decoder_layerdrop: null,
  not_load_t5_checkpoint: false,
  weight_path: '',
  eval_all_templates: false,
};

/** Keys read here whatever the method (see the module comment). */
const GENERIC_KEYS = [
  'routing_estimator',
  'num_adapters',
  'reduction_factor',
  'model_dim',
  'same_rte_mnli',
  'only_in_encoder',
  'router_init_scale',
  'expert_dropout',
  'learning_rate',
  'warmup_steps',
  'max_steps',
  'label_smoothing',
  'per_device_train_batch_size',
  'per_device_eval_batch_size',
  'eval_steps',
  'logging_steps',
  'max_source_length',
  'max_target_length',
  'data_seed',
  'tasks',
  'eval_tasks',
] as const;

/** Keys read here: the generic ones and every registered method's (`referenceArguments.keys`). */
export function honouredKeys(): string[] {
  return [...new Set<string>([...GENERIC_KEYS, ...METHODS.flatMap((m) => m.referenceArguments?.keys ?? [])])];
}

/** Reference arguments with no effect on what smear-ts computes. */
export const NOT_USED_KEYS = [
  // ModelArguments / DataTrainingArguments / Seq2SeqTrainingArguments / TrainingArguments
  'model_name_or_path', 'tokenizer_name', 'config_name', 'cache_dir', 'output_dir', 'overwrite_output_dir',
  'num_train_epochs', 'save_steps', 'save_total_limit', 'logging_first_step', 'logging_dir', 'do_train', 'do_eval',
  'do_test', 'do_predict', 'check_mode', 'predict_with_generate', 'load_best_model_at_end', 'evaluation_strategy',
  'metric_for_best_model', 'greater_is_better', 'val_max_target_length', 'test_max_target_length', 'eval_beams',
  'eval_output_dir', 'print_num_parameters', 'compute_memory', 'compute_time', 'optimize_from_scratch',
  'optimize_from_scratch_with_loading_model', 'local_rank', 'seed', 'fp16', 'no_cuda', 'adapters', 'task_embeddings',
  'remove_unused_columns', 'disable_tqdm', 'dataloader_num_workers', 'tpu_num_cores',
  // AdapterTrainingArguments: hyper-network / analysis fields the routing blocks never read
  'task_embedding_dim', 'hidden_dim', 'non_linearity', 'projected_task_embedding_dim', 'task_hidden_dim',
  'unique_hyper_net_layer_norm', 'analyze_model', 'analysis_list', 'complete_analysis_list', 'load_loss_accm',
  'supervised_loss_accm', 'adapter_probs_list', 'baseline_vals_list', 'adapter_samples_list', 'probe_input_features',
  'num_count_task_pred', 'den_count_task_pred', 'cluster_initscale', 'cluster_momentum', 'cluster_distance_metric',
  'eval_time',
];

function fail(file: string, msg: string): never {
  throw new Error(`--reference-config ${file}: ${msg}`);
}

function num(file: string, raw: Record<string, unknown>, key: string, check: (v: number) => boolean, want: string): number | undefined {
  const v = raw[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || !check(v)) fail(file, `key '${key}': expected ${want}, got ${JSON.stringify(v)}`);
  return v;
}

const isInt = (min: number) => (v: number) => Number.isInteger(v) && v >= min;

/** Parse an already-read configuration object (`file` names it in messages). */
export function parseT5ReferenceConfig(raw: unknown, file: string): T5ReferenceConfig {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) fail(file, `expected a JSON object of the reference's arguments, got ${Array.isArray(raw) ? 'an array' : typeof raw}`);
  const o = raw as Record<string, unknown>;
  if (!('routing_estimator' in o)) {
    fail(file, "missing key 'routing_estimator' (the method: a reference name such as 'parameter_averaging_routing', or null for one adapter)");
  }
  for (const [k, want] of Object.entries(FIXED_KEYS)) {
    if (!(k in o)) continue;
    const v = o[k];
    const same = v === want || (typeof want === 'number' && typeof v === 'number' && Math.abs(v - want) <= 1e-12 * Math.max(1, Math.abs(want)));
    if (!same) fail(file, `key '${k}' = ${JSON.stringify(v)} changes the model or its training in a way smear-ts does not implement (supported: ${JSON.stringify(want)})`);
  }
  const est = o.routing_estimator;
  if (est !== null && typeof est !== 'string') fail(file, `key 'routing_estimator': expected a reference method name or null, got ${JSON.stringify(est)}`);
  let method: RoutingMethod;
  try {
    method = est === null ? SINGLE_ADAPTER : getMethod(est); // null: one adapter, no routing
  } catch (e) {
    fail(file, `key 'routing_estimator': ${(e as Error).message}`);
  }
  const numExperts = num(file, o, 'num_adapters', isInt(1), 'an integer >= 1') ?? 2; // training_args.py default 2
  if (method.fixedExperts !== undefined && numExperts !== method.fixedExperts) {
    fail(file, `key 'num_adapters' = ${numExperts} with routing_estimator ${JSON.stringify(est)}: ${method.title} needs num_adapters ${method.fixedExperts}`);
  }
  const rf = num(file, o, 'reduction_factor', isInt(1), 'an integer >= 1') ?? 16;
  const modelDim = num(file, o, 'model_dim', isInt(1), 'an integer >= 1') ?? 512;
  const bottleneck = Math.floor(modelDim / rf);
  if (bottleneck < 1) fail(file, `keys 'model_dim' ${modelDim} / 'reduction_factor' ${rf} leave no bottleneck (d = model_dim // reduction_factor = 0)`);

  const flag = (k: string): boolean => {
    const v = o[k];
    if (v === undefined || v === null) return false;
    if (typeof v !== 'boolean') fail(file, `key '${k}': expected true or false, got ${JSON.stringify(v)}`);
    return v;
  };
  const same = flag('same_rte_mnli');
  const onlyEnc = flag('only_in_encoder');
  if (same && !onlyEnc) fail(file, "key 'same_rte_mnli' true with 'only_in_encoder' false (RTE on MNLI's expert in every block) is not implemented; smear-ts shares MNLI's expert in encoder blocks only");

  // Keys that only the methods reading them may set.
  const mine = new Set(method.referenceArguments?.keys ?? []);
  for (const other of METHODS) {
    for (const [k, rule] of Object.entries(other.referenceArguments?.exclusive ?? {})) {
      const v = o[k];
      if (mine.has(k) || v === undefined || v === null || v === rule.neutral) continue;
      fail(file, rule.refusal(v, est));
    }
  }
  const args: ReferenceArguments = {
    estimator: est,
    num: (key, check, want) => num(file, o, key, check, want),
    flag,
    fail: (msg) => fail(file, msg),
  };
  const own = method.referenceArguments?.read?.(args) ?? {};
  const routing: T5ReferenceConfig['routing'] = { ...own.routing };
  const losses: T5ReferenceConfig['losses'] = { ...own.losses };
  const ed = num(file, o, 'expert_dropout', (v) => v >= 0 && v < 1, 'a number in [0, 1)');
  if (ed !== undefined) routing.expertDropout = ed;
  const init = num(file, o, 'router_init_scale', (v) => v > 0, 'a positive number');
  if (init !== undefined) routing.initScale = init;

  const train: T5ReferenceConfig['train'] = {};
  const setT = (k: keyof T5ReferenceConfig['train'], key: string, check: (v: number) => boolean, want: string) => {
    const v = num(file, o, key, check, want);
    if (v !== undefined) train[k] = v;
  };
  setT('lr', 'learning_rate', (v) => v >= 0, 'a number >= 0');
  setT('warmupSteps', 'warmup_steps', isInt(0), 'an integer >= 0');
  setT('maxSteps', 'max_steps', isInt(1), 'an integer >= 1 (max_steps -1, epochs instead, is not supported)');
  setT('labelSmoothing', 'label_smoothing', (v) => v >= 0 && v < 1, 'a number in [0, 1)');
  setT('batchSize', 'per_device_train_batch_size', isInt(1), 'an integer >= 1');
  setT('evalBatchSize', 'per_device_eval_batch_size', isInt(1), 'an integer >= 1');
  setT('evalEvery', 'eval_steps', isInt(1), 'an integer >= 1');
  setT('logEvery', 'logging_steps', isInt(1), 'an integer >= 1');
  const data: T5ReferenceConfig['data'] = {};
  const ds = num(file, o, 'data_seed', Number.isInteger, 'an integer');
  if (ds !== undefined) data.dataSeed = ds;
  const ms = num(file, o, 'max_source_length', isInt(2), 'an integer >= 2');
  if (ms !== undefined) data.maxInputLength = ms;
  const mt = num(file, o, 'max_target_length', isInt(2), 'an integer >= 2');
  if (mt !== undefined) data.maxTargetLength = mt;

  const tasks = [...GLUE_TASKS] as string[];
  for (const k of ['tasks', 'eval_tasks']) {
    if (o[k] === undefined) continue;
    const v = o[k];
    if (!Array.isArray(v) || v.join(',') !== tasks.join(',')) {
      fail(file, `key '${k}' = ${JSON.stringify(v)}: smear-ts trains and evaluates the eight GLUE tasks in the reference order ${JSON.stringify(tasks)} (task ids follow it)`);
    }
  }
  const known = new Set<string>([...honouredKeys(), ...Object.keys(FIXED_KEYS), ...NOT_USED_KEYS]);
  const notUsed = Object.keys(o).filter((k) => NOT_USED_KEYS.includes(k));
  const unknown = Object.keys(o).filter((k) => !known.has(k));
  return {
    file,
    method: method.name,
    numExperts,
    bottleneck,
    modelDim,
    sameRteMnliInEncoder: same && onlyEnc,
    routing,
    losses,
    train,
    data,
    tasks,
    notUsed,
    unknown,
  };
}

/** Read and parse a reference adapter configuration file. */
export function readT5ReferenceConfig(file: string): T5ReferenceConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    fail(file, `cannot read: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    fail(file, `not valid JSON: ${(e as Error).message}`);
  }
  return parseT5ReferenceConfig(raw, file);
}

/** The one line listing a file's unknown keys (empty when there are none). */
export function ignoredKeysLine(rc: T5ReferenceConfig): string {
  return rc.unknown.length ? `--reference-config ${rc.file}: ignored (not arguments of the reference code): ${rc.unknown.join(', ')}` : '';
}

/**
 * Refuse explicit options that contradict the file: `given` maps an option's
 * command-line spelling to [its value, the file's value and key].
 */
export function checkAgainstReference(rc: T5ReferenceConfig, given: { option: string; value: unknown; file: unknown; key: string }[]): void {
  for (const g of given) {
    if (g.value === undefined || g.file === undefined) continue;
    if (JSON.stringify(g.value) !== JSON.stringify(g.file)) {
      throw new Error(`${g.option} ${JSON.stringify(g.value)} contradicts --reference-config ${rc.file} (${g.key}: ${JSON.stringify(g.file)}); drop one of them`);
    }
  }
}
