"""An eighth round of real PyTorch programs run on tensorgrad with only the module swapped.

As in ``test_ported_programs.py`` (whose ``run_both`` runs each program with ``torch`` and with
``tensorgrad`` passed as ``torch``, from the same initial weights and buffers), each program is
``program(torch, steps, init, device="cpu")``: a VQ-VAE with an EMA codebook, a graph attention
network, a small CNN trained on in-graph augmentation and mixup, a hypernetwork, and a
differentiable mass-spring simulation fitted by L-BFGS. All run in float64 and must equal
PyTorch's trajectory (every reported number, including the chosen codes) and final parameters
and buffers to rounding.

Randomness both runs share (data, crop offsets, flip coins, mixup lambdas and permutations,
dropout masks, task ids) is drawn inside each program from its own
``np.random.default_rng(seed)`` with a fixed seed, outside either library, and passed in as
tensors; the draws happen in the same order on both runs, so both see the same numbers. No
program calls a library's own random generator after ``init`` has copied PyTorch's weights.
"""

import math

import numpy as np
import pytest
from devices import host
from test_ported_programs import check_program

import tensorgrad as tg

torch = pytest.importorskip("torch")


# ---------------------------------------------------------------------------------------------
# the programs (plain PyTorch code; only ``torch`` differs)


def vqvae_program(torch, steps, init, device="cpu"):
    """A VQ-VAE: a strided Conv2d encoder, an nn.Embedding codebook started (under no_grad,
    copy_) at encodings of the batch picked by NumPy, the nearest code by torch.cdist + argmin
    (and by the expanded squared distance, reported beside it), the straight-through estimator
    z + (q - z).detach(), codebook and commitment losses, a ConvTranspose2d decoder with an MSE
    reconstruction loss; Adam. After each step an EMA of code counts (bincount) and code sums
    (index_add_) kept in buffers (register_buffer, mul_/add_ in a @torch.no_grad() method)
    pulls the codebook half way to the Laplace-smoothed cluster means. Reports each step's
    losses, the usage perplexity, the mean cdist to the nearest code, and the codes chosen by
    both rules at every position."""
    nn = torch.nn
    F = torch.nn.functional
    rng = np.random.default_rng(80)
    images = torch.tensor(rng.standard_normal((4, 1, 8, 8))).to(device)
    n_codes, dim = 6, 3

    class VQVAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Sequential(nn.Conv2d(1, 8, 4, stride=2, padding=1), nn.ReLU(),
                                         nn.Conv2d(8, dim, 3, padding=1))
            self.codebook = nn.Embedding(n_codes, dim)
            self.decoder = nn.Sequential(nn.ConvTranspose2d(dim, 8, 3, padding=1), nn.ReLU(),
                                         nn.ConvTranspose2d(8, 1, 4, stride=2, padding=1))
            self.register_buffer("ema_count", torch.ones(n_codes, dtype=torch.float64))
            self.register_buffer("ema_sum", self.codebook.weight.detach().clone())
            self.decay, self.eps, self.beta = 0.8, 1e-5, 0.25

        def quantize(self, z):
            flat = z.permute(0, 2, 3, 1).reshape(-1, dim)
            book = self.codebook.weight
            distances = torch.cdist(flat, book, compute_mode="donot_use_mm_for_euclid_dist")
            codes = distances.argmin(dim=1)
            self.nearest = distances.min(dim=1).values.mean()
            squared = ((flat ** 2).sum(1, keepdim=True) - 2 * flat @ book.t()
                       + (book ** 2).sum(1).unsqueeze(0))
            codes2 = torch.argmin(squared, dim=1)
            n, _, h, w = z.shape
            q = self.codebook(codes).view(n, h, w, dim).permute(0, 3, 1, 2)
            return q, codes, codes2, flat

        def forward(self, x):
            z = self.encoder(x)
            q, codes, codes2, flat = self.quantize(z)
            codebook_loss = F.mse_loss(q, z.detach())
            commitment = F.mse_loss(z, q.detach())
            z_q = z + (q - z).detach()
            rec = F.mse_loss(self.decoder(z_q), x)
            return rec, codebook_loss, commitment, codes, codes2, flat

        @torch.no_grad()
        def ema_update(self, codes, flat):
            counts = torch.bincount(codes, minlength=n_codes).to(flat.dtype)
            sums = torch.zeros(n_codes, dim, dtype=flat.dtype, device=flat.device)
            sums.index_add_(0, codes, flat.detach())
            self.ema_count.mul_(self.decay).add_(counts, alpha=1 - self.decay)
            self.ema_sum.mul_(self.decay).add_(sums, alpha=1 - self.decay)
            total = self.ema_count.sum()
            smoothed = (self.ema_count + self.eps) / (total + n_codes * self.eps) * total
            self.codebook.weight.mul_(0.5).add_(self.ema_sum / smoothed.unsqueeze(1), alpha=0.5)
            probs = counts / counts.sum()
            return torch.exp(-(probs * torch.log(probs + 1e-10)).sum())

    model = VQVAE().double()
    init(model)
    model.to(device)
    with torch.no_grad():  # the codebook starts at encodings of the batch (no dead codes)
        encoded = model.encoder(images).permute(0, 2, 3, 1).reshape(-1, dim)
        chosen = torch.tensor(rng.choice(encoded.shape[0], n_codes, replace=False)).to(device)
        model.codebook.weight.copy_(encoded[chosen])
        model.ema_sum.copy_(model.codebook.weight)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    out = []
    for _ in range(steps):
        opt.zero_grad()
        rec, codebook_loss, commitment, codes, codes2, flat = model(images)
        loss = rec + codebook_loss + model.beta * commitment
        loss.backward()
        opt.step()
        perplexity = model.ema_update(codes, flat)
        out += [loss.item(), rec.item(), commitment.item(), perplexity.item(),
                model.nearest.item()]
        out += codes.tolist() + codes2.tolist()
    return out, model


def gat_program(torch, steps, init, device="cpu"):
    """A two-layer graph attention network on a random directed graph with self loops given as
    edge_index: per-edge logits LeakyReLU(a_src[src] + a_dst[dst], 0.2), a softmax over each
    node's incoming edges stabilised by scatter_reduce("amax", include_self=False), exp,
    scatter_add and index_add_ for the denominators and the messages, four heads concatenated
    then ELU, one averaged head at the output; feature and attention dropout by masks drawn with
    NumPy; nll_loss of log_softmax on the training nodes (a boolean mask); Adam with weight
    decay. Reports the loss and training accuracy of each step, then the evaluation loss and
    accuracy on the other nodes (no dropout)."""
    nn = torch.nn
    F = torch.nn.functional
    rng = np.random.default_rng(81)
    n_nodes, n_feat, n_classes, p = 12, 5, 3, 0.3
    pairs = {(int(a), int(b)) for a, b in rng.integers(0, n_nodes, size=(30, 2)) if a != b}
    pairs |= {(i, i) for i in range(n_nodes)}
    edge_index = torch.tensor(np.array(sorted(pairs)).T.copy()).to(device)
    n_edges = edge_index.shape[1]
    x = torch.tensor(rng.standard_normal((n_nodes, n_feat))).to(device)
    y = torch.tensor(rng.integers(0, n_classes, size=n_nodes)).to(device)
    train = torch.tensor(np.arange(n_nodes) % 3 != 0).to(device)

    def keep(shape):  # an inverted-dropout mask from the program's own generator
        return torch.tensor((rng.random(shape) > p) / (1 - p)).to(device)

    class GATLayer(nn.Module):
        def __init__(self, d_in, d_out, heads, concat):
            super().__init__()
            self.heads, self.d_out, self.concat = heads, d_out, concat
            self.lin = nn.Linear(d_in, heads * d_out, bias=False)
            self.att_src = nn.Parameter(torch.empty(1, heads, d_out))
            self.att_dst = nn.Parameter(torch.empty(1, heads, d_out))
            self.bias = nn.Parameter(torch.zeros(heads * d_out if concat else d_out))
            nn.init.xavier_uniform_(self.att_src)
            nn.init.xavier_uniform_(self.att_dst)

        def forward(self, x, edge_index, attention_mask=None):
            src, dst = edge_index[0], edge_index[1]
            n = x.shape[0]
            h = self.lin(x).view(n, self.heads, self.d_out)
            a_src = (h * self.att_src).sum(dim=-1)
            a_dst = (h * self.att_dst).sum(dim=-1)
            e = F.leaky_relu(a_src[src] + a_dst[dst], negative_slope=0.2)
            index = dst.unsqueeze(-1).expand_as(e)
            start = torch.full((n, self.heads), -math.inf, dtype=e.dtype, device=e.device)
            e_max = start.scatter_reduce(0, index, e, reduce="amax", include_self=False)
            ex = torch.exp(e - e_max[dst])
            denom = torch.zeros(n, self.heads, dtype=e.dtype, device=e.device)
            denom = denom.scatter_add(0, index, ex)
            alpha = ex / denom[dst]
            if attention_mask is not None:
                alpha = alpha * attention_mask
            messages = h[src] * alpha.unsqueeze(-1)
            out = torch.zeros_like(h).index_add_(0, dst, messages)
            out = out.reshape(n, -1) if self.concat else out.mean(dim=1)
            return out + self.bias

    class GAT(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer1 = GATLayer(n_feat, 4, heads=4, concat=True)
            self.layer2 = GATLayer(16, n_classes, heads=1, concat=False)

        def forward(self, x, edge_index, masks=None):
            if masks is not None:
                x = x * masks[0]
            h = F.elu(self.layer1(x, edge_index, None if masks is None else masks[1]))
            if masks is not None:
                h = h * masks[2]
            return F.log_softmax(self.layer2(h, edge_index,
                                             None if masks is None else masks[3]), dim=1)

    model = GAT().double()
    init(model)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=5e-2, weight_decay=5e-4)
    out = []
    for _ in range(steps):
        masks = (keep((n_nodes, n_feat)), keep((n_edges, 4)), keep((n_nodes, 16)),
                 keep((n_edges, 1)))
        model.train()
        opt.zero_grad()
        logp = model(x, edge_index, masks)
        loss = F.nll_loss(logp[train], y[train])
        loss.backward()
        opt.step()
        accuracy = (logp[train].argmax(dim=1) == y[train]).double().mean()
        out += [loss.item(), accuracy.item()]
    model.eval()
    with torch.no_grad():
        logp = model(x, edge_index)
        out.append(F.nll_loss(logp[~train], y[~train]).item())
        out.append((logp[~train].argmax(1) == y[~train]).sum().item())
        out += logp.exp().sum(1).tolist()
    return out, model


def mixup_program(torch, steps, init, device="cpu"):
    """A small CNN trained on augmentation done in the graph: random 8x8 crops of images
    padded by F.pad (constant and reflect, alternately) at offsets drawn with NumPy,
    horizontal flips by torch.flip chosen per image by a boolean mask through torch.where,
    mixup of the batch with a NumPy permutation and per-image lambdas from NumPy
    Beta(0.4, 0.4) draws, applied to the inputs and to one-hot targets; the soft-target cross
    entropy -(t * log_softmax).sum(1).mean(), BatchNorm2d in train mode; SGD with nesterov
    momentum and weight decay under a LambdaLR warmup. Reports each step's loss, learning rate
    and F.cross_entropy with the same probability targets, then the eval-mode logits and
    accuracy."""
    nn = torch.nn
    F = torch.nn.functional
    rng = np.random.default_rng(82)
    batch, n_classes, pad = 6, 4, 2
    images = torch.tensor(rng.standard_normal((batch, 3, 8, 8))).to(device)
    labels = torch.tensor(rng.integers(0, n_classes, size=batch)).to(device)

    model = nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, n_classes)).double()
    init(model)
    model.to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True,
                          weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: min(1.0, (step + 1) / 3))

    def augment(x, step):
        offsets = rng.integers(0, 2 * pad + 1, size=(x.shape[0], 2))
        if step % 2:
            padded = F.pad(x, (pad, pad, pad, pad), mode="reflect")
        else:
            padded = F.pad(x, [pad] * 4, value=0.0)
        crops = torch.stack([padded[i, :, dy:dy + 8, dx:dx + 8]
                             for i, (dy, dx) in enumerate(offsets.tolist())])
        flip = torch.tensor(rng.random(x.shape[0]) < 0.5).to(device)
        return torch.where(flip[:, None, None, None], torch.flip(crops, dims=[3]), crops)

    out = []
    for step in range(steps):
        model.train()
        x = augment(images, step)
        lam = torch.tensor(rng.beta(0.4, 0.4, size=batch)).to(device)
        perm = torch.tensor(rng.permutation(batch)).to(device)
        mixed = lam.view(-1, 1, 1, 1) * x + (1 - lam.view(-1, 1, 1, 1)) * x[perm]
        onehot = F.one_hot(labels, n_classes).to(torch.float64)
        targets = lam.unsqueeze(1) * onehot + (1 - lam.unsqueeze(1)) * onehot[perm]
        opt.zero_grad()
        logits = model(mixed)
        loss = -(targets * F.log_softmax(logits, dim=1)).sum(1).mean()
        loss.backward()
        opt.step()
        out += [loss.item(), opt.param_groups[0]["lr"],
                F.cross_entropy(logits.detach(), targets).item()]
        sched.step()
    model.eval()
    with torch.no_grad():
        logits = model(images)
        out += logits.flatten().tolist()
        out.append((logits.argmax(1) == labels).sum().item())
    return out, model


def hypernet_program(torch, steps, init, device="cpu"):
    """A hypernetwork: a task embedding and an MLP output the 32 weights of a 3-5-2 target MLP,
    cut into matrices by view and applied with F.linear; the same weights applied through
    torch.func.functional_call(strict=True) of a template nn.Sequential, given as a tuple of
    two dicts (weights, biases), are the second path, which must agree (reported). The loss
    (both paths' MSE) trains the hypernetwork alone; RMSprop(centered=True, momentum=0.9).
    Task ids and batches come from NumPy; each task is its own linear map."""
    nn = torch.nn
    F = torch.nn.functional
    functional_call = torch.func.functional_call
    rng = np.random.default_rng(83)
    n_tasks, d_in, d_hidden, d_out = 3, 3, 5, 2
    task_maps = rng.standard_normal((n_tasks, d_in, d_out))
    shapes = {"0.weight": (d_hidden, d_in), "0.bias": (d_hidden,),
              "2.weight": (d_out, d_hidden), "2.bias": (d_out,)}
    n_weights = sum(math.prod(s) for s in shapes.values())

    class HyperNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.tasks = nn.Embedding(n_tasks, 4)
            self.net = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, n_weights))

        def forward(self, task):
            flat = 0.5 * self.net(self.tasks(task))
            weights, start = {}, 0
            for name, shape in shapes.items():
                size = math.prod(shape)
                weights[name] = flat[start:start + size].view(*shape)
                start += size
            return weights

    template = nn.Sequential(nn.Linear(d_in, d_hidden), nn.Tanh(),
                             nn.Linear(d_hidden, d_out)).double().to(device)
    model = HyperNet().double()
    init(model)
    model.to(device)
    opt = torch.optim.RMSprop(model.parameters(), lr=2e-3, centered=True, momentum=0.9)
    out = []
    for _ in range(steps):
        task = int(rng.integers(0, n_tasks))
        x_np = rng.standard_normal((8, d_in))
        x = torch.tensor(x_np).to(device)
        y = torch.tensor(np.tanh(x_np @ task_maps[task])).to(device)
        w = model(torch.tensor(task).to(device))
        direct = F.linear(torch.tanh(F.linear(x, w["0.weight"], w["0.bias"])),
                          w["2.weight"], w["2.bias"])
        weights = {k: v for k, v in w.items() if k.endswith("weight")}
        biases = {k: v for k, v in w.items() if k.endswith("bias")}
        called = functional_call(template, (weights, biases), (x,), strict=True)
        opt.zero_grad()
        loss = F.mse_loss(direct, y) + 0.5 * F.mse_loss(called, y)
        loss.backward()
        opt.step()
        out += [loss.item(), (direct - called).abs().max().item(),
                model.net[2].weight.grad.norm().item()]
    return out, model


def spring_program(torch, steps, init, device="cpu"):
    """A differentiable mass-spring system: four unit masses in the plane joined by five
    springs, simulated for 20 steps of semi-implicit Euler (displacements by torch.stack over
    the springs, lengths by torch.linalg.norm, forces gathered per mass by torch.stack, linear
    damping); the loss is the squared distance of the final positions to a target. L-BFGS
    (line_search_fn=None, a closure) fits the spring constants and the initial velocities.
    Reports every closure evaluation's loss and each step's return value."""
    nn = torch.nn
    rng = np.random.default_rng(84)
    springs = [(0, 1), (1, 2), (2, 3), (3, 0), (0, 2)]
    start = torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]).double().to(device)
    rest = torch.tensor([1.0, 1.0, 1.0, 1.0, math.sqrt(2.0)]).double().to(device)
    target = start + torch.tensor(0.3 * rng.standard_normal((4, 2))).to(device)
    dt, n_steps, damping = 0.05, 20, 0.1

    class Springs(nn.Module):
        def __init__(self):
            super().__init__()
            self.stiffness = nn.Parameter(torch.full((len(springs),), 2.0, dtype=torch.float64))
            self.velocity = nn.Parameter(torch.zeros(4, 2, dtype=torch.float64))

        def forward(self):
            pos, vel = start, self.velocity
            for _ in range(n_steps):
                d = torch.stack([pos[b] - pos[a] for a, b in springs])
                length = torch.linalg.norm(d, dim=1)
                tension = (self.stiffness * (length - rest) / length).unsqueeze(1) * d
                force = torch.stack([
                    sum(tension[s] for s, (a, _) in enumerate(springs) if a == m)
                    - sum(tension[s] for s, (_, b) in enumerate(springs) if b == m)
                    for m in range(4)])
                vel = vel + dt * (force - damping * vel)
                pos = pos + dt * vel
            return pos

    model = Springs()
    init(model)
    model.to(device)
    opt = torch.optim.LBFGS(model.parameters(), lr=0.5, max_iter=4, history_size=4,
                            line_search_fn=None)
    out = []

    def closure():
        opt.zero_grad()
        loss = ((model() - target) ** 2).sum()
        loss.backward()
        out.append(loss.item())
        return loss

    for _ in range(steps):
        out.append(opt.step(closure).item())
    return out, model


PROGRAMS = {"vqvae": (vqvae_program, 4), "gat": (gat_program, 4),
            "mixup": (mixup_program, 4), "hypernet": (hypernet_program, 5),
            "spring": (spring_program, 3)}


# ---------------------------------------------------------------------------------------------
# the tests


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_program_matches_torch(name, device):
    """The program's losses (and every other number it reports: codes, accuracies, learning
    rates, logits) and its final parameters and buffers equal PyTorch's, with model and data
    moved by ``.to(device)``."""
    check_program(PROGRAMS, name, device)


def test_programs_are_not_vacuous():
    """What the comparisons rely on happens: the VQ-VAE uses every code and some positions
    change code between steps, both nearest-code rules agree; the GAT's training loss falls;
    the mixup warmup raises the learning rate; the hypernetwork's two paths agree and it
    learns; L-BFGS lowers the spring loss a hundredfold."""
    def run(name):
        torch.manual_seed(0)  # as in test_program_matches_torch
        program, steps = PROGRAMS[name]
        return program(torch, steps, lambda model: None)

    vq, _ = run("vqvae")
    block, n_pos = 5 + 2 * 64, 64
    codes = [vq[s * block + 5:s * block + 5 + n_pos] for s in range(4)]
    codes2 = [vq[s * block + 5 + n_pos:(s + 1) * block] for s in range(4)]
    assert codes == codes2
    assert all(len(set(c)) == 6 for c in codes)
    assert sum(a != b for a, b in zip(codes[0], codes[-1])) > 5
    gat, _ = run("gat")
    assert gat[8] < gat[0]  # the training loss fell
    mixup, _ = run("mixup")
    assert mixup[1] < mixup[7]  # the warmup raised the learning rate
    hyper, _ = run("hypernet")
    assert hyper[1::3] == [0.0] * 5 and hyper[-3] < hyper[0]
    spring, _ = run("spring")
    assert spring[-1] < 1e-2 * spring[0]


@pytest.mark.parametrize("name,kw", [("elu", {}), ("elu", {"alpha": 0.5}),
                                     ("celu", {"alpha": 2.0}), ("selu", {})])
def test_elu_family_slope_at_zero(name, kw, device):
    """Fix: elu and celu (so selu, nn.ELU, nn.CELU, nn.SELU and elu_) took the exp branch's
    argument as minimum(x, 0), whose gradient splits a tie in half: at x = 0 exactly (a GAT
    node whose incoming attention was all dropped, with a zero bias) the slope was alpha / 2
    (1/2 for elu) where PyTorch's is the exp branch's whole slope, alpha * exp(0) (1 for
    elu/celu, scale * alpha for selu). First and second derivatives now equal PyTorch's at
    and around 0, to full relative precision far from it; smooth points still pass finite
    differences in both modes."""
    x = np.array([-1.5, -1e-3, 0.0, -0.0, 0.0, 1e-3, 2.0, -40.0])  # -40: no cancellation
    weights = np.arange(1.0, 9.0)
    a = torch.tensor(x, requires_grad=True)
    b = tg.tensor(x, device=device, requires_grad=True)
    want = (getattr(torch.nn.functional, name)(a, **kw) * torch.tensor(weights)).sum()
    got = (getattr(tg.nn.functional, name)(b, **kw) * tg.tensor(weights, device=device)).sum()
    (want_g,) = torch.autograd.grad(want, a, create_graph=True)
    (got_g,) = tg.autograd.grad(got, b, create_graph=True)
    np.testing.assert_allclose(host(got_g), want_g.detach().numpy(), rtol=1e-14, atol=0)
    (want_gg,) = torch.autograd.grad(want_g.sum(), a)
    (got_gg,) = tg.autograd.grad(got_g.sum(), b)
    np.testing.assert_allclose(host(got_gg), want_gg.numpy(), rtol=1e-14, atol=0)
    module = {"elu": "ELU", "celu": "CELU", "selu": "SELU"}[name]
    ours, theirs = getattr(tg.nn, module)(**kw), getattr(torch.nn, module)(**kw)
    b.grad = None
    ours(b).sum().backward()
    theirs(a).sum().backward()
    np.testing.assert_allclose(host(b.grad), a.grad.numpy(), rtol=1e-14)
    slope = {"elu": kw.get("alpha", 1.0), "celu": 1.0,
             "selu": 1.0507009873554805 * 1.6732632423543772}[name]
    np.testing.assert_allclose(host(b.grad)[2:5], slope, rtol=1e-15)  # the whole slope at 0
    fn = getattr(tg.nn.functional, name)
    tg.check_grads(lambda v: fn(v, **kw), modes=("fwd", "rev"), order=2)(
        tg.tensor(np.array([-1.2, -0.3, 0.4, 1.7])))


def test_elu_inplace_slope_at_zero(device):
    """The in-place form of the fix above: elu_ on a non-leaf at 0 passes PyTorch's slope."""
    x = np.array([-1.0, 0.0, 2.0])
    a = torch.tensor(x, requires_grad=True)
    b = tg.tensor(x, device=device, requires_grad=True)
    torch.nn.functional.elu_(a * 1.0, alpha=0.7).sum().backward()
    tg.nn.functional.elu_(b * 1.0, alpha=0.7).sum().backward()
    np.testing.assert_allclose(host(b.grad), a.grad.numpy(), rtol=1e-14)
