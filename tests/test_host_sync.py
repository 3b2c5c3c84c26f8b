"""Training steps on the cuda device make no host synchronisation.

On a GPU, a step that copies anything back to the host (a loss value, a count, a flag, the
length of a masked selection) makes Python wait until every queued kernel has finished: host
and GPU work no longer overlap, and the step's time becomes their sum. None of tensorgrad's
library code in a training step may do that; only the user decides when to read a value
(``loss.item()``). The strict CuPy stand-in records every place where real CuPy would
synchronise (tests/cupy_standin/_sync.py), and each step below, written as a user of PyTorch
would write it, must make none after its warm-up step.

Only collected on the stand-in (tests/conftest.py): real CuPy records nothing.
"""

import numpy as np
import pytest
from cupy_standin import _sync
from devices import assert_quiet, quiet

import tensorgrad as tg
import tensorgrad.nn as nn
import tensorgrad.nn.functional as F

CUDA = "cuda"


def _batch(shape, classes, seed=0):
    rng = np.random.default_rng(seed)
    x = tg.tensor(rng.standard_normal(shape).astype(np.float32), device=CUDA)
    y = tg.tensor(rng.integers(0, classes, shape[0]), device=CUDA)
    return x, y


def _trainer(model, loss_fn, opt, x, y, clip=None, sched=None):
    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        if clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        if sched is not None:
            sched.step()
    return step


# ---- the recorder itself --------------------------------------------------------------------

@pytest.mark.parametrize("what, read", [
    ("ndarray.item", lambda t: t.sum().item()),
    ("ndarray.item", lambda t: float(t.sum())),
    ("ndarray.item", lambda t: bool((t > 0).any())),
    ("ndarray.get", lambda t: t.tolist()),
    ("ndarray.get", lambda t: t.cpu()),
    ("ndarray.get", lambda t: repr(t)),
    ("boolean-mask indexing", lambda t: t[t > 0]),
    ("boolean-mask indexing", lambda t: t.masked_select(t > 0)),
    ("cupy.nonzero", lambda t: t.nonzero()),
], ids=["item", "float", "bool", "tolist", "cpu", "repr", "mask", "masked_select", "nonzero"])
def test_recorder_sees_tensor_reads(what, read):
    t = tg.tensor(np.arange(-3.0, 3.0, dtype=np.float32), device=CUDA)
    with _sync.watch() as w:
        read(t)
    assert [e[0] for e in w.events] == [what], w.report()
    assert "/tensorgrad/" in w.events[0][1]  # where: the library line that asked


@pytest.mark.parametrize("what, read", [
    ("ndarray.__float__", lambda cp, a: float(a[0])),
    ("ndarray.__int__", lambda cp, a: int(a[0])),
    ("ndarray.__bool__", lambda cp, a: bool(a[0])),
    ("ndarray.__str__", lambda cp, a: str(a)),
    ("ndarray.tolist", lambda cp, a: a.tolist()),
    ("boolean-mask assignment", lambda cp, a: a.__setitem__(a > 0, 0)),
    ("cupy.where", lambda cp, a: cp.where(a > 0)),
    ("cupy.unique", lambda cp, a: cp.unique(a)),
    ("cupy.bincount", lambda cp, a: cp.bincount(a.astype(cp.int64) + 3, minlength=8)),
    ("cupy.nanmax", lambda cp, a: cp.nanmax(a)),
    ("cupy.repeat", lambda cp, a: cp.repeat(a, cp.ones(a.shape, cp.int64))),
    ("ndarray.compress", lambda cp, a: a.compress(a > 0)),
    ("Device.synchronize", lambda cp, a: cp.cuda.Device().synchronize()),
    ("Stream.synchronize", lambda cp, a: cp.cuda.get_current_stream().synchronize()),
    ("cuda.runtime.deviceSynchronize", lambda cp, a: cp.cuda.runtime.deviceSynchronize()),
], ids=lambda v: v if isinstance(v, str) else "")
def test_recorder_sees_cupy_syncs(what, read):
    import cupy

    a = cupy.arange(-3.0, 3.0)
    with _sync.watch() as w:
        read(cupy, a)
    assert what in [e[0] for e in w.events], w.report()
    assert "test_host_sync.py" in w.report()


def test_recorder_ignores_calls_that_do_not_sync():
    import cupy

    a = cupy.arange(-3.0, 3.0)
    with _sync.watch() as w:
        cupy.where(a > 0, a, 0)
        cupy.repeat(a, 2)
        a[cupy.asarray([0, 2])] = 1.0
        a.get(blocking=False)
        (a > 0).any()
        a.sum()
    assert not w.events, w.report()


def test_recorder_sees_a_sync_inside_a_step():
    model = nn.Linear(4, 3).to(CUDA)
    opt = tg.optim.SGD(model.parameters(), lr=0.1)
    x, y = _batch((8, 4), 3)

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()  # the user's choice: a sync

    w = quiet(step)
    assert [e[0] for e in w.events] == ["ndarray.item"], w.report()


def test_recorder_sees_explicit_waits_through_tg_cuda():
    start, end = tg.cuda.Event(enable_timing=True), tg.cuda.Event(enable_timing=True)
    start.record()
    with _sync.watch() as w:
        end.record()
        end.synchronize()
        tg.cuda.synchronize()
        tg.cuda.current_stream().synchronize()
    assert [e[0] for e in w.events] == ["Event.synchronize", "Device.synchronize",
                                        "Stream.synchronize"], w.report()
    assert start.elapsed_time(end) >= 0


def test_recorder_is_free_when_nobody_watches():
    t = tg.tensor(np.ones(3, np.float32), device=CUDA)
    assert not _sync._watchers
    assert t.sum().item() == 3.0


# ---- training steps ---------------------------------------------------------------------------

@pytest.mark.parametrize("make_opt", [
    lambda p: tg.optim.SGD(p, lr=0.05),
    lambda p: tg.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4),
    lambda p: tg.optim.Adam(p, lr=1e-3),
    lambda p: tg.optim.AdamW(p, lr=1e-3, amsgrad=True),
    lambda p: tg.optim.RMSprop(p, lr=1e-3, momentum=0.9, centered=True),
    lambda p: tg.optim.Adagrad(p, lr=1e-2, lr_decay=1e-3),
    lambda p: tg.optim.Adam(p, lr=1e-3, foreach=False),
    lambda p: tg.optim.NAdam(p, weight_decay=1e-2, decoupled_weight_decay=True),
    lambda p: tg.optim.RAdam(p, weight_decay=1e-4),
    lambda p: tg.optim.Adamax(p),
    lambda p: tg.optim.Adadelta(p),
    lambda p: tg.optim.Rprop(p),
    lambda p: tg.optim.ASGD(p, t0=1),
], ids=["sgd", "sgd-nesterov", "adam", "adamw-amsgrad", "rmsprop", "adagrad", "adam-loop",
        "nadam", "radam", "adamax", "adadelta", "rprop", "asgd"])
def test_mlp_step(make_opt):
    model = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 32), nn.GELU(),
                          nn.Linear(32, 5)).to(CUDA)
    x, y = _batch((16, 20), 5)
    assert_quiet(_trainer(model, nn.CrossEntropyLoss(), make_opt(model.parameters()), x, y))


def test_mlp_step_with_clipping_and_schedule():
    model = nn.Sequential(nn.Linear(20, 32), nn.Tanh(), nn.Linear(32, 5)).to(CUDA)
    x, y = _batch((16, 20), 5)
    opt = tg.optim.Adam(model.parameters(), lr=1e-2)
    sched = tg.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.9)
    assert_quiet(_trainer(model, nn.CrossEntropyLoss(label_smoothing=0.1), opt, x, y,
                           clip=1.0, sched=sched))


@pytest.mark.parametrize("make_sched", [
    lambda o: tg.optim.lr_scheduler.CosineAnnealingLR(o, T_max=10),
    lambda o: tg.optim.lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=100),
    lambda o: tg.optim.lr_scheduler.LambdaLR(o, lambda k: 0.99 ** k),
], ids=["cosine", "onecycle", "lambda"])
def test_schedulers_and_gradient_utilities(make_sched):
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 2)).to(CUDA)
    opt = tg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = make_sched(opt)
    x, y = _batch((8, 6), 2)

    def step():
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        nn.utils.clip_grad_value_(model.parameters(), 0.5)
        norm = nn.utils.get_total_norm([p.grad for p in model.parameters()])
        nn.utils.clip_grads_with_norm_(model.parameters(), 1.0, norm)
        opt.step()
        sched.step()
        vec = nn.utils.parameters_to_vector(model.parameters())
        nn.utils.vector_to_parameters(vec, model.parameters())

    assert_quiet(step)


def test_checkpointed_and_dropout_model_step():
    from tensorgrad.utils.checkpoint import checkpoint

    block = nn.Sequential(nn.Linear(8, 8), nn.GELU(), nn.Dropout(0.2), nn.Linear(8, 8))
    head = nn.Linear(8, 3)
    model = nn.ModuleList([block, head]).to(CUDA)
    opt = tg.optim.Adam(model.parameters(), lr=1e-3)
    x, y = _batch((6, 8), 3)

    def step():
        opt.zero_grad()
        h = checkpoint(block, x, use_reentrant=False)
        F.cross_entropy(head(h), y).backward()
        opt.step()

    assert_quiet(step)


def test_eval_mode_inference():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.5),
                          nn.Flatten(), nn.Linear(4 * 4 * 4, 3)).to(CUDA)
    x, _ = _batch((2, 1, 6, 6), 3)
    model(x)  # a training-mode pass fills the running statistics
    model.eval()

    def infer():
        with tg.no_grad():
            F.softmax(model(x), dim=-1).argmax(dim=-1)

    assert_quiet(infer)


def test_gradient_accumulation_and_zero_grad_to_zeros():
    model = nn.Sequential(nn.Linear(10, 16), nn.SiLU(), nn.Linear(16, 3)).to(CUDA)
    opt = tg.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    xs = [_batch((8, 10), 3, seed=s) for s in range(2)]

    def step():
        opt.zero_grad(set_to_none=False)
        for x, y in xs:
            (F.cross_entropy(model(x), y) / len(xs)).backward()
        opt.step()

    assert_quiet(step)


def test_cnn_step():
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 8, 3, stride=2), nn.ReLU(), nn.AvgPool2d(2), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(), nn.Linear(8, 4)).to(CUDA)
    x, y = _batch((4, 3, 12, 12), 4)
    opt = tg.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    assert_quiet(_trainer(model, nn.CrossEntropyLoss(), opt, x, y))


def test_norm_and_conv_variants_step():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = nn.Conv1d(4, 6, 3, padding=1)
            self.gn = nn.GroupNorm(2, 6)
            self.bn = nn.BatchNorm1d(6)
            self.up = nn.ConvTranspose2d(6, 2, 2, stride=2)
            self.out = nn.Linear(2 * 2 * 16, 3)

        def forward(self, x):
            h = self.bn(F.relu(self.gn(self.c1(x))))  # (B, 6, 8)
            h = self.up(h.reshape(h.shape[0], 6, 2, 4))  # (B, 2, 4, 8)
            return self.out(F.sigmoid(h).reshape(h.shape[0], -1))

    model = Net().to(CUDA)
    x, y = _batch((4, 4, 8), 3)
    opt = tg.optim.Adam(model.parameters(), lr=1e-3)
    assert_quiet(_trainer(model, nn.CrossEntropyLoss(), opt, x, y))


def test_transformer_step():
    vocab, d, seq = 11, 16, 6

    class LM(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(vocab, d)
            layer = nn.TransformerEncoderLayer(d, 2, dim_feedforward=32, dropout=0.1,
                                               batch_first=True)
            self.enc = nn.TransformerEncoder(layer, 2)
            self.norm = nn.LayerNorm(d)
            self.head = nn.Linear(d, vocab)

        def forward(self, ids):
            h = self.enc(self.emb(ids))
            return self.head(self.norm(h))

    model = LM().to(CUDA)
    rng = np.random.default_rng(0)
    ids = tg.tensor(rng.integers(0, vocab, (3, seq)), device=CUDA)
    targets = rng.integers(0, vocab, (3 * seq,))
    targets[::4] = -100  # padding, ignored by the loss
    targets = tg.tensor(targets, device=CUDA)
    opt = tg.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)

    def loss_fn(logits, t):
        return F.cross_entropy(logits.reshape(-1, vocab), t, ignore_index=-100)

    assert_quiet(_trainer(model, loss_fn, opt, ids, targets, clip=0.5))


def test_attention_with_causal_mask_step():
    mha = nn.MultiheadAttention(8, 2, batch_first=True).to(CUDA)
    x, _ = _batch((2, 5, 8), 2)
    opt = tg.optim.SGD(mha.parameters(), lr=0.01)

    def step():
        opt.zero_grad()
        out, _ = mha(x, x, x, attn_mask=tg.ones(5, 5, device=CUDA).triu(1).bool(),
                     need_weights=False)
        (out ** 2).mean().backward()
        opt.step()

    assert_quiet(step)


@pytest.mark.parametrize("loss_fn, target", [
    (nn.MSELoss(), "float"),
    (nn.L1Loss(), "float"),
    (nn.HuberLoss(delta=0.5), "float"),
    (nn.SmoothL1Loss(), "float"),
    (nn.BCEWithLogitsLoss(), "prob"),
    (nn.KLDivLoss(reduction="batchmean"), "logprob"),
    (nn.NLLLoss(ignore_index=1), "class"),
    (nn.CrossEntropyLoss(reduction="sum"), "class"),
    (nn.CrossEntropyLoss(weight=None, ignore_index=2), "class"),
], ids=["mse", "l1", "huber", "smooth_l1", "bce_logits", "kl", "nll_ignore", "ce_sum",
        "ce_ignore"])
def test_loss_step(loss_fn, target):
    model = nn.Linear(6, 4).to(CUDA)
    x, cls = _batch((8, 6), 4)
    rng = np.random.default_rng(1)
    if target == "class":
        y = cls
        head = (lambda z: F.log_softmax(z, dim=-1)) if isinstance(loss_fn, nn.NLLLoss) else None
    else:
        y = rng.random((8, 4)).astype(np.float32)
        if target == "logprob":
            y = np.log(y / y.sum(1, keepdims=True))
        y = tg.tensor(y, device=CUDA)
        head = (lambda z: F.log_softmax(z, dim=-1)) if target == "logprob" else None
    opt = tg.optim.SGD(model.parameters(), lr=0.01)

    def step():
        opt.zero_grad()
        z = model(x)
        loss_fn(head(z) if head else z, y).backward()
        opt.step()

    assert_quiet(step)


# ---- the function API -----------------------------------------------------------------------

def test_function_api_on_device_data():
    x = tg.tensor(np.linspace(-1, 1, 6), device=CUDA)

    def f(v):
        return (tg.tanh(v) * v).sum()

    def run():
        tg.grad(f)(x)
        tg.jvp(f, (x,), (tg.ones_like(x),))
        tg.hessian(f)(x)

    assert_quiet(run, warmup=1)


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("packed", [False, True], ids=["padded", "packed"])
def test_recurrent_step(kind, packed):
    """A recurrent layer, one sequence primitive per layer and direction, padded or packed
    (lengths on the host, as pack_padded_sequence takes them)."""
    rnn = getattr(nn, kind)(4, 6, num_layers=2, bidirectional=True).to(CUDA)
    head = nn.Linear(12, 3).to(CUDA)
    opt = tg.optim.Adam(list(rnn.parameters()) + list(head.parameters()), lr=1e-3)
    x = tg.tensor(np.random.default_rng(2).standard_normal((5, 3, 4)).astype(np.float32),
                  device=CUDA)
    y = tg.tensor(np.array([0, 2, 1]), device=CUDA)

    def step():
        opt.zero_grad()
        seq = nn.utils.rnn.pack_padded_sequence(x, [5, 3, 2]) if packed else x
        out = rnn(seq)[1]
        h = (out[0] if kind == "LSTM" else out)[-2:]  # the last layer's two directions
        logits = head(tg.cat([h[0], h[1]], dim=1))
        F.cross_entropy(logits, y).backward()
        opt.step()

    assert_quiet(step)
