#!/usr/bin/env python3
"""Time the reference's T5 v1.1 GLUE training step in PyTorch, per routing method.

What is timed (one "step", as bench/t5.bench.ts's `buildStep` times it in TensorFlow.js):
teacher-forced forward in training mode (dropout 0.1) -> label-smoothed loss (epsilon 0.1,
summed over the target tokens, as kernel-lib/settings/t5/task.ts `labelSmoothedLoss`) + the
methods' auxiliary losses (zero for these four) -> backward -> global-norm gradient clipping
to 1.0 -> AdamW (lr 3e-4, weight decay 0) -> zero_grad -> loss.item(). Median of --runs steps
after --warmup untimed ones, on one fixed random batch (every other example padded over its
last quarter), random initialisation (HF T5 init, factor 1). No transformers, no downloads:
the model is written here, with the T5 v1.1 Base sizes typed in by hand.

The model follows the reference code, github r-three/smear, hyperformer/hyperformer/:
  third_party/models/modeling_t5_v1_1.py   T5 v1.1 (transformers 3.5 era): RMSNorm (T5LayerNorm,
        eps 1e-6), attention without 1/sqrt(d_kv), relative position bias from block 0 shared by
        the stack (bidirectional buckets in the encoder, causal in the decoder, none on the cross
        attention), gated-GELU FFN (gelu_new) with dropout before wo, untied lm_head with the
        d_model^-0.5 rescale the reference always applies. In every sublayer (encoder: self
        attention, FF; decoder: self attention, cross attention, FF) the adapter controller
        takes the sublayer output y: layer_output = h + dropout(adapter_controller(y)).
  adapters/adapter_controller_fast.py      AdapterController: y + post_layer_norm(mixture(y))
        (add_layer_norm_after_adapter, LayerNorm eps 1e-5); router input = mean over positions
        of y in the encoder, of the final encoder output in the decoder (given_hidden_states).
  adapters/adapter_utils.py                Router.   (Router and Adapter: bench/reference/routing_ref.py)
  finetune_t5_trainer.py                   60 adapter controllers (num_layers = 60).
  utils/utils.py (freezing_params)         frozen backbone: the adapter controllers train, and the
        T5LayerNorm weights (unfreeze_layer_norms). Optimizer and clipping as bench/t5.bench.ts
        (AdamW lr 3e-4, weight decay 0, global-norm clipping 1.0) with torch.optim.AdamW.

How it maps to the TS step (kernel-lib/models/t5/model.ts, kernel-lib/routing/*): the same 60
routing blocks at the same places (2 per encoder layer, 3 per decoder layer), the same router
input, the same post-LayerNorm, the same trainable set (RMSNorm gains + routing blocks; the count
printed here equals the TS bench's "trainable params" for the same sizes), dropout at the same
places, the cross-attention without a relative-position table (the TS default 'none'), masks
-1e4 (encoder self attention) and -1e9 (cross attention), no padding mask in decoder self
attention. Expert dropout as the TS methods' defaults (routing_ref.EXPERT_DROPOUT). The expert
formulations are the reference's (see routing_ref.py), not the TS ones. Layout: batch-major,
heads split as HF does.

Configurations (--config): `base` (default) = google/t5-v1_1-base sizes (d_model 768, d_ff 2048,
12 heads x 64, 12 + 12 layers, vocab 32128), N 8, d 24, batch 32, source 128, target 8 (the
reference's GLUE setting); `slice` and `tiny` = bench/t5.bench.ts's `base` (the same widths with
2 + 2 layers, batch 4, source 64, target 8) and `tiny` (C 64, 4 heads x 16, F 128, 2 + 2 layers,
V 260, N 8, d 8, batch 16, source 128, target 8). --batch/--source/--target/--layers override.

  python3 bench/reference/t5_step.py --config tiny --runs 3 --json
  python3 bench/reference/t5_step.py --device cuda --config base --warmup 3 --runs 10 --json

Only torch is needed. Runs with torch 1.13 and 2.x.
"""
import argparse
import json
import math
import os
import platform
import statistics
import sys
import time

from routing_ref import EXPERT_DROPOUT, METHODS, REFERENCE_NAMES, define_routing

CONFIGS = {
    'base': dict(d_model=768, d_kv=64, d_ff=2048, num_heads=12, num_layers=12, num_decoder_layers=12, vocab_size=32128,
                 experts=8, bottleneck=24, batch=32, source=128, target=8),
    'slice': dict(d_model=768, d_kv=64, d_ff=2048, num_heads=12, num_layers=2, num_decoder_layers=2, vocab_size=32128,
                  experts=8, bottleneck=24, batch=4, source=64, target=8),
    'tiny': dict(d_model=64, d_kv=16, d_ff=128, num_heads=4, num_layers=2, num_decoder_layers=2, vocab_size=260,
                 experts=8, bottleneck=8, batch=16, source=128, target=8),
}
NUM_BUCKETS = 32
MAX_DISTANCE = 128
DROPOUT = 0.1
RMS_EPS = 1e-6
SELF_MASK = -1e4
CROSS_MASK = -1e9
LABEL_SMOOTHING = 0.1
LR = 3e-4
CLIP_NORM = 1.0


def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected a positive integer, got {text!r}')
    if value < 1:
        raise argparse.ArgumentTypeError(f'expected a positive integer, got {value}')
    return value


def non_negative_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected an integer >= 0, got {text!r}')
    if value < 0:
        raise argparse.ArgumentTypeError(f'expected an integer >= 0, got {value}')
    return value


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog='t5_step.py',
        description='Time the reference (r-three/smear hyperformer) T5 v1.1 training step in PyTorch: frozen backbone, '
        'a routing block in each of the 2+3 sublayers of every encoder/decoder layer.',
    )
    p.add_argument('--device', default='cpu', help="'cpu' (default) or 'cuda'")
    p.add_argument('--threads', type=positive_int, default=None,
                   help='torch.set_num_threads (and OMP/OpenBLAS/MKL threads); default 1 on cpu, torch default on cuda')
    p.add_argument('--config', default='base', help=f"one of {', '.join(CONFIGS)} (default base; see the header)")
    p.add_argument('--batch', type=positive_int, default=None, help='batch size (default: the configuration\'s)')
    p.add_argument('--source', type=positive_int, default=None, help='source length (default: the configuration\'s)')
    p.add_argument('--target', type=positive_int, default=None, help='target length (default: the configuration\'s)')
    p.add_argument('--layers', type=positive_int, default=None, help='encoder and decoder layers each (default: the configuration\'s)')
    p.add_argument('--methods', default=','.join(METHODS), help=f"comma-separated, from {','.join(METHODS)} (default: all)")
    p.add_argument('--warmup', type=non_negative_int, default=1, help='untimed steps first (default 1)')
    p.add_argument('--runs', type=positive_int, default=3, help='timed steps (default 3); the median is reported')
    p.add_argument('--seed', type=non_negative_int, default=1, help='torch.manual_seed (default 1)')
    p.add_argument('--json', action='store_true', help='print one JSON object instead of lines')
    a = p.parse_args(argv)
    if a.device not in ('cpu', 'cuda'):
        p.error(f"--device: expected 'cpu' or 'cuda', got {a.device!r}")
    if a.config not in CONFIGS:
        p.error(f"--config: expected one of {', '.join(CONFIGS)}, got {a.config!r}")
    methods = [m.strip() for m in a.methods.split(',') if m.strip()]
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        p.error(f"--methods: expected a comma-separated list from {','.join(METHODS)}, got {a.methods!r}"
                + (f" (unknown: {','.join(bad)})" if bad else ''))
    a.methods = list(dict.fromkeys(methods))
    cfg = dict(CONFIGS[a.config])
    for key in ('batch', 'source', 'target'):
        if getattr(a, key) is not None:
            cfg[key] = getattr(a, key)
    if a.layers is not None:
        cfg['num_layers'] = cfg['num_decoder_layers'] = a.layers
    a.cfg = cfg
    if a.threads is None and a.device == 'cpu':
        a.threads = 1
    return a


def relative_position_bucket(torch, relative_position, bidirectional, num_buckets=NUM_BUCKETS, max_distance=MAX_DISTANCE):
    """modeling_t5_v1_1.py T5Attention._relative_position_bucket."""
    ret = 0
    n = -relative_position
    if bidirectional:
        num_buckets //= 2
        ret += (n < 0).to(torch.long) * num_buckets
        n = torch.abs(n)
    else:
        n = torch.max(n, torch.zeros_like(n))
    max_exact = num_buckets // 2
    is_small = n < max_exact
    val_if_large = max_exact + (
        torch.log(n.float() / max_exact) / math.log(max_distance / max_exact) * (num_buckets - max_exact)
    ).to(torch.long)
    val_if_large = torch.min(val_if_large, torch.full_like(val_if_large, num_buckets - 1))
    return ret + torch.where(is_small, n, val_if_large)


def define_model(torch, cfg):
    nn = torch.nn
    F = torch.nn.functional
    Router, Adapter, mix = define_routing(torch)  # bench/reference/routing_ref.py
    C, K, FF, H, V = cfg['d_model'], cfg['d_kv'], cfg['d_ff'], cfg['num_heads'], cfg['vocab_size']

    class T5LayerNorm(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(C))

        def forward(self, x):
            variance = x.pow(2).mean(-1, keepdim=True)
            return self.weight * (x * torch.rsqrt(variance + RMS_EPS))

    class AdapterController(nn.Module):
        """adapter_controller_fast.py: y + post_layer_norm(mixture(y)); router on mean(y) or on the given mean."""

        def __init__(self, method):
            super().__init__()
            self.method = method
            n = 1 if method == 'dense' else cfg['experts']
            self.multi_adapters = Adapter(C, n, cfg['bottleneck'])
            self.multi_routers = Router(C, n, EXPERT_DROPOUT[method])
            self.post_layer_norm = nn.LayerNorm(C)

        def forward(self, y, given_mean=None):
            z_sent = given_mean if given_mean is not None else torch.mean(y, dim=1)
            return y + self.post_layer_norm(mix(self.method, self.multi_adapters, self.multi_routers, y, z_sent))

    class T5Attention(nn.Module):
        def __init__(self, relative_bias, bidirectional):
            super().__init__()
            self.bidirectional = bidirectional
            self.q = nn.Linear(C, H * K, bias=False)
            self.k = nn.Linear(C, H * K, bias=False)
            self.v = nn.Linear(C, H * K, bias=False)
            self.o = nn.Linear(H * K, C, bias=False)
            self.relative_attention_bias = nn.Embedding(NUM_BUCKETS, H) if relative_bias else None

        def compute_bias(self, qlen, klen, device):
            ctx = torch.arange(qlen, dtype=torch.long)[:, None]
            mem = torch.arange(klen, dtype=torch.long)[None, :]
            bucket = relative_position_bucket(torch, mem - ctx, self.bidirectional).to(device)
            return self.relative_attention_bias(bucket).permute([2, 0, 1]).unsqueeze(0)  # (1,H,q,k)

        def forward(self, x, kv, bias):
            b, q_len, _ = x.shape

            def shape(t):
                return t.view(b, -1, H, K).transpose(1, 2)

            q = shape(self.q(x))
            k = shape(self.k(kv))
            v = shape(self.v(kv))
            scores = torch.matmul(q, k.transpose(3, 2)) + bias  # no 1/sqrt(d_kv)
            weights = F.dropout(F.softmax(scores.float(), dim=-1).type_as(scores), p=DROPOUT, training=self.training)
            out = torch.matmul(weights, v).transpose(1, 2).contiguous().view(b, -1, H * K)
            return self.o(out)

    class DenseGatedGelu(nn.Module):
        def __init__(self):
            super().__init__()
            self.wi_0 = nn.Linear(C, FF, bias=False)
            self.wi_1 = nn.Linear(C, FF, bias=False)
            self.wo = nn.Linear(FF, C, bias=False)

        def forward(self, x):
            h = F.gelu(self.wi_0(x), approximate='tanh') if GELU_TANH else gelu_new(self.wi_0(x))
            return self.wo(F.dropout(h * self.wi_1(x), p=DROPOUT, training=self.training))

    def gelu_new(x):  # transformers' gelu_new, for torch without F.gelu(approximate=)
        return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))

    try:
        F.gelu(torch.zeros(1), approximate='tanh')
        GELU_TANH = True
    except TypeError:
        GELU_TANH = False

    class Sublayer(nn.Module):
        """T5LayerSelfAttention / T5LayerCrossAttention / T5LayerFF with the adapter controller on y."""

        def __init__(self, kind, method, relative_bias=False, bidirectional=True):
            super().__init__()
            self.kind = kind
            self.layer_norm = T5LayerNorm()
            if kind == 'ff':
                self.DenseReluDense = DenseGatedGelu()
            else:
                self.attention = T5Attention(relative_bias, bidirectional)
            self.adapter_controller = AdapterController(method)

        def forward(self, h, bias=None, kv=None, given_mean=None):
            x = self.layer_norm(h)
            if self.kind == 'ff':
                y = self.DenseReluDense(x)
            else:
                y = self.attention(x, x if kv is None else kv, bias)
            y = self.adapter_controller(y, given_mean)
            return h + F.dropout(y, p=DROPOUT, training=self.training)

    class T5(nn.Module):
        def __init__(self, method):
            super().__init__()
            self.shared = nn.Embedding(V, C)
            L, LD = cfg['num_layers'], cfg['num_decoder_layers']
            self.encoder = nn.ModuleList([
                nn.ModuleList([Sublayer('self', method, relative_bias=(i == 0), bidirectional=True), Sublayer('ff', method)])
                for i in range(L)])
            self.encoder_final_layer_norm = T5LayerNorm()
            self.decoder = nn.ModuleList([
                nn.ModuleList([Sublayer('self', method, relative_bias=(i == 0), bidirectional=False),
                               Sublayer('cross', method), Sublayer('ff', method)])
                for i in range(LD)])
            self.decoder_final_layer_norm = T5LayerNorm()
            self.lm_head = nn.Linear(C, V, bias=False)
            self._init_weights()

        def _init_weights(self):
            """HF T5PreTrainedModel._init_weights, factor 1.0."""
            with torch.no_grad():
                self.shared.weight.normal_(0.0, 1.0)
                self.lm_head.weight.normal_(0.0, 1.0)
                for mod in self.modules():
                    if isinstance(mod, T5Attention):
                        mod.q.weight.normal_(0.0, (C * K) ** -0.5)
                        mod.k.weight.normal_(0.0, C ** -0.5)
                        mod.v.weight.normal_(0.0, C ** -0.5)
                        mod.o.weight.normal_(0.0, (H * K) ** -0.5)
                        if mod.relative_attention_bias is not None:
                            mod.relative_attention_bias.weight.normal_(0.0, C ** -0.5)
                    elif isinstance(mod, DenseGatedGelu):
                        mod.wi_0.weight.normal_(0.0, C ** -0.5)
                        mod.wi_1.weight.normal_(0.0, C ** -0.5)
                        mod.wo.weight.normal_(0.0, FF ** -0.5)

        def forward(self, input_ids, attention_mask, decoder_input_ids):
            b, s = input_ids.shape
            t = decoder_input_ids.shape[1]
            dev = input_ids.device
            mask = attention_mask.to(torch.float32)
            h = F.dropout(self.shared(input_ids), p=DROPOUT, training=self.training)
            enc_bias = self.encoder[0][0].attention.compute_bias(s, s, dev) + ((1.0 - mask) * SELF_MASK)[:, None, None, :]
            for self_attn, ff in self.encoder:
                h = self_attn(h, bias=enc_bias)
                h = ff(h)
            enc = F.dropout(self.encoder_final_layer_norm(h), p=DROPOUT, training=self.training)
            enc_mean = torch.mean(enc, dim=1)  # the decoder routers' input (padding included, as the TS default)
            h = F.dropout(self.shared(decoder_input_ids), p=DROPOUT, training=self.training)
            causal = torch.triu(torch.full((t, t), SELF_MASK, device=dev), diagonal=1)[None, None]
            dec_bias = self.decoder[0][0].attention.compute_bias(t, t, dev) + causal
            cross_bias = ((1.0 - mask) * CROSS_MASK)[:, None, None, :]
            for self_attn, cross, ff in self.decoder:
                h = self_attn(h, bias=dec_bias, given_mean=enc_mean)
                h = cross(h, bias=cross_bias, kv=enc, given_mean=enc_mean)
                h = ff(h, given_mean=enc_mean)
            h = F.dropout(self.decoder_final_layer_norm(h), p=DROPOUT, training=self.training)
            return self.lm_head(h * (C ** -0.5))  # the reference's rescale before the untied lm_head

    def freeze(model):
        """Adapter controllers and the T5 layer norms train, nothing else."""
        for par in model.parameters():
            par.requires_grad = False
        for mod in model.modules():
            if isinstance(mod, (AdapterController, T5LayerNorm)):
                for par in mod.parameters():
                    par.requires_grad = True

    return T5, freeze


def device_name(torch, device):
    if device == 'cuda':
        return torch.cuda.get_device_name(0)
    model = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            names = [line.split(':', 1)[1].strip() for line in f if line.startswith('model name')]
        if names:
            model = names[0]
    except OSError:
        pass
    return f'{os.cpu_count()} x {model}'


def label_smoothed_loss(torch, logits, labels, epsilon, pad_id=0):
    """kernel-lib/settings/t5/task.ts labelSmoothedLoss: summed over the non-pad target tokens."""
    logp = torch.log_softmax(logits, dim=-1)  # (B,T,V)
    mask = (labels != pad_id).to(logp.dtype)
    nll = -logp.gather(-1, labels[..., None]).squeeze(-1) * mask
    smooth = -logp.sum(-1) * mask
    v = logits.shape[-1]
    return torch.sum((1 - epsilon) * nll + (epsilon / v) * smooth)


def measure(torch, T5, freeze, method, cfg, args, dev):
    torch.manual_seed(args.seed)
    model = T5(method).to(dev)
    freeze(model)
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=LR, weight_decay=0.0)
    b, s, t, v = cfg['batch'], cfg['source'], cfg['target'], cfg['vocab_size']
    input_ids = torch.randint(2, v, (b, s), device=dev)
    attention_mask = torch.ones(b, s, dtype=torch.long, device=dev)
    attention_mask[1::2, (3 * s) // 4:] = 0  # some padding at the end of every other example (as bench/t5.bench.ts)
    labels = torch.randint(2, v, (b, t), device=dev)
    decoder_input_ids = torch.zeros_like(labels)
    decoder_input_ids[:, 1:] = labels[:, :-1]

    def step():
        logits = model(input_ids, attention_mask, decoder_input_ids)
        loss = label_smoothed_loss(torch, logits, labels, LABEL_SMOOTHING)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], CLIP_NORM)
        optimizer.step()
        optimizer.zero_grad()
        return loss.item()

    cuda = dev.type == 'cuda'
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    times = []
    trained = None
    for i in range(args.warmup + args.runs):
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        step()
        if cuda:
            torch.cuda.synchronize()
        if i >= args.warmup:
            times.append(time.perf_counter() - t0)
        if trained is None:  # the parameters AdamW updated (router of 'dense' gets no gradient)
            trained = sum(p.numel() for p in model.parameters() if optimizer.state.get(p))
    out = {'median_s': statistics.median(times), 'times_s': times, 'trainable_params': trained,
           'tokens_per_s': b * (s + t) / statistics.median(times)}
    if cuda:
        out['peak_memory_bytes'] = torch.cuda.max_memory_allocated()
    del model, optimizer
    return out


def main(argv):
    args = parse_args(argv)
    if args.threads is not None:
        for var in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
            os.environ[var] = str(args.threads)
    try:
        import torch
    except ImportError as e:
        print(f't5_step.py: torch is not importable with {sys.executable} ({e}); install PyTorch (e.g. Debian python3-torch, or pip install torch)', file=sys.stderr)
        return 2
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.device == 'cuda' and not torch.cuda.is_available():
        print(f't5_step.py: --device cuda: torch {torch.__version__} reports no CUDA device (torch.cuda.is_available() is False)', file=sys.stderr)
        return 2
    dev = torch.device(args.device)
    cfg = args.cfg
    T5, freeze = define_model(torch, cfg)
    info = {
        'script': 'bench/reference/t5_step.py',
        'command': ' '.join([os.path.basename(sys.executable)] + sys.argv),
        'python': platform.python_version(),
        'torch': torch.__version__,
        'device': args.device,
        'device_name': device_name(torch, args.device),
        'threads': torch.get_num_threads(),
        'warmup': args.warmup,
        'runs': args.runs,
        'seed': args.seed,
        'config': args.config,
        'model': dict(cfg, expert_dropout=EXPERT_DROPOUT, optimizer=f'AdamW lr {LR}, clip_grad_norm {CLIP_NORM}',
                      routing_blocks=2 * cfg['num_layers'] + 3 * cfg['num_decoder_layers']),
    }
    if args.device == 'cuda':
        info['cuda'] = torch.version.cuda
        info['tf32'] = {'matmul': torch.backends.cuda.matmul.allow_tf32, 'cudnn': torch.backends.cudnn.allow_tf32}
    results = []
    for method in args.methods:
        row = {'method': method, 'reference_name': REFERENCE_NAMES[method]}
        try:
            row.update(measure(torch, T5, freeze, method, cfg, args, dev))
        except RuntimeError as e:  # e.g. out of memory: report it and go on
            row['error'] = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if args.device == 'cuda':
            torch.cuda.empty_cache()
        results.append(row)
        if not args.json:
            if 'error' in row:
                print(f'{method:<9} failed: {row["error"]}', flush=True)
            else:
                mem = f'  peak {row["peak_memory_bytes"] / 2**20:.0f} MiB' if 'peak_memory_bytes' in row else ''
                print(f'{method:<9} {row["median_s"]:.4f} s/step  (runs: {", ".join(f"{x:.4f}" for x in row["times_s"])})'
                      f'  trainable {row["trainable_params"]:,}{mem}', flush=True)
    info['results'] = results
    if args.json:
        print(json.dumps(info))
    else:
        print(f'torch {info["torch"]}, {info["device"]} ({info["device_name"]}), {info["threads"]} thread(s), '
              f'config {args.config} (batch {cfg["batch"]}, source {cfg["source"]}, target {cfg["target"]}, '
              f'{cfg["num_layers"]}+{cfg["num_decoder_layers"]} layers), median of {args.runs} after {args.warmup} warm-up')
    return 1 if any('error' in r for r in results) else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
