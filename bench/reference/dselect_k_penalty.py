#!/usr/bin/env python3
"""Recompute the DSelect-k regulariser of captured gate inputs in float64 (numpy only).

Reads the folder bench/dselect-k-penalty.ts wrote (gates-step<n>.json: per routing block
x_hat = LN_in(v) [B,C], Z [C,m], smear-ts's q [B,N] and regulariser) and evaluates the
reference's DSelect-k gate and regulariser as github r-three/smear defines them
(cvl/src/adapters/adapter_utils.py: SmoothStep, Router._compute_example_conditioned_expert_weights,
Router.forward_dselectk_routing; k = num_nonzeros = 1, so the selector weight is 1):

    s_j   = SmoothStep_1(x_hat . Z[:, j])       piecewise: 0 (t <= -1/2), 1 (t >= 1/2), -2t^3 + 3t/2 + 1/2
    q_e   = prod_j (bit_j(e) ? s_j : 1 - s_j)   codes MSB first, e = 0..N-1
    reg   = mean_b sum_e -q log(q + 1e-6)  +  [N not a power of 2] mean_b 1 / sum_e (q_e + 1e-6)

summed over blocks and weighted (0.1 in smear-ts's profiles) into the loss. For every example
whose q sums to 0 it also gives the gradient of that example's penalty with respect to Z
(analytic: the smooth step's slope is 0 outside (-1/2, 1/2)).

    python3 bench/reference/dselect_k_penalty.py /tmp/dsk-gates [--experts 6] [--weight 0.1]
"""
import argparse
import glob
import json
import math
import os
import re

import numpy as np


def smooth_step(t):
    return np.where(t <= -0.5, 0.0, np.where(t >= 0.5, 1.0, -2.0 * t ** 3 + 1.5 * t + 0.5))


def smooth_step_slope(t):
    return np.where(np.abs(t) < 0.5, 1.5 - 6.0 * t ** 2, 0.0)


def gate(xhat, z, n):
    m = z.shape[1]
    codes = np.array([[(e >> (m - 1 - j)) & 1 for j in range(m)] for e in range(n)], dtype=bool)  # [N,m]
    t = xhat @ z  # [B,m]
    s = smooth_step(t)
    factors = np.where(codes[None, :, :], s[:, None, :], 1.0 - s[:, None, :])  # [B,N,m]
    return t, s, codes, factors, factors.prod(axis=2)


def regulariser(q, n):
    entropy = np.mean(np.sum(-q * np.log(q + 1e-6), axis=1))
    penalty = np.mean(1.0 / np.sum(q + 1e-6, axis=1)) if n & (n - 1) else 0.0
    return entropy, penalty


def penalty_grad(xhat_b, t_b, codes, factors_b):
    """d/dZ of 1 / sum_e (q_e + 1e-6) for one example: [C,m]."""
    q = factors_b.prod(axis=1)
    p = 1.0 / np.sum(q + 1e-6)
    m = codes.shape[1]
    dq_ds = np.zeros((codes.shape[0], m))
    for j in range(m):
        others = np.prod(np.delete(factors_b, j, axis=1), axis=1)
        dq_ds[:, j] = np.where(codes[:, j], 1.0, -1.0) * others
    dp_ds = -p * p * dq_ds.sum(axis=0)  # [m]
    return np.outer(xhat_b, dp_ds * smooth_step_slope(t_b))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('folder')
    ap.add_argument('--experts', type=int, default=6)
    ap.add_argument('--weight', type=float, default=0.1)
    a = ap.parse_args()
    n = a.experts
    files = sorted(glob.glob(os.path.join(a.folder, 'gates-step*.json')), key=lambda f: int(re.search(r'step(\d+)', f).group(1)))
    if not files:
        raise SystemExit(f'{a.folder}: no gates-step*.json (run bench/dselect-k-penalty.ts first)')
    batch = None
    for f in files:
        step = int(re.search(r'step(\d+)', f).group(1))
        total_ref = total_ts = 0.0
        worst_q = 0.0
        for blk in json.load(open(f)):
            xhat = np.array(blk['xhat'], dtype=np.float64)
            z = np.array(blk['z'], dtype=np.float64)
            t, s, codes, factors, q = gate(xhat, z, n)
            batch = xhat.shape[0]
            entropy, penalty = regulariser(q, n)
            total_ref += entropy + penalty
            total_ts += blk['reg']
            worst_q = max(worst_q, float(np.max(np.abs(q - np.array(blk['q'])))))
            for b in np.nonzero(q.sum(axis=1) == 0)[0]:
                g = penalty_grad(xhat[b], t[b], codes, factors[b])
                print(f'step {step} block {blk["block"]} example {b}: smooth-step inputs {np.round(t[b], 3).tolist()} -> s {s[b].tolist()}, '
                      f'q = 0 for all {n} experts; its penalty {1 / (n * 1e-6):.1f} (/{batch} in the batch mean); |d penalty / d Z| = {np.linalg.norm(g):.3g}; '
                      f'block regulariser: float64 {entropy + penalty:.3f} (entropy {entropy:.4f} + penalty {penalty:.3f}), smear-ts {blk["reg"]:.3f}')
        print(f'step {step}: {a.weight} x sum over blocks = {a.weight * total_ref:.3f} (float64) vs {a.weight * total_ts:.3f} (smear-ts); max |q difference| {worst_q:.1e}')
    if batch:
        print(f'one example with q = 0 in a batch of {batch}: {a.weight} x 1/({n} x 1e-6) / {batch} = {a.weight / (n * 1e-6) / batch:.2f} added to the loss')


if __name__ == '__main__':
    main()
