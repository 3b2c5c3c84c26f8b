"""A sixteenth round of real PyTorch programs run on tensorgrad with only the module swapped.

As in ``test_ported_programs.py`` (whose ``run_both`` runs each program with ``torch`` and with
``tensorgrad`` passed as ``torch``, from the same initial weights and buffers), each program is
``program(torch, steps, init, device="cpu")``, and every number it reports and its final state
must equal PyTorch's to 1e-10 in float64. This round ports what real programs do with the
newer corners of the API: a channels_last CNN (``padding_mode="reflect"``, ``padding="same"``,
``cudnn.benchmark``); custom losses subclassing ``_Loss``/``_WeightedLoss`` with frozen
``_BatchNorm`` layers and ``_ConvNd`` rescaling, the private classes imported by module path
(``importlib.import_module(torch.__name__ + ".nn.modules.loss")``, the way ``from
torch.nn.modules.loss import _Loss`` reads with either library); a GPT block under
``sdpa_kernel(SDPBackend.MATH)`` with AdamW and a LambdaLR warmup; FlexAttention with a
sliding-window causal block mask and an ALiBi ``score_mod``; a GCN on a CSR adjacency; Hogwild
training over ``torch.multiprocessing`` (fork, ordered by Events); a functional training loop
over pytrees with ``functional_call`` and ``fork_rng``; ``torch.compile`` /
``torch.compiler.disable`` / ``torch.accelerator`` / a disabled ``GradScaler`` and
``autocast``; functional LSTM/GRU cells with ``rms_norm``, hashed token buckets by bit shifts
and ``fft.ihfft2`` features.

PyTorch 2.13 has no FlexAttention backward on the CPU, so the FlexAttention program trains
under PyTorch with ``F.scaled_dot_product_attention`` and the equivalent dense mask and bias,
under tensorgrad with ``flex_attention`` itself; the forward values of both libraries'
``flex_attention`` are compared directly (the program reports them under either library).
"""

import functools
import importlib
import math

import numpy as np
import pytest
from test_ported_programs import check_program, torch_run

import tensorgrad as tg

torch = pytest.importorskip("torch")
# PyTorch's own notes about its eager FlexAttention and its beta CSR support
pytestmark = [pytest.mark.filterwarnings("ignore:flex_attention called without torch.compile"),
              pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta")]


def _module(torch, path):
    """``from torch.<path> import ...`` for whichever library ``torch`` is."""
    return importlib.import_module(f"{torch.__name__}.{path}")


# ---------------------------------------------------------------------------------------------
# the programs (plain PyTorch code; only ``torch`` differs)


def channels_last_program(torch, steps, init, device="cpu"):
    """A small CNN trained in channels_last: the model moved by
    ``model.to(memory_format=torch.channels_last)``, the batch by
    ``x.contiguous(memory_format=torch.channels_last)``; a reflect-padded stem, a dilated
    ``padding="same"`` conv, BatchNorm2d, a residual add, global pooling; SGD with Nesterov
    momentum and ``cudnn.benchmark = True``. Reports the losses, the layouts of the input, a
    weight and an activation, and the eval-mode logits."""
    nn = torch.nn
    F = torch.nn.functional
    benchmark = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = True
    rng = np.random.default_rng(160)
    x = torch.tensor(rng.standard_normal((6, 3, 8, 8))).to(device)
    x = x.contiguous(memory_format=torch.channels_last)
    y = torch.tensor(rng.integers(0, 4, 6)).to(device)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 6, 3, padding=1, padding_mode="reflect", bias=False)
            self.bn1 = nn.BatchNorm2d(6)
            self.conv = nn.Conv2d(6, 6, 3, padding="same", dilation=2)
            self.bn2 = nn.BatchNorm2d(6)
            self.head = nn.Linear(6, 4)

        def forward(self, x):
            h = F.relu(self.bn1(self.stem(x)))
            h = F.relu(h + self.bn2(self.conv(h)))
            self.last_channels_last = h.is_contiguous(memory_format=torch.channels_last)
            return self.head(torch.flatten(F.adaptive_avg_pool2d(h, 1), 1))

    model = Net().double()
    init(model)
    model = model.to(device)
    model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    out = [x.is_contiguous(memory_format=torch.channels_last), x.is_contiguous(),
           model.stem.weight.is_contiguous(memory_format=torch.channels_last)]
    try:
        for _ in range(steps):
            model.train()
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            out.append(loss.item())
        out.append(model.last_channels_last)
        out.append(model.stem.weight.grad.is_contiguous(memory_format=torch.channels_last))
        model.eval()
        with torch.no_grad():
            out += model(x).flatten().tolist()
    finally:
        torch.backends.cudnn.benchmark = benchmark
    return out, model


def custom_loss_program(torch, steps, init, device="cpu"):
    """A tiny segmentation net fine-tuned with hand-written losses: a label-smoothed focal loss
    subclassing ``_WeightedLoss`` (class weights kept as its buffer, its ``reduction``) plus a
    soft Dice loss subclassing ``_Loss``. BatchNorm is calibrated (momentum=None) and then
    frozen by ``isinstance(m, _BatchNorm)`` in an overridden ``train()``; every ``_ConvNd``
    (a Conv2d and a ConvTranspose2d) is rescaled and its bias zeroed; weight decay is split by
    parameter names (no decay on biases and norms). Reports both losses each step, the group
    sizes, the loss's buffers and reduction, whether the running stats stayed put."""
    nn = torch.nn
    F = torch.nn.functional
    _Loss = _module(torch, "nn.modules.loss")._Loss
    _WeightedLoss = _module(torch, "nn.modules.loss")._WeightedLoss
    _BatchNorm = _module(torch, "nn.modules.batchnorm")._BatchNorm
    _ConvNd = _module(torch, "nn.modules.conv")._ConvNd
    rng = np.random.default_rng(161)
    x = torch.tensor(rng.standard_normal((4, 2, 6, 6))).to(device)
    target = torch.tensor(rng.integers(0, 3, (4, 6, 6))).to(device)

    class SmoothFocalLoss(_WeightedLoss):
        def __init__(self, weight=None, gamma=2.0, smoothing=0.1, reduction="mean"):
            super().__init__(weight=weight, reduction=reduction)
            self.gamma = gamma
            self.smoothing = smoothing

        def forward(self, logits, target):
            n = logits.size(1)
            logp = F.log_softmax(logits, dim=1)
            soft = torch.full_like(logp, self.smoothing / (n - 1))
            soft = soft.scatter(1, target.unsqueeze(1), 1.0 - self.smoothing)
            loss = -soft * (1 - logp.exp()) ** self.gamma * logp
            if self.weight is not None:
                loss = loss * self.weight.view(1, -1, 1, 1)
            loss = loss.sum(1)
            if self.reduction == "mean":
                return loss.mean()
            return loss.sum() if self.reduction == "sum" else loss

    class DiceLoss(_Loss):
        def __init__(self, eps=1.0):
            super().__init__(reduction="mean")
            self.eps = eps

        def forward(self, logits, target):
            probs = logits.softmax(1)
            onehot = F.one_hot(target, probs.size(1)).permute(0, 3, 1, 2).to(probs.dtype)
            inter = (probs * onehot).sum((2, 3))
            union = probs.sum((2, 3)) + onehot.sum((2, 3))
            return (1 - (2 * inter + self.eps) / (union + self.eps)).mean()

    class SegNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.down = nn.Conv2d(2, 8, 3, stride=2, padding=1)
            self.bn = nn.BatchNorm2d(8, momentum=None)
            self.up = nn.ConvTranspose2d(8, 3, 2, stride=2)

        def forward(self, x):
            return self.up(F.relu(self.bn(self.down(x))))

        def train(self, mode=True):
            super().train(mode)
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
            return self

    model = SegNet().double()
    init(model)
    model.to(device)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, _ConvNd):
                m.weight.mul_(0.5 * math.sqrt(m.weight[0].numel() / 18.0))
                nn.init.zeros_(m.bias)
        model.bn.train()  # calibrate the running statistics on two batches
        model(x[:2])
        model(x[2:])
    for m in model.modules():
        if isinstance(m, _BatchNorm):
            for p in m.parameters():
                p.requires_grad_(False)
    calibrated = model.bn.running_mean.clone()
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if name.endswith("bias") or "bn" in name else decay).append(p)
    opt = torch.optim.SGD([{"params": decay, "weight_decay": 1e-2},
                           {"params": no_decay, "weight_decay": 0.0}], lr=0.2, momentum=0.8)
    focal = SmoothFocalLoss(weight=torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64,
                                                device=device))
    dice = DiceLoss()
    out = [len(decay), len(no_decay), [n for n, _ in focal.named_buffers()] == ["weight"],
           focal.reduction == dice.reduction == "mean", isinstance(focal, _Loss)]
    for _ in range(steps):
        model.train()
        logits = model(x)
        l_focal, l_dice = focal(logits, target), dice(logits, target)
        opt.zero_grad()
        (l_focal + l_dice).backward()
        opt.step()
        out += [l_focal.item(), l_dice.item()]
    out += [model.bn.training, bool(torch.equal(model.bn.running_mean, calibrated)),
            model.bn.weight.grad is None]
    return out, model


def gpt_block_program(torch, steps, init, device="cpu"):
    """A one-block character GPT: token and position embeddings, pre-norm causal attention by
    ``F.scaled_dot_product_attention`` under ``sdpa_kernel(SDPBackend.MATH)``, a tanh-GELU MLP,
    weight-tied head; AdamW with decay only on matrices, betas (0.9, 0.95), a LambdaLR linear
    warmup then cosine decay, clip_grad_norm_. Reports loss, learning rate and gradient norm
    each step."""
    nn = torch.nn
    F = torch.nn.functional
    attention = torch.nn.attention
    vocab, T, C, H = 11, 8, 16, 4
    rng = np.random.default_rng(162)
    data = torch.tensor(rng.integers(0, vocab, (4, T + 1))).to(device)
    xb, yb = data[:, :-1], data[:, 1:]

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1 = nn.LayerNorm(C)
            self.qkv = nn.Linear(C, 3 * C)
            self.proj = nn.Linear(C, C)
            self.ln2 = nn.LayerNorm(C)
            self.mlp = nn.Sequential(nn.Linear(C, 4 * C), nn.GELU(approximate="tanh"),
                                     nn.Linear(4 * C, C))

        def forward(self, x):
            B, L, _ = x.shape
            q, k, v = self.qkv(self.ln1(x)).split(C, dim=2)
            q, k, v = (t.view(B, L, H, C // H).transpose(1, 2) for t in (q, k, v))
            with attention.sdpa_kernel(attention.SDPBackend.MATH):
                y = F.scaled_dot_product_attention(q, k, v, dropout_p=0.0, is_causal=True)
            x = x + self.proj(y.transpose(1, 2).contiguous().view(B, L, C))
            return x + self.mlp(self.ln2(x))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte = nn.Embedding(vocab, C)
            self.wpe = nn.Embedding(T, C)
            self.block = Block()
            self.ln_f = nn.LayerNorm(C)
            self.lm_head = nn.Linear(C, vocab, bias=False)
            self.lm_head.weight = self.wte.weight

        def forward(self, idx, targets):
            pos = torch.arange(idx.size(1), device=idx.device)
            h = self.ln_f(self.block(self.wte(idx) + self.wpe(pos)))
            logits = self.lm_head(h)
            return F.cross_entropy(logits.view(-1, vocab), targets.reshape(-1))

    model = GPT().double()
    init(model)
    model.to(device)
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    groups = [{"params": [p for p in params.values() if p.dim() >= 2], "weight_decay": 0.1},
              {"params": [p for p in params.values() if p.dim() < 2], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=3e-2, betas=(0.9, 0.95))
    warmup = 3

    def lr_lambda(step):
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, steps - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda)
    out = [len(groups[0]["params"]), len(groups[1]["params"])]
    for _ in range(steps):
        loss = model(xb, yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        norm = nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        out += [loss.item(), sched.get_last_lr()[0], norm.item()]
        sched.step()
    return out, model


def flex_program(torch, steps, init, device="cpu", attention="flex"):
    """Causal sliding-window attention with ALiBi biases, as FlexAttention programs write it: a
    ``mask_mod`` (causal and within ``window``) turned into a BlockMask by
    ``create_block_mask``, a ``score_mod`` adding ``-slope[h] * (q - kv)``; ``attention="dense"``
    runs the same model through ``F.scaled_dot_product_attention`` with the equivalent dense
    float mask (for PyTorch, which has no FlexAttention backward on the CPU). A two-head
    attention layer with a causal-LM head, Adam. Reports the losses, then the trained model's
    attention outputs of ``flex_attention`` itself and of the dense form, under no_grad."""
    nn = torch.nn
    F = torch.nn.functional
    fa = _module(torch, "nn.attention.flex_attention")
    vocab, T, C, H, window = 9, 8, 8, 2, 3
    rng = np.random.default_rng(163)
    data = torch.tensor(rng.integers(0, vocab, (3, T + 1))).to(device)
    xb, yb = data[:, :-1], data[:, 1:]
    slopes = torch.tensor([2.0 ** -1, 2.0 ** -3], dtype=torch.float64, device=device)

    def sliding_causal(b, h, q_idx, kv_idx):
        return (q_idx >= kv_idx) & (q_idx - kv_idx <= window)

    def alibi(score, b, h, q_idx, kv_idx):
        return score - slopes[h] * (q_idx - kv_idx)

    block_mask = fa.create_block_mask(sliding_causal, None, None, T, T, device=device)
    i = torch.arange(T, device=device)
    allowed = sliding_causal(None, None, i[:, None], i[None, :])
    bias = -slopes[:, None, None] * (i[:, None] - i[None, :]).to(torch.float64)
    bias = bias.masked_fill(~allowed, float("-inf"))

    def flex(q, k, v):
        return fa.flex_attention(q, k, v, score_mod=alibi, block_mask=block_mask)

    def dense(q, k, v):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=bias)

    attend = flex if attention == "flex" else dense

    class Attn(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(vocab, C)
            self.qkv = nn.Linear(C, 3 * C, bias=False)
            self.out = nn.Linear(C, C)
            self.norm = nn.LayerNorm(C)
            self.head = nn.Linear(C, vocab)

        def heads(self, idx):
            B = idx.size(0)
            q, k, v = self.qkv(self.emb(idx)).chunk(3, dim=-1)
            return [t.reshape(B, T, H, C // H).permute(0, 2, 1, 3) for t in (q, k, v)]

        def forward(self, idx, attend):
            y = attend(*self.heads(idx))
            y = y.permute(0, 2, 1, 3).reshape(idx.size(0), T, C)
            return self.head(self.norm(self.emb(idx) + self.out(y)))

    model = Attn().double()
    init(model)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=2e-2)
    out = []
    for _ in range(steps):
        loss = F.cross_entropy(model(xb, attend).reshape(-1, vocab), yb.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        out.append(loss.item())
    with torch.no_grad():
        q, k, v = model.heads(xb)
        out += flex(q, k, v)[0].flatten().tolist() + dense(q, k, v)[0].flatten().tolist()
    return out, model


def gcn_program(torch, steps, init, device="cpu"):
    """A two-layer GCN (Kipf & Welling) on a random graph: the symmetric-normalized adjacency
    with self loops built densely, stored as ``adj.to_sparse_csr()``, propagated by
    ``torch.sparse.mm``; dropout-free, semi-supervised node classification on a training mask;
    Adam with weight decay on the first layer only. Reports the CSR row pointers, the losses
    and training/held-out accuracies."""
    nn = torch.nn
    F = torch.nn.functional
    rng = np.random.default_rng(164)
    n, d, classes = 12, 5, 3
    a = (rng.random((n, n)) < 0.25).astype(np.float64)
    a = np.maximum(a, a.T)
    np.fill_diagonal(a, 0.0)
    labels_np = rng.integers(0, classes, n)
    feats = rng.standard_normal((n, d)) + np.eye(classes)[labels_np] @ rng.standard_normal(
        (classes, d))
    adj = torch.tensor(a).to(device) + torch.eye(n, dtype=torch.float64, device=device)
    deg_inv_sqrt = adj.sum(1).pow(-0.5)
    adj = deg_inv_sqrt[:, None] * adj * deg_inv_sqrt[None, :]
    adj = adj.to_sparse_csr()
    x = torch.tensor(feats).to(device)
    y = torch.tensor(labels_np).to(device)
    train_mask = torch.tensor(np.arange(n) % 3 != 0).to(device)

    class GCN(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin1 = nn.Linear(d, 16)
            self.lin2 = nn.Linear(16, classes)

        def forward(self, x, adj):
            h = F.relu(torch.sparse.mm(adj, self.lin1(x)))
            return torch.sparse.mm(adj, self.lin2(h))

    model = GCN().double()
    init(model)
    model.to(device)
    opt = torch.optim.Adam([{"params": model.lin1.parameters(), "weight_decay": 5e-4},
                            {"params": model.lin2.parameters(), "weight_decay": 0.0}], lr=0.05)
    out = [adj.layout == torch.sparse_csr, *adj.crow_indices().tolist(), adj.values().sum().item()]
    for _ in range(steps):
        model.train()
        logits = model(x, adj)
        loss = F.cross_entropy(logits[train_mask], y[train_mask])
        opt.zero_grad()
        loss.backward()
        opt.step()
        pred = logits.argmax(1)
        out += [loss.item(), (pred[train_mask] == y[train_mask]).double().mean().item(),
                (pred[~train_mask] == y[~train_mask]).double().mean().item()]
    return out, model


def hogwild_program(torch, steps, init, device="cpu"):
    """Hogwild training (PyTorch's mnist_hogwild example): the model's parameters moved to
    shared memory by ``model.share_memory()``, two worker processes of the "fork" context each
    train it in place with their own SGD on their own shard; rank 1 waits on rank 0's Event so
    the run is reproducible. Workers send their losses back through a Queue. The parent then
    moves the model to ``device`` and evaluates and fine-tunes it there. Reports the workers'
    losses, whether the parameters are shared, the fine-tuning losses."""
    nn = torch.nn
    F = torch.nn.functional
    mp = _module(torch, "multiprocessing")
    rng = np.random.default_rng(165)
    x_np = rng.standard_normal((32, 4))
    y_np = np.tanh(x_np @ rng.standard_normal((4, 1)))

    model = nn.Sequential(nn.Linear(4, 12), nn.Tanh(), nn.Linear(12, 1)).double()
    init(model)
    model.share_memory()
    ctx = mp.get_context("fork")
    events = [ctx.Event() for _ in range(2)]
    queue = ctx.SimpleQueue()

    def train(rank):
        if rank:
            assert events[rank - 1].wait(60)
        xs = torch.tensor(x_np[rank::2])
        ys = torch.tensor(y_np[rank::2])
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.5)
        losses = []
        for _ in range(steps):
            opt.zero_grad()
            loss = F.mse_loss(model(xs), ys)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        queue.put((rank, losses))
        events[rank].set()

    procs = [ctx.Process(target=train, args=(rank,)) for rank in range(2)]
    for p in procs:
        p.start()
    results = dict(queue.get() for _ in procs)
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    out = results[0] + results[1] + [all(p.is_shared() for p in model.parameters())]
    model.to(device)
    x = torch.tensor(x_np).to(device)
    y = torch.tensor(y_np).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    for _ in range(3):
        loss = F.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        out.append(loss.item())
    return out, model


def pytree_program(torch, steps, init, device="cpu"):
    """A functional training loop (the torch.func style): parameters and buffers pulled out of
    an MLP with dropout into a nested dict, the model run by ``torch.func.functional_call``,
    gradients by ``torch.autograd.grad`` over ``tree_leaves``, momentum SGD written with
    ``torch.utils._pytree.tree_map`` over the nested state (params, momentum, a step count);
    the trained state loaded back by ``load_state_dict``. A Monte-Carlo dropout evaluation runs
    under ``torch.random.fork_rng`` (seeded inside, twice identical) and leaves the global
    generator as it was. Reports the losses, the leaf count, the tree's keys and the RNG checks
    (the dropout draws themselves differ between the libraries' generators)."""
    nn = torch.nn
    F = torch.nn.functional
    pytree = _module(torch, "utils._pytree")
    func = _module(torch, "func")
    rng = np.random.default_rng(166)
    x = torch.tensor(rng.standard_normal((20, 3))).to(device)
    y = torch.tensor(np.sin(rng.standard_normal((20, 1)))).to(device)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(3, 10), nn.LayerNorm(10), nn.SiLU(),
                                      nn.Dropout(0.3), nn.Linear(10, 1))
            self.register_buffer("scale", torch.tensor(0.5, dtype=torch.float64))

        def forward(self, x):
            return self.body(x) * self.scale

    model = Net().double()
    init(model)
    model.to(device)
    model.eval()  # training below is deterministic; dropout only in the MC evaluation
    state = {"params": {k: v.detach() for k, v in model.named_parameters()},
             "buffers": dict(model.named_buffers()),
             "momentum": pytree.tree_map(torch.zeros_like,
                                         {k: v.detach() for k, v in model.named_parameters()}),
             "step": 0}
    leaves, spec = pytree.tree_flatten(state["params"])
    out = [len(leaves), sorted(state) == ["buffers", "momentum", "params", "step"],
           pytree.tree_structure(state["momentum"]) == spec]
    for _ in range(steps):
        params = pytree.tree_map(lambda t: t.clone().requires_grad_(True), state["params"])
        pred = func.functional_call(model, (params, state["buffers"]), (x,))
        loss = F.mse_loss(pred, y)
        grads = torch.autograd.grad(loss, pytree.tree_leaves(params))
        grads = pytree.tree_unflatten(list(grads), spec)
        state["momentum"] = pytree.tree_map(lambda m, g: 0.9 * m + g, state["momentum"], grads)
        state["params"] = pytree.tree_map(lambda p, m: p - 0.05 * m, state["params"],
                                          state["momentum"])
        state["step"] += 1
        out.append(loss.item())
    model.load_state_dict({**state["params"], **state["buffers"]})

    def mc_dropout(n=4):
        model.train()
        with torch.no_grad():
            draws = torch.stack([model(x) for _ in range(n)])
        model.eval()
        return draws

    torch.manual_seed(5)
    before = torch.get_rng_state()
    with torch.random.fork_rng(devices=[] if device == "cpu" else [0]):
        torch.manual_seed(123)
        first = mc_dropout()
        torch.manual_seed(123)
        second = mc_dropout()
    after = torch.rand(3)
    torch.set_rng_state(before)
    out += [bool(torch.equal(first, second)), bool(first.std(0).gt(0).any()),
            bool(torch.equal(after, torch.rand(3))), state["step"]]
    with torch.no_grad():
        out.append(F.mse_loss(model(x), y).item())
    return out, model


def compile_program(torch, steps, init, device="cpu"):
    """The modern training-script boilerplate: the device chosen by ``torch.accelerator``
    (``--no-accel`` when ``device`` is "cpu"), ``torch.compile(model)`` (the eager backend) for
    the training forward, metrics in a ``@torch.compiler.disable`` function, ``torch.autocast``
    and ``torch.GradScaler`` present but disabled (``use_amp=False``), OneCycleLR. Reports
    losses, metrics, the scale, whether the loss is still float64 under the disabled autocast,
    and whether ``_orig_mod`` unwrapping finds the model; the final state comes back through a
    checkpoint of the compiled module with the prefix stripped."""
    nn = torch.nn
    F = torch.nn.functional
    use_accel = device != "cpu" and torch.accelerator.is_available()
    dev = torch.accelerator.current_accelerator() if use_accel else torch.device("cpu")
    rng = np.random.default_rng(167)
    x = torch.tensor(rng.standard_normal((24, 6))).to(dev)
    y = torch.tensor(rng.integers(0, 3, 24)).to(dev)

    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.0), nn.Linear(16, 3))
    model = model.double()
    init(model)
    model = model.to(dev)
    compiled = torch.compile(model, backend="eager")
    use_amp = False
    scaler = torch.GradScaler(enabled=use_amp)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=5e-2, total_steps=steps)

    @torch.compiler.disable
    def metrics(logits, target):
        return (logits.argmax(1) == target).double().mean().item(), logits.abs().max().item()

    raw_model = getattr(compiled, "_orig_mod", compiled)  # nanoGPT's unwrapping
    out = [scaler.is_enabled(), raw_model is model]
    for _ in range(steps):
        compiled.train()
        opt.zero_grad()
        with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=use_amp):
            logits = compiled(x)
            loss = F.cross_entropy(logits, y)
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        norm = nn.utils.clip_grad_norm_(model.parameters(), 2.0)
        scaler.step(opt)
        scaler.update()
        sched.step()
        out += [loss.item(), norm.item(), *metrics(logits, y), loss.dtype == torch.float64,
                scaler.get_scale()]
    # a checkpoint of the compiled model, reloaded as nanoGPT does (stripping the wrapper's
    # "_orig_mod." prefix where torch.compile put one)
    checkpoint = {k.removeprefix("_orig_mod."): v.clone()
                  for k, v in compiled.state_dict().items()}
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
    model.load_state_dict(checkpoint)
    return out, model


def cells_program(torch, steps, init, device="cpu"):
    """A hashed-token recurrent tagger written with the functional cells: token ids hashed into
    buckets by ``((ids * 31) >> 3) % n_buckets`` (and ``ids << 2`` XOR mixing for a second
    hash), two embeddings summed, ``torch.rms_norm``, an LSTM by ``torch.lstm_cell`` and a GRU
    by ``torch.gru_cell`` unrolled by hand over the sequence with the module's own Parameters,
    spectral features ``torch.fft.ihfft2(...).abs()`` of each sequence's embedding matrix;
    RMSprop. Reports the bucket ids, the losses and the final hidden norms."""
    nn = torch.nn
    F = torch.nn.functional
    rng = np.random.default_rng(168)
    B, T, D, Hd, buckets, classes = 3, 5, 6, 7, 13, 4
    ids = torch.tensor(rng.integers(0, 1000, (B, T))).to(device)
    y = torch.tensor(rng.integers(0, classes, B)).to(device)
    h1 = ((ids * 31) >> 3) % buckets
    h2 = ((ids << 2) ^ (ids >> 1)) % buckets

    class Tagger(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb1 = nn.Embedding(buckets, D)
            self.emb2 = nn.Embedding(buckets, D)
            self.norm_w = nn.Parameter(torch.ones(D, dtype=torch.float64))
            self.lstm = nn.LSTMCell(D, Hd)
            self.gru = nn.GRUCell(Hd, Hd)
            self.head = nn.Linear(2 * Hd + T * (D // 2 + 1), classes)

        def forward(self, h1, h2):
            e = torch.rms_norm(self.emb1(h1) + self.emb2(h2), (D,), self.norm_w, 1e-6)
            h = c = e.new_zeros(B, Hd)
            g = e.new_zeros(B, Hd)
            lstm, gru = self.lstm, self.gru
            for t in range(T):
                h, c = torch.lstm_cell(e[:, t], (h, c), lstm.weight_ih, lstm.weight_hh,
                                       lstm.bias_ih, lstm.bias_hh)
                g = torch.gru_cell(h, g, gru.weight_ih, gru.weight_hh, gru.bias_ih, gru.bias_hh)
            spectrum = torch.fft.ihfft2(e).abs().flatten(1)
            return self.head(torch.cat([h, g, spectrum], 1)), h, g

    model = Tagger().double()
    init(model)
    model.to(device)
    opt = torch.optim.RMSprop(model.parameters(), lr=1e-2)
    out = h1.flatten().tolist() + h2.flatten().tolist()
    for _ in range(steps):
        logits, h, g = model(h1, h2)
        loss = F.cross_entropy(logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        out += [loss.item(), h.norm().item(), g.norm().item()]
    return out, model


def _flex_both(torch, steps, init, device="cpu"):
    """The FlexAttention program as the test runs it: dense under PyTorch (no CPU backward),
    flex_attention itself under tensorgrad."""
    return flex_program(torch, steps, init, device,
                        attention="flex" if torch.__name__ == "tensorgrad" else "dense")


PROGRAMS = {"channels_last": (channels_last_program, 5),
            "custom_loss": (custom_loss_program, 5),
            "gpt_block": (gpt_block_program, 6),
            "flex": (_flex_both, 5),
            "flex_dense": (functools.partial(flex_program, attention="dense"), 3),
            "gcn": (gcn_program, 6),
            "hogwild": (hogwild_program, 4),
            "pytree": (pytree_program, 5),
            "compile": (compile_program, 5),
            "cells": (cells_program, 5)}
# AdamW divides each gradient by its running RMS: entries of the GPT's value bias that are
# tiny next to their gradient's scale carry its 1e-15 relative rounding (summation order in
# the attention) as 1e-12 absolute after six steps, hence 1e-10 there
_STATE_ATOL = {"gpt_block": 1e-10}


# ---------------------------------------------------------------------------------------------
# the tests


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_program_matches_torch(name, device):
    """The program's losses (and every other number it reports) and its final parameters and
    buffers equal PyTorch's, with model and data moved by ``.to(device)``."""
    check_program(PROGRAMS, name, device, state_atol=_STATE_ATOL.get(name, 1e-12))


def test_programs_are_not_vacuous():
    """What the comparisons rely on happens under PyTorch: the losses fall; the channels_last
    layouts are in force; BatchNorm stays frozen; warmup raises the rate; the flex and dense
    attention outputs agree (so training one against the other is a fair comparison) and the
    window masks something; the CSR adjacency is sparse; both Hogwild workers moved the shared
    model; the RNG checks hold; the disabled scaler keeps scale 1."""
    cl, _ = torch_run(PROGRAMS, "channels_last")
    assert cl[:3] == [True, False, True] and cl[3] > cl[7] and cl[8] is True
    cu, model = torch_run(PROGRAMS, "custom_loss")
    assert cu[:5] == [2, 2, True, True, True]
    assert cu[5] + cu[6] > cu[-5] + cu[-4] and cu[-3:] == [False, True, True]
    gpt, _ = torch_run(PROGRAMS, "gpt_block")
    assert gpt[3] < gpt[6] < gpt[9] and gpt[2] > gpt[-3]
    flex, _ = torch_run(PROGRAMS, "flex")
    values = np.array(flex[5:]).reshape(2, 2, 8, 4)  # (flex, dense), heads, queries, dims
    np.testing.assert_allclose(values[0], values[1], rtol=1e-12, atol=1e-12)
    assert flex[0] > flex[4] and len(flex) == 5 + 2 * 64
    gcn, _ = torch_run(PROGRAMS, "gcn")
    assert gcn[0] is True and gcn[13] < 0.6 * 12 * 12 and gcn[15] > gcn[-3]
    hog, _ = torch_run(PROGRAMS, "hogwild")
    assert hog[0] > hog[3] and hog[4] > hog[7] and hog[8] is True and hog[9] > hog[-1]
    tree, _ = torch_run(PROGRAMS, "pytree")
    assert tree[:3] == [6, True, True]
    assert tree[3] > tree[7] and tree[8:12] == [True, True, True, 5]
    comp, model = torch_run(PROGRAMS, "compile")
    assert comp[:2] == [False, True] and comp[2] > comp[-6] and comp[-1] == 1.0
    cells, _ = torch_run(PROGRAMS, "cells")
    assert max(cells[:30]) < 13 and len(set(cells[:15])) > 3 and cells[30] > cells[-3]


def test_flex_training_equals_its_dense_form_in_tensorgrad():
    """The substitution the FlexAttention comparison makes is exact within tensorgrad too:
    trained through ``flex_attention`` (block mask and score_mod, with its backward) or through
    the dense mask and bias, from the same weights, the losses and final weights agree."""
    torch.manual_seed(0)
    start = {}
    flex_program(torch, 0, lambda m: start.update(
        {k: v.detach().numpy().copy() for k, v in m.state_dict().items()}), attention="dense")

    def load(model):
        model.load_state_dict({k: tg.tensor(v) for k, v in start.items()})

    flex_out, flex_model = flex_program(tg, 4, load, attention="flex")
    dense_out, dense_model = flex_program(tg, 4, load, attention="dense")
    np.testing.assert_allclose(flex_out, dense_out, rtol=1e-12, atol=1e-12)
    assert flex_out[0] > flex_out[3]
    for (k, a), b in zip(flex_model.state_dict().items(), dense_model.state_dict().values()):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12, atol=1e-13, err_msg=k)
