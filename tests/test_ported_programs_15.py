"""A fifteenth round of real PyTorch programs run on tensorgrad with only the module swapped.

As in ``test_ported_programs.py`` (whose ``run_both`` runs each program with ``torch`` and with
``tensorgrad`` passed as ``torch``, from the same initial weights and buffers), each program is
``program(torch, steps, init, device="cpu")``. This round ports the everyday machinery of
tabular and classification training: a tabular model (an ``nn.Embedding`` per categorical
column, ``BatchNorm1d`` on the numeric ones) trained by k-fold cross-validation over ``Subset``
and ``DataLoader`` with a ``WeightedRandomSampler`` and early stopping that keeps
``copy.deepcopy(model.state_dict())`` of the best epoch; a multi-label classifier with
``BCEWithLogitsLoss(pos_weight=...)``, a hand-written focal loss and
``CrossEntropyLoss(weight=, label_smoothing=, ignore_index=)``; magnitude pruning with
``torch.nn.utils.prune`` during fine-tuning; quantile regression with a pinball loss and
``torch.quantile`` metrics; a learning-rate range test followed by training at the found rate;
a model soup of fine-tuned copies' state dicts. All run in float64 and must equal PyTorch's
trajectory and final state to rounding.

Randomness both runs share is drawn inside each program from its own
``np.random.default_rng(seed)``. The programs give ``WeightedRandomSampler`` a
``torch.Generator().manual_seed(...)`` as written; ``tg.Generator`` is seeded the same way but
is not PyTorch's bit generator (Philox/mt19937 streams differ), so under the test both samplers
draw from one shared NumPy stream instead (``shared_weighted_sampler``, inverse CDF with
replacement), the generator each program passes checked to be its own library's.
"""

import contextlib
import copy
import math

import numpy as np
import pytest
from test_ported_programs import check_program, torch_run

import tensorgrad as tg

torch = pytest.importorskip("torch")
pytest.importorskip("torch.nn.utils.prune")  # a submodule torch does not import itself


@contextlib.contextmanager
def shared_weighted_sampler(seed=0):
    """``WeightedRandomSampler`` (with replacement) draws from the same NumPy stream in both
    libraries: ``num_samples`` uniforms per iteration, each index by inverse CDF of the
    normalized weights. The generator given to the sampler must be its own library's."""
    import torch.utils.data as torch_data

    import tensorgrad.utils.data as tg_data

    def patched(lib):
        rng = np.random.default_rng(seed)

        def iterate(self):
            assert isinstance(self.generator, lib.Generator) and self.replacement
            w = np.asarray(self.weights.tolist(), dtype=np.float64)
            cdf = np.cumsum(w / w.sum())
            picks = np.searchsorted(cdf, rng.random(self.num_samples), side="right")
            yield from np.minimum(picks, len(w) - 1).tolist()

        return iterate

    saved = torch_data.WeightedRandomSampler.__iter__, tg_data.WeightedRandomSampler.__iter__
    try:
        torch_data.WeightedRandomSampler.__iter__ = patched(torch)
        tg_data.WeightedRandomSampler.__iter__ = patched(tg)
        yield
    finally:
        torch_data.WeightedRandomSampler.__iter__, tg_data.WeightedRandomSampler.__iter__ = saved


# ---------------------------------------------------------------------------------------------
# the programs (plain PyTorch code; only ``torch`` differs)


def tabular_program(torch, steps, init, device="cpu"):
    """A tabular classifier (an Embedding per categorical column, BatchNorm1d on the numeric
    columns, concatenated, Dropout(p=0), an MLP) trained by 3-fold cross-validation: each fold
    restarts from the same initial state dict, trains on a Subset through a DataLoader whose
    WeightedRandomSampler (class-balancing weights, a torch.Generator seeded once) draws the
    batches, validates on the held-out Subset in eval mode, keeps copy.deepcopy(state_dict())
    of the best epoch with patience 2 and reloads it. Reports per epoch the training loss and
    validation loss, per fold the best epoch and the reloaded model's validation accuracy."""
    nn = torch.nn
    F = torch.nn.functional
    data = torch.utils.data
    rng = np.random.default_rng(80)
    n, cards, n_num = 36, (4, 3, 5), 3
    cats_np = np.stack([rng.integers(0, c, n) for c in cards], 1)
    nums_np = rng.standard_normal((n, n_num)) * np.array([1.0, 5.0, 0.2]) + 2.0
    score = nums_np[:, 0] - 0.2 * nums_np[:, 1] + (cats_np[:, 0] == 1)
    score = score + 0.3 * rng.standard_normal(n)
    labels_np = (score > np.quantile(score, 0.7)).astype(np.int64)  # imbalanced, 30% positive
    cats = torch.tensor(cats_np).to(device)
    nums = torch.tensor(nums_np).to(device)
    labels = torch.tensor(labels_np).to(device)
    dataset = data.TensorDataset(cats, nums, labels)

    class TabularNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.embeddings = nn.ModuleList(nn.Embedding(c, min(4, (c + 1) // 2)) for c in cards)
            self.bn = nn.BatchNorm1d(n_num)
            width = sum(e.embedding_dim for e in self.embeddings) + n_num
            self.drop = nn.Dropout(p=0.0)
            self.mlp = nn.Sequential(nn.Linear(width, 12), nn.ReLU(), nn.Linear(12, 2))

        def forward(self, cat, num):
            parts = [emb(cat[:, i]) for i, emb in enumerate(self.embeddings)]
            x = torch.cat(parts + [self.bn(num)], dim=1)
            return self.mlp(self.drop(x))

    model = TabularNet().double()
    init(model)
    model.to(device)
    initial = copy.deepcopy(model.state_dict())
    folds = np.array_split(np.arange(n), 3)
    gen = torch.Generator().manual_seed(7)
    out = []
    for k, held in enumerate(folds):
        train_idx = [int(i) for i in np.setdiff1d(np.arange(n), held)]
        train_set, val_set = data.Subset(dataset, train_idx), data.Subset(dataset, held.tolist())
        counts = np.bincount(labels_np[train_idx], minlength=2)
        weights = torch.tensor(1.0 / counts[labels_np[train_idx]], dtype=torch.float64)
        sampler = data.WeightedRandomSampler(weights, num_samples=len(train_idx),
                                             replacement=True, generator=gen)
        loader = data.DataLoader(train_set, batch_size=8, sampler=sampler)
        val_loader = data.DataLoader(val_set, batch_size=len(val_set))
        model.load_state_dict(initial)
        opt = torch.optim.Adam(model.parameters(), lr=2e-2, weight_decay=1e-4)
        best, best_state, best_epoch, patience = math.inf, None, -1, 0
        for epoch in range(steps):
            model.train()
            total = 0.0
            for c, x, y in loader:
                loss = F.cross_entropy(model(c, x), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += loss.item() * len(y)
            model.eval()
            with torch.no_grad():
                c, x, y = next(iter(val_loader))
                val = F.cross_entropy(model(c, x), y).item()
            out += [total / len(train_set), val]
            if val < best:
                best, best_epoch, patience = val, epoch, 0
                best_state = copy.deepcopy(model.state_dict())
            else:
                patience += 1
                if patience >= 2:
                    break
        model.load_state_dict(best_state)
        model.eval()
        with torch.no_grad():
            c, x, y = next(iter(val_loader))
            accuracy = (model(c, x).argmax(1) == y).double().mean().item()
        out += [best_epoch, accuracy, k]
    return out, model


def multilabel_program(torch, steps, init, device="cpu"):
    """A shared encoder with two heads: a multi-label head trained by
    BCEWithLogitsLoss(pos_weight=per-label weights) plus a focal loss written by hand (sigmoid,
    binary_cross_entropy_with_logits(reduction="none"), p_t, alpha_t, (1 - p_t) ** gamma), and
    a multi-class head trained by CrossEntropyLoss(weight=class weights, label_smoothing=0.1,
    ignore_index=-100) with some samples unlabelled. RMSprop. Reports the three losses, the
    per-label positive rates of the thresholded predictions (.tolist()) and the accuracy on
    the labelled samples."""
    nn = torch.nn
    F = torch.nn.functional
    rng = np.random.default_rng(81)
    n, d, n_labels, classes = 20, 6, 4, 3
    x_np = rng.standard_normal((n, d))
    proj = rng.standard_normal((d, n_labels))
    multi_np = (x_np @ proj + 0.5 * rng.standard_normal((n, n_labels)) > 0.8).astype(np.float64)
    cls_np = np.argmax(x_np[:, :classes], 1)
    cls_np[rng.random(n) < 0.25] = -100
    x = torch.tensor(x_np).to(device)
    multi = torch.tensor(multi_np).to(device)
    cls = torch.tensor(cls_np).to(device)
    pos = multi.sum(0)
    pos_weight = ((n - pos) / pos.clamp(min=1.0))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Sequential(nn.Linear(d, 16), nn.GELU(), nn.LayerNorm(16))
            self.multi_head = nn.Linear(16, n_labels)
            self.cls_head = nn.Linear(16, classes)

        def forward(self, x):
            h = self.encoder(x)
            return self.multi_head(h), self.cls_head(h)

    def focal_loss(logits, targets, alpha=0.25, gamma=2.0):
        p = torch.sigmoid(logits)
        ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
        p_t = p * targets + (1 - p) * (1 - targets)
        alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
        return (alpha_t * (1 - p_t) ** gamma * ce).mean()

    model = Net().double()
    init(model)
    model.to(device)
    bce = nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    ce = nn.CrossEntropyLoss(weight=torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64,
                                                 device=device),
                             label_smoothing=0.1, ignore_index=-100)
    opt = torch.optim.RMSprop(model.parameters(), lr=5e-3, momentum=0.5)
    labelled = cls != -100
    out = []
    for _ in range(steps):
        multi_logits, cls_logits = model(x)
        l_bce, l_focal, l_ce = bce(multi_logits, multi), focal_loss(multi_logits, multi), \
            ce(cls_logits, cls)
        loss = l_bce + 4 * l_focal + l_ce
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            rates = (torch.sigmoid(multi_logits) > 0.5).double().mean(0).tolist()
            acc = (cls_logits.argmax(1)[labelled] == cls[labelled]).double().mean().item()
        out += [l_bce.item(), l_focal.item(), l_ce.item(), *rates, acc]
    return out, model


def prune_program(torch, steps, init, device="cpu"):
    """Magnitude pruning while fine-tuning a small MLP regressor: prune.l1_unstructured of the
    first layer (30%) before training, then each step a loss.backward/SGD step on the
    reparametrized weight_orig and, every other step, prune.global_unstructured
    (L1Unstructured, 20% more of the remaining weights, pooled over three layers); at the end
    prune.remove on every pruned module, leaving plain weights with zeros. Reports the loss
    and the overall sparsity each step and the zero counts of the final weights."""
    nn = torch.nn
    F = torch.nn.functional
    prune = torch.nn.utils.prune
    rng = np.random.default_rng(82)
    x = torch.tensor(rng.standard_normal((24, 5))).to(device)
    y = torch.tensor(np.sin(rng.standard_normal((24, 1)) + x[:, :1].cpu().numpy())).to(device)

    model = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(),
                          nn.Linear(16, 1)).double()
    init(model)
    model.to(device)
    layers = [model[0], model[2], model[4]]
    prune.l1_unstructured(layers[0], name="weight", amount=0.3)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    out = []
    for t in range(steps):
        loss = F.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if t % 2 == 1:
            prune.global_unstructured([(m, "weight") for m in layers],
                                      pruning_method=prune.L1Unstructured, amount=0.2)
        zeros = sum(float((m.weight == 0).sum()) for m in layers)
        total = sum(m.weight.nelement() for m in layers)
        out += [loss.item(), zeros / total]
    for m in layers:
        if prune.is_pruned(m):
            prune.remove(m, "weight")
    out += [int((m.weight == 0).sum()) for m in layers]
    return out, model


def quantile_program(torch, steps, init, device="cpu"):
    """Quantile regression of heteroscedastic data: one network predicts the 10th, 50th and
    90th percentiles, trained by the pinball loss max(q * e, (q - 1) * e) averaged over
    quantiles; sorted outputs by torch.sort to avoid crossing in the metrics. Adam with
    ExponentialLR. Reports the loss, the interval coverage, torch.quantile of the residuals of
    the median (linear and nearest interpolation, a tensor of q) and of the absolute error
    along a dim."""
    nn = torch.nn
    rng = np.random.default_rng(83)
    n = 40
    x_np = rng.uniform(-2, 2, (n, 1))
    y_np = np.sin(x_np) + (0.1 + 0.3 * np.abs(x_np)) * rng.standard_normal((n, 1))
    x = torch.tensor(x_np).to(device)
    y = torch.tensor(y_np).to(device)
    qs = torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64, device=device)

    def pinball(pred, target):
        err = target - pred
        return torch.max(qs * err, (qs - 1) * err).mean()

    model = nn.Sequential(nn.Linear(1, 24), nn.SiLU(), nn.Linear(24, 3)).double()
    init(model)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.95)
    out = []
    for _ in range(steps):
        pred = model(x)
        loss = pinball(pred, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        with torch.no_grad():
            lo_med_hi = torch.sort(pred, dim=1).values
            inside = ((y[:, 0] >= lo_med_hi[:, 0]) & (y[:, 0] <= lo_med_hi[:, 2])).double()
            resid = (y - lo_med_hi[:, 1:2]).squeeze(1)
            q_lin = torch.quantile(resid, qs)
            q_near = torch.quantile(resid, 0.5, interpolation="nearest")
            q_dim = torch.quantile((y - pred).abs(), 0.75, dim=0, keepdim=True)
        out += [loss.item(), inside.mean().item(), *q_lin.tolist(), q_near.item(),
                *q_dim.flatten().tolist()]
    return out, model


def lr_finder_program(torch, steps, init, device="cpu"):
    """A learning-rate range test, then training at the rate it finds: the model's and the
    optimizer's state dicts saved by copy.deepcopy, the rate raised exponentially per batch by
    writing param_group["lr"], the loss smoothed by an exponential average with bias
    correction, stopping when the smoothed loss exceeds 4 times the best; the rate at the
    steepest fall of the smoothed loss / 10 is kept; model and optimizer restored by
    load_state_dict, then SGD(momentum) at that rate for ``steps`` epochs of mini-batches.
    Reports the rates and smoothed losses of the test, the chosen rate and the training
    losses."""
    nn = torch.nn
    F = torch.nn.functional
    rng = np.random.default_rng(84)
    n, d, classes = 48, 4, 3
    centers = rng.standard_normal((classes, d)) * 2
    y_np = rng.integers(0, classes, n)
    x = torch.tensor(centers[y_np] + rng.standard_normal((n, d))).to(device)
    y = torch.tensor(y_np).to(device)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=6)

    model = nn.Sequential(nn.Linear(d, 16), nn.ReLU(), nn.Linear(16, classes)).double()
    init(model)
    model.to(device)
    opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
    saved_model = copy.deepcopy(model.state_dict())
    saved_opt = copy.deepcopy(opt.state_dict())
    start_lr, end_lr, num_iter = 1e-4, 10.0, 24
    factor = (end_lr / start_lr) ** (1 / (num_iter - 1))
    lrs, smoothed, avg, best = [], [], 0.0, math.inf
    it = 0
    while it < num_iter:
        for xb, yb in loader:
            lr = start_lr * factor ** it
            for group in opt.param_groups:
                group["lr"] = lr
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            avg = 0.8 * avg + 0.2 * loss.item()
            value = avg / (1 - 0.8 ** (it + 1))
            lrs.append(lr)
            smoothed.append(value)
            it += 1
            best = min(best, value)
            if value > 4 * best or not math.isfinite(value) or it >= num_iter:
                it = num_iter
                break
    slopes = np.gradient(np.array(smoothed))
    found = lrs[int(np.argmin(slopes))] / 10
    model.load_state_dict(saved_model)
    opt.load_state_dict(saved_opt)
    for group in opt.param_groups:
        group["lr"] = found
    out = lrs + smoothed + [found, len(lrs)]
    for _ in range(steps):
        total = 0.0
        for xb, yb in loader:
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item()
        out.append(total / len(loader))
    return out, model


def soup_program(torch, steps, init, device="cpu"):
    """A model soup: a pretrained classifier (trained ``steps`` Adam steps) is fine-tuned in
    three copies (copy.deepcopy of the model) with different learning rates, weight decays and
    label smoothing; their state dicts are averaged key by key (torch.stack(...).mean(0), the
    integer BatchNorm counter taken from the first) into a uniform soup loaded with
    load_state_dict, and a greedy soup adds ingredients in order of validation accuracy while
    the validation loss does not rise. Reports the pretraining and fine-tuning losses, each
    ingredient's and each soup's validation loss and accuracy."""
    nn = torch.nn
    F = torch.nn.functional
    rng = np.random.default_rng(85)
    n, d, classes = 30, 5, 3
    w_true = rng.standard_normal((d, classes))
    x_np = rng.standard_normal((2 * n, d))
    y_np = np.argmax(x_np @ w_true + 0.5 * rng.standard_normal((2 * n, classes)), 1)
    x, xv = torch.tensor(x_np[:n]).to(device), torch.tensor(x_np[n:]).to(device)
    y, yv = torch.tensor(y_np[:n]).to(device), torch.tensor(y_np[n:]).to(device)

    model = nn.Sequential(nn.Linear(d, 16, bias=False), nn.BatchNorm1d(16), nn.ReLU(),
                          nn.Linear(16, classes)).double()
    init(model)
    model.to(device)
    out = []
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        out.append(loss.item())

    def evaluate(m):
        m.eval()
        with torch.no_grad():
            logits = m(xv)
            accuracy = (logits.argmax(1) == yv).double().mean()
            return F.cross_entropy(logits, yv).item(), accuracy.item()

    ingredients = []
    for lr, wd, smooth in ((5e-3, 0.0, 0.0), (2e-2, 1e-2, 0.1), (1e-2, 1e-3, 0.05)):
        ft = copy.deepcopy(model)
        ft.train()
        ft_opt = torch.optim.AdamW(ft.parameters(), lr=lr, weight_decay=wd)
        for _ in range(steps):
            loss = F.cross_entropy(ft(x), y, label_smoothing=smooth)
            ft_opt.zero_grad()
            loss.backward()
            ft_opt.step()
            out.append(loss.item())
        ingredients.append((ft.state_dict(), *evaluate(ft)))
        out += list(ingredients[-1][1:])

    def average(states):
        soup = {}
        for key in states[0]:
            if states[0][key].is_floating_point():
                soup[key] = torch.stack([s[key] for s in states]).mean(0)
            else:
                soup[key] = states[0][key].clone()
        return soup

    model.load_state_dict(average([s for s, _, _ in ingredients]))
    out += list(evaluate(model))
    ranked = sorted(ingredients, key=lambda item: -item[2])
    chosen = [ranked[0][0]]
    best_loss = ranked[0][1]
    for state, _, _ in ranked[1:]:
        model.load_state_dict(average(chosen + [state]))
        val_loss, _ = evaluate(model)
        if val_loss <= best_loss:
            chosen.append(state)
            best_loss = val_loss
    model.load_state_dict(average(chosen))
    out += [*evaluate(model), len(chosen)]
    return out, model


PROGRAMS = {"tabular": (tabular_program, 8), "multilabel": (multilabel_program, 5),
            "prune": (prune_program, 6), "quantile": (quantile_program, 5),
            "lr_finder": (lr_finder_program, 3), "soup": (soup_program, 4)}
_SAMPLING = {"tabular": shared_weighted_sampler}


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
    """What the comparisons rely on happens: the tabular model's first fold stops early and
    reloads an earlier epoch's state; the multi-label losses fall and the thresholded rates
    move; pruning raises the sparsity and ``remove`` leaves plain weights with zeros; the
    quantile intervals' coverage moves and the quantiles are ordered; the LR range test stops
    on divergence before its last rate and training at the found rate lowers the loss; the
    uniform soup differs from every ingredient."""
    tab, model = _torch_run("tabular")
    # fold 0: five epochs (10 numbers), then best epoch, accuracy, fold index 0
    assert tab[12] == 0 and tab[10] < 4 and tab[-1] == 2
    assert isinstance(model.bn.num_batches_tracked.item(), int)
    multi, _ = _torch_run("multilabel")
    assert multi[0] > multi[-8] and multi[1] > multi[-7] and multi[2] > multi[-6]
    assert multi[3:7] != multi[-5:-1]
    pruned, model = _torch_run("prune")
    sparsity = pruned[1:12:2]
    assert sparsity == sorted(sparsity) and sparsity[0] > 0.05 and sparsity[-1] > 0.5
    assert all(n > 0 for n in pruned[-3:]) and pruned[0] > pruned[-5]
    assert not any(k.endswith(("_orig", "_mask")) for k in model.state_dict())
    quant, _ = _torch_run("quantile")
    coverage = quant[1::9]
    assert len(set(coverage)) > 1 and quant[0] > quant[-9]
    assert quant[2] < quant[3] < quant[4]
    lr_test, _ = _torch_run("lr_finder")
    tried = int(lr_test[-4])
    smoothed = lr_test[tried:2 * tried]
    assert 5 < tried < 24 and smoothed[-1] > 4 * min(smoothed) and lr_test[-3] > lr_test[-1]
    soup, _ = _torch_run("soup")
    # 4 pretraining losses, then per ingredient 4 losses and (val loss, accuracy)
    ingredients, uniform = soup[8:22:6], soup[22]
    assert len(set(ingredients)) == 3 and uniform not in ingredients and soup[-1] >= 1


def test_shared_sampler_draws_alike_in_both_libraries():
    """The stand-in the tabular program runs under: PyTorch's and tensorgrad's
    WeightedRandomSampler, each given its own library's seeded Generator, draw the same
    indices from the shared stream, in proportion to the weights; without it the two
    generators' streams differ (other bit generators), which is why the stand-in is needed."""
    weights = [1.0, 2.0, 3.0, 4.0]
    with shared_weighted_sampler():
        theirs = list(torch.utils.data.WeightedRandomSampler(
            weights, 4000, generator=torch.Generator().manual_seed(7)))
        ours = list(tg.utils.data.WeightedRandomSampler(
            weights, 4000, generator=tg.Generator().manual_seed(7)))
    assert theirs == ours
    np.testing.assert_allclose(np.bincount(ours) / 4000, np.array(weights) / 10, atol=0.03)
    theirs = list(torch.utils.data.WeightedRandomSampler(
        weights, 64, generator=torch.Generator().manual_seed(7)))
    ours = list(tg.utils.data.WeightedRandomSampler(
        weights, 64, generator=tg.Generator().manual_seed(7)))
    assert theirs != ours
