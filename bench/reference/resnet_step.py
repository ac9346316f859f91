#!/usr/bin/env python3
"""Time the reference's ResNet18 / DomainNet training step in PyTorch, per routing method.

What is timed (one "step", as bench/resnet.bench.ts's `buildStep` times it in TensorFlow.js):
forward in training mode -> cross-entropy (mean over the batch) + the methods' auxiliary
losses (zero for these four methods, added as the reference adds its load/supervised losses)
-> backward -> global-norm gradient clipping to 1.0 -> Adam (lr 1e-3, weight decay 0) ->
zero_grad -> loss.item(). Median of --runs steps after --warmup untimed steps, on one fixed
random batch (no data loading), random initialisation (no weights are downloaded: the
timing does not depend on the values).

The model follows the reference code, github r-three/smear, cvl/src/:
  resnet/modeling_resnet.py       torchvision-topology ResNet18 (conv7x7/2, BN, ReLU,
                                  maxpool 3x3/2, 4 stages x 2 BasicBlocks, widths 64..512,
                                  avgpool, `classification_layer` Linear(512, 345)), NCHW;
                                  an AdapterController in every BasicBlock, applied to
                                  `out = bn2(conv2(...)) + identity` before the final ReLU.
  adapters/adapter_controller_resnet_fast.py
                                  AdapterController: z = pre_batch_norm(out) (trainable
                                  BatchNorm2d), permute to (B,H,W,C), flatten to (B,S,C),
                                  router input = mean over S, experts applied to z,
                                  output (B,S,C) -> (B,C,H,W) + out.  Adapter: experts
                                  swish(x W_down + b_down) W_up (no up bias), init N(0, 0.01^2);
                                  `parameter_averaging_routing` (SMEAR) merges the weights per
                                  example (prob_dist @ W reshaped to (M,B,C,d)), then two batched
                                  matmuls; `soft_routing` (ensemble) repeats the input over the
                                  N experts and the weights over the batch, runs all N and sums
                                  p-weighted outputs; `switch_routing` (top-k, k = 1) gathers the
                                  argmax expert's weights per example (torch.gather) and scales
                                  its output by that probability; routing_estimator None with
                                  num_adapters 1 (dense) runs the one adapter with plain matmuls.
  adapters/adapter_utils.py       Router: LayerNorm(C) of the router input, router weights
                                  [C,N] LayerNorm-ed per expert over C (gain init 0.01), no bias,
                                  softmax; expert dropout in training (mask, renormalise with
                                  1e-10, logits - 1e10 on dropped experts).
  (Router and Adapter live in bench/reference/routing_ref.py, shared with t5_step.py.)
  utils/util.py (freezing_params) only the AdapterControllers and the classifier train; the
                                  backbone BNs stay in training mode (batch statistics, running
                                  statistics updated), as with the reference's model.train().
  train.py, utils/get_optimizer.py  loss.backward(); clip_grad_norm_(model.parameters(), 1.0);
                                  optim.Adam(model.parameters(), lr, weight_decay);
                                  optimizer.step(); optimizer.zero_grad().
  models/resnet_classifier.py     CrossEntropyLoss, mean, + load_loss_weight * load_loss.

How it maps to the TS step (kernel-lib/models/resnet/resnet.ts, kernel-lib/routing/*):
same placement (BN_pre on o = bn2(conv2) + identity, u added to o, then ReLU), same router
(router.ts), same expert form (experts.ts: swish, no up bias), N = 6 experts (dense: 1), d = 32,
345 classes, expert dropout as the TS methods' defaults (smear 0.1, topk 0.1, ensemble 0,
dense none), same trainable set (the count printed here equals the TS bench's "trainable params":
router parameters of `dense` get no gradient, as in the reference, where Adam skips them).
The TS formulations differ where the reference's are its own: TS top-k uses one-hot merges
instead of gather, TS ensemble uses two wide matmuls instead of repeats; this script times the
reference's formulations (that is what "the reference" means in bench/RESULTS.md). Layout is
PyTorch's NCHW (the TS model is NHWC).

  python3 bench/reference/resnet_step.py --shapes 64 --methods smear,dense --runs 3 --json
  python3 bench/reference/resnet_step.py --device cuda --shapes 64,224 --runs 20 --warmup 5 --json

Only torch is needed (no torchvision, no downloads). Runs with torch 1.13 and 2.x.
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time

from routing_ref import EXPERT_DROPOUT, METHODS, REFERENCE_NAMES, define_routing

# Same batch per shape as bench/resnet.bench.ts (SHAPES there).
SHAPES = {'64': (32, 64), '224': (16, 224)}
NUM_CLASSES = 345
NUM_EXPERTS = 6
BOTTLENECK = 32
NUM_DOMAINS = 6
LR = 1e-3
CLIP_NORM = 1.0


def positive_int(_option):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f'expected a positive integer, got {text!r}')
        if value < 1:
            raise argparse.ArgumentTypeError(f'expected a positive integer, got {value}')
        return value
    return parse


def non_negative_int(_option):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f'expected an integer >= 0, got {text!r}')
        if value < 0:
            raise argparse.ArgumentTypeError(f'expected an integer >= 0, got {value}')
        return value
    return parse


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog='resnet_step.py',
        description='Time the reference (r-three/smear cvl) ResNet18 DomainNet training step in PyTorch: '
        'frozen backbone, 345 classes, a routing block in each of the 8 BasicBlocks (N=6, d=32).',
    )
    p.add_argument('--device', default='cpu', help="'cpu' (default) or 'cuda'")
    p.add_argument('--threads', type=positive_int('--threads'), default=None,
                   help='torch.set_num_threads (and OMP/OpenBLAS/MKL threads); default 1 on cpu, torch default on cuda')
    p.add_argument('--shapes', default=None,
                   help="comma-separated shape keys, as bench/resnet.bench.ts: '64' = batch 32 x 64x64, "
                   "'224' = batch 16 x 224x224 (default: 64,224)")
    p.add_argument('--batch', type=positive_int('--batch'), default=None, help='custom batch size (with --size, instead of --shapes)')
    p.add_argument('--size', type=positive_int('--size'), default=None, help='custom image side in pixels (with --batch)')
    p.add_argument('--methods', default=','.join(METHODS), help=f"comma-separated, from {','.join(METHODS)} (default: all)")
    p.add_argument('--warmup', type=non_negative_int('--warmup'), default=1, help='untimed steps first (default 1)')
    p.add_argument('--runs', type=positive_int('--runs'), default=3, help='timed steps (default 3); the median is reported')
    p.add_argument('--seed', type=non_negative_int('--seed'), default=1, help='torch.manual_seed (default 1)')
    p.add_argument('--json', action='store_true', help='print one JSON object instead of a table')
    a = p.parse_args(argv)

    if a.device not in ('cpu', 'cuda'):
        p.error(f"--device: expected 'cpu' or 'cuda', got {a.device!r}")
    methods = [m.strip() for m in a.methods.split(',') if m.strip()]
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        p.error(f"--methods: expected a comma-separated list from {','.join(METHODS)}, got {a.methods!r}"
                + (f" (unknown: {','.join(bad)})" if bad else ''))
    a.methods = list(dict.fromkeys(methods))
    if (a.batch is None) != (a.size is None):
        p.error(f'--batch and --size go together: got --batch {a.batch} --size {a.size}')
    if a.batch is not None:
        if a.shapes is not None:
            p.error(f'give either --shapes or --batch/--size, not both (got --shapes {a.shapes!r} --batch {a.batch} --size {a.size})')
        a.shapes = [(f'{a.batch}x{a.size}', a.batch, a.size)]
    else:
        keys = [k.strip() for k in (a.shapes or ','.join(SHAPES)).split(',') if k.strip()]
        bad = [k for k in keys if k not in SHAPES]
        if bad or not keys:
            p.error(f"--shapes: expected a comma-separated list from {','.join(SHAPES)} "
                    f"(64 = batch 32 x 64x64, 224 = batch 16 x 224x224), got {a.shapes!r}; "
                    'use --batch B --size S for other shapes')
        a.shapes = [(k, *SHAPES[k]) for k in dict.fromkeys(keys)]
    if a.threads is None and a.device == 'cpu':
        a.threads = 1
    return a


def define_model(torch):
    """The reference's modules (r-three/smear cvl/src), reduced to what the four methods execute."""
    nn = torch.nn
    Router, Adapter, mix = define_routing(torch)  # bench/reference/routing_ref.py

    class AdapterController(nn.Module):
        """adapter_controller_resnet_fast.py AdapterController (add_batch_norm_before_adapter)."""

        def __init__(self, c, method):
            super().__init__()
            self.method = method
            n = 1 if method == 'dense' else NUM_EXPERTS
            self.multi_adapters = Adapter(c, n, BOTTLENECK)
            self.multi_routers = Router(c, n, EXPERT_DROPOUT[method])
            self.pre_batch_norm = nn.BatchNorm2d(c)

        def forward(self, inputs):  # (B,C,H,W) -> (B,C,H,W), load loss
            h, w = inputs.shape[2:]
            z = self.pre_batch_norm(inputs).permute(0, 2, 3, 1)
            z = torch.flatten(z, start_dim=1, end_dim=2)  # (B,S,C)
            load_loss = torch.zeros((), device=inputs.device)
            outputs = mix(self.method, self.multi_adapters, self.multi_routers, z, torch.mean(z, dim=1))  # (B,S,C)
            outputs = torch.nn.Unflatten(1, (h, w))(outputs).permute(0, 3, 1, 2)
            return outputs + inputs, load_loss

    def conv3x3(i, o, stride=1):
        return nn.Conv2d(i, o, kernel_size=3, stride=stride, padding=1, bias=False)

    class BasicBlock(nn.Module):
        def __init__(self, inplanes, planes, stride, downsample, method):
            super().__init__()
            self.conv1 = conv3x3(inplanes, planes, stride)
            self.bn1 = nn.BatchNorm2d(planes)
            self.relu = nn.ReLU(inplace=True)
            self.conv2 = conv3x3(planes, planes)
            self.bn2 = nn.BatchNorm2d(planes)
            self.downsample = downsample
            self.adapter_controller = AdapterController(planes, method)

        def forward(self, inp):
            x, load = inp
            identity = x
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            if self.downsample is not None:
                identity = self.downsample(x)
            out += identity
            out, block_load = self.adapter_controller(out)
            return self.relu(out), load + block_load

    class ResNet18(nn.Module):
        def __init__(self, method, num_classes=NUM_CLASSES):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
            inplanes = 64
            stages = []
            for planes, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
                down = None
                if stride != 1 or inplanes != planes:
                    down = nn.Sequential(nn.Conv2d(inplanes, planes, kernel_size=1, stride=stride, bias=False), nn.BatchNorm2d(planes))
                stages.append(nn.Sequential(BasicBlock(inplanes, planes, stride, down, method), BasicBlock(planes, planes, 1, None, method)))
                inplanes = planes
            self.layer1, self.layer2, self.layer3, self.layer4 = stages
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.classification_layer = nn.Linear(512, num_classes)
            for mod in self.modules():
                if isinstance(mod, nn.Conv2d):
                    nn.init.kaiming_normal_(mod.weight, mode='fan_out', nonlinearity='relu')

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            state = (x, torch.zeros((), device=x.device))
            state = self.layer4(self.layer3(self.layer2(self.layer1(state))))
            x, load = state
            return self.classification_layer(torch.flatten(self.avgpool(x), 1)), load

    def freeze(model):
        """utils/util.py freezing_params: adapter controllers and classifier train, nothing else."""
        for par in model.parameters():
            par.requires_grad = False
        for mod in model.modules():
            if isinstance(mod, AdapterController):
                for par in mod.parameters():
                    par.requires_grad = True
        for par in model.classification_layer.parameters():
            par.requires_grad = True

    return ResNet18, freeze


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


def measure(torch, ResNet18, freeze, method, batch, size, args, dev):
    F = torch.nn.functional
    torch.manual_seed(args.seed)
    model = ResNet18(method).to(dev)
    freeze(model)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=LR, weight_decay=0.0)
    x = torch.randn(batch, 3, size, size, device=dev)
    y = torch.randint(0, NUM_CLASSES, (batch,), device=dev)
    load_loss_weight = 0.0  # no load balancing for these methods (aux losses are zero, as in the TS step)

    def step():
        logits, load = model(x)
        loss = torch.mean(F.cross_entropy(logits, y, reduction='none')) + load_loss_weight * load
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP_NORM)
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
        if trained is None:  # the parameters Adam updated (router of 'dense' gets no gradient, as in the reference)
            trained = sum(p.numel() for p in model.parameters() if optimizer.state.get(p))
    out = {
        'median_s': statistics.median(times),
        'times_s': times,
        'trainable_params': trained,
    }
    if cuda:
        out['peak_memory_bytes'] = torch.cuda.max_memory_allocated()
    del model, optimizer, x, y
    return out


def main(argv):
    args = parse_args(argv)
    if args.threads is not None:
        # OpenBLAS / MKL / OpenMP read these when torch loads them.
        for var in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
            os.environ[var] = str(args.threads)
    try:
        import torch
    except ImportError as e:
        print(f'resnet_step.py: torch is not importable with {sys.executable} ({e}); install PyTorch (e.g. Debian python3-torch, or pip install torch)', file=sys.stderr)
        return 2
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.device == 'cuda' and not torch.cuda.is_available():
        print(f'resnet_step.py: --device cuda: torch {torch.__version__} reports no CUDA device (torch.cuda.is_available() is False)', file=sys.stderr)
        return 2
    dev = torch.device(args.device)
    ResNet18, freeze = define_model(torch)

    info = {
        'script': 'bench/reference/resnet_step.py',
        'command': ' '.join([os.path.basename(sys.executable)] + sys.argv),
        'python': platform.python_version(),
        'torch': torch.__version__,
        'device': args.device,
        'device_name': device_name(torch, args.device),
        'threads': torch.get_num_threads(),
        'warmup': args.warmup,
        'runs': args.runs,
        'seed': args.seed,
        'model': {'classes': NUM_CLASSES, 'experts': NUM_EXPERTS, 'bottleneck': BOTTLENECK, 'expert_dropout': EXPERT_DROPOUT,
                  'optimizer': f'Adam lr {LR}, clip_grad_norm {CLIP_NORM}', 'layout': 'NCHW'},
    }
    if args.device == 'cpu':
        info['mkldnn'] = torch.backends.mkldnn.is_available()
    else:
        info['cuda'] = torch.version.cuda
        info['cudnn'] = torch.backends.cudnn.version()
        info['tf32'] = {'matmul': torch.backends.cuda.matmul.allow_tf32, 'cudnn': torch.backends.cudnn.allow_tf32}
    results = []
    for key, batch, size in args.shapes:
        for method in args.methods:
            row = {'shape': key, 'batch': batch, 'size': size, 'method': method, 'reference_name': REFERENCE_NAMES[method]}
            try:
                row.update(measure(torch, ResNet18, freeze, method, batch, size, args, dev))
            except RuntimeError as e:  # e.g. out of memory: report it and go on
                row['error'] = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            if args.device == 'cuda':
                torch.cuda.empty_cache()
            results.append(row)
            if not args.json:
                if 'error' in row:
                    print(f'{key:>8} {method:<9} failed: {row["error"]}', flush=True)
                else:
                    mem = f'  peak {row["peak_memory_bytes"] / 2**20:.0f} MiB' if 'peak_memory_bytes' in row else ''
                    print(f'{key:>8} {method:<9} {row["median_s"]:.4f} s/step  (runs: {", ".join(f"{t:.4f}" for t in row["times_s"])})'
                          f'  trainable {row["trainable_params"]:,}{mem}', flush=True)
    info['results'] = results
    if args.json:
        print(json.dumps(info))
    else:
        print(f'torch {info["torch"]}, {info["device"]} ({info["device_name"]}), {info["threads"]} thread(s), '
              f'median of {args.runs} after {args.warmup} warm-up')
    return 1 if any('error' in r for r in results) else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
