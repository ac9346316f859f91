/**
 * `--reference-config` (settings/t5/reference-config.ts) and the checkpoint sources of
 * `smear forward` (cli/commands/checkpoint.ts):
 *   - for every method, `smear forward --reference-config <file>` (a file in the reference's
 *     format: routing_estimator, num_adapters, model_dim / reduction_factor, the other keys
 *     of the reference's files) writes the same logits as `--method`, and the RTE→MNLI
 *     encoder-only Tag run (same_rte_mnli + only_in_encoder) routes RTE to MNLI's expert in
 *     encoder blocks only and equals a model built with sameRteMnliInEncoder;
 *   - unsupported model-changing keys, contradicting options and bad values are refused;
 *   - a run folder's own checkpoint (state.* tensors + config.json next to checkpoints/)
 *     evaluates like the same model saved with reference names, without --method;
 *   - non-finite weights are an error naming the tensor, unless allowed.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../kernel-lib/backend';
import { Rng } from '../../kernel-lib/util/rng';
import { readSafetensors, writeSafetensors, type TensorToWrite } from '../../kernel-lib/io/safetensors';
import { RoutedT5, saveRoutedT5 } from '../../kernel-lib/models/t5';
import { RoutedResNet } from '../../kernel-lib/models/resnet/resnet';
import { saveResNetSafetensors } from '../../kernel-lib/models/resnet/checkpoint';
import { METHODS } from '../../kernel-lib/routing/registry';
import { runForward } from '../../kernel-lib/cli/commands/forward';
import { RUN_CHECKPOINT_FORMAT } from '../../kernel-lib/cli/commands/checkpoint';
import { parseT5ReferenceConfig } from '../../kernel-lib/settings/t5/reference-config';
import { resolveResNetConfig } from '../../kernel-lib/settings/resnet/config';

const TASKS = ['rte', 'sst2', 'mrpc', 'stsb', 'qqp', 'mnli', 'qnli', 'cola'];
const B = 3;
const BLOCKS = 10;

/** The keys of the reference's own method files (values of the T5 Base files, sizes of t5-test). */
function referenceFile(estimator: string | null, n: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    model_name_or_path: 'google/t5-v1_1-base', tokenizer_name: 'google/t5-v1_1-base', learning_rate: 3e-4, lr_scheduler: 'constant_w_warmup',
    output_dir: 'outputs/x/', max_source_length: 128, max_target_length: 128, val_max_target_length: 128, test_max_target_length: 128,
    num_train_epochs: 100, warmup_steps: 2000, eval_steps: 5000, overwrite_output_dir: true, label_smoothing: 0.1,
    per_device_train_batch_size: 128, per_device_eval_batch_size: 128, gradient_accumulation_steps: 1, save_steps: 5000,
    logging_first_step: true, logging_steps: 200, save_total_limit: 1, temperature: 1, do_train: true, do_test: true, do_eval: true,
    check_mode: false, predict_with_generate: true, task_embedding_dim: 512, split_validation_test: true, non_linearity: 'gelu_new',
    load_best_model_at_end: true, evaluation_strategy: 'steps', metric_for_best_model: 'eval_average_metrics', greater_is_better: true,
    max_steps: 600000, tasks: TASKS, eval_tasks: TASKS, train_adapters: true, reduction_factor: 5, unfreeze_lm_head: false,
    unfreeze_layer_norms: true, adapter_config_name: 'adapter', num_adapters: n, routing_estimator: estimator, model_dim: 16,
    load_loss_accm: null, num_routers: 1, analyze_model: false, router_init_scale: 1e-2, data_seed: 42, normalize_router_weights: true,
    expert_dropout: 0, renormalize_adapter_probs: true, jitter_noise: 0, load_loss_weight: estimator === 'dselectk_routing' ? 0.1 : 0,
    use_load_balancing: false,
    ...extra,
  };
}

function batch(n: number): Record<string, TensorToWrite> {
  return {
    input_ids: { dtype: 'I64', shape: [B, 5], data: [5, 9, 13, 2, 1, 7, 3, 1, 0, 0, 11, 12, 30, 1, 0] },
    attention_mask: { dtype: 'I64', shape: [B, 5], data: [1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0] },
    decoder_input_ids: { dtype: 'I64', shape: [B, 4], data: [0, 4, 8, 1, 0, 22, 1, 0, 0, 6, 6, 6] },
    task_ids: { dtype: 'I64', shape: [B], data: [0, 5, 3].map((t) => t % Math.max(n, 1)) },
    hash_ids: { dtype: 'I64', shape: [B, BLOCKS], data: Array.from({ length: B * BLOCKS }, (_, i) => (i * 7 + 3) % Math.max(n, 1)) },
  };
}

function randomize(model: { variables(): Map<string, tf.Variable> }, seed: number, only: (k: string) => boolean = () => true): void {
  const rng = new Rng(seed);
  for (const [k, v] of model.variables()) {
    if (!only(k)) continue;
    const vals = /gain$|running_var$/.test(k) ? rng.uniformRange(v.size, 0.7, 1.3) : rng.normal(v.size, /router\.weight/.test(k) ? 1 : 0.3);
    v.assign(tf.tensor(vals, v.shape, 'float32'));
  }
}

describe('--reference-config and checkpoint sources', () => {
  let dir: string;
  before(async () => {
    await initBackend({ backend: 'cpu', quiet: true });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'refcfg-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  for (const m of METHODS) {
    it(`${m.name}: smear forward --reference-config equals --method`, async () => {
      const n = m.kind === 'dense' ? 1 : 4;
      const estimator = m.kind === 'dense' ? null : m.referenceName;
      const model = new RoutedT5({ config: 't5-test', routing: { method: m.name, numExperts: n, bottleneck: 3 }, seed: 3 });
      randomize(model, 5, (k) => k.includes('.adapter_controller.'));
      const ckpt = path.join(dir, `${m.name}.safetensors`);
      await saveRoutedT5(model, ckpt);
      model.dispose();
      const cfgFile = path.join(dir, `${m.name}.json`);
      fs.writeFileSync(cfgFile, JSON.stringify(referenceFile(estimator, n)));
      const input = path.join(dir, `${m.name}-in.safetensors`);
      await writeSafetensors(input, batch(n));
      const a = path.join(dir, `${m.name}-a.safetensors`);
      const b = path.join(dir, `${m.name}-b.safetensors`);
      await runForward({ setting: 't5', referenceConfig: cfgFile, checkpoint: ckpt, input, out: a });
      await runForward({ setting: 't5', method: m.name, checkpoint: ckpt, input, out: b });
      const ra = await readSafetensors(a);
      const rb = await readSafetensors(b);
      assert.equal(ra.metadata['smear.method'], m.name);
      assert.equal(ra.metadata['smear.reference-config'], cfgFile);
      assert.deepEqual([...ra.tensors.keys()].sort(), [...rb.tensors.keys()].sort());
      for (const [k, t] of rb.tensors) assert.deepEqual(Array.from(ra.tensors.get(k)!.data), Array.from(t.data), `${m.name}: ${k}`);
    });
  }

  it('task_routing_same_rte_mnli_onlyencoder: RTE on MNLI’s expert in encoder blocks only', async () => {
    const model = new RoutedT5({ config: 't5-test', routing: { method: 'tag', numExperts: 8, bottleneck: 3 }, seed: 3, sameRteMnliInEncoder: true });
    randomize(model, 6, (k) => k.includes('.adapter_controller.'));
    const ckpt = path.join(dir, 'tag8.safetensors');
    await saveRoutedT5(model, ckpt);
    const cfgFile = path.join(dir, 'task_routing_same_rte_mnli_onlyencoder.json');
    fs.writeFileSync(cfgFile, JSON.stringify(referenceFile('task_routing', 8, { same_rte_mnli: true, only_in_encoder: true })));
    const input = path.join(dir, 'tag8-in.safetensors');
    const bt = batch(8);
    await writeSafetensors(input, bt);
    const out = path.join(dir, 'tag8-out.safetensors');
    await runForward({ setting: 't5', referenceConfig: cfgFile, checkpoint: ckpt, input, out });
    const { tensors } = await readSafetensors(out);
    for (let k = 0; k < BLOCKS; k++) {
      const enc = k < 4;
      assert.deepEqual(Array.from(tensors.get(`expert_index.${k}`)!.data), enc ? [5, 5, 3] : [0, 5, 3], `block ${k}`);
    }
    const ref = model.forward({ inputIds: Int32Array.from(bt.input_ids.data), attentionMask: Int32Array.from(bt.attention_mask.data), decoderInputIds: Int32Array.from(bt.decoder_input_ids.data), batchSize: B, taskIds: Array.from(bt.task_ids.data) }, { training: false });
    const want = await ref.logits.data();
    tf.dispose(ref as unknown as tf.TensorContainer);
    model.dispose();
    const got = tensors.get('logits')!.data;
    for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i] - want[i]) <= 1e-5 * (1 + Math.abs(want[i])), `logits[${i}]`);
    // Without same_rte_mnli, RTE keeps its own expert everywhere.
    const plain = path.join(dir, 'task_routing.json');
    fs.writeFileSync(plain, JSON.stringify(referenceFile('task_routing', 8)));
    await runForward({ setting: 't5', referenceConfig: plain, checkpoint: ckpt, input, out });
    assert.deepEqual(Array.from((await readSafetensors(out)).tensors.get('expert_index.0')!.data), [0, 5, 3]);
  });

  it('every key of the reference files is classified; unsupported values, contradictions and bad values are refused', async () => {
    const rc = parseT5ReferenceConfig(referenceFile('parameter_averaging_routing', 8, { my_note: 1 }), 'x.json');
    assert.equal(rc.method, 'smear');
    assert.equal(rc.numExperts, 8);
    assert.equal(rc.bottleneck, 3); // 16 // 5
    assert.deepEqual(rc.unknown, ['my_note']);
    assert.ok(rc.notUsed.includes('output_dir') && rc.notUsed.includes('non_linearity'));
    assert.deepEqual(rc.train, { lr: 3e-4, warmupSteps: 2000, maxSteps: 600000, labelSmoothing: 0.1, batchSize: 128, evalBatchSize: 128, evalEvery: 5000, logEvery: 200 });
    assert.equal(parseT5ReferenceConfig(referenceFile(null, 1), 'x.json').method, 'dense');
    const g = parseT5ReferenceConfig(referenceFile('gs_st_routing', 8, { adapter_temp: 5, anneal_rate: 1e-5, min_temp: 0.3 }), 'g.json');
    assert.deepEqual(g.losses.gumbel, { tau0: 5, rate: 1e-5, minTemp: 0.3, period: 5000 });
    const r = parseT5ReferenceConfig(referenceFile('reinf_bl_routing', 8, { bl_reduction_factor: 4, policy_weight: 0.02, policy_entropy_weight: 5e-4, value_function_weight: 0.03, value_loss_type: 'Huber' }), 'r.json');
    assert.deepEqual(r.losses.reinforce, { policyWeight: 0.02, entropyWeight: 5e-4, valueWeight: 0.03 });
    assert.equal(r.routing.baselineReduction, 4);
    assert.equal(parseT5ReferenceConfig(referenceFile('dselectk_routing', 8), 'd.json').routing.dselectWeight, 0.1);
    assert.deepEqual(parseT5ReferenceConfig(referenceFile('switch_routing', 8, { use_load_balancing: true, load_loss_weight: 0.01 }), 's.json').routing, { loadBalancing: true, loadBalancingWeight: 0.01, expertDropout: 0, initScale: 0.01 });
    const bad = (over: Record<string, unknown>, re: RegExp, est: string | null = 'parameter_averaging_routing') => assert.throws(() => parseT5ReferenceConfig(referenceFile(est, 8, over), 'bad.json'), re);
    bad({ num_routers: 2 }, /--reference-config bad\.json: key 'num_routers' = 2 changes the model .* \(supported: 1\)/);
    bad({ cosine_router: true }, /key 'cosine_router' = true changes the model/);
    bad({ load_loss_weight: 0.5 }, /key 'load_loss_weight' = 0\.5 with routing_estimator "parameter_averaging_routing": smear-ts adds no load loss/);
    bad({ routing_estimator: 'nope' }, /key 'routing_estimator': unknown routing method 'nope'/);
    bad({ same_rte_mnli: true, only_in_encoder: false }, /only_in_encoder' false .* is not implemented/, 'task_routing');
    bad({ tasks: ['rte', 'mnli'] }, /key 'tasks' = \["rte","mnli"\]: smear-ts trains and evaluates the eight GLUE tasks/);
    bad({ reduction_factor: 0 }, /key 'reduction_factor': expected an integer >= 1, got 0/);
    assert.throws(() => parseT5ReferenceConfig([], 'a.json'), /expected a JSON object/);
    // Contradicting options.
    const model = new RoutedT5({ config: 't5-test', routing: { method: 'smear', numExperts: 4, bottleneck: 3 }, seed: 3 });
    const ckpt = path.join(dir, 'c.safetensors');
    await saveRoutedT5(model, ckpt);
    model.dispose();
    const f = path.join(dir, 'c.json');
    fs.writeFileSync(f, JSON.stringify(referenceFile('parameter_averaging_routing', 4)));
    const input = path.join(dir, 'c-in.safetensors');
    await writeSafetensors(input, batch(4));
    const out = path.join(dir, 'c-out.safetensors');
    await assert.rejects(runForward({ setting: 't5', referenceConfig: f, method: 'topk', checkpoint: ckpt, input, out }), /--method topk \('topk'\) contradicts --reference-config .*c\.json \(routing_estimator: 'parameter_averaging_routing', 'smear'\)/);
    await assert.rejects(runForward({ setting: 't5', referenceConfig: f, experts: 8, checkpoint: ckpt, input, out }), /--experts 8 contradicts --reference-config .*\(num_adapters: 4\)/);
    fs.writeFileSync(f, JSON.stringify(referenceFile('parameter_averaging_routing', 8)));
    await assert.rejects(runForward({ setting: 't5', referenceConfig: f, checkpoint: ckpt, input, out }), /--reference-config .*c\.json \(num_adapters 8\) disagrees with the checkpoint's 4/);
    fs.writeFileSync(f, JSON.stringify(referenceFile('parameter_averaging_routing', 4, { model_dim: 32, reduction_factor: 10 })));
    await assert.rejects(runForward({ setting: 't5', referenceConfig: f, checkpoint: ckpt, input, out }), /model_dim 32 differs from the checkpoint's d_model 16/);
    fs.writeFileSync(f, JSON.stringify(referenceFile('switch_routing', 4)));
    await assert.rejects(runForward({ setting: 't5', referenceConfig: f, checkpoint: ckpt, input, out }), /--method topk|contradicts the checkpoint .*smear\.method says 'smear'/);
  });

  it('a run folder’s own ResNet checkpoint evaluates without --method, like the model saved with reference names', async () => {
    const runDir = path.join(dir, 'runs', 'resnet-mini-skills');
    const cfg = resolveResNetConfig({ method: 'skills', profile: 'mini', runDir, numExperts: 6, bottleneck: 4, data: { root: '/unused' }, model: { widths: [8, 8, 8, 8] } });
    fs.mkdirSync(path.join(runDir, 'checkpoints'), { recursive: true });
    fs.writeFileSync(path.join(runDir, 'config.json'), JSON.stringify(cfg));
    const model = new RoutedResNet({ numClasses: cfg.data.numClasses, widths: cfg.model.widths, stem: cfg.model.stem, routing: { method: 'skills', numExperts: 6, bottleneck: 4, numTags: 6 }, freezeBackbone: true, seed: 2 });
    randomize(model, 8);
    const state: Record<string, TensorToWrite> = {};
    for (const [k, v] of model.variables()) state[`state.${k}`] = { dtype: 'F32', shape: v.shape, data: (await v.data()) as Float32Array };
    const best = path.join(runDir, 'checkpoints', 'best.safetensors');
    await writeSafetensors(best, state, { format: RUN_CHECKPOINT_FORMAT });
    const refFile = path.join(dir, 'resnet-ref.safetensors');
    await saveResNetSafetensors(model, refFile);
    model.dispose();
    const input = path.join(dir, 'resnet-in.safetensors');
    await writeSafetensors(input, {
      pixel_values: { dtype: 'F32', shape: [2, 3, 32, 32], data: new Rng(4).normal(2 * 3 * 32 * 32, 1) },
      domain_ids: { dtype: 'I64', shape: [2], data: [1, 4] },
    });
    const a = path.join(dir, 'run-a.safetensors');
    const b = path.join(dir, 'run-b.safetensors');
    await runForward({ setting: 'resnet', checkpoint: best, input, out: a });
    await runForward({ setting: 'resnet', checkpoint: refFile, input, out: b });
    const ra = await readSafetensors(a);
    assert.equal(ra.metadata['smear.method'], 'skills');
    assert.equal(ra.metadata['smear.configuration'], cfg.configuration);
    assert.deepEqual(Array.from(ra.tensors.get('logits')!.data), Array.from((await readSafetensors(b)).tensors.get('logits')!.data));
    await assert.rejects(runForward({ setting: 'resnet', method: 'smear', checkpoint: best, input, out: a }), /--method smear \('smear'\) contradicts the checkpoint .*best\.safetensors: .*config\.json \(method\) says 'skills'/);
    // A reference file without metadata: the method from its skill_weights tensor.
    const { tensors } = await readSafetensors(refFile);
    const bare = path.join(dir, 'bare.safetensors');
    await writeSafetensors(bare, Object.fromEntries([...tensors].map(([k, t]) => [`model.${k}`, { dtype: t.dtype === 'I64' ? 'I64' : 'F32', shape: t.shape, data: t.data as Float32Array }])));
    await runForward({ setting: 'resnet', checkpoint: bare, input, out: a });
    assert.equal((await readSafetensors(a)).metadata['smear.method'], 'skills');
    // Without config.json next to checkpoints/.
    fs.renameSync(path.join(runDir, 'config.json'), path.join(runDir, 'config.moved'));
    await assert.rejects(runForward({ setting: 'resnet', checkpoint: best, input, out: a }), /a run folder's checkpoint .*config\.json was expected at .*resnet-mini-skills\/config\.json/);
    fs.renameSync(path.join(runDir, 'config.moved'), path.join(runDir, 'config.json'));
    // Non-finite weights.
    const nan = path.join(runDir, 'checkpoints', 'last.safetensors');
    const k0 = 'state.layer2.1.skills.logits';
    await writeSafetensors(nan, { ...state, [k0]: { ...state[k0], data: Float32Array.from(state[k0].data as Float32Array, (v, i) => (i === 3 ? NaN : v)) } }, { format: RUN_CHECKPOINT_FORMAT });
    await assert.rejects(runForward({ setting: 'resnet', checkpoint: nan, input, out: a }), /tensor 'state\.layer2\.1\.skills\.logits' \[6,6\] holds NaN at flat index 3: the weights are not finite .*--allow-non-finite/);
    await runForward({ setting: 'resnet', checkpoint: nan, input, out: a, allowNonFinite: true });
  });
});
