"""A tenth round of real PyTorch programs run on tensorgrad with only the module swapped.

As in ``test_ported_programs.py`` (whose ``run_both`` runs each program with ``torch`` and with
``tensorgrad`` passed as ``torch``, from the same initial weights and buffers), each program is
``program(torch, steps, init, device="cpu")``: a WGAN-GP (a gradient penalty through
``torch.autograd.grad(create_graph=True)``), PPO (clipped surrogate, GAE, minibatch epochs), a
mixture-of-experts layer with top-k gating and ``index_add_`` dispatch, quantization-aware
training through a custom ``torch.autograd.Function`` and
``torch.fake_quantize_per_channel_affine``, a temporal convolutional network with
``parametrizations.weight_norm`` and dilated causal convolutions, LoRA fine-tuning with
parameter groups, gradient accumulation and OneCycleLR, a PixelCNN with masked convolutions, a
Set Transformer over padded sets (``nn.MultiheadAttention`` with ``key_padding_mask``) and a
Bayesian network by Bayes by Backprop (``kl_divergence`` of ``Independent`` normals). All run
in float64 and must equal PyTorch's trajectory (every reported number) and final parameters
and buffers to rounding.

Randomness both runs share (data, interpolation weights, minibatch permutations) is drawn
inside each program from its own ``np.random.default_rng(seed)``; PPO's
``Categorical.sample()`` runs under ``shared_sampling`` (``test_ported_programs_6``), which
draws both libraries' samples from the same NumPy stream; the Bayesian network's
``Normal.rsample`` runs under ``run_both``'s ``shared_normal_noise``.

The gaps the programs and their variants found, each fixed and tested at the end:
``F.softmax`` and ``F.log_softmax`` lacked PyTorch's ``dtype=`` (Mixtral's router computes its
weights with ``dtype=torch.float``); ``torch.fake_quantize_per_tensor_affine`` /
``fake_quantize_per_channel_affine`` were missing; ``nn.TransformerEncoder`` in eval mode with
a padding mask gave the layers' values at padded positions where PyTorch's nested-tensor fast
path gives 0; ``nn.MultiheadAttention`` lacked ``add_bias_kv`` / ``add_zero_attn`` (and took
``batch_first`` where PyTorch's fifth positional argument is ``add_bias_kv``);
``torch.autograd.grad`` lacked ``is_grads_batched``.
"""

import math

import numpy as np
import pytest
from devices import host, on, tensor_on
from test_ported_programs import check_program, torch_run
from test_ported_programs_6 import shared_sampling

import tensorgrad as tg

torch = pytest.importorskip("torch")


# ---------------------------------------------------------------------------------------------
# the programs (plain PyTorch code; only ``torch`` differs)


def wgan_gp_program(torch, steps, init, device="cpu"):
    """WGAN-GP on a 2-D ring of Gaussians: an MLP generator and an MLP critic (LayerNorm, as the
    paper advises instead of BatchNorm), two critic updates per generator update; the gradient
    penalty takes the critic's gradient at random interpolates of real and fake samples by
    torch.autograd.grad(outputs, inputs, grad_outputs=ones_like, create_graph=True) and
    penalises (||grad||_2 - 1)^2, so the critic's step differentiates through its own input
    gradient (second derivatives of Linear, LayerNorm, Tanh and LeakyReLU); Adam with
    betas (0.5, 0.9). Reports each critic loss, its penalty and Wasserstein estimate, and each
    generator loss."""
    nn = torch.nn
    rng = np.random.default_rng(100)
    n, d_z, n_critic, lambda_gp = 16, 3, 2, 10.0

    def real_batch():
        angle = 2 * np.pi * rng.integers(0, 8, size=n) / 8
        centres = np.stack([np.cos(angle), np.sin(angle)], axis=1) * 2
        return torch.tensor(centres + 0.05 * rng.standard_normal((n, 2))).to(device)

    class WGAN(nn.Module):
        def __init__(self):
            super().__init__()
            self.generator = nn.Sequential(nn.Linear(d_z, 16), nn.ReLU(), nn.Linear(16, 16),
                                           nn.Tanh(), nn.Linear(16, 2))
            self.critic = nn.Sequential(nn.Linear(2, 16), nn.LayerNorm(16), nn.LeakyReLU(0.2),
                                        nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 1))

    def gradient_penalty(critic, real, fake):
        alpha = torch.tensor(rng.random((real.size(0), 1))).to(device)
        interpolates = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
        d_interpolates = critic(interpolates)
        gradients = torch.autograd.grad(outputs=d_interpolates, inputs=interpolates,
                                        grad_outputs=torch.ones_like(d_interpolates),
                                        create_graph=True, retain_graph=True)[0]
        return ((gradients.norm(2, dim=1) - 1) ** 2).mean()

    model = WGAN().double()
    init(model)
    model.to(device)
    opt_g = torch.optim.Adam(model.generator.parameters(), lr=2e-3, betas=(0.5, 0.9))
    opt_d = torch.optim.Adam(model.critic.parameters(), lr=2e-3, betas=(0.5, 0.9))
    out = []
    for _ in range(steps):
        for p in model.critic.parameters():
            p.requires_grad = True
        for _ in range(n_critic):
            real = real_batch()
            z = torch.tensor(rng.standard_normal((n, d_z))).to(device)
            fake = model.generator(z).detach()
            opt_d.zero_grad()
            wasserstein = model.critic(real).mean() - model.critic(fake).mean()
            gp = gradient_penalty(model.critic, real, fake)
            d_loss = -wasserstein + lambda_gp * gp
            d_loss.backward()
            opt_d.step()
            out += [d_loss.item(), gp.item(), wasserstein.item()]
        for p in model.critic.parameters():
            p.requires_grad = False  # the generator's step leaves the critic's grads alone
        opt_g.zero_grad()
        z = torch.tensor(rng.standard_normal((n, d_z))).to(device)
        g_loss = -model.critic(model.generator(z)).mean()
        g_loss.backward()
        opt_g.step()
        out.append(g_loss.item())
    out.append(float(model.critic[0].weight.requires_grad))
    return out, model


def ppo_program(torch, steps, init, device="cpu"):
    """PPO on 4 copies of a 6-cell corridor with a goal at the right end: an actor-critic with
    separate Tanh MLPs, actions from Categorical(logits=...).sample() (under shared_sampling),
    the rollout's log-probs and values kept under torch.no_grad(), GAE(lambda) by a reversed
    loop, then 3 epochs over minibatches of 8 from a NumPy permutation: ratio = exp(new - old
    log-prob), the clipped surrogate -min(r A, clamp(r, 1 - eps, 1 + eps) A), a clipped value
    loss (max of the two squared errors), an entropy bonus, clip_grad_norm_ and Adam(eps=1e-5).
    Reports each minibatch's loss, its clip fraction and approximate KL, and each update's
    mean return."""
    nn = torch.nn
    F = torch.nn.functional
    D = torch.distributions
    rng = np.random.default_rng(101)
    n_envs, n_pos, n_actions, horizon = 4, 6, 3, 8
    gamma, lam, clip_eps, epochs, minibatch = 0.95, 0.9, 0.1, 3, 8

    class ActorCritic(nn.Module):
        def __init__(self):
            super().__init__()
            self.actor = nn.Sequential(nn.Linear(n_pos, 16), nn.Tanh(), nn.Linear(16, n_actions))
            self.critic = nn.Sequential(nn.Linear(n_pos, 16), nn.Tanh(), nn.Linear(16, 1))

        def get_action_and_value(self, obs, action=None):
            dist = D.Categorical(logits=self.actor(obs))
            if action is None:
                action = dist.sample()
            return action, dist.log_prob(action), dist.entropy(), self.critic(obs).squeeze(-1)

    model = ActorCritic().double()
    init(model)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=2e-2, eps=1e-5)
    positions = np.zeros(n_envs, dtype=np.int64)

    def observe(positions):
        return F.one_hot(torch.tensor(positions).to(device), n_pos).double()

    out = []
    for _ in range(steps):
        obs_buf = torch.zeros((horizon, n_envs, n_pos), dtype=torch.float64, device=device)
        act_buf = torch.zeros((horizon, n_envs), dtype=torch.long, device=device)
        logp_buf = torch.zeros((horizon, n_envs), dtype=torch.float64, device=device)
        val_buf = torch.zeros((horizon, n_envs), dtype=torch.float64, device=device)
        rew_buf = torch.zeros((horizon, n_envs), dtype=torch.float64, device=device)
        done_buf = torch.zeros((horizon, n_envs), dtype=torch.float64, device=device)
        for t in range(horizon):
            obs = observe(positions)
            with torch.no_grad():
                action, logp, _, value = model.get_action_and_value(obs)
            obs_buf[t], act_buf[t], logp_buf[t], val_buf[t] = obs, action, logp, value
            positions = np.clip(positions + np.array(action.tolist()) - 1, 0, n_pos - 1)
            done = positions == n_pos - 1
            rew_buf[t] = torch.tensor(np.where(done, 1.0, -0.02)).to(device)
            done_buf[t] = torch.tensor(done.astype(np.float64)).to(device)
            positions = np.where(done, 0, positions)
        with torch.no_grad():
            next_value = model.critic(observe(positions)).squeeze(-1)
            advantages = torch.zeros_like(rew_buf)
            last_gae = 0
            for t in reversed(range(horizon)):
                following = next_value if t == horizon - 1 else val_buf[t + 1]
                not_done = 1.0 - done_buf[t]
                delta = rew_buf[t] + gamma * following * not_done - val_buf[t]
                advantages[t] = last_gae = delta + gamma * lam * not_done * last_gae
            returns = advantages + val_buf
        b_obs = obs_buf.reshape(-1, n_pos)
        b_act, b_logp = act_buf.reshape(-1), logp_buf.reshape(-1)
        b_adv, b_ret, b_val = advantages.reshape(-1), returns.reshape(-1), val_buf.reshape(-1)
        for _ in range(epochs):
            order = rng.permutation(horizon * n_envs)
            for start in range(0, horizon * n_envs, minibatch):
                idx = torch.tensor(order[start:start + minibatch]).to(device)
                _, new_logp, entropy, new_value = model.get_action_and_value(b_obs[idx],
                                                                             b_act[idx])
                log_ratio = new_logp - b_logp[idx]
                ratio = log_ratio.exp()
                with torch.no_grad():
                    approx_kl = ((ratio - 1) - log_ratio).mean()
                    clip_frac = ((ratio - 1.0).abs() > clip_eps).float().mean()
                adv = b_adv[idx]
                adv = (adv - adv.mean()) / (adv.std() + 1e-8)
                pg_loss = torch.max(-adv * ratio,
                                    -adv * torch.clamp(ratio, 1 - clip_eps, 1 + clip_eps)).mean()
                v_clipped = b_val[idx] + torch.clamp(new_value - b_val[idx], -clip_eps, clip_eps)
                v_loss = 0.5 * torch.max((new_value - b_ret[idx]) ** 2,
                                         (v_clipped - b_ret[idx]) ** 2).mean()
                loss = pg_loss - 0.01 * entropy.mean() + 0.5 * v_loss
                opt.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(model.parameters(), 0.5)
                opt.step()
                out += [loss.item(), clip_frac.item(), approx_kl.item()]
        out.append(b_ret.mean().item())
    return out, model


def moe_program(torch, steps, init, device="cpu"):
    """A mixture-of-experts layer (as in Switch / GShard / Mixtral's sparse block): a router
    Linear, torch.topk(k=2) of the router logits and a softmax over the chosen ones, dispatch
    per expert by torch.where(selected == e) and token gather, the weighted expert outputs
    added back by index_add_; the dense gate matrix rebuilt by scatter (for the report) and a
    Switch load-balancing loss E * sum_e f_e P_e (f from the top-1 one_hot counts, P the mean
    router probability); a residual LayerNorm block around it, MSE regression; AdamW with a
    cosine schedule. Reports each step's loss, auxiliary loss and tokens per expert."""
    nn = torch.nn
    F = torch.nn.functional
    rng = np.random.default_rng(102)
    n_tokens, d, n_experts, top_k = 24, 6, 4, 2
    x = torch.tensor(rng.standard_normal((n_tokens, d))).to(device)
    target = torch.tensor(np.sin(rng.standard_normal((n_tokens, d)))).to(device)

    class Expert(nn.Module):
        def __init__(self):
            super().__init__()
            self.w1 = nn.Linear(d, 12)
            self.w2 = nn.Linear(12, d)

        def forward(self, h):
            return self.w2(F.gelu(self.w1(h)))

    class SparseMoE(nn.Module):
        def __init__(self):
            super().__init__()
            self.router = nn.Linear(d, n_experts, bias=False)
            self.experts = nn.ModuleList(Expert() for _ in range(n_experts))

        def forward(self, h):
            router_logits = self.router(h)
            probs = F.softmax(router_logits, dim=-1)
            top_logits, selected = torch.topk(router_logits, top_k, dim=-1)
            weights = F.softmax(top_logits, dim=-1, dtype=torch.float64)
            out = torch.zeros_like(h)
            for e, expert in enumerate(self.experts):
                token_idx, slot = torch.where(selected == e)
                if token_idx.numel() == 0:
                    continue
                contribution = expert(h[token_idx]) * weights[token_idx, slot, None]
                out.index_add_(0, token_idx, contribution.to(h.dtype))
            gates = torch.zeros_like(probs).scatter(1, selected, weights)
            top1 = F.one_hot(selected[:, 0], n_experts).float()
            aux = n_experts * torch.sum(top1.mean(dim=0) * probs.mean(dim=0))
            counts = torch.bincount(selected.flatten(), minlength=n_experts)
            return out, aux, gates, counts

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm = nn.LayerNorm(d)
            self.moe = SparseMoE()

        def forward(self, h):
            moe_out, aux, gates, counts = self.moe(self.norm(h))
            return h + moe_out, aux, gates, counts

    model = Block().double()
    init(model)
    model.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-2, weight_decay=0.05)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=1e-3)
    out = []
    for _ in range(steps):
        pred, aux, gates, counts = model(x)
        loss = F.mse_loss(pred, target) + 0.01 * aux
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        out += [loss.item(), aux.item(), gates.sum().item(), gates.max().item()]
        out += counts.tolist()
    return out, model


def qat_program(torch, steps, init, device="cpu"):
    """Quantization-aware training: activations go through a custom torch.autograd.Function
    that fake-quantizes to signed 8-bit (round(x / s), clamp to [-128, 127], times s) with a
    straight-through estimator that passes the gradient inside the range and blocks it outside
    (saved by ctx.save_for_backward), and LSQ's gradient for the learnable step size s (summed
    to its shape, None where ctx.needs_input_grad says no); weights go through
    torch.fake_quantize_per_channel_affine with a per-output-channel float32 scale from a
    min/max observer kept in a buffer (updated under torch.no_grad) and int32 zero points; an
    MLP of two such layers on a regression task; SGD with momentum and Nesterov. Reports the
    loss, the activation scales, the fraction of clipped activations and the observed weight
    scales each step, then eval outputs under torch.no_grad."""
    nn = torch.nn
    F = torch.nn.functional
    rng = np.random.default_rng(103)
    qmin, qmax = -128, 127
    x = torch.tensor(3 * rng.standard_normal((16, 5))).to(device)
    y = torch.tensor(np.tanh(rng.standard_normal((16, 2)))).to(device)

    class FakeQuantize(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, scale):
            q = x / scale
            ctx.save_for_backward(x, scale)
            return torch.clamp(torch.round(q), qmin, qmax) * scale

        @staticmethod
        def backward(ctx, grad_output):
            x, scale = ctx.saved_tensors
            q = x / scale
            inside = (q >= qmin) & (q <= qmax)
            grad_x = grad_scale = None
            if ctx.needs_input_grad[0]:
                grad_x = grad_output * inside.to(grad_output.dtype)
            if ctx.needs_input_grad[1]:
                step = torch.where(inside, torch.round(q) - q, torch.clamp(q, qmin, qmax))
                lsq = 1.0 / math.sqrt(x.numel() * qmax)  # LSQ's gradient scale
                grad_scale = grad_output * step * lsq
                while grad_scale.dim() > scale.dim():
                    grad_scale = grad_scale.sum(0)
                for dim, size in enumerate(scale.shape):
                    if size == 1:
                        grad_scale = grad_scale.sum(dim, keepdim=True)
            return grad_x, grad_scale

    class QuantLinear(nn.Linear):
        def __init__(self, d_in, d_out, act_scale):
            super().__init__(d_in, d_out)
            self.act_scale = nn.Parameter(torch.tensor(act_scale))
            self.register_buffer("weight_scale", torch.ones(d_out))
            self.register_buffer("weight_zero_point", torch.zeros(d_out, dtype=torch.int32))
            self.register_buffer("clipped", torch.zeros(()))

        def forward(self, h):
            if self.training:
                with torch.no_grad():
                    self.clipped.copy_(((h / self.act_scale).abs() > qmax).double().mean())
                    max_abs = self.weight.abs().amax(dim=1).clamp(min=1e-8)
                    self.weight_scale.copy_(max_abs / ((qmax - qmin) / 2))
            h = FakeQuantize.apply(h, self.act_scale)
            w = torch.fake_quantize_per_channel_affine(
                self.weight, self.weight_scale.float(), self.weight_zero_point, 0, qmin, qmax)
            return F.linear(h, w, self.bias)

    model = nn.Sequential(QuantLinear(5, 8, 0.02), nn.ReLU(), QuantLinear(8, 2, 0.05)).double()
    init(model)
    model.to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    out = []
    for _ in range(steps):
        model.train()
        loss = F.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        out += [loss.item(), model[0].act_scale.item(), model[2].act_scale.item(),
                model[0].clipped.item(), model[0].weight_scale.sum().item()]
    model.eval()
    with torch.no_grad():
        out += model(x[:3]).flatten().tolist()
    return out, model


def tcn_program(torch, steps, init, device="cpu"):
    """A temporal convolutional network (Bai et al.): residual blocks of two dilated causal
    Conv1d layers (padding (k-1) * dilation on both sides, the future chomped off by slicing),
    each reparametrized by torch.nn.utils.parametrizations.weight_norm (so the state dict holds
    parametrizations.weight.original0/original1), ReLU, a 1x1 Conv1d downsample on the
    residual where channels change, dilations 1, 2, 4; a linear head on the last time step
    predicts the sum of a noisy sequence; Adam and ReduceLROnPlateau. Reports each step's
    loss, the learning rate and the norm of the first layer's weight as a causality check
    (the output at time t does not change when later inputs do)."""
    nn = torch.nn
    F = torch.nn.functional
    weight_norm = torch.nn.utils.parametrizations.weight_norm
    rng = np.random.default_rng(104)
    batch, length = 6, 12
    seq = torch.tensor(rng.standard_normal((batch, 2, length))).to(device)
    target = seq.sum(dim=(1, 2)).unsqueeze(-1) / length

    class Chomp1d(nn.Module):
        def __init__(self, chomp):
            super().__init__()
            self.chomp = chomp

        def forward(self, x):
            return x[:, :, :-self.chomp].contiguous()

    class TemporalBlock(nn.Module):
        def __init__(self, c_in, c_out, k, dilation):
            super().__init__()
            pad = (k - 1) * dilation
            self.net = nn.Sequential(
                weight_norm(nn.Conv1d(c_in, c_out, k, padding=pad, dilation=dilation)),
                Chomp1d(pad), nn.ReLU(),
                weight_norm(nn.Conv1d(c_out, c_out, k, padding=pad, dilation=dilation)),
                Chomp1d(pad), nn.ReLU())
            self.downsample = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else None

        def forward(self, x):
            res = x if self.downsample is None else self.downsample(x)
            return F.relu(self.net(x) + res)

    class TCN(nn.Module):
        def __init__(self):
            super().__init__()
            channels = [2, 6, 6, 6]
            self.blocks = nn.Sequential(*[TemporalBlock(channels[i], channels[i + 1], 2, 2 ** i)
                                          for i in range(3)])
            self.head = nn.Linear(6, 1)

        def forward(self, x):
            return self.head(self.blocks(x)[:, :, -1])

    model = TCN().double()
    init(model)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=0,
                                                       threshold=0.12)
    out = []
    for _ in range(steps):
        loss = F.mse_loss(model(seq), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step(loss.item())
        first = model.blocks[0].net[0]
        out += [loss.item(), opt.param_groups[0]["lr"], first.weight.norm().item()]
    with torch.no_grad():
        changed = seq.clone()
        changed[:, :, 7:] += 1.0
        early = model.blocks(seq)[:, :, :7] - model.blocks(changed)[:, :, :7]
        out.append(early.abs().max().item())
    return out, model


def lora_program(torch, steps, init, device="cpu"):
    """LoRA fine-tuning: a "pretrained" MLP classifier is frozen by requires_grad_(False), its
    Linear layers wrapped by LoRALinear (a frozen base plus B @ A scaled by alpha / r, A
    kaiming_uniform_ with a=sqrt(5), B zeros, a Dropout of p=0 on the input, as peft does);
    a new head is trained too. AdamW over two parameter groups (the LoRA factors at one
    learning rate without weight decay, the head at another with it), built from
    named_parameters filtered by requires_grad; gradient accumulation over 2 micro-batches
    (loss / 2), OneCycleLR stepped per optimizer step. Finally the adapters are merged into
    the base weights under no_grad and the merged model must reproduce the adapted outputs.
    Reports each micro-batch loss, both groups' learning rates and momenta, the trainable
    parameter count and the merge gap."""
    nn = torch.nn
    F = torch.nn.functional
    rng = np.random.default_rng(105)
    n_classes, accum = 3, 2
    batches = [(torch.tensor(rng.standard_normal((8, 6))).to(device),
                torch.tensor(rng.integers(0, n_classes, size=8)).to(device))
               for _ in range(accum * steps)]

    class LoRALinear(nn.Module):
        def __init__(self, base, r=2, alpha=4):
            super().__init__()
            self.base = base
            self.scaling = alpha / r
            self.lora_A = nn.Parameter(torch.empty(r, base.in_features, dtype=torch.float64))
            self.lora_B = nn.Parameter(torch.zeros(base.out_features, r, dtype=torch.float64))
            nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
            self.dropout = nn.Dropout(p=0.0)

        def forward(self, h):
            lora = self.dropout(h) @ self.lora_A.T @ self.lora_B.T
            return self.base(h) + lora * self.scaling

        @torch.no_grad()
        def merge(self):
            self.base.weight += (self.lora_B @ self.lora_A) * self.scaling
            self.lora_B.zero_()

    class Classifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(6, 16)
            self.fc2 = nn.Linear(16, 16)
            self.head = nn.Linear(16, n_classes)

        def forward(self, h):
            return self.head(F.relu(self.fc2(F.relu(self.fc1(h)))))

    model = Classifier().double()
    model.requires_grad_(False)
    model.fc1 = LoRALinear(model.fc1)
    model.fc2 = LoRALinear(model.fc2)
    model.head = nn.Linear(16, n_classes).double()  # a new, trainable head
    init(model)
    model.to(device)
    lora_params = [p for name, p in model.named_parameters()
                   if "lora_" in name and p.requires_grad]
    head_params = [p for name, p in model.named_parameters()
                   if name.startswith("head") and p.requires_grad]
    opt = torch.optim.AdamW([{"params": lora_params, "lr": 1e-2, "weight_decay": 0.0},
                             {"params": head_params, "lr": 5e-3, "weight_decay": 0.1}])
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[2e-2, 1e-2], total_steps=steps,
                                                pct_start=0.4)
    out = [float(sum(p.numel() for p in model.parameters() if p.requires_grad))]
    opt.zero_grad()
    for i, (xb, yb) in enumerate(batches):
        loss = F.cross_entropy(model(xb), yb) / accum
        loss.backward()
        out.append(loss.item())
        if (i + 1) % accum == 0:
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            for group in opt.param_groups:
                out += [group["lr"], group["betas"][0]]
    model.eval()
    with torch.no_grad():
        before = model(batches[0][0])
        model.fc1.merge()
        model.fc2.merge()
        out.append((model(batches[0][0]) - before).abs().max().item())
    out.append(float(model.fc1.base.weight.grad is None))
    return out, model


def pixelcnn_program(torch, steps, init, device="cpu"):
    """A PixelCNN on 4-level 6x6 images: MaskedConv2d subclasses nn.Conv2d, registers its
    causal mask ('A' hides the centre pixel, 'B' keeps it) with register_buffer and applies it
    in forward by F.conv2d(x, self.weight * self.mask, self.bias, ...); residual blocks of 'B'
    convolutions and 1x1 convolutions with BatchNorm2d, logits over the 4 levels per pixel,
    F.cross_entropy on (N, C, H, W) logits against (N, H, W) targets, reported in bits per
    dimension; Adam with gradient-norm clipping. Then the autoregressive check (the gradient of
    one pixel's logits reaches no later pixel, by torch.autograd.grad) and greedy generation,
    pixel by pixel, of two images in eval mode under torch.no_grad."""
    nn = torch.nn
    F = torch.nn.functional
    rng = np.random.default_rng(106)
    levels, size, ch = 4, 6, 8
    images = torch.tensor(rng.integers(0, levels, size=(8, 1, size, size))).to(device)
    images[:, :, :, 3:] = images[:, :, :, :3]  # something to learn: the right half repeats

    class MaskedConv2d(nn.Conv2d):
        def __init__(self, mask_type, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.register_buffer("mask", torch.ones_like(self.weight))
            _, _, h, w = self.weight.size()
            self.mask[:, :, h // 2, w // 2 + (mask_type == "B"):] = 0
            self.mask[:, :, h // 2 + 1:] = 0

        def forward(self, x):
            return F.conv2d(x, self.weight * self.mask, self.bias, self.stride, self.padding,
                            self.dilation, self.groups)

    class ResidualBlock(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = MaskedConv2d("B", ch, ch, 3, padding=1, bias=False)
            self.norm = nn.BatchNorm2d(ch)
            self.proj = nn.Conv2d(ch, ch, 1)

        def forward(self, x):
            return x + self.proj(F.relu(self.norm(self.conv(F.relu(x)))))

    class PixelCNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.input_conv = MaskedConv2d("A", 1, ch, 5, padding=2)
            self.blocks = nn.Sequential(ResidualBlock(), ResidualBlock())
            self.output = nn.Sequential(nn.ReLU(), MaskedConv2d("B", ch, ch, 1),
                                        nn.ReLU(), nn.Conv2d(ch, levels, 1))

        def forward(self, x):
            x = x.float() / (levels - 1) * 2 - 1
            return self.output(self.blocks(self.input_conv(x.to(self.output[1].weight.dtype))))

    model = PixelCNN().double()
    init(model)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    out = []
    for _ in range(steps):
        model.train()
        logits = model(images)
        loss = F.cross_entropy(logits, images.squeeze(1))
        opt.zero_grad()
        loss.backward()
        norm = nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
        opt.step()
        out += [loss.item() / math.log(2), norm.item()]
    model.eval()
    probe = images[:2].double().requires_grad_(True)
    x = probe / (levels - 1) * 2 - 1
    logits = model.output(model.blocks(model.input_conv(x)))
    grad, = torch.autograd.grad(logits[:, :, 2, 3].sum(), probe)
    flat = grad.abs().sum(dim=(0, 1)).flatten()
    out += [flat[:2 * size + 3].sum().item(), flat[2 * size + 3:].sum().item()]
    sample = torch.zeros(2, 1, size, size, dtype=torch.long, device=device)
    with torch.no_grad():
        for i in range(size):
            for j in range(size):
                sample[:, :, i, j] = model(sample)[:, :, i, j].argmax(dim=1, keepdim=True)
    out += sample.flatten().tolist()
    return out, model


def set_transformer_program(torch, steps, init, device="cpu"):
    """A Set Transformer (Lee et al.) on sets of 2 to 6 points padded to 6: a SAB block
    (nn.MultiheadAttention(batch_first=True) with key_padding_mask marking the padding, a
    residual, LayerNorm, a feed-forward, a residual, LayerNorm) and PMA pooling (a learnable
    seed vector, xavier_uniform_, attending to the set with the same key_padding_mask) predict
    each set's maximum norm; MSE, Adam with a linear warm-up by LambdaLR. Reports each step's
    loss, the PMA attention weights that need_weights returns (averaged over heads) on the
    padded positions (zero) and of one set, and, at the end, how much the prediction moves
    when the padding's values change (nothing)."""
    nn = torch.nn
    F = torch.nn.functional
    rng = np.random.default_rng(107)
    n_sets, max_len, d = 6, 6, 8
    sizes = np.array([2, 6, 3, 5, 4, 6])
    points = rng.standard_normal((n_sets, max_len, 2))
    padding = np.arange(max_len)[None, :] >= sizes[:, None]
    points[padding] = 0.0
    target = np.array([np.linalg.norm(p[:k], axis=1).max() for p, k in zip(points, sizes)])
    points_t = torch.tensor(points).to(device)
    mask = torch.tensor(padding).to(device)
    target_t = torch.tensor(target).unsqueeze(-1).to(device)

    class SAB(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = nn.MultiheadAttention(d, num_heads=2, batch_first=True)
            self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
            self.ff = nn.Sequential(nn.Linear(d, 2 * d), nn.ReLU(), nn.Linear(2 * d, d))

        def forward(self, x, key_padding_mask):
            h, _ = self.attn(x, x, x, key_padding_mask=key_padding_mask, need_weights=False)
            x = self.norm1(x + h)
            return self.norm2(x + self.ff(x))

    class PMA(nn.Module):
        def __init__(self):
            super().__init__()
            self.seed = nn.Parameter(torch.empty(1, 1, d))
            nn.init.xavier_uniform_(self.seed)
            self.attn = nn.MultiheadAttention(d, num_heads=2, batch_first=True)

        def forward(self, x, key_padding_mask):
            query = self.seed.repeat(x.size(0), 1, 1)
            return self.attn(query, x, x, key_padding_mask=key_padding_mask)

    class SetTransformer(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Linear(2, d)
            self.sab = SAB()
            self.pma = PMA()
            self.head = nn.Linear(d, 1)

        def forward(self, x, key_padding_mask):
            h = self.sab(self.embed(x), key_padding_mask)
            pooled, weights = self.pma(h, key_padding_mask)
            return self.head(pooled.squeeze(1)), weights

    model = SetTransformer().double()
    init(model)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: min(1.0, (step + 1) / 3))
    out = []
    for _ in range(steps):
        pred, weights = model(points_t, mask)
        loss = F.mse_loss(pred, target_t)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        out += [loss.item(), weights[mask.unsqueeze(1)].abs().sum().item()]
        out += weights[2, 0].tolist()
    model.eval()
    with torch.no_grad():
        moved = points_t.masked_fill(mask.unsqueeze(-1), 5.0)
        out.append((model(moved, mask)[0] - model(points_t, mask)[0]).abs().max().item())
    return out, model


def bnn_program(torch, steps, init, device="cpu"):
    """A Bayesian neural network by Bayes by Backprop: BayesLinear layers keep a mean and a rho
    per weight and bias, sigma = softplus(rho), draw weights by Normal(mu, sigma).rsample()
    (under shared_normal_noise, so both runs draw the same noise), and sum the KL of
    Independent(Normal(mu, sigma), 2) from an Independent standard-normal prior, expanded to
    the weight's shape, by torch.distributions.kl_divergence; the negative ELBO averages two
    Monte Carlo samples of the Gaussian log-likelihood Normal(pred, 0.1).log_prob(y) and adds
    the KL scaled by 1 / n; Adam. Reports the loss, the KL and the mean sigma each step, then
    the predictive mean and standard deviation over 3 samples at 2 test points."""
    nn = torch.nn
    F = torch.nn.functional
    D = torch.distributions
    rng = np.random.default_rng(108)
    n = 20
    x = torch.tensor(rng.uniform(-2, 2, size=(n, 1))).to(device)
    y = torch.sin(2 * x) + 0.1 * torch.tensor(rng.standard_normal((n, 1))).to(device)

    class BayesLinear(nn.Module):
        def __init__(self, d_in, d_out):
            super().__init__()
            self.weight_mu = nn.Parameter(torch.empty(d_out, d_in).uniform_(-0.5, 0.5))
            self.weight_rho = nn.Parameter(torch.full((d_out, d_in), -3.0))
            self.bias_mu = nn.Parameter(torch.zeros(d_out))
            self.bias_rho = nn.Parameter(torch.full((d_out,), -3.0))

        def posterior(self, mu, rho, dims):
            return D.Independent(D.Normal(mu, F.softplus(rho)), dims)

        def forward(self, h):
            q_w = self.posterior(self.weight_mu, self.weight_rho, 2)
            q_b = self.posterior(self.bias_mu, self.bias_rho, 1)
            prior_w = D.Independent(D.Normal(torch.tensor(0.0, dtype=h.dtype, device=h.device),
                                             1.0).expand(self.weight_mu.shape), 2)
            prior_b = D.Independent(D.Normal(torch.zeros_like(self.bias_mu),
                                             torch.ones_like(self.bias_mu)), 1)
            self.kl = D.kl_divergence(q_w, prior_w) + D.kl_divergence(q_b, prior_b)
            return F.linear(h, q_w.rsample(), q_b.rsample())

    class BNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList([BayesLinear(1, 16), BayesLinear(16, 1)])

        def forward(self, h):
            h = torch.tanh(self.layers[0](h))
            return self.layers[1](h)

        def kl(self):
            return sum(layer.kl for layer in self.layers)

    model = BNN().double()
    init(model)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=2e-2)
    out = []
    for _ in range(steps):
        nll = 0.0
        for _ in range(2):
            pred = model(x)
            nll = nll - D.Normal(pred, 0.1).log_prob(y).sum() / 2
        kl = model.kl()
        loss = (nll + kl) / n
        opt.zero_grad()
        loss.backward()
        opt.step()
        sigma = F.softplus(model.layers[0].weight_rho).mean()
        out += [loss.item(), kl.item(), sigma.item()]
    with torch.no_grad():
        test = torch.tensor([[-1.0], [0.5]], dtype=torch.float64, device=device)
        draws = torch.stack([model(test) for _ in range(3)])
        out += draws.mean(0).flatten().tolist() + draws.std(0).flatten().tolist()
    return out, model


PROGRAMS = {"wgan_gp": (wgan_gp_program, 3), "ppo": (ppo_program, 2), "moe": (moe_program, 5),
            "qat": (qat_program, 5), "tcn": (tcn_program, 5), "lora": (lora_program, 5),
            "pixelcnn": (pixelcnn_program, 3), "set_transformer": (set_transformer_program, 4),
            "bnn": (bnn_program, 4)}


# ---------------------------------------------------------------------------------------------
# the tests


# The Set Transformer's key projection bias gets a gradient that is zero in exact arithmetic
# (softmax is invariant to a shift shared by all keys of a query), so both libraries move it
# by Adam steps of rounding noise, ~1e-12 (test_programs_are_not_vacuous checks the size)
STATE_ATOL = {"set_transformer": 1e-10}


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_program_matches_torch(name, device):
    """The program's losses (and every other number it reports) and its final parameters and
    buffers equal PyTorch's, with model and data moved by ``.to(device)``."""
    check_program(PROGRAMS, name, device, STATE_ATOL.get(name, 1e-12), shared_sampling)


def _torch_run(name):
    return torch_run(PROGRAMS, name, shared_sampling)


def test_programs_are_not_vacuous():
    """What the comparisons rely on happens: the WGAN's penalty is active and the critic is
    frozen for the generator's step; PPO's clipping is active; every expert of the MoE gets
    tokens; the QAT activation clamp clips; the TCN's plateau schedule halves the rate and the
    network is causal; LoRA's schedule rises and falls and the merge reproduces the adapted
    model; the PixelCNN is autoregressive; the Set Transformer ignores its padding; the
    Bayesian network's KL and sigma move."""
    wgan, _ = _torch_run("wgan_gp")
    assert min(wgan[1:-1:7]) > 1e-3 and wgan[-1] == 0.0  # penalty (critic updates), frozen
    ppo, _ = _torch_run("ppo")
    assert max(ppo[1:36:3]) > 0.1  # some minibatches clip the ratio
    moe, _ = _torch_run("moe")
    assert all(c > 0 for c in moe[4:8]) and sum(moe[4:8]) == 2 * 24  # top-2 of 24 tokens
    qat, _ = _torch_run("qat")
    assert min(qat[3:25:5]) > 0.1 and len(set(qat[1:25:5])) == 5  # clipping; the scale moves
    tcn, _ = _torch_run("tcn")
    assert tcn[1] > tcn[-3] and tcn[-1] == 0.0  # lr reduced on plateau; causal
    lora, lora_model = _torch_run("lora")
    lrs = lora[3:-2:6]
    assert max(lrs) == 0.02 and lrs[-2] < 1e-6 and lora[-2] < 1e-12 and lora[-1] == 1.0
    assert lora[0] == sum(p.numel() for n, p in lora_model.named_parameters() if "base" not in n)
    pixel, _ = _torch_run("pixelcnn")
    assert pixel[6] > 1e-3 and pixel[7] == 0.0  # earlier pixels reached, later ones not
    sets, model = _torch_run("set_transformer")
    assert sets[-1] < 1e-12 and sets[1] == 0.0 and sets[-9] < 0.8 * sets[0]
    key_bias = model.sab.attn.in_proj_bias[8:16]
    assert key_bias.abs().max() < 1e-9  # the noise STATE_ATOL allows for
    bnn, _ = _torch_run("bnn")
    assert bnn[1] != bnn[4] and bnn[2] != bnn[5] and min(bnn[-2:]) > 0  # KL, sigma move


# ---------------------------------------------------------------------------------------------
# the gaps the programs found, each fixed and tested on its own


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("dim", [-1, 0, None])
def test_softmax_dtype_and_implicit_dim(name, dim, device):
    """F.softmax / F.log_softmax take PyTorch's ``dtype=`` (the input is cast first, so a
    float32 input gives a float64 answer and a float32 gradient) and PyTorch's implicit ``dim``
    for ``dim=None``; values and gradients equal PyTorch's."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 4)).astype(np.float32)
    w = rng.standard_normal((3, 4))
    ours = tensor_on(x, device, requires_grad=True)
    theirs = torch.tensor(x, requires_grad=True)
    with pytest.warns(UserWarning) if dim is None else _no_warning():
        want = getattr(torch.nn.functional, name)(theirs, dim, dtype=torch.float64)
    got = getattr(tg.nn.functional, name)(ours, dim, dtype=tg.float64)
    assert got.dtype == tg.float64 and on(got, device)
    np.testing.assert_allclose(host(got), want.detach().numpy(), rtol=1e-12, atol=1e-12)
    (got * tensor_on(w, device)).sum().backward()
    (want * torch.tensor(w)).sum().backward()
    assert ours.grad.dtype == tg.float32
    np.testing.assert_allclose(host(ours.grad), theirs.grad.numpy(), rtol=1e-5, atol=1e-6)


def _no_warning():
    import contextlib

    return contextlib.nullcontext()


def test_softmax_dtype_derivatives_by_finite_differences():
    """The cast in front changes nothing in the derivative: softmax(x, dtype=float64) checked
    to second order in both modes."""
    x = np.random.default_rng(8).standard_normal((2, 3))
    for fn in (tg.nn.functional.softmax, tg.nn.functional.log_softmax):
        tg.check_grads(lambda t, fn=fn: fn(t, 1, dtype=tg.float64), modes=("fwd", "rev"),
                       order=2)(tg.tensor(x))


def _fake_quant_cases(lib, move):
    """(input, function) pairs; ``move`` puts the qparam tensors where the input is."""
    rng = np.random.default_rng(9)
    x = rng.standard_normal((3, 40)) * 4
    scale = move(np.array([0.1, 0.037, 1 / 3], np.float32))
    zero = move(np.array([2, 0, -5], np.int32))
    return [
        (x, lambda t: lib.fake_quantize_per_tensor_affine(t, 0.037, 3, -128, 127)),
        (x, lambda t: lib.fake_quantize_per_tensor_affine(t, 0.1, -2, -8, 7)),
        (x.astype(np.float32), lambda t: lib.fake_quantize_per_tensor_affine(t, 1 / 3, 0, 0, 15)),
        (x, lambda t: lib.fake_quantize_per_channel_affine(t, scale, zero, 0, -16, 15)),
        (x.T.copy(), lambda t: lib.fake_quantize_per_channel_affine(t, scale, zero, 1, -128, 127)),
    ]


@pytest.mark.parametrize("case", range(5))
def test_fake_quantize_equals_torch(case, device):
    """torch.fake_quantize_per_tensor_affine / _per_channel_affine: the values equal PyTorch's
    bit for bit (its float32 scale and arithmetic), in the input's dtype and on its device; the
    gradient is PyTorch's straight-through mask, zero outside the range."""
    x, theirs_fn = _fake_quant_cases(torch, torch.tensor)[case]
    _, ours_fn = _fake_quant_cases(tg, lambda a: tensor_on(a, device))[case]
    w = np.random.default_rng(10).standard_normal(x.shape)
    theirs = torch.tensor(x, requires_grad=True)
    ours = tensor_on(x, device, requires_grad=True)
    want, got = theirs_fn(theirs), ours_fn(ours)
    assert got.dtype == ours.dtype and on(got, device)
    np.testing.assert_array_equal(host(got), want.detach().numpy())
    (want * torch.tensor(w)).sum().backward()
    (got * tensor_on(w, device)).sum().backward()
    np.testing.assert_array_equal(host(ours.grad), theirs.grad.numpy())
    assert 0 < (theirs.grad == 0).sum() < x.size  # the mask cuts somewhere, not everywhere


def test_fake_quantize_higher_order_and_forward_mode():
    """The straight-through estimator's own derivative is zero (grad of grad through
    create_graph, as PyTorch's), and forward mode gives the tangent times the mask."""
    x = np.random.default_rng(11).standard_normal(30) * 2
    results = []
    for lib in (torch, tg):
        t = lib.tensor(x, requires_grad=True)
        y = lib.fake_quantize_per_tensor_affine(t, 0.25, 0, -4, 3)
        g, = lib.autograd.grad((y * t).sum(), t, create_graph=True)
        gg, = lib.autograd.grad(g.sum(), t)
        results.append((g.detach(), gg))
    for a, b in zip(*results):
        np.testing.assert_array_equal(host(b), a.numpy())
    tangent = np.random.default_rng(12).standard_normal(30)
    _, ours = tg.func.jvp(lambda t: tg.fake_quantize_per_tensor_affine(t, 0.25, 0, -4, 3),
                          (tg.tensor(x),), (tg.tensor(tangent),))
    t = torch.tensor(x, requires_grad=True)  # PyTorch has no forward-mode rule: its mask
    torch.fake_quantize_per_tensor_affine(t, 0.25, 0, -4, 3).sum().backward()
    np.testing.assert_array_equal(host(ours), tangent * t.grad.numpy())
    assert 0 < (t.grad == 0).sum() < 30


@pytest.mark.parametrize("call, error, match", [
    (lambda x: tg.fake_quantize_per_tensor_affine(x, 0.1, 0, 5, 3), RuntimeError, "quant_min"),
    (lambda x: tg.fake_quantize_per_tensor_affine(x, 0.1, 9, -8, 7), RuntimeError,
     "zero_point"),
    (lambda x: tg.fake_quantize_per_tensor_affine(x.long(), 0.1, 0, -8, 7), TypeError,
     "floating"),
    (lambda x: tg.fake_quantize_per_tensor_affine(
        x, tg.tensor(0.1, requires_grad=True), 0, -8, 7), RuntimeError, "'scale'"),
    (lambda x: tg.fake_quantize_per_channel_affine(x, tg.ones(3), tg.zeros(3, dtype=tg.int32),
                                                   0, -8, 7), RuntimeError, r"\(3,\)"),
    (lambda x: tg.fake_quantize_per_channel_affine(x, tg.ones(5), tg.zeros(5, dtype=tg.int32),
                                                   2, -8, 7), RuntimeError, "axis"),
    (lambda x: tg.fake_quantize_per_channel_affine(x, tg.ones(5), tg.full((5,), 9, dtype=tg.int32),
                                                   0, -8, 7), RuntimeError, "zero_point"),
])
def test_fake_quantize_bad_input(call, error, match):
    """Bad arguments get PyTorch's kind of error, naming the op and the argument."""
    with pytest.raises(error, match=match) as info:
        call(tg.tensor(np.linspace(-1, 1, 10).reshape(5, 2)))
    assert "fake_quantize_per_" in str(info.value)


def _fill(lib, module):
    """Deterministic weights, the same in both libraries."""
    with lib.no_grad():
        for i, (_, p) in enumerate(sorted(module.named_parameters())):
            p.copy_(lib.tensor(0.3 * np.sin(np.arange(p.numel()) * 0.37 + i).reshape(p.shape)))
    return module


# (layer keywords, encoder keywords, mode, padding rows, grad enabled, float mask)
_FAST_PATH = {
    "fast_path_with_norm": (dict(batch_first=True), dict(norm=True), "eval", "ends", False),
    "fast_path_gelu_float_mask": (dict(batch_first=True, activation="gelu"), {}, "eval",
                                  "ends", "float"),
    "padding_not_at_the_ends": (dict(batch_first=True), {}, "eval", "middle", False),
    "odd_heads": (dict(batch_first=True, nhead=1), {}, "eval", "ends", False),
    "not_batch_first": ({}, {}, "eval", "ends", False),
    "norm_first": (dict(batch_first=True, norm_first=True), {}, "eval", "ends", False),
    "training": (dict(batch_first=True), {}, "train", "ends", False),
    "grad_enabled": (dict(batch_first=True), {}, "eval", "ends", "grad"),
    "nested_disabled": (dict(batch_first=True), dict(enable_nested_tensor=False), "eval",
                        "ends", False),
}


@pytest.mark.filterwarnings("ignore:enable_nested_tensor is True:UserWarning")
@pytest.mark.filterwarnings("ignore:The PyTorch API of nested tensors:UserWarning")
@pytest.mark.parametrize("case", list(_FAST_PATH))
def test_transformer_encoder_padding_as_torchs_fast_path(case, device):
    """nn.TransformerEncoder with a src_key_padding_mask equals PyTorch's in every case of its
    nested-tensor fast path: where PyTorch takes it (eval, no gradient recorded, batch_first,
    padding at the ends, an even number of heads, ...) the padded positions of the output are
    0 (the final norm's value at 0), elsewhere they are the layers' values."""
    layer_kw, enc_kw, mode, rows, flag = _FAST_PATH[case]
    layer_kw = dict(dict(d_model=8, nhead=2, dim_feedforward=16, dropout=0.0), **layer_kw)
    batch_first = layer_kw.get("batch_first", False)
    rng = np.random.default_rng(13)
    x = rng.standard_normal((2, 5, 8))
    pad = np.zeros((2, 5), bool)
    pad[0, (3, 4) if rows == "ends" else (1, 3)] = True
    outs = []
    for lib, move in ((torch, torch.tensor), (tg, lambda a: tensor_on(a, device))):
        kw = dict(enc_kw)
        if kw.pop("norm", False):
            kw["norm"] = lib.nn.LayerNorm(8)
        layer = lib.nn.TransformerEncoderLayer(**layer_kw)
        enc = _fill(lib, lib.nn.TransformerEncoder(layer, 2, **kw).double())
        enc.to(device if lib is tg else "cpu").train(mode == "train")
        src = move(x if batch_first else x.transpose(1, 0, 2).copy())
        mask = move(np.where(pad, -np.inf, 0.0) if flag == "float" else pad)
        with lib.set_grad_enabled(flag == "grad"):
            out = enc(src, src_key_padding_mask=mask)
        out = out.detach()
        outs.append(out if batch_first else out.transpose(0, 1))
    theirs, ours = outs
    assert on(ours, device)
    np.testing.assert_allclose(host(ours), theirs.numpy(), rtol=1e-10, atol=1e-12)
    at_zero = 0.0 if enc.norm is None else host(enc.norm.bias.detach())  # norm(0) = bias
    fast = case.startswith("fast_path")
    assert np.array_equal(host(ours)[0, 3:], np.broadcast_to(at_zero, (2, 8))) == fast


@pytest.mark.parametrize("kw", [dict(add_bias_kv=True), dict(add_zero_attn=True),
                                dict(add_bias_kv=True, add_zero_attn=True, batch_first=True),
                                dict(add_bias_kv=True, bias=False, kdim=3, vdim=5)])
def test_multihead_attention_bias_kv_and_zero_attn(kw, device):
    """nn.MultiheadAttention(add_bias_kv=, add_zero_attn=) in PyTorch's argument order: the
    learned key and value, then a zero one, are appended to every sequence (each mask keeps
    them, the weights have a column for each); outputs, weights, state-dict keys and every
    gradient equal PyTorch's."""
    rng = np.random.default_rng(14)
    kdim, vdim = kw.get("kdim", 4), kw.get("vdim", 4)
    q, k, v = (rng.standard_normal((3, 2, d)) for d in (4, kdim, vdim))
    if kw.get("batch_first"):
        q, k, v = (a.transpose(1, 0, 2).copy() for a in (q, k, v))
    pad = np.array([[False, False, True], [False] * 3])
    causal = np.triu(np.ones((3, 3), bool), 1)
    results = []
    for lib, move in ((torch, torch.tensor), (tg, lambda a: tensor_on(a, device))):
        mha = _fill(lib, lib.nn.MultiheadAttention(4, 2, **kw).double()).to(
            device if lib is tg else "cpu")
        qt, kt, vt = (move(a).requires_grad_(True) for a in (q, k, v))
        out, weights = mha(qt, kt, vt, key_padding_mask=move(pad), attn_mask=move(causal),
                           average_attn_weights=False)
        (out * move(np.linspace(-1, 1, out.numel()).reshape(tuple(out.shape)))).sum().backward()
        grads = [t.grad for t in (qt, kt, vt)]
        grads += [p.grad for _, p in sorted(mha.named_parameters())]
        results.append((list(mha.state_dict()), [out, weights] + grads))
    (their_keys, theirs), (our_keys, ours) = results
    assert our_keys == their_keys
    assert tuple(ours[1].shape) == (2, 2, 3, 3 + kw.get("add_bias_kv", 0) +
                                    kw.get("add_zero_attn", 0))
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(host(a.detach()), b.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_multihead_attention_bias_kv_derivatives_by_finite_differences():
    """The appended key and value are on the tape: the output's derivatives with respect to
    bias_k and bias_v, checked to second order in both modes."""
    tg.manual_seed(0)
    mha = tg.nn.MultiheadAttention(4, 2, add_bias_kv=True, add_zero_attn=True).double()
    x = tg.tensor(np.random.default_rng(15).standard_normal((3, 1, 4)))

    def f(bias_k, bias_v):  # finite differences evaluate on arrays, hence as_tensor
        params = {"bias_k": tg.as_tensor(bias_k), "bias_v": tg.as_tensor(bias_v)}
        return tg.func.functional_call(mha, params, (x, x, x))[0]

    tg.check_grads(f, modes=("fwd", "rev"), order=2)(mha.bias_k.detach(), mha.bias_v.detach())


def test_autograd_grad_is_grads_batched(device):
    """torch.autograd.grad(is_grads_batched=True): the rows of the cotangent batch give the
    rows of a Jacobian, with create_graph a Jacobian penalty differentiates on into the
    weights, and an unused input gives None (or zeros of its shape with materialize_grads);
    all equal to PyTorch's."""
    rng = np.random.default_rng(16)
    x0, w0 = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))
    results = []
    for lib, move in ((torch, torch.tensor), (tg, lambda a: tensor_on(a, device))):
        x, w = move(x0).requires_grad_(True), move(w0).requires_grad_(True)
        unused = move(np.ones(2)).requires_grad_(True)
        y = lib.tanh(x @ w)  # (3, 2)
        basis = move(np.eye(2)[:, None, :].repeat(3, axis=1))  # (2, 3, 2): d y[:, j]
        jac, none = lib.autograd.grad(y, (x, unused), basis, create_graph=True,
                                      allow_unused=True, is_grads_batched=True)
        zeros = lib.autograd.grad(y, unused, basis, is_grads_batched=True, retain_graph=True,
                                  materialize_grads=True)[0]
        penalty = (jac ** 2).sum()
        penalty.backward()
        results.append((none, [jac, penalty, w.grad, x.grad, zeros]))
    (their_none, theirs), (our_none, ours) = results
    assert their_none is None and our_none is None
    # (PyTorch materializes an unused input's zeros without the batch dimension)
    assert tuple(ours[0].shape) == (2, 3, 4) and tuple(ours[-1].shape) == (2,)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(host(a.detach()), b.detach().numpy(), rtol=1e-12, atol=1e-12)
    with pytest.raises(RuntimeError, match="is_grads_batched"):
        x = tg.tensor(x0, requires_grad=True)
        tg.autograd.grad(x.sum(), x, tg.ones(3, 2), is_grads_batched=True)

