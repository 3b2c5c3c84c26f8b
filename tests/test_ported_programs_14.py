"""A fourteenth round of real PyTorch programs run on tensorgrad with only the module swapped.

As in ``test_ported_programs.py`` (whose ``run_both`` runs each program with ``torch`` and with
``tensorgrad`` passed as ``torch``, from the same initial weights and buffers, ``Normal.rsample``
drawing the same NumPy noise in both), each program is ``program(torch, steps, init,
device="cpu")``. This round ports the building blocks of recent models: soft actor-critic
(``TransformedDistribution`` with ``TanhTransform`` beside the hand-written tanh correction,
twin Q networks, target networks moved by ``lerp_``/``mul_``/``add_`` under ``no_grad``,
automatic entropy tuning), a Dreamer-style RSSM (``GRUCell``, ``kl_divergence`` of
``Independent`` Normals with KL balancing and free nats), a LLaMA-style transformer (rotary
embeddings by ``torch.polar``/``view_as_complex`` and by ``rotate_half``, a hand-written
RMSNorm, SwiGLU, ``scaled_dot_product_attention(is_causal=True)``, grouped-query attention by
``repeat_interleave``, tied embeddings), a Mamba-like selective scan written with ``cumsum``,
``exp`` and ``einsum``, a Hyena-like long convolution through ``torch.fft.rfft``/``irfft`` with
an implicit filter, nucleus (top-p) sampling with ``sort``/``cumsum``/``scatter``/
``torch.multinomial`` feeding a REINFORCE term, a WaveNet (dilated causal ``Conv1d``, gated
activations, skip connections, mu-law quantization with ``sign``/``log1p``), a seq2seq with
Bahdanau attention and scheduled sampling, and a CLIP-style audio-text model (``F.interpolate``
mode="linear", ``avg_pool1d(ceil_mode=True, count_include_pad=False)``,
``adaptive_max_pool1d``). All run in float64 and must equal PyTorch's trajectory and final
state to rounding.

Randomness both runs share is drawn inside each program from its own
``np.random.default_rng(seed)``; ``torch.multinomial`` draws from a shared NumPy stream
(``shared_multinomial``) by inverse CDF, in both libraries.

The gaps the programs found, fixed and tested at the end: ``tg.tril``/``triu`` (and tnp's) of a
bool tensor returned int64, so ``~causal`` was not a mask; ``scatter`` (and every scatter-add
path) of bool or 8/16-bit integer tensors failed on CUDA, whose ``add.at`` lacks those dtypes;
``avg_pool1d``/``AvgPool1d`` refused ``ceil_mode`` and ``count_include_pad=False``, and
``avg_pool2d``/``AvgPool2d`` took neither nor ``divisor_override``.
"""

import contextlib
import copy
import math

import numpy as np
import pytest
from devices import host, on
from test_ported_programs import check_program, torch_run

import tensorgrad as tg

torch = pytest.importorskip("torch")


# ---------------------------------------------------------------------------------------------
# the programs (plain PyTorch code; only ``torch`` differs)


def sac_program(torch, steps, init, device="cpu"):
    """Soft actor-critic updates on a replay batch: a tanh-squashed Gaussian actor (a
    TransformedDistribution of Normal and TanhTransform(cache_size=1), rsample, log_prob of the
    sampled action, beside the log-density corrected by hand), twin Q networks with clipped
    double-Q targets from target networks, the targets moved by lerp_ (one) and mul_/add_ (the
    other) under no_grad, automatic entropy tuning of log_alpha. Three Adams. Reports the
    critic, actor and alpha losses, alpha and the gap between the two log-densities."""
    nn = torch.nn
    F = torch.nn.functional
    D = torch.distributions
    rng = np.random.default_rng(70)
    obs_dim, act_dim, batch, gamma, tau = 4, 2, 12, 0.9, 0.05
    obs = torch.tensor(rng.standard_normal((steps, batch, obs_dim))).to(device)
    actions = torch.tensor(rng.uniform(-0.9, 0.9, (steps, batch, act_dim))).to(device)
    rewards = torch.tensor(rng.standard_normal((steps, batch, 1))).to(device)
    next_obs = torch.tensor(rng.standard_normal((steps, batch, obs_dim))).to(device)
    dones = torch.tensor((rng.random((steps, batch, 1)) < 0.2).astype(np.float64)).to(device)

    class Actor(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(obs_dim, 16), nn.ReLU())
            self.mu = nn.Linear(16, act_dim)
            self.log_std = nn.Linear(16, act_dim)

        def forward(self, s):
            h = self.body(s)
            log_std = torch.clamp(self.log_std(h), -5.0, 2.0)
            base = D.Normal(self.mu(h), log_std.exp())
            squashed = D.TransformedDistribution(base, [D.TanhTransform(cache_size=1)])
            action = squashed.rsample()
            log_prob = squashed.log_prob(action).sum(-1, keepdim=True)
            u = torch.atanh(action.clamp(-1 + 1e-12, 1 - 1e-12))
            by_hand = (base.log_prob(u) - torch.log(1 - action.pow(2) + 1e-6)).sum(-1, True)
            return action, log_prob, by_hand

    class QNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(obs_dim + act_dim, 16), nn.ReLU(),
                                     nn.Linear(16, 1))

        def forward(self, s, a):
            return self.net(torch.cat([s, a], -1))

    class Agent(nn.Module):
        def __init__(self):
            super().__init__()
            self.actor = Actor()
            self.q1, self.q2 = QNet(), QNet()
            self.q1_target, self.q2_target = copy.deepcopy(self.q1), copy.deepcopy(self.q2)
            for p in list(self.q1_target.parameters()) + list(self.q2_target.parameters()):
                p.requires_grad_(False)
            self.log_alpha = nn.Parameter(torch.tensor([math.log(0.2)]))

    agent = Agent().double()
    init(agent)
    agent.to(device)
    actor_opt = torch.optim.Adam(agent.actor.parameters(), lr=3e-3)
    critic_opt = torch.optim.Adam(list(agent.q1.parameters()) + list(agent.q2.parameters()),
                                  lr=3e-3)
    alpha_opt = torch.optim.Adam([agent.log_alpha], lr=1e-2)
    target_entropy = -float(act_dim)
    out = []
    for t in range(steps):
        alpha = agent.log_alpha.exp()
        with torch.no_grad():
            next_a, next_logp, _ = agent.actor(next_obs[t])
            q_next = torch.min(agent.q1_target(next_obs[t], next_a),
                               agent.q2_target(next_obs[t], next_a)) - alpha * next_logp
            target = rewards[t] + gamma * (1 - dones[t]) * q_next
        critic_loss = (F.mse_loss(agent.q1(obs[t], actions[t]), target)
                       + F.mse_loss(agent.q2(obs[t], actions[t]), target))
        critic_opt.zero_grad()
        critic_loss.backward()
        critic_opt.step()

        a, logp, by_hand = agent.actor(obs[t])
        q = torch.min(agent.q1(obs[t], a), agent.q2(obs[t], a))
        actor_loss = (alpha.detach() * logp - q).mean()
        actor_opt.zero_grad()
        actor_loss.backward()
        actor_opt.step()

        alpha_loss = -(agent.log_alpha * (logp + target_entropy).detach()).mean()
        alpha_opt.zero_grad()
        alpha_loss.backward()
        alpha_opt.step()

        with torch.no_grad():
            for p, tp in zip(agent.q1.parameters(), agent.q1_target.parameters()):
                tp.lerp_(p, tau)
            for p, tp in zip(agent.q2.parameters(), agent.q2_target.parameters()):
                tp.mul_(1 - tau)
                tp.add_(p, alpha=tau)
        out += [critic_loss.item(), actor_loss.item(), alpha_loss.item(), alpha.item(),
                (logp - by_hand).abs().max().item()]
    return out, agent


def rssm_program(torch, steps, init, device="cpu"):
    """A Dreamer-style recurrent state-space model on random observation/action sequences: a
    GRUCell deterministic path, prior and posterior diagonal Normals made events by Independent
    (softplus std plus a floor), a posterior rsample each step, a decoder log-likelihood of the
    observations and a reward head; KL balancing (kl_divergence of the detached posterior
    against the prior and of the posterior against the detached prior, mixed 0.8/0.2) with free
    nats by clamp(min=); Adam with clip_grad_norm_. Reports the loss, the KL and the
    reconstruction term each step."""
    nn = torch.nn
    F = torch.nn.functional
    D = torch.distributions
    rng = np.random.default_rng(71)
    T, B, obs_dim, act_dim, deter, stoch, hidden = 6, 4, 5, 2, 10, 3, 12
    phase = rng.uniform(0, 2 * np.pi, (1, B, 1))
    ts = np.arange(T)[:, None, None]
    obs_np = np.sin(0.7 * ts + phase + np.arange(obs_dim)) + 0.1 * rng.standard_normal(
        (T, B, obs_dim))
    obs = torch.tensor(obs_np).to(device)
    act = torch.tensor(rng.uniform(-1, 1, (T, B, act_dim))).to(device)
    reward = torch.tensor(obs_np[..., :1] * 0.5).to(device)

    class RSSM(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Linear(obs_dim, hidden)
            self.pre = nn.Linear(stoch + act_dim, hidden)
            self.cell = nn.GRUCell(hidden, deter)
            self.prior_net = nn.Sequential(nn.Linear(deter, hidden), nn.ELU(),
                                           nn.Linear(hidden, 2 * stoch))
            self.post_net = nn.Sequential(nn.Linear(deter + hidden, hidden), nn.ELU(),
                                          nn.Linear(hidden, 2 * stoch))
            self.decoder = nn.Sequential(nn.Linear(deter + stoch, hidden), nn.ELU(),
                                         nn.Linear(hidden, obs_dim))
            self.reward = nn.Linear(deter + stoch, 1)

        @staticmethod
        def dist(stats):
            mean, std = stats.chunk(2, -1)
            return D.Independent(D.Normal(mean, F.softplus(std) + 0.1), 1)

        def forward(self, obs, act):
            h = obs.new_zeros(obs.shape[1], deter)
            z = obs.new_zeros(obs.shape[1], stoch)
            emb = F.elu(self.embed(obs))
            priors, posts, feats = [], [], []
            for t in range(obs.shape[0]):
                h = self.cell(F.elu(self.pre(torch.cat([z, act[t]], -1))), h)
                prior = self.prior_net(h)
                post = self.post_net(torch.cat([h, emb[t]], -1))
                z = self.dist(post).rsample()
                priors.append(prior)
                posts.append(post)
                feats.append(torch.cat([h, z], -1))
            return torch.stack(priors), torch.stack(posts), torch.stack(feats)

    model = RSSM().double()
    init(model)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    free, balance = 0.3, 0.8
    out = []
    for _ in range(steps):
        prior, post, feat = model(obs, act)
        recon = D.Independent(D.Normal(model.decoder(feat), 1.0), 1).log_prob(obs).mean()
        reward_loss = F.mse_loss(model.reward(feat), reward)
        kl_prior = D.kl_divergence(model.dist(post.detach()), model.dist(prior))
        kl_post = D.kl_divergence(model.dist(post), model.dist(prior.detach()))
        kl = balance * kl_prior.clamp(min=free).mean() + (1 - balance) * kl_post.clamp(
            min=free).mean()
        loss = -recon + reward_loss + kl
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        opt.step()
        out += [loss.item(), kl_post.mean().item(), recon.item(),
                (kl_post < free).double().mean().item()]
    return out, model


def llama_program(torch, steps, init, device="cpu"):
    """A two-layer LLaMA-style language model on random token sequences: tied token embedding
    and output head, a hand-written RMSNorm, rotary position embeddings (layer 0 by complex
    multiplication with torch.polar frequencies and view_as_complex/view_as_real, layer 1 by
    cos/sin and rotate_half; the two agree), grouped-query attention (4 query heads over 2
    key/value heads by repeat_interleave) through F.scaled_dot_product_attention(is_causal=True),
    a SwiGLU feed-forward; next-token cross entropy, AdamW(betas=(0.9, 0.95)) with weight decay
    on matrices only, a LambdaLR warmup. Reports the loss and the learning rate each step."""
    nn = torch.nn
    F = torch.nn.functional
    rng = np.random.default_rng(72)
    vocab, dim, n_heads, n_kv, seq, batch = 13, 16, 4, 2, 8, 3
    head_dim = dim // n_heads
    tokens = torch.tensor(rng.integers(0, vocab, size=(batch, seq + 1))).to(device)

    class RMSNorm(nn.Module):
        def __init__(self, d, eps=1e-6):
            super().__init__()
            self.eps = eps
            self.weight = nn.Parameter(torch.ones(d))

        def forward(self, x):
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight

    def rotate_half(x):
        x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
        return torch.cat((-x2, x1), dim=-1)

    class Attention(nn.Module):
        def __init__(self, layer):
            super().__init__()
            self.layer = layer
            self.wq = nn.Linear(dim, n_heads * head_dim, bias=False)
            self.wk = nn.Linear(dim, n_kv * head_dim, bias=False)
            self.wv = nn.Linear(dim, n_kv * head_dim, bias=False)
            self.wo = nn.Linear(n_heads * head_dim, dim, bias=False)

        def rope(self, x, freqs_cis, cos, sin):
            if self.layer == 0:  # (B, T, H, hd) as pairs of (re, im)
                xc = torch.view_as_complex(x.reshape(*x.shape[:-1], -1, 2).contiguous())
                rotated = torch.view_as_real(xc * freqs_cis[None, :, None, :]).flatten(3)
                return rotated.type_as(x)
            return x * cos[None, :, None, :] + rotate_half(x) * sin[None, :, None, :]

        def forward(self, x, freqs_cis, cos, sin):
            b, t, _ = x.shape
            q = self.wq(x).view(b, t, n_heads, head_dim)
            k = self.wk(x).view(b, t, n_kv, head_dim)
            v = self.wv(x).view(b, t, n_kv, head_dim)
            q, k = self.rope(q, freqs_cis, cos, sin), self.rope(k, freqs_cis, cos, sin)
            k = k.repeat_interleave(n_heads // n_kv, dim=2)
            v = v.repeat_interleave(n_heads // n_kv, dim=2)
            out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2),
                                                 v.transpose(1, 2), is_causal=True)
            return self.wo(out.transpose(1, 2).contiguous().view(b, t, -1))

    class FeedForward(nn.Module):
        def __init__(self, hidden=24):
            super().__init__()
            self.w1 = nn.Linear(dim, hidden, bias=False)
            self.w2 = nn.Linear(hidden, dim, bias=False)
            self.w3 = nn.Linear(dim, hidden, bias=False)

        def forward(self, x):
            return self.w2(F.silu(self.w1(x)) * self.w3(x))

    class Block(nn.Module):
        def __init__(self, layer):
            super().__init__()
            self.attention = Attention(layer)
            self.feed_forward = FeedForward()
            self.attention_norm = RMSNorm(dim)
            self.ffn_norm = RMSNorm(dim)

        def forward(self, x, *rope):
            h = x + self.attention(self.attention_norm(x), *rope)
            return h + self.feed_forward(self.ffn_norm(h))

    class Llama(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok_embeddings = nn.Embedding(vocab, dim)
            self.layers = nn.ModuleList(Block(i) for i in range(2))
            self.norm = RMSNorm(dim)
            self.output = nn.Linear(dim, vocab, bias=False)
            self.output.weight = self.tok_embeddings.weight
            freqs = 1.0 / (10000.0 ** (torch.arange(0, head_dim, 2)[: head_dim // 2].double()
                                       / head_dim))
            angles = torch.outer(torch.arange(seq, dtype=torch.float64), freqs)
            self.register_buffer("freqs_cis", torch.polar(torch.ones_like(angles), angles),
                                 persistent=False)
            # rotate_half pairs dimension i with i + hd/2: the same frequencies, repeated
            self.register_buffer("cos", torch.cat([angles, angles], -1).cos(), persistent=False)
            self.register_buffer("sin", torch.cat([angles, angles], -1).sin(), persistent=False)

        def forward(self, idx):
            h = self.tok_embeddings(idx)
            t = idx.shape[1]
            rope = (self.freqs_cis[:t], self.cos[:t], self.sin[:t])
            for layer in self.layers:
                h = layer(h, *rope)
            return self.output(self.norm(h))

    model = Llama().double()
    init(model)
    model.to(device)
    assert model.freqs_cis.dtype == torch.complex128  # double() leaves complex buffers alone
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-2, betas=(0.9, 0.95), eps=1e-8)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 3))
    out = []
    for _ in range(steps):
        logits = model(tokens[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, vocab), tokens[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        out += [loss.item(), sched.get_last_lr()[0]]
    return out, model


def mamba_program(torch, steps, init, device="cpu"):
    """A Mamba-like selective state-space layer for one-step-ahead prediction of noisy
    sinusoids: in_proj to (x, z), a causal depthwise Conv1d, input-dependent dt, B and C from
    x_proj/dt_proj with softplus, A = -exp(A_log); the selective scan in closed form with no
    loop: the discretized decay summed by cumsum over time, pairwise segment sums masked to the
    causal triangle by masked_fill(-inf) before exp, the states and read-out by einsum; gated by
    silu(z), a D skip. Adam with A_log and D in a group without weight decay. Reports the loss
    and the largest difference between the closed form and a sequential scan each step."""
    nn = torch.nn
    F = torch.nn.functional
    rng = np.random.default_rng(73)
    batch, length, d_model, d_inner, d_state, dt_rank = 3, 10, 2, 6, 4, 2
    t = np.arange(length + 1)[None, :, None]
    freq = rng.uniform(0.3, 0.9, (batch, 1, d_model))
    series = np.sin(freq * t + rng.uniform(0, 3, (batch, 1, d_model)))
    series += 0.05 * rng.standard_normal(series.shape)
    x = torch.tensor(series[:, :-1]).to(device)
    y = torch.tensor(series[:, 1:]).to(device)

    class Mamba(nn.Module):
        def __init__(self):
            super().__init__()
            self.in_proj = nn.Linear(d_model, 2 * d_inner)
            self.conv1d = nn.Conv1d(d_inner, d_inner, 3, groups=d_inner, padding=2)
            self.x_proj = nn.Linear(d_inner, dt_rank + 2 * d_state, bias=False)
            self.dt_proj = nn.Linear(dt_rank, d_inner)
            a = torch.arange(1, d_state + 1, dtype=torch.float32).repeat(d_inner, 1)
            self.A_log = nn.Parameter(torch.log(a))
            self.D = nn.Parameter(torch.ones(d_inner))
            self.out_proj = nn.Linear(d_inner, d_model)

        def project(self, x):
            length = x.shape[1]
            u, z = self.in_proj(x).chunk(2, dim=-1)
            u = F.silu(self.conv1d(u.transpose(1, 2))[..., :length].transpose(1, 2))
            dt, b, c = torch.split(self.x_proj(u), [dt_rank, d_state, d_state], dim=-1)
            return u, z, F.softplus(self.dt_proj(dt)), b, c, -torch.exp(self.A_log)

        def forward(self, x):
            u, z, dt, b, c, a = self.project(x)
            length = x.shape[1]
            decay = torch.cumsum(torch.einsum("bld,dn->bldn", dt, a), dim=1)
            segment = decay.unsqueeze(2) - decay.unsqueeze(1)  # (b, t, s, d, n): t after s
            causal = torch.tril(torch.ones(length, length, dtype=torch.bool, device=x.device))
            weights = torch.exp(segment.masked_fill(~causal[None, :, :, None, None],
                                                    float("-inf")))
            drive = torch.einsum("bld,bln,bld->bldn", dt, b, u)
            states = torch.einsum("btsdn,bsdn->btdn", weights, drive)
            out = torch.einsum("btdn,btn->btd", states, c) + u * self.D
            return self.out_proj(out * F.silu(z))

        def sequential(self, x):
            u, z, dt, b, c, a = self.project(x)
            h = x.new_zeros(x.shape[0], d_inner, d_state)
            ys = []
            for i in range(x.shape[1]):
                h = torch.exp(dt[:, i, :, None] * a) * h + (dt[:, i] * u[:, i])[..., None] \
                    * b[:, i, None, :]
                ys.append((h * c[:, i, None, :]).sum(-1))
            out = torch.stack(ys, 1) + u * self.D
            return self.out_proj(out * F.silu(z))

    model = Mamba().double()
    init(model)
    model.to(device)
    special = [model.A_log, model.D]
    rest = [p for n, p in model.named_parameters() if n not in ("A_log", "D")]
    opt = torch.optim.Adam([{"params": rest, "weight_decay": 1e-3},
                            {"params": special, "weight_decay": 0.0}], lr=2e-2)
    out = []
    for _ in range(steps):
        opt.zero_grad()
        pred = model(x)
        loss = F.mse_loss(pred, y)
        loss.backward()
        opt.step()
        with torch.no_grad():
            gap = (model(x) - model.sequential(x)).abs().max()
        out += [loss.item(), gap.item()]
    return out, model


def hyena_program(torch, steps, init, device="cpu"):
    """A Hyena-like operator classifying sequences by their dominant frequency: in_proj to three
    branches, a short causal depthwise Conv1d, an implicit long filter (an MLP with a learned-
    frequency Sin activation on positional features from a registered buffer, modulated by an
    exponential decay) applied by FFT convolution (torch.fft.rfft of signal and filter padded to
    2L, product, torch.fft.irfft(norm="forward"), cropped to L) with a bias skip, gated by the
    other branches; mean pooling, a linear head, cross entropy, AdamW and OneCycleLR. Reports
    the loss, the accuracy and the filter's norm each step."""
    nn = torch.nn
    F = torch.nn.functional
    rng = np.random.default_rng(74)
    n, length, d, classes = 9, 16, 4, 3
    labels_np = np.arange(n) % classes
    t = np.arange(length)
    freqs = np.array([1.0, 2.5, 5.0])[labels_np][:, None]
    signal = np.sin(2 * np.pi * freqs * t / length + rng.uniform(0, 6, (n, 1)))
    signal = signal + 0.2 * rng.standard_normal((n, length))
    x = torch.tensor(signal[:, :, None] * np.ones(d)).to(device)
    labels = torch.tensor(labels_np).to(device)

    class Sin(nn.Module):
        def __init__(self, width):
            super().__init__()
            self.freq = nn.Parameter(torch.ones(1, width))

        def forward(self, x):
            return torch.sin(self.freq * x)

    class ImplicitFilter(nn.Module):
        def __init__(self, bands=2, width=12):
            super().__init__()
            pos = torch.linspace(0, 1, length)[:, None]
            k = torch.arange(1, bands + 1)[None, :]
            z = torch.cat([pos, torch.cos(2 * math.pi * k * pos),
                           torch.sin(2 * math.pi * k * pos)], -1)
            self.register_buffer("z", z)
            self.register_buffer("deltas", torch.linspace(0.5, 3.0, d)[None, :])
            self.mlp = nn.Sequential(nn.Linear(2 * bands + 1, width), Sin(width),
                                     nn.Linear(width, width), Sin(width), nn.Linear(width, d))

        def forward(self, length):
            h = self.mlp(self.z[:length])
            decay = torch.exp(-self.z[:length, :1] * self.deltas.abs())
            return (h * decay).transpose(0, 1)  # (d, L)

    def fftconv(u, k, bias):
        length = u.shape[-1]
        size = 2 * length
        k_f = torch.fft.rfft(k, n=size) / size
        u_f = torch.fft.rfft(u, n=size)
        y = torch.fft.irfft(u_f * k_f, n=size, norm="forward")[..., :length]
        return y + u * bias.unsqueeze(-1)

    class Hyena(nn.Module):
        def __init__(self):
            super().__init__()
            self.in_proj = nn.Linear(d, 3 * d)
            self.short = nn.Conv1d(3 * d, 3 * d, 3, padding=2, groups=3 * d)
            self.filter = ImplicitFilter()
            self.bias = nn.Parameter(torch.randn(d))
            self.out_proj = nn.Linear(d, d)
            self.head = nn.Linear(d, classes)

        def forward(self, x):
            length = x.shape[1]
            u = self.in_proj(x).transpose(1, 2)
            u = self.short(u)[..., :length]
            x1, x2, v = u.split(d, dim=1)
            v = fftconv(v * x1, self.filter(length), self.bias)
            y = self.out_proj((v * x2).transpose(1, 2))
            return self.head(y.mean(1))

    model = Hyena().double()
    init(model)
    model.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-2, total_steps=steps)
    out = []
    for _ in range(steps):
        opt.zero_grad()
        logits = model(x)
        loss = F.cross_entropy(logits, labels)
        loss.backward()
        opt.step()
        sched.step()
        with torch.no_grad():
            accuracy = (logits.argmax(-1) == labels).double().mean()
            norm = torch.linalg.norm(model.filter(length))
        out += [loss.item(), accuracy.item(), norm.item()]
    return out, model


@contextlib.contextmanager
def shared_multinomial(seed=0):
    """``torch.multinomial`` draws from the same NumPy stream in both libraries (their
    generators differ): one uniform per row, its index by inverse CDF of the normalized weights
    (with replacement). The replacement is the same code on each library's own ``torch``; the
    ``generator=`` the program passes must be its own library's."""

    def patched(lib):
        rng = np.random.default_rng(seed)

        def multinomial(input, num_samples, replacement=False, *, generator=None):
            assert isinstance(generator, lib.Generator) and num_samples == 1
            cdf = (input / input.sum(-1, keepdim=True)).cumsum(-1)
            u = lib.tensor(rng.random(tuple(input.shape[:-1]) + (1,)), dtype=input.dtype)
            index = (u.to(input.device) > cdf).sum(-1, keepdim=True)
            return index.clamp(max=input.shape[-1] - 1)

        return multinomial

    saved = torch.multinomial, tg.multinomial
    try:
        torch.multinomial, tg.multinomial = patched(torch), patched(tg)
        yield
    finally:
        torch.multinomial, tg.multinomial = saved


def nucleus_program(torch, steps, init, device="cpu"):
    """A GRU language model on a small repetitive corpus, trained by cross entropy plus a
    REINFORCE term on its own continuations: each step it generates continuations by nucleus
    sampling (logits / temperature, torch.sort(descending=True), the cumulative softmax,
    tokens past top_p masked with the shift-right trick, the mask put back in vocabulary order
    by scatter, masked_fill(-inf), torch.multinomial from a torch.Generator), rewards even
    tokens, and adds -reward-weighted log-probabilities of the drawn tokens, recomputed with
    gradient. SGD with momentum. Reports the loss, the mean reward and the drawn tokens."""
    nn = torch.nn
    F = torch.nn.functional
    rng = np.random.default_rng(75)
    vocab, hidden, batch, length, new = 8, 12, 4, 6, 4
    corpus = np.tile(np.array([1, 3, 5, 2, 4, 6, 0, 7]), 4)
    starts = rng.integers(0, len(corpus) - length - 1, size=batch)
    seqs = torch.tensor(np.stack([corpus[s:s + length + 1] for s in starts])).to(device)
    gen = torch.Generator(device=device).manual_seed(1234)

    class LM(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(vocab, hidden)
            self.gru = nn.GRU(hidden, hidden, batch_first=True)
            self.head = nn.Linear(hidden, vocab)

        def forward(self, idx, h=None):
            out, h = self.gru(self.embed(idx), h)
            return self.head(out), h

    def top_p_filter(logits, top_p):
        sorted_logits, sorted_idx = torch.sort(logits, descending=True, dim=-1)
        cumulative = torch.cumsum(F.softmax(sorted_logits, dim=-1), dim=-1)
        remove = cumulative > top_p
        remove[..., 1:] = remove[..., :-1].clone()
        remove[..., 0] = False
        mask = remove.scatter(-1, sorted_idx, remove)
        return logits.masked_fill(mask, float("-inf"))

    model = LM().double()
    init(model)
    model.to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.3, momentum=0.8)
    out = []
    for _ in range(steps):
        with torch.no_grad():
            logits, h = model(seqs[:, :-1])
            token = seqs[:, -1:]
            drawn = []
            for _ in range(new):
                logits, h = model(token, h)
                filtered = top_p_filter(logits[:, -1] / 0.8, 0.85)
                token = torch.multinomial(F.softmax(filtered, -1), 1, generator=gen)
                drawn.append(token)
            drawn = torch.cat(drawn, 1)
        reward = (drawn % 2 == 0).double()
        full = torch.cat([seqs, drawn], 1)
        logits, _ = model(full[:, :-1])
        ce = F.cross_entropy(logits[:, :length].reshape(-1, vocab), seqs[:, 1:].reshape(-1))
        logp = F.log_softmax(logits[:, length:], -1).gather(-1, drawn.unsqueeze(-1)).squeeze(-1)
        loss = ce - 0.1 * ((reward - reward.mean()) * logp).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        out += [loss.item(), reward.mean().item()] + drawn.flatten().tolist()
    return out, model


def wavenet_program(torch, steps, init, device="cpu"):
    """A small WaveNet predicting the next mu-law sample of a chirp: mu-law companding with
    torch.sign and torch.log1p, quantized to 16 levels (.long()), one-hot inputs
    (F.one_hot(...).permute), residual blocks of dilated causal Conv1d (left padding by F.pad,
    dilations 1, 2, 4, 1, 2) with the gated tanh * sigmoid activation, 1x1 residual and skip
    convolutions, the skips summed, relu, 1x1, relu, 1x1 to logits; cross entropy on (N, C, T)
    logits, Adam, clip_grad_value_. Reports the loss and the mean-squared error of the decoded
    argmax prediction each step."""
    nn = torch.nn
    F = torch.nn.functional
    rng = np.random.default_rng(76)
    mu, channels, batch, length = 15, 8, 3, 24
    t = np.arange(length)[None, :]
    audio = np.sin(0.02 * t ** 2 * rng.uniform(0.5, 1.0, (batch, 1)) + rng.uniform(0, 3,
                                                                                  (batch, 1)))
    audio = torch.tensor(0.9 * audio).to(device)

    def mu_law_encode(x):
        compressed = torch.sign(x) * torch.log1p(mu * x.abs()) / math.log1p(mu)
        return ((compressed + 1) / 2 * mu + 0.5).long()

    def mu_law_decode(q):
        y = 2 * q.double() / mu - 1
        return torch.sign(y) * ((1 + mu) ** y.abs() - 1) / mu

    class CausalConv1d(nn.Conv1d):
        def __init__(self, cin, cout, kernel_size, dilation=1):
            super().__init__(cin, cout, kernel_size, dilation=dilation)
            self.left = (kernel_size - 1) * dilation

        def forward(self, x):
            return super().forward(F.pad(x, (self.left, 0)))

    class ResidualBlock(nn.Module):
        def __init__(self, dilation):
            super().__init__()
            self.dilated = CausalConv1d(channels, 2 * channels, 2, dilation=dilation)
            self.residual = nn.Conv1d(channels, channels, 1)
            self.skip = nn.Conv1d(channels, channels, 1)

        def forward(self, x):
            filt, gate = self.dilated(x).chunk(2, dim=1)
            h = torch.tanh(filt) * torch.sigmoid(gate)
            return x + self.residual(h), self.skip(h)

    class WaveNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.input = CausalConv1d(mu + 1, channels, 2)
            self.blocks = nn.ModuleList(ResidualBlock(d) for d in (1, 2, 4, 1, 2))
            self.post = nn.Sequential(nn.ReLU(), nn.Conv1d(channels, channels, 1), nn.ReLU(),
                                      nn.Conv1d(channels, mu + 1, 1))

        def forward(self, q):
            x = self.input(F.one_hot(q, mu + 1).permute(0, 2, 1).double())
            skips = 0
            for block in self.blocks:
                x, s = block(x)
                skips = skips + s
            return self.post(skips)

    model = WaveNet().double()
    init(model)
    model.to(device)
    q = mu_law_encode(audio)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    out = []
    for _ in range(steps):
        opt.zero_grad()
        logits = model(q[:, :-1])
        loss = F.cross_entropy(logits, q[:, 1:])
        loss.backward()
        nn.utils.clip_grad_value_(model.parameters(), 0.5)
        opt.step()
        with torch.no_grad():
            decoded = mu_law_decode(logits.argmax(1))
            error = F.mse_loss(decoded, audio[:, 1:])
        out += [loss.item(), error.item()]
    out += q[0].tolist()
    return out, model


def seq2seq_program(torch, steps, init, device="cpu"):
    """A GRU encoder-decoder reversing digit sequences, with Bahdanau (additive) attention:
    scores v^T tanh(W_q s + W_k h) masked where the source is padding (masked_fill), softmax,
    bmm context, a GRUCell decoder fed the context and the previous token; scheduled sampling
    (per step and sequence, the gold token with a teacher-forcing ratio decaying by step, else
    the model's argmax, the coin flips from a NumPy generator); cross entropy with
    ignore_index, Adam, clip_grad_norm_. Reports the loss and the teacher-forced fraction."""
    nn = torch.nn
    F = torch.nn.functional
    rng = np.random.default_rng(77)
    pad, bos, vocab, hidden, batch, length = 0, 1, 8, 12, 5, 5
    lengths = np.array([5, 3, 4, 5, 2])
    src_np = np.zeros((batch, length), dtype=np.int64)
    tgt_np = np.zeros((batch, length), dtype=np.int64)
    for b, n in enumerate(lengths):
        src_np[b, :n] = rng.integers(2, vocab, size=n)
        tgt_np[b, :n] = src_np[b, :n][::-1]
    src = torch.tensor(src_np).to(device)
    tgt = torch.tensor(tgt_np).to(device)
    coins = rng.random((steps, length, batch))

    class Seq2Seq(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(vocab, hidden, padding_idx=pad)
            self.encoder = nn.GRU(hidden, hidden, batch_first=True, bidirectional=True)
            self.bridge = nn.Linear(2 * hidden, hidden)
            self.w_key = nn.Linear(2 * hidden, hidden, bias=False)
            self.w_query = nn.Linear(hidden, hidden)
            self.v = nn.Linear(hidden, 1, bias=False)
            self.decoder = nn.GRUCell(hidden + 2 * hidden, hidden)
            self.out = nn.Linear(hidden + 2 * hidden, vocab)

        def forward(self, src, tgt, ratio, coins):
            keys, _ = self.encoder(self.embed(src))  # (B, S, 2H)
            mask = src == pad
            state = torch.tanh(self.bridge(keys.mean(1)))
            projected = self.w_key(keys)
            token = torch.full((src.shape[0],), bos, dtype=torch.long, device=src.device)
            logits, forced = [], 0.0
            for i in range(tgt.shape[1]):
                scores = self.v(torch.tanh(projected + self.w_query(state).unsqueeze(1)))
                scores = scores.squeeze(-1).masked_fill(mask, float("-inf"))
                weights = F.softmax(scores, dim=-1)
                context = torch.bmm(weights.unsqueeze(1), keys).squeeze(1)
                state = self.decoder(torch.cat([self.embed(token), context], -1), state)
                step_logits = self.out(torch.cat([state, context], -1))
                logits.append(step_logits)
                teacher = torch.tensor(coins[i] < ratio, device=src.device)
                forced += teacher.double().mean().item()
                token = torch.where(teacher, tgt[:, i], step_logits.argmax(-1))
            return torch.stack(logits, 1), forced / tgt.shape[1]

    model = Seq2Seq().double()
    init(model)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    out = []
    for step in range(steps):
        ratio = max(0.2, 1.0 - 0.25 * step)
        logits, forced = model(src, tgt, ratio, coins[step])
        loss = F.cross_entropy(logits.reshape(-1, vocab), tgt.reshape(-1), ignore_index=pad)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        out += [loss.item(), forced]
    return out, model


def audio_text_program(torch, steps, init, device="cpu"):
    """A CLIP-style contrastive model of audio clips and captions: the audio encoder resamples
    clips of two lengths to one rate by F.interpolate(mode="linear", align_corners=False, size=)
    and doubles it by scale_factor, a strided Conv1d, F.avg_pool1d(ceil_mode=True,
    count_include_pad=False) and F.adaptive_max_pool1d to a fixed number of frames, flattened to
    a projection; the text encoder an Embedding(padding_idx=) with a masked mean; both
    F.normalize'd, logits scaled by a learned logit_scale.exp() clamped to 100, the symmetric
    cross entropy; Adam. Reports the loss, the matched-pair accuracy and the scale each step."""
    nn = torch.nn
    F = torch.nn.functional
    rng = np.random.default_rng(78)
    n, vocab, emb, pad = 6, 10, 6, 0
    freqs = rng.uniform(1, 4, n)
    short = np.sin(np.outer(freqs, np.linspace(0, 6, 12)))
    long = np.sin(np.outer(freqs, np.linspace(0, 6, 20)))
    clips_short = torch.tensor(short[:3, None, :]).to(device)
    clips_long = torch.tensor(long[3:, None, :]).to(device)
    captions = np.zeros((n, 4), dtype=np.int64)
    for i in range(n):
        k = 2 + i % 3
        captions[i, :k] = rng.integers(1, vocab, k)
    captions = torch.tensor(captions).to(device)

    class AudioEncoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv1d(1, 4, 3, stride=2, padding=1)
            self.proj = nn.Linear(4 * 3, emb)

        def forward(self, clip):
            x = F.interpolate(clip, size=16, mode="linear", align_corners=False)
            x = F.interpolate(x, scale_factor=2, mode="linear")
            x = torch.relu(self.conv(x))  # (B, 4, 16)
            x = F.avg_pool1d(x, 3, stride=2, padding=1, ceil_mode=True,
                             count_include_pad=False)
            x = F.adaptive_max_pool1d(x, 3)
            return self.proj(x.flatten(1))

    class TextEncoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(vocab, 8, padding_idx=pad)
            self.proj = nn.Linear(8, emb)

        def forward(self, tokens):
            mask = (tokens != pad).unsqueeze(-1).double()
            pooled = (self.embed(tokens) * mask).sum(1) / mask.sum(1)
            return self.proj(torch.tanh(pooled))

    class CLAP(nn.Module):
        def __init__(self):
            super().__init__()
            self.audio = AudioEncoder()
            self.text = TextEncoder()
            self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    model = CLAP().double()
    init(model)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=2e-2)
    target = torch.arange(n, device=device)
    out = []
    for _ in range(steps):
        audio = torch.cat([model.audio(clips_short), model.audio(clips_long)])
        audio = F.normalize(audio, dim=-1)
        text = F.normalize(model.text(captions), dim=-1)
        scale = model.logit_scale.exp().clamp(max=100)
        logits = scale * audio @ text.t()
        loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target)) / 2
        opt.zero_grad()
        loss.backward()
        opt.step()
        accuracy = (logits.argmax(1) == target).double().mean()
        out += [loss.item(), accuracy.item(), scale.item()]
    return out, model


PROGRAMS = {"sac": (sac_program, 4), "rssm": (rssm_program, 4), "llama": (llama_program, 5),
            "mamba": (mamba_program, 5), "hyena": (hyena_program, 5),
            "nucleus": (nucleus_program, 4), "wavenet": (wavenet_program, 5),
            "seq2seq": (seq2seq_program, 5), "audio_text": (audio_text_program, 5)}
_SAMPLING = {"nucleus": shared_multinomial}


# ---------------------------------------------------------------------------------------------
# the tests


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_program_matches_torch(name, device):
    """The program's losses (and every other number it reports) and its final parameters and
    buffers equal PyTorch's, with model and data moved by ``.to(device)``."""
    check_program(PROGRAMS, name, device,
                  sampling=_SAMPLING.get(name, contextlib.nullcontext))


def _torch_run(name):
    return torch_run(PROGRAMS, name, sampling=_SAMPLING.get(name, contextlib.nullcontext))


def test_programs_are_not_vacuous():
    """What the comparisons rely on happens: SAC's critic learns, alpha moves, the two
    log-densities of the squashed action agree to the hand correction's epsilon and the target
    networks trail the online ones; the RSSM's free nats clamp some KL terms and not others;
    the LLaMA's loss falls with its head tied to the embedding (and the two rotary forms agree);
    the closed-form scan equals the loop; Hyena's filter moves; nucleus sampling draws varied
    tokens; WaveNet's quantized input spans many levels; scheduled sampling lowers teacher
    forcing; the contrastive loss falls."""
    sac, agent = _torch_run("sac")
    assert sac[3] != sac[-2] and max(sac[4::5]) < 1e-2 and min(sac[4::5]) > 0
    for p, tp in zip(agent.q1.parameters(), agent.q1_target.parameters()):
        assert not torch.allclose(p, tp)
    rssm, _ = _torch_run("rssm")
    assert rssm[0] > rssm[-4] and any(0 < f < 1 for f in rssm[3::4])
    llama, model = _torch_run("llama")
    assert llama[0] > llama[-2] and model.output.weight is model.tok_embeddings.weight
    x = torch.randn(2, 8, 4, 4, dtype=torch.float64)
    block = model.layers[0].attention
    rope = (model.freqs_cis, model.cos, model.sin)
    # layer 0 pairs dims (2i, 2i+1), layer 1 dims (i, i + 2): the same rotation, permuted
    perm = torch.tensor([0, 2, 1, 3])
    torch.testing.assert_close(block.rope(x, *rope)[..., perm],
                               model.layers[1].attention.rope(x[..., perm], *rope))
    mamba, _ = _torch_run("mamba")
    assert max(mamba[1::2]) < 1e-12 and mamba[0] > mamba[-2]
    hyena, _ = _torch_run("hyena")
    assert hyena[0] > hyena[-3] and hyena[2] != hyena[-1]
    nucleus, _ = _torch_run("nucleus")
    drawn = nucleus[2:18]
    assert len(set(drawn)) > 2 and len(set(nucleus[1::18])) > 1
    wavenet, _ = _torch_run("wavenet")
    assert wavenet[0] > wavenet[-25] and len(set(wavenet[-23:])) > 6
    seq2seq, _ = _torch_run("seq2seq")
    assert seq2seq[1] == 1.0 and seq2seq[-1] < 0.5 and seq2seq[0] > seq2seq[-2]
    clap, _ = _torch_run("audio_text")
    assert clap[0] > clap[-3] and clap[2] != clap[-1]


# ---------------------------------------------------------------------------------------------
# the gaps the programs found, fixed and tested on their own


@pytest.mark.parametrize("dtype", ["bool", "int32", "int64", "float32", "complex64"])
@pytest.mark.parametrize("fn", ["tril", "triu"])
def test_tril_triu_keep_dtype(fn, dtype, device):
    """Fix: tg.tril/triu (and tnp's) of a bool tensor returned int64 (the zeros were a Python
    0, and where(mask, bool, 0) promotes), so the Mamba's ``~causal`` gave -1/-2 and
    masked_fill refused the mask. The dtype is now the input's, as PyTorch's and NumPy's."""
    a = (np.arange(12).reshape(3, 4) % 3).astype(dtype)
    for k in (0, 1, -1):
        got = getattr(tg, fn)(tg.tensor(a, device=device), k)
        want = getattr(torch, fn)(torch.tensor(a), k)
        assert str(got.dtype) == str(want.dtype).removeprefix("torch.") and on(got, device)
        np.testing.assert_array_equal(host(got), want.numpy())
        ours = getattr(tg.numpy, fn)(tg.tensor(a, device=device), k)
        np.testing.assert_array_equal(host(ours), getattr(np, fn)(a, k))
        assert host(ours).dtype == a.dtype
    causal = tg.tril(tg.ones(3, 3, dtype=tg.bool, device=device))
    filled = tg.zeros(3, 3, device=device).masked_fill(~causal, float("-inf"))
    np.testing.assert_array_equal(host(filled), np.triu(np.full((3, 3), -np.inf), 1))


@pytest.mark.parametrize("dtype", ["bool", "int8", "uint8", "int16"])
def test_scatter_of_bool_and_narrow_ints(dtype, device):
    """Fix: scatter of a bool tensor (top-p's ``remove.scatter(-1, sorted_idx, remove)``)
    failed on CUDA: CuPy's add.at takes neither bool nor 8/16-bit integers. They now go
    through int64 and back, as on the CPU: scatter equals PyTorch's, scatter_add and index_add
    (repeated indices) too, wrapping as PyTorch's."""
    rng = np.random.default_rng(3)
    src = (rng.integers(0, 2, (3, 5)) if dtype == "bool" else
           rng.integers(0, 120, (3, 5))).astype(dtype)
    base = np.zeros((3, 5), dtype=dtype)
    perm = np.argsort(rng.random((3, 5)), axis=1)
    repeated = rng.integers(0, 2, (3, 5))
    g_src, g_base = tg.tensor(src, device=device), tg.tensor(base, device=device)
    t_src, t_base = torch.tensor(src), torch.tensor(base)
    got = g_base.scatter(1, tg.tensor(perm, device=device), g_src)
    want = t_base.scatter(1, torch.tensor(perm), t_src)
    assert got.dtype == np.dtype(dtype) and on(got, device)
    np.testing.assert_array_equal(host(got), want.numpy())
    if dtype != "bool":  # PyTorch's scatter_add of bools is not defined on the CPU
        got = g_base.scatter_add(1, tg.tensor(repeated, device=device), g_src)
        want = t_base.scatter_add(1, torch.tensor(repeated), t_src)
        assert got.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(host(got), want.numpy())
        got = g_base.index_add(0, tg.tensor([2, 0, 2], device=device), g_src)
        want = t_base.index_add(0, torch.tensor([2, 0, 2]), t_src)
        np.testing.assert_array_equal(host(got), want.numpy())


_AVG_POOLS = [
    ("1d", (2, 3, 9), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ("1d", (2, 3, 9), dict(kernel_size=3, stride=2, padding=1, count_include_pad=False)),
    ("1d", (3, 10), dict(kernel_size=4, stride=3, padding=2, ceil_mode=True,
                         count_include_pad=False)),
    ("1d", (2, 2, 8), dict(kernel_size=2, ceil_mode=True)),
    ("2d", (2, 2, 7, 6), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ("2d", (2, 2, 7, 6), dict(kernel_size=(3, 2), stride=(2, 3), padding=(1, 1),
                              count_include_pad=False, ceil_mode=True)),
    ("2d", (2, 5, 5), dict(kernel_size=2, stride=2, divisor_override=3)),
]


@pytest.mark.parametrize("dims, shape, kw", _AVG_POOLS)
def test_avg_pool_ceil_mode_and_count_include_pad(dims, shape, kw, device):
    """Fix: F.avg_pool1d / nn.AvgPool1d raised NotImplementedError for ceil_mode and
    count_include_pad=False, and F.avg_pool2d / nn.AvgPool2d took neither (nor
    divisor_override); they now pool as avg_pool3d does over their last one or two dims.
    Values and gradients equal PyTorch's, functional and module alike."""
    x = np.random.default_rng(4).standard_normal(shape)
    upstream = None
    results = []
    for lib, dev in ((torch, "cpu"), (tg, device)):
        for form in ("functional", "module"):
            xt = lib.tensor(x, device=dev, requires_grad=True) if lib is tg else \
                lib.tensor(x, requires_grad=True)
            if form == "functional":
                y = getattr(lib.nn.functional, f"avg_pool{dims}")(xt, **kw)
            else:
                y = getattr(lib.nn, f"AvgPool{dims}")(**kw)(xt)
            if upstream is None:
                upstream = np.random.default_rng(5).standard_normal(tuple(y.shape))
            w = lib.tensor(upstream, device=dev) if lib is tg else lib.tensor(upstream)
            (y * w).sum().backward()
            results.append((y, xt.grad))
    theirs, ours = results[:2], results[2:]
    for (ty, tgrad), (oy, ograd) in zip(theirs + theirs, ours + ours[::-1]):
        assert tuple(oy.shape) == tuple(ty.shape) and on(oy, device)
        np.testing.assert_allclose(host(oy), ty.detach().numpy(), rtol=1e-13, atol=1e-14)
        np.testing.assert_allclose(host(ograd), tgrad.numpy(), rtol=1e-13, atol=1e-14)


def test_avg_pool_ceil_mode_derivatives_and_errors():
    F = tg.nn.functional
    x = tg.tensor(np.random.default_rng(6).standard_normal((1, 2, 7)))
    tg.check_grads(lambda v: F.avg_pool1d(v, 3, 2, 1, ceil_mode=True, count_include_pad=False),
                   modes=("fwd", "rev"), order=2)(x)
    x2 = tg.tensor(np.random.default_rng(7).standard_normal((1, 1, 5, 4)))
    tg.check_grads(lambda v: F.avg_pool2d(v, 2, ceil_mode=True, divisor_override=3),
                   modes=("fwd", "rev"), order=2)(x2)
    with pytest.raises(ValueError, match=r"avg_pool1d: input must be \(N, C, L\) or \(C, L\), "
                                         r"got shape \(7,\)"):
        F.avg_pool1d(tg.zeros(7), 3, ceil_mode=True)
    with pytest.raises(ValueError, match=r"avg_pool2d: padding \(2, 2\) must be at most half"):
        F.avg_pool2d(tg.zeros(1, 1, 5, 5), 3, padding=2, count_include_pad=False)
