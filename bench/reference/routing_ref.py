"""The reference's routing block (Router + Adapter experts), shared by resnet_step.py and t5_step.py.

Follows github r-three/smear:
  cvl/src/adapters/adapter_utils.py, hyperformer/hyperformer/adapters/adapter_utils.py   Router
  cvl/src/adapters/adapter_controller_resnet_fast.py                                    Adapter (ResNet)
  hyperformer/hyperformer/adapters/adapter_controller_fast.py                           Adapter (T5), same formulation
reduced to M = 1 router and the four methods timed here:
  smear    (parameter_averaging_routing)  per-example merged weights prob_dist @ W, then batched matmuls
  dense    (routing_estimator None, num_adapters 1)  one adapter, plain matmuls, the router is not called
  ensemble (soft_routing)  input repeated over the N experts, weights over the batch, p-weighted sum of outputs
  topk     (switch_routing, k = 1)  torch.gather of the argmax expert's weights, output x its probability
Experts: swish(x W_down + b_down) W_up (no up-projection bias), N(0, 0.01^2) init; router: LayerNorm of
the router input, per-expert LayerNorm of the router weights (gain init 0.01), no bias, softmax, expert
dropout in training with renormalisation. Expert dropout per method = the TS methods' defaults
(kernel-lib/routing/methods/*.ts).
"""

METHODS = ('smear', 'dense', 'ensemble', 'topk')
# The reference's routing_estimator names, for the printout.
REFERENCE_NAMES = {'smear': 'parameter_averaging_routing', 'dense': 'None (num_adapters 1)', 'ensemble': 'soft_routing', 'topk': 'switch_routing'}
EXPERT_DROPOUT = {'smear': 0.1, 'dense': 0.0, 'ensemble': 0.0, 'topk': 0.1}
INIT_SCALE = 1e-2  # experts and router (router_init_scale)


def define_routing(torch):
    """Router, Adapter and `mix` (the expert mixture of one block) for this torch."""
    nn = torch.nn
    F = torch.nn.functional

    class Router(nn.Module):
        """adapter_utils.py Router, M = 1 router, no_router_bias, normalize_router_weights."""

        def __init__(self, c, n, expert_dropout):
            super().__init__()
            self.expert_dropout = expert_dropout
            self.router_weights = nn.Parameter(torch.zeros(1, c, n))  # (M,C,N)
            nn.init.normal_(self.router_weights, std=INIT_SCALE)
            self.multi_router_layer_norms = nn.ModuleList([nn.LayerNorm(c)])
            self.multi_router_weights_layer_norms = nn.ModuleList([nn.LayerNorm(c)])
            self.multi_router_weights_layer_norms[0].weight = nn.Parameter(torch.ones(c) * INIT_SCALE)

        def forward(self, x):  # x (B,C)
            new_x = self.multi_router_layer_norms[0](x).unsqueeze(0)  # (M,B,C)
            w = self.multi_router_weights_layer_norms[0](self.router_weights[0].T).T.unsqueeze(0)  # (M,C,N)
            logits = torch.matmul(new_x, w)  # (M,B,N)
            probs = F.softmax(logits, dim=-1)
            if self.training and self.expert_dropout != 0:
                # (the reference draws the mask on the CPU and copies it over; here on the device)
                r = torch.rand(probs.shape, device=probs.device)
                keep = (r >= self.expert_dropout).to(probs.dtype)
                probs = probs * keep
                probs = (probs + 1e-10) / torch.sum(probs + 1e-10, dim=-1, keepdim=True)  # renormalize_adapter_probs
                logits = logits + (1.0 - keep) * -1e10
            return new_x, logits, probs

    class Adapter(nn.Module):
        """adapter_controller_*_fast.py Adapter (same_experts_across_routers off, no up bias)."""

        def __init__(self, c, n, d):
            super().__init__()
            self.down_samplers_weights = nn.Parameter(torch.zeros(1, n, c, d))  # (M,N,C,d)
            nn.init.normal_(self.down_samplers_weights, std=INIT_SCALE)
            self.down_samplers_bias = nn.Parameter(torch.zeros(1, n, d))  # (M,N,d)
            self.up_samplers_weights = nn.Parameter(torch.zeros(1, n, d, c))  # (M,N,d,C)
            nn.init.normal_(self.up_samplers_weights, std=INIT_SCALE)

        def forward(self, x, method, expert_index=None, prob_dist=None):  # x (B,S,C) -> (M,B,S,C)
            b, s, c = x.shape
            dw, db, uw = self.down_samplers_weights, self.down_samplers_bias, self.up_samplers_weights
            m, n, _, d = dw.shape
            if method == 'dense':  # N == 1 and M == 1
                z = F.silu(torch.matmul(x, dw.squeeze(0).squeeze(0)) + db.squeeze(0).squeeze(0))
                return torch.matmul(z, uw.squeeze(0).squeeze(0)).unsqueeze(0)
            if method == 'smear':  # parameter_averaging_routing
                bdw = torch.matmul(prob_dist, dw.reshape(m, n, -1)).reshape(m, b, c, d)  # (M,B,C,d)
                bdb = torch.matmul(prob_dist, db)  # (M,B,d)
                z = F.silu(torch.matmul(x[None], bdw) + bdb[:, :, None, :])  # (M,B,S,d)
                buw = torch.matmul(prob_dist, uw.reshape(m, n, -1)).reshape(m, b, d, c)  # (M,B,d,C)
                return torch.matmul(z, buw)
            if method == 'ensemble':  # soft_routing
                bdw = dw.unsqueeze(1).repeat(1, b, 1, 1, 1)  # (M,B,N,C,d)
                bdb = db.unsqueeze(1).repeat(1, b, 1, 1)  # (M,B,N,d)
                inp = x.unsqueeze(1).repeat(1, n, 1, 1)  # (B,N,S,C)
                z = F.silu(torch.matmul(inp[None], bdw) + bdb[:, :, :, None, :])  # (M,B,N,S,d)
                buw = uw.unsqueeze(1).repeat(1, b, 1, 1, 1)  # (M,B,N,d,C)
                u = torch.matmul(z, buw) * prob_dist[:, :, :, None, None]  # (M,B,N,S,C)
                return torch.sum(u, dim=2)
            if method == 'topk':  # switch_routing: gather the chosen expert per example
                bdw = torch.gather(dw, 1, expert_index[:, :, None, None].repeat(1, 1, c, d))  # (M,B,C,d)
                bdb = torch.gather(db, 1, expert_index[:, :, None].repeat(1, 1, d))  # (M,B,d)
                z = F.silu(torch.matmul(x[None], bdw) + bdb[:, :, None, :])
                buw = torch.gather(uw, 1, expert_index[:, :, None, None].repeat(1, 1, d, c))  # (M,B,d,C)
                return torch.matmul(z, buw)
            raise ValueError(f'Adapter: unknown method {method!r}; expected one of {", ".join(METHODS)}')

    def mix(method, adapters, router, z, z_sent):
        """The expert mixture (B,S,C) of z (B,S,C), routed on z_sent (B,C), as the controllers do."""
        if method == 'dense':
            outputs = adapters(z, 'dense')
        else:
            _, _, probs = router(z_sent)  # (M,B,N)
            if method == 'topk':
                top_p, index = probs.max(dim=-1)  # (M,B)
                outputs = adapters(z, 'topk', expert_index=index) * top_p[:, :, None, None]
            else:
                outputs = adapters(z, method, prob_dist=probs)
        return torch.mean(outputs, dim=0)  # over the M = 1 routers

    return Router, Adapter, mix
