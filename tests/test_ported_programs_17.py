"""A seventeenth round of real PyTorch programs run on tensorgrad with only the module swapped.

As in ``test_ported_programs.py`` (whose ``run_both`` runs each program with ``torch`` and with
``tensorgrad`` passed as ``torch``, from the same initial weights and buffers), each program is
``program(torch, steps, init, device="cpu")``, and every number it reports and its final state
must equal PyTorch's to 1e-10 in float64. This round trains with nn modules and functions no
earlier program used: super-resolution (``PixelShuffle``/``PixelUnshuffle``,
``ReflectionPad2d``, affine ``InstanceNorm2d``, ``Hardswish``, L1 and Huber losses); a
SegNet (``MaxPool2d(return_indices=True)`` + ``MaxUnpool2d``, ``ConvTranspose2d``, weighted
``CrossEntropyLoss`` with ``ignore_index`` on (N, C, H, W) logits); a 3-D U-Net (``Conv3d``,
``BatchNorm3d``, ``MaxPool3d``, ``ConvTranspose3d``, ``ReplicationPad3d``, Dice + BCE); a
character model (``AdaptiveLogSoftmaxWithLoss``, a bidirectional 2-layer tanh ``RNN`` over a
packed batch, ``ParameterDict``/``ParameterList``); a Transformer decoder (causal mask,
``tgt_key_padding_mask``, label smoothing, ``ReduceLROnPlateau``); heteroscedastic and count
regression (``GaussianNLLLoss``, ``PoissonNLLLoss(log_input=False, full=True)``, ``Softplus``,
``Bilinear``, ``LazyLinear``); a bag-of-words classifier (``EmbeddingBag`` with offsets,
``Dropout1d``, ``MultiMarginLoss``, ``MultiLabelSoftMarginLoss``, ``CosineSimilarity``); a
speech-like CTC model (``Conv1d``, ``GroupNorm``, ``GLU``, ``LPPool1d``, ``CTCLoss``).
"""

import numpy as np
import pytest
from test_ported_programs import check_program, torch_run

torch = pytest.importorskip("torch")
# both libraries warn of the adaptive softmax's zero-width projection, which the program keeps
pytestmark = pytest.mark.filterwarnings("ignore:Initializing zero-element tensors")


# ---------------------------------------------------------------------------------------------
# the programs (plain PyTorch code; only ``torch`` differs)


def superres_program(torch, steps, init, device="cpu"):
    """An ESPCN-style 2x super-resolution net: the low-resolution input is made by
    ``PixelUnshuffle`` of the target (channel 0 kept), a reflect-padded stem, affine
    InstanceNorm2d, Hardswish, a conv to 4 channels and ``PixelShuffle(2)``; L1 + Huber loss,
    Adam. Reports both losses and the instance norm's affine weight sum."""
    nn = torch.nn
    rng = np.random.default_rng(170)
    hi = torch.tensor(rng.standard_normal((3, 1, 8, 8))).to(device)
    lo = nn.PixelUnshuffle(2)(hi)[:, :1]  # (3, 1, 4, 4): every other pixel

    class ESPCN(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(
                nn.ReflectionPad2d(1), nn.Conv2d(1, 6, 3, bias=False),
                nn.InstanceNorm2d(6, affine=True),
                nn.Hardswish(), nn.ReflectionPad2d((1, 1, 1, 1)), nn.Conv2d(6, 4, 3))
            self.shuffle = nn.PixelShuffle(2)

        def forward(self, x):
            return self.shuffle(self.body(x))

    model = ESPCN().double()
    init(model)
    model.to(device)
    l1, huber = nn.L1Loss(), nn.HuberLoss(delta=0.5)
    opt = torch.optim.Adam(model.parameters(), lr=2e-2)
    out = []
    for _ in range(steps):
        opt.zero_grad()
        pred = model(lo)
        a, b = l1(pred, hi), huber(pred, hi)
        loss = a + b
        loss.backward()
        opt.step()
        out += [a.item(), b.item()]
    out += list(pred.shape)
    out.append(model.body[2].weight.sum().item())
    return out, model


def segnet_program(torch, steps, init, device="cpu"):
    """A SegNet: the encoder pools with ``MaxPool2d(2, return_indices=True)``, the decoder
    unpools with ``MaxUnpool2d`` at those indices, then a ConvTranspose2d; class-weighted
    CrossEntropyLoss with an ignore label on (N, C, H, W) logits; SGD with momentum."""
    nn = torch.nn
    F = torch.nn.functional
    rng = np.random.default_rng(171)
    x = torch.tensor(rng.standard_normal((2, 3, 8, 8))).to(device)
    labels = rng.integers(0, 3, (2, 8, 8))
    labels[:, :2, :2] = 255  # unlabeled corner
    y = torch.tensor(labels).to(device)

    class SegNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6),
                                     nn.ReLU())
            self.pool = nn.MaxPool2d(2, stride=2, return_indices=True)
            self.mid = nn.Conv2d(6, 6, 3, padding=1)
            self.unpool = nn.MaxUnpool2d(2, stride=2)
            self.dec = nn.ConvTranspose2d(6, 3, 3, padding=1)

        def forward(self, x):
            h = self.enc(x)
            size = h.size()
            p, idx = self.pool(h)
            p = F.relu(self.mid(p))
            u = self.unpool(p, idx, output_size=size)
            return self.dec(u), idx

    model = SegNet().double()
    init(model)
    model.to(device)
    weight = torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64).to(device)
    criterion = nn.CrossEntropyLoss(weight=weight, ignore_index=255)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    out = []
    for _ in range(steps):
        opt.zero_grad()
        logits, idx = model(x)
        loss = criterion(logits, y)
        loss.backward()
        opt.step()
        out.append(loss.item())
    out += idx[0, 0].flatten().tolist()
    out.append((logits.argmax(1) == y).sum().item())
    return out, model


def unet3d_program(torch, steps, init, device="cpu"):
    """A 3-D U-Net-lite on a volume: ReplicationPad3d + Conv3d + BatchNorm3d, MaxPool3d down,
    ConvTranspose3d up, a skip concatenation; soft Dice + BCE-with-logits, Adam."""
    nn = torch.nn
    F = torch.nn.functional
    rng = np.random.default_rng(172)
    x = torch.tensor(rng.standard_normal((2, 1, 4, 6, 6))).to(device)
    mask = torch.tensor((rng.random((2, 1, 4, 6, 6)) > 0.6).astype(np.float64)).to(device)

    class UNet3d(nn.Module):
        def __init__(self):
            super().__init__()
            self.down = nn.Sequential(nn.ReplicationPad3d(1), nn.Conv3d(1, 4, 3, bias=False),
                                      nn.BatchNorm3d(4), nn.ReLU())
            self.pool = nn.MaxPool3d(2)
            self.bottom = nn.Conv3d(4, 4, 3, padding=1)
            self.up = nn.ConvTranspose3d(4, 4, 2, stride=2)
            self.head = nn.Conv3d(8, 1, 1)

        def forward(self, x):
            d = self.down(x)
            b = F.relu(self.bottom(self.pool(d)))
            return self.head(torch.cat([d, self.up(b)], dim=1))

    model = UNet3d().double()
    init(model)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    out = []
    for _ in range(steps):
        model.train()
        opt.zero_grad()
        logits = model(x)
        probs = torch.sigmoid(logits)
        inter = (probs * mask).sum(dim=(2, 3, 4))
        dice = 1 - (2 * inter + 1) / (probs.sum(dim=(2, 3, 4)) + mask.sum(dim=(2, 3, 4)) + 1)
        loss = dice.mean() + F.binary_cross_entropy_with_logits(logits, mask)
        loss.backward()
        opt.step()
        out.append(loss.item())
    model.eval()
    with torch.no_grad():
        out.append(model(x).mean().item())
    return out, model


def charlm_program(torch, steps, init, device="cpu"):
    """A character LM: Embedding, a bidirectional 2-layer tanh RNN over a packed padded batch
    (unsorted lengths), an AdaptiveLogSoftmaxWithLoss head (cutoffs 4, 8 of 12 classes; the
    default div_value 4 leaves the last cluster's projection 10 // 16 = 0 wide), a
    learned per-direction gate in a ParameterDict and a temperature in a ParameterList; RMSprop,
    clip_grad_value_. Reports the loss and the head's predicted classes."""
    nn = torch.nn
    rnn_utils = torch.nn.utils.rnn
    vocab, batch, length = 12, 3, 5
    rng = np.random.default_rng(173)
    lengths = [3, 5, 4]
    src = np.zeros((batch, length), dtype=np.int64)
    for b, n in enumerate(lengths):
        src[b, :n] = rng.integers(1, vocab, size=n)
    tgt = torch.tensor(rng.integers(0, vocab, size=sum(lengths))).to(device)
    src = torch.tensor(src).to(device)
    mask = torch.tensor(np.arange(length)[None, :] < np.array(lengths)[:, None]).to(device)

    class CharLM(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(vocab, 6)
            self.rnn = nn.RNN(6, 5, num_layers=2, nonlinearity="tanh", bidirectional=True,
                              batch_first=True)
            self.gates = nn.ParameterDict({"fwd": nn.Parameter(torch.ones(5)),
                                           "bwd": nn.Parameter(torch.full((5,), 0.5))})
            self.scales = nn.ParameterList([nn.Parameter(torch.tensor(1.0))])
            self.head = nn.AdaptiveLogSoftmaxWithLoss(10, vocab, cutoffs=[4, 8], head_bias=True)

        def forward(self, tokens, lengths, mask, target):
            packed = rnn_utils.pack_padded_sequence(self.embed(tokens), lengths,
                                                    batch_first=True, enforce_sorted=False)
            out, h = self.rnn(packed)
            out, _ = rnn_utils.pad_packed_sequence(out, batch_first=True)
            fwd, bwd = out[..., :5], out[..., 5:]
            feats = torch.cat([fwd * self.gates["fwd"], bwd * self.gates["bwd"]], dim=-1)
            feats = feats[mask] * self.scales[0]
            return self.head(feats, target), feats, h

    model = CharLM().double()
    init(model)
    model.to(device)
    opt = torch.optim.RMSprop(model.parameters(), lr=5e-3)
    out = []
    for _ in range(steps):
        opt.zero_grad()
        res, feats, h = model(src, torch.tensor(lengths), mask, tgt)
        res.loss.backward()
        nn.utils.clip_grad_value_(model.parameters(), 0.5)
        opt.step()
        out += [res.loss.item(), res.output.sum().item(), *h.shape]
    with torch.no_grad():
        out += model.head.predict(feats).tolist()
        out.append(model.head.log_prob(feats).exp().sum(1).sum().item())
    out.append((tgt >= 8).sum().item())
    return out, model


def decoder_program(torch, steps, init, device="cpu"):
    """A Transformer decoder over an encoded source: TransformerDecoder of two pre-norm GELU
    TransformerDecoderLayers (dropout 0) and a final LayerNorm, a causal mask from
    ``nn.Transformer.generate_square_subsequent_mask``, a ``tgt_key_padding_mask`` and a
    ``memory_key_padding_mask``; label-smoothed cross entropy ignoring the pad; Adam with
    ReduceLROnPlateau on the loss (cooldown, min_lr). Reports the losses and learning rates."""
    nn = torch.nn
    F = torch.nn.functional
    pad, vocab, d = 0, 9, 8
    rng = np.random.default_rng(174)
    tgt = rng.integers(1, vocab, (2, 5))
    tgt[1, 3:] = pad
    tgt = torch.tensor(tgt).to(device)
    memory = torch.tensor(rng.standard_normal((2, 4, d))).to(device)
    mem_pad = torch.tensor(np.array([[False] * 4, [False, False, False, True]])).to(device)

    class Decoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(vocab, d, padding_idx=pad)
            layer = nn.TransformerDecoderLayer(d, nhead=2, dim_feedforward=16, dropout=0.0,
                                               activation="gelu", batch_first=True,
                                               norm_first=True)
            self.decoder = nn.TransformerDecoder(layer, num_layers=2, norm=nn.LayerNorm(d))
            self.out = nn.Linear(d, vocab)

        def forward(self, inp, memory):
            n = inp.size(1)
            causal = nn.Transformer.generate_square_subsequent_mask(n, dtype=torch.float64)
            causal = causal.to(inp.device)
            padding = torch.zeros(inp.shape, dtype=torch.float64, device=inp.device)
            padding = padding.masked_fill(inp == pad, float("-inf"))
            h = self.decoder(self.embed(inp), memory, tgt_mask=causal,
                             tgt_key_padding_mask=padding,
                             memory_key_padding_mask=mem_pad, tgt_is_causal=True)
            return self.out(h)

    model = Decoder().double()
    init(model)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=0.5,
                                                       patience=0, threshold=0.5,
                                                       cooldown=1, min_lr=2e-3)
    inp, gold = tgt[:, :-1], tgt[:, 1:]
    out = []
    for _ in range(steps):
        model.train()
        opt.zero_grad()
        logits = model(inp, memory)
        loss = F.cross_entropy(logits.reshape(-1, vocab), gold.reshape(-1), ignore_index=pad,
                               label_smoothing=0.1)
        loss.backward()
        opt.step()
        sched.step(loss.item())
        out += [loss.item(), opt.param_groups[0]["lr"]]
    return out, model


def regression_program(torch, steps, init, device="cpu"):
    """Heteroscedastic regression plus a count head: a LazyLinear trunk (materialized by a
    first forward before the optimizer is built), a Bilinear interaction of the trunk with a
    side input, Softplus variances for GaussianNLLLoss and Softplus rates for
    PoissonNLLLoss(log_input=False, full=True); a log-rate head distilled from the rate head by
    PoissonNLLLoss(full=True) with that predicted (differentiable) target; SGD."""
    nn = torch.nn
    rng = np.random.default_rng(175)
    x = torch.tensor(rng.standard_normal((10, 4))).to(device)
    side = torch.tensor(rng.standard_normal((10, 3))).to(device)
    y = torch.tensor(rng.standard_normal((10, 1))).to(device)
    counts = torch.tensor(rng.poisson(2.0, (10, 1)).astype(np.float64)).to(device)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.trunk = nn.Sequential(nn.LazyLinear(6), nn.Tanh())
            self.bil = nn.Bilinear(6, 3, 4)
            self.mean = nn.Linear(4, 1)
            self.var = nn.Sequential(nn.Linear(4, 1), nn.Softplus())
            self.rate = nn.Sequential(nn.Linear(4, 1), nn.Softplus(beta=2.0, threshold=5.0))
            self.log_rate = nn.Linear(6, 1)

        def forward(self, x, side):
            t = self.trunk(x)
            h = torch.relu(self.bil(t, side))
            return self.mean(h), self.var(h) + 1e-3, self.rate(h) + 1e-3, self.log_rate(t)

    model = Net().double()
    model(x.cpu(), side.cpu())  # materialize the lazy layer
    init(model)
    model.to(device)
    gnll = nn.GaussianNLLLoss(full=True)
    pnll = nn.PoissonNLLLoss(log_input=False, full=True)
    distill = nn.PoissonNLLLoss(log_input=True, full=True)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    out = [isinstance(model.trunk[0], nn.Linear), *model.trunk[0].weight.shape]
    for _ in range(steps):
        opt.zero_grad()
        mu, var, rate, log_rate = model(x, side)
        a, b = gnll(mu, y, var), pnll(rate, counts)
        # a second count head learns from the first one's rates (scaled to counts > 1, where
        # the Stirling term is on), both ways: the target carries a gradient
        c = distill(log_rate, 4 * rate)
        (a + b + 0.1 * c).backward()
        opt.step()
        out += [a.item(), b.item(), c.item()]
    return out, model


def bag_program(torch, steps, init, device="cpu"):
    """A bag-of-words classifier: EmbeddingBag(mode="mean") over a flat token list with
    offsets, Dropout1d over the channels (switched off for the comparison: its masks come from
    each library's own generator), a multi-class MultiMarginLoss, a multi-label
    MultiLabelSoftMarginLoss, and a CosineSimilarity contrastive term pulling two views of each
    document together; a second bag sums learned per-token weights (per_sample_weights,
    include_last_offset, padding_idx); Adagrad."""
    nn = torch.nn
    rng = np.random.default_rng(176)
    tokens = torch.tensor(rng.integers(0, 15, 17)).to(device)
    offsets = torch.tensor([0, 3, 7, 8, 12]).to(device)
    view2 = torch.tensor(rng.integers(0, 15, 17)).to(device)
    cls = torch.tensor(rng.integers(0, 4, 5)).to(device)
    tags = torch.tensor((rng.random((5, 3)) > 0.5).astype(np.float64)).to(device)

    class BagNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.bag = nn.EmbeddingBag(15, 6, mode="mean")
            self.tfidf = nn.EmbeddingBag(15, 6, mode="sum", include_last_offset=True,
                                         padding_idx=0)
            self.token_weight = nn.Embedding(15, 1)
            self.drop = nn.Dropout1d(0.3)
            self.cls = nn.Linear(6, 4)
            self.tags = nn.Linear(6, 3)

        def forward(self, tokens, offsets):
            ends = torch.cat([offsets, offsets.new_tensor([tokens.numel()])])
            w = torch.sigmoid(self.token_weight(tokens)).squeeze(-1)
            e = self.bag(tokens, offsets) + self.tfidf(tokens, ends, per_sample_weights=w)
            e = self.drop(e.unsqueeze(-1)).squeeze(-1)
            return e, self.cls(e), self.tags(e)

    model = BagNet().double()
    init(model)
    model.to(device)
    model.drop.eval()
    margin = nn.MultiMarginLoss(p=1, margin=1.0,
                                weight=torch.tensor([1.0, 2.0, 1.0, 0.5],
                                                    dtype=torch.float64).to(device))
    multilabel = nn.MultiLabelSoftMarginLoss()
    cos = nn.CosineSimilarity(dim=1, eps=1e-8)
    opt = torch.optim.Adagrad(model.parameters(), lr=0.1)
    out = []
    for _ in range(steps):
        opt.zero_grad()
        e, logits, tag_logits = model(tokens, offsets)
        e2, _, _ = model(view2, offsets)
        sim = cos(e, e2)
        a, b = margin(logits, cls), multilabel(tag_logits, tags)
        loss = a + b + (1 - sim).mean()
        loss.backward()
        opt.step()
        out += [a.item(), b.item(), sim.mean().item()]
    return out, model


def ctc_program(torch, steps, init, device="cpu"):
    """A speech-like acoustic model: Conv1d + GroupNorm + GLU blocks, an LPPool1d downsampling,
    a linear head to log-probabilities of 5 symbols (blank 0); CTCLoss with per-utterance input
    and target lengths (padded targets), zero_infinity; Adam."""
    nn = torch.nn
    F = torch.nn.functional
    rng = np.random.default_rng(177)
    feats = torch.tensor(rng.standard_normal((3, 4, 20))).to(device)
    targets = torch.tensor(np.array([[1, 2, 2, 3], [4, 1, 0, 0], [2, 3, 4, 0]])).to(device)
    target_lengths = torch.tensor([4, 2, 3]).to(device)
    input_lengths = torch.tensor([10, 7, 9]).to(device)

    class Acoustic(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv1d(4, 12, 3, padding=1)
            self.norm1 = nn.GroupNorm(3, 12)
            self.glu = nn.GLU(dim=1)
            self.pool = nn.LPPool1d(2, kernel_size=2, stride=2)
            self.conv2 = nn.Conv1d(6, 8, 3, padding=1)
            self.norm2 = nn.GroupNorm(2, 8)
            self.head = nn.Linear(4, 5)

        def forward(self, x):
            h = self.glu(self.norm1(self.conv1(x)))  # (N, 6, 20)
            h = self.pool(h)  # (N, 6, 10)
            h = self.glu(self.norm2(self.conv2(h)))  # (N, 4, 10)
            return F.log_softmax(self.head(h.permute(2, 0, 1)), dim=-1)  # (T, N, C)

    model = Acoustic().double()
    init(model)
    model.to(device)
    ctc = nn.CTCLoss(blank=0, reduction="mean", zero_infinity=True)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    out = []
    for _ in range(steps):
        opt.zero_grad()
        logp = model(feats)
        loss = ctc(logp, targets, input_lengths, target_lengths)
        loss.backward()
        opt.step()
        out.append(loss.item())
    with torch.no_grad():
        per = F.ctc_loss(model(feats), targets, input_lengths, target_lengths,
                         reduction="none")
        flat = torch.cat([targets[i, :n] for i, n in enumerate(target_lengths.tolist())])
        total = F.ctc_loss(model(feats), flat, input_lengths, target_lengths, reduction="sum")
    out += per.tolist() + [total.item()]
    return out, model


PROGRAMS = {"superres": (superres_program, 5),
            "segnet": (segnet_program, 5),
            "unet3d": (unet3d_program, 4),
            "charlm": (charlm_program, 5),
            "decoder": (decoder_program, 5),
            "regression": (regression_program, 6),
            "bag": (bag_program, 5),
            "ctc": (ctc_program, 5)}
# the attention key bias gets no gradient (softmax is blind to a shift shared by all keys):
# Adam turns its rounding-level gradients (summation order, 1e-17) into 1e-11 steps
_STATE_ATOL = {"decoder": 1e-10}


# ---------------------------------------------------------------------------------------------
# the tests


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_program_matches_torch(name, device):
    """The program's losses (and every other number it reports) and its final parameters and
    buffers equal PyTorch's, with model and data moved by ``.to(device)``."""
    check_program(PROGRAMS, name, device, state_atol=_STATE_ATOL.get(name, 1e-12))


def test_programs_are_not_vacuous():
    """What the comparisons rely on happens under PyTorch: every loss falls; the shapes are the
    super-resolved ones; the unpool indices are real positions; the plateau scheduler cuts the
    rate; the lazy layer materialized; the CTC losses are finite."""
    sr, _ = torch_run(PROGRAMS, "superres")
    assert sr[0] + sr[1] > sr[8] + sr[9] and sr[10:14] == [3, 1, 8, 8]
    seg, _ = torch_run(PROGRAMS, "segnet")
    assert seg[0] > seg[4] and len(set(seg[5:21])) == 16 and max(seg[5:21]) < 64
    un, _ = torch_run(PROGRAMS, "unet3d")
    assert un[0] > un[3]
    lm, _ = torch_run(PROGRAMS, "charlm")
    assert lm[0] > lm[20] and lm[2:5] == [4, 3, 5]
    assert abs(lm[-2] - 12) < 1e-9 and lm[-1] == 7  # rows sum to 1; the last cluster is used
    dec, _ = torch_run(PROGRAMS, "decoder")
    assert dec[0] > dec[8] and dec[1] == 1e-2 and dec[-1] < 1e-2
    reg, _ = torch_run(PROGRAMS, "regression")
    assert reg[:3] == [True, 6, 4] and reg[3] + reg[4] > reg[-3] + reg[-2]
    assert min(reg[5::3]) > 0
    bag, _ = torch_run(PROGRAMS, "bag")
    assert bag[0] + bag[1] - bag[2] > bag[-3] + bag[-2] - bag[-1]
    ctc, _ = torch_run(PROGRAMS, "ctc")
    assert ctc[0] > ctc[4] and all(np.isfinite(ctc[5:])) and len(ctc) == 9
    assert abs(sum(ctc[5:8]) - ctc[8]) < 1e-9


def test_dropout1d_zeroes_whole_channels():
    """The Dropout1d the bag program carries (off during its comparison) drops whole channels
    in training mode in both libraries: each (sample, channel) row is all zero or all scaled."""
    import tensorgrad as tg
    for lib in (torch, tg):
        lib.manual_seed(3)
        drop = lib.nn.Dropout1d(0.5)
        y = drop(lib.ones(8, 6, 5, dtype=lib.float64)).detach().numpy()
        row_max, row_min = y.max(-1), y.min(-1)
        assert np.array_equal(row_max, row_min)
        assert set(np.unique(row_max)) == {0.0, 2.0}
