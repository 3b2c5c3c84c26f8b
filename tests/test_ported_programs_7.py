"""A seventh round of real PyTorch programs run on tensorgrad with only the import changed.

As in ``test_ported_programs.py`` (whose ``run_both`` runs each program with ``torch`` and with
``tensorgrad`` passed as ``torch``, from the same initial weights), each program is
``program(torch, steps, init, device="cpu")``: a GPT-style character model with a KV-cached
generation loop, knowledge distillation, a siamese metric-learning model with hard-negative
mining, a wide-and-deep recommender over embedding bags, and a small CTC speech model on an
STFT front end. All run in float64 and must equal PyTorch's trajectory, the numbers each
reports (and the generated tokens) and the final parameters and buffers to rounding.

Randomness both runs share is drawn with NumPy outside the library: every program makes its
data from its own ``np.random.default_rng(seed)`` and passes it in with ``torch.tensor``, and
the GPT's top-k sampling takes its uniforms from such a generator too (the sampled index is
``torch.searchsorted`` of the uniform on the cumulative probabilities), so no draw depends on
either library's generator. The initial weights are PyTorch's (after ``torch.manual_seed(0)``),
copied into ours by ``run_both``.
"""

import math

import numpy as np
import pytest
from devices import against_torch, host, on
from test_ported_programs import assert_program_matches, run_both

import tensorgrad as tg

torch = pytest.importorskip("torch")

STEPS = 4


# ---------------------------------------------------------------------------------------------
# the programs (plain PyTorch code; only ``torch`` differs)


def gpt_program(torch, steps, init, device="cpu"):
    """A GPT-style character model: token and learned position embeddings, pre-LayerNorm
    blocks whose attention splits heads by view/transpose and calls
    F.scaled_dot_product_attention(is_causal=True), a GELU(approximate="tanh") MLP, the head
    tied to the token embedding; AdamW(betas=(0.9, 0.95)) with weight decay only on parameters
    of p.dim() >= 2, clip_grad_norm_. Then generation with a KV cache grown by torch.cat:
    greedy (argmax) and top-k (topk, masked_fill -inf, softmax, searchsorted of shared NumPy
    uniforms on the cumsum). Reports losses, gradient norms, the generated tokens and the
    last sampling distribution."""
    nn = torch.nn
    F = torch.nn.functional
    vocab, block, n_embd, n_head, n_layer = 13, 8, 16, 2, 2
    rng = np.random.default_rng(70)
    data = rng.integers(0, vocab, size=(5, block + 1))
    x = torch.tensor(data[:, :-1]).to(device)
    y = torch.tensor(data[:, 1:]).to(device)

    class CausalSelfAttention(nn.Module):
        def __init__(self):
            super().__init__()
            # no bias (nanoGPT's bias=False): a key bias shifts every score of a row alike, so
            # its exact gradient is 0 and AdamW would only amplify rounding noise into it
            self.c_attn = nn.Linear(n_embd, 3 * n_embd, bias=False)
            self.c_proj = nn.Linear(n_embd, n_embd)

        def forward(self, x, cache=None):
            B, T, C = x.size()
            q, k, v = self.c_attn(x).split(n_embd, dim=2)
            q = q.view(B, T, n_head, C // n_head).transpose(1, 2)
            k = k.view(B, T, n_head, C // n_head).transpose(1, 2)
            v = v.view(B, T, n_head, C // n_head).transpose(1, 2)
            if cache is not None:
                k = torch.cat([cache[0], k], dim=2)
                v = torch.cat([cache[1], v], dim=2)
            # one new query attends to every cached key: no mask then
            y = F.scaled_dot_product_attention(q, k, v, is_causal=cache is None)
            y = y.transpose(1, 2).contiguous().view(B, T, C)
            return self.c_proj(y), (k, v)

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1 = nn.LayerNorm(n_embd)
            self.attn = CausalSelfAttention()
            self.ln_2 = nn.LayerNorm(n_embd)
            self.mlp = nn.Sequential(nn.Linear(n_embd, 4 * n_embd), nn.GELU(approximate="tanh"),
                                     nn.Linear(4 * n_embd, n_embd))

        def forward(self, x, cache=None):
            a, cache = self.attn(self.ln_1(x), cache)
            x = x + a
            x = x + self.mlp(self.ln_2(x))
            return x, cache

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte = nn.Embedding(vocab, n_embd)
            self.wpe = nn.Embedding(block, n_embd)
            self.h = nn.ModuleList([Block() for _ in range(n_layer)])
            self.ln_f = nn.LayerNorm(n_embd)
            self.lm_head = nn.Linear(n_embd, vocab, bias=False)
            self.wte.weight = self.lm_head.weight  # weight tying
            for name, p in self.named_parameters():
                if name.endswith("c_proj.weight"):
                    torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * n_layer))

        def forward(self, idx, targets=None, caches=None, start=0):
            B, T = idx.size()
            pos = torch.arange(start, start + T, dtype=torch.long, device=idx.device)
            x = self.wte(idx) + self.wpe(pos)
            new_caches = []
            for i, blk in enumerate(self.h):
                x, c = blk(x, None if caches is None else caches[i])
                new_caches.append(c)
            logits = self.lm_head(self.ln_f(x))
            loss = None
            if targets is not None:
                loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))
            return logits, loss, new_caches

    model = GPT().double()
    init(model)
    model.to(device)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=3e-2, betas=(0.9, 0.95), eps=1e-8)
    out = [float(len(decay)), float(len(no_decay))]
    model.train()
    for _ in range(steps):
        _, loss, _ = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 0.3)
        opt.step()
        out += [loss.item(), norm.item()]

    @torch.no_grad()
    def generate(idx, new_tokens, top_k=None, uniforms=None):
        model.eval()
        logits, _, caches = model(idx)  # the prompt, causal, fills the cache
        probs = None
        for t in range(new_tokens):
            last = logits[:, -1, :]
            if top_k is None:
                nxt = torch.argmax(last, dim=-1, keepdim=True)
            else:
                v, _ = torch.topk(last, top_k)
                last = last.masked_fill(last < v[:, [-1]], float("-inf"))
                probs = F.softmax(last, dim=-1)
                cdf = torch.cumsum(probs, dim=-1)
                u = torch.tensor(uniforms[t], dtype=cdf.dtype).to(cdf.device)
                nxt = torch.searchsorted(cdf, u).clamp(max=vocab - 1)
            idx = torch.cat((idx, nxt), dim=1)
            logits, _, caches = model(nxt, caches=caches, start=idx.size(1) - 1)
        return idx, probs

    prompt = torch.tensor(data[:3, :3]).to(device)
    greedy, _ = generate(prompt, 4)
    uniforms = np.random.default_rng(71).random((4, 3, 1))
    sampled, probs = generate(prompt, 4, top_k=4, uniforms=uniforms)
    # the cached generation equals a full causal pass over the generated text
    full_logits, _, _ = model(sampled[:, :-1])
    out += [float(t) for t in greedy.flatten().tolist()]
    out += [float(t) for t in sampled.flatten().tolist()]
    out += probs.flatten().tolist() + full_logits[:, -1].flatten().tolist()
    return out, model


def distill_program(torch, steps, init, device="cpu"):
    """Knowledge distillation: a teacher MLP (with BatchNorm1d and Dropout) in eval mode under
    torch.no_grad(), a student trained on nn.KLDivLoss(reduction="batchmean", log_target=True)
    between temperature-scaled log_softmax outputs (times T^2) plus cross entropy with label
    smoothing; SGD with Nesterov momentum and weight decay, MultiStepLR. Reports both loss
    terms, the learning rate, and the student's evaluation accuracy and agreement with the
    teacher."""
    nn = torch.nn
    F = torch.nn.functional
    rng = np.random.default_rng(72)
    x = torch.tensor(rng.standard_normal((16, 6))).to(device)
    labels = torch.tensor(rng.integers(0, 4, size=16)).to(device)
    temperature, alpha = 3.0, 0.7

    class Pair(nn.Module):
        def __init__(self):
            super().__init__()
            self.teacher = nn.Sequential(nn.Linear(6, 24), nn.BatchNorm1d(24), nn.ReLU(),
                                         nn.Dropout(0.3), nn.Linear(24, 4))
            self.student = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.Tanh(),
                                         nn.Linear(8, 4))

    pair = Pair().double()
    with torch.no_grad():  # a teacher whose running statistics are not the initial ones
        pair.teacher[1].running_mean.uniform_(-0.5, 0.5)
        pair.teacher[1].running_var.uniform_(0.5, 2.0)
    init(pair)
    pair.to(device)
    teacher, student = pair.teacher, pair.student
    teacher.eval()
    kl = nn.KLDivLoss(reduction="batchmean", log_target=True)
    ce = nn.CrossEntropyLoss(label_smoothing=0.1)
    opt = torch.optim.SGD(student.parameters(), lr=0.2, momentum=0.9, nesterov=True,
                          weight_decay=1e-3)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[2, 3], gamma=0.5)
    out = []
    for _ in range(steps):
        student.train()
        with torch.no_grad():
            soft = F.log_softmax(teacher(x) / temperature, dim=-1)
        logits = student(x)
        soft_loss = kl(F.log_softmax(logits / temperature, dim=-1), soft) * temperature ** 2
        hard_loss = ce(logits, labels)
        loss = alpha * soft_loss + (1 - alpha) * hard_loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        out += [soft_loss.item(), hard_loss.item(), sched.get_last_lr()[0]]
    student.eval()
    with torch.no_grad():
        pred = student(x).argmax(dim=1)
        out.append((pred == labels).double().mean().item())
        out.append((pred == teacher(x).argmax(dim=1)).sum().item())
    return out, pair


def siamese_program(torch, steps, init, device="cpu"):
    """Metric learning with a shared encoder: embeddings F.normalize'd, batch-hard mining (the
    torch.cdist matrix with same-label and identity masks, argmax for the hardest positive,
    argmin over masked_fill(inf) for the hardest negative), nn.TripletMarginLoss(margin, p=2,
    swap=True), nn.CosineEmbeddingLoss on labelled pairs, F.pairwise_distance; Adam. Reports
    the losses, the mined indices and the mean positive/negative distances."""
    nn = torch.nn
    F = torch.nn.functional
    rng = np.random.default_rng(73)
    classes = np.repeat(np.arange(4), 3)
    centres = rng.standard_normal((4, 5))
    points = centres[classes] + 0.8 * rng.standard_normal((12, 5))
    x = torch.tensor(points).to(device)
    y = torch.tensor(classes).to(device)
    pair_a = torch.tensor(rng.integers(0, 12, size=8)).to(device)
    pair_b = torch.tensor(rng.integers(0, 12, size=8)).to(device)

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(5, 16), nn.ELU(), nn.Linear(16, 6))

        def forward(self, x):
            return F.normalize(self.net(x), p=2, dim=1)

    model = Encoder().double()
    init(model)
    model.to(device)
    triplet = nn.TripletMarginLoss(margin=0.3, p=2, swap=True)
    cosine = nn.CosineEmbeddingLoss(margin=0.1)
    opt = torch.optim.Adam(model.parameters(), lr=2e-2, betas=(0.8, 0.99), amsgrad=True)
    out = []
    for _ in range(steps):
        emb = model(x)
        with torch.no_grad():
            dist = torch.cdist(emb, emb, p=2)
            same = y.unsqueeze(0) == y.unsqueeze(1)
            eye = torch.eye(len(y), dtype=torch.bool, device=dist.device)
            positive = (dist * (same & ~eye)).argmax(dim=1)
            negative = dist.masked_fill(same, float("inf")).argmin(dim=1)
        loss_t = triplet(emb, emb[positive], emb[negative])
        target = torch.where(y[pair_a] == y[pair_b], 1, -1)
        loss_c = cosine(emb[pair_a], emb[pair_b], target)
        loss = loss_t + 0.5 * loss_c
        opt.zero_grad()
        loss.backward()
        opt.step()
        d_pos = F.pairwise_distance(emb, emb[positive]).mean()
        d_neg = F.pairwise_distance(emb, emb[negative], keepdim=True).mean()
        out += [loss_t.item(), loss_c.item(), d_pos.item(), d_neg.item()]
        out += [float(i) for i in positive.tolist() + negative.tolist()]
    return out, model


def recommender_program(torch, steps, init, device="cpu"):
    """A wide-and-deep click model: a user's history as an nn.EmbeddingBag(mode="sum") bag
    (flat item ids with offsets, per_sample_weights for recency), the user by
    nn.Embedding(padding_idx=0) (id 0: unknown user), the candidate item's embedding, a deep
    MLP over them plus a wide linear part over sparse cross features; BCEWithLogitsLoss with a
    pos_weight; Adagrad with lr_decay, weight_decay and an initial accumulator. Reports losses,
    the AUC-like ranking count and the padding row (which must stay zero)."""
    nn = torch.nn
    rng = np.random.default_rng(74)
    n_users, n_items, dim, batch, n_wide = 6, 10, 4, 8, 7
    lengths = rng.integers(1, 5, size=batch)
    items = rng.integers(0, n_items, size=int(lengths.sum()))
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    recency = np.concatenate([0.5 ** np.arange(n)[::-1] for n in lengths])
    users = rng.integers(0, n_users, size=batch)
    users[[1, 5]] = 0
    candidate = rng.integers(0, n_items, size=batch)
    wide = (rng.random((batch, n_wide)) < 0.3).astype(np.float64)
    clicks = rng.integers(0, 2, size=batch).astype(np.float64)
    items, offsets, recency, users, candidate, wide, clicks = (
        torch.tensor(a).to(device) for a in (items, offsets, recency, users, candidate, wide,
                                             clicks))

    class WideDeep(nn.Module):
        def __init__(self):
            super().__init__()
            self.history = nn.EmbeddingBag(n_items, dim, mode="sum")
            self.user = nn.Embedding(n_users, dim, padding_idx=0)
            self.item = nn.Embedding(n_items, dim)
            self.deep = nn.Sequential(nn.Linear(3 * dim, 8), nn.ReLU(), nn.Linear(8, 1))
            self.wide = nn.Linear(n_wide, 1)

        def forward(self, items, offsets, recency, users, candidate, wide):
            h = self.history(items, offsets, per_sample_weights=recency)
            c = self.item(candidate)
            deep = self.deep(torch.cat([h, self.user(users), c * h], dim=1))
            return (deep + self.wide(wide)).squeeze(-1)

    model = WideDeep().double()
    init(model)
    model.to(device)
    criterion = nn.BCEWithLogitsLoss(pos_weight=torch.tensor([2.0], dtype=torch.float64,
                                                             device=device))
    opt = torch.optim.Adagrad(model.parameters(), lr=0.1, lr_decay=0.05, weight_decay=1e-2,
                              initial_accumulator_value=0.1)
    out = []
    for _ in range(steps):
        logits = model(items, offsets, recency, users, candidate, wide)
        loss = criterion(logits, clicks)
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            scores = torch.sigmoid(logits)
            pos, neg = scores[clicks == 1], scores[clicks == 0]
            ranked = (pos.unsqueeze(1) > neg.unsqueeze(0)).sum().item()
        out += [loss.item(), float(ranked)]
    out += model.user.weight[0].tolist()
    return out, model


def speech_program(torch, steps, init, device="cpu"):
    """A tiny CTC speech model: a learnable Conv1d pre-emphasis on the waveforms, torch.stft
    (return_complex=True, a hann_window, reflect padding) of the batch, magnitude by .abs(),
    log1p, Conv1d layers over time, log_softmax over the classes in (T, N, C) layout, and
    nn.CTCLoss with per-sample input and target lengths (padded targets; the concatenated
    form with reduction="sum" reported beside it); Adam. Reports both losses, the frame
    labels of a greedy decoding and the log-probabilities of a few frames."""
    nn = torch.nn
    rng = np.random.default_rng(75)
    batch, samples, n_fft, hop, n_classes = 3, 64, 16, 4, 5
    t = np.arange(samples) / samples
    freqs = rng.uniform(2, 12, size=(batch, 1))
    waves = np.sin(2 * np.pi * freqs * samples / 8 * t) + 0.3 * rng.standard_normal((batch,
                                                                                     samples))
    x = torch.tensor(waves).to(device)
    target_lengths = np.array([3, 2, 4])
    padded = np.zeros((batch, 4), dtype=np.int64)
    for b, n in enumerate(target_lengths):
        padded[b, :n] = rng.integers(1, n_classes, size=n)
    flat = np.concatenate([padded[b, :n] for b, n in enumerate(target_lengths)])
    input_lengths = torch.tensor([17, 15, 16]).to(device)
    targets = torch.tensor(padded).to(device)
    targets_flat = torch.tensor(flat).to(device)
    target_lengths = torch.tensor(target_lengths).to(device)

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.pre = nn.Conv1d(1, 1, kernel_size=3, padding=1, bias=False)
            self.conv = nn.Sequential(nn.Conv1d(n_fft // 2 + 1, 12, 3, padding=1), nn.ReLU(),
                                      nn.Conv1d(12, n_classes, 1))

        def forward(self, waves):
            w = self.pre(waves.unsqueeze(1)).squeeze(1)
            window = torch.hann_window(n_fft, dtype=w.dtype, device=w.device)
            spec = torch.stft(w, n_fft, hop_length=hop, win_length=n_fft, window=window,
                              center=True, pad_mode="reflect", return_complex=True)
            feats = torch.log1p(spec.abs())  # (N, freq, frames)
            return self.conv(feats).permute(2, 0, 1).log_softmax(dim=2)  # (T, N, C)

    model = Model().double()
    init(model)
    model.to(device)
    ctc = nn.CTCLoss(blank=0, reduction="mean", zero_infinity=True)
    ctc_sum = nn.CTCLoss(blank=0, reduction="sum")
    opt = torch.optim.Adam(model.parameters(), lr=3e-2)
    out = []
    for _ in range(steps):
        log_probs = model(x)
        loss = ctc(log_probs, targets, input_lengths, target_lengths)
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            total = ctc_sum(log_probs, targets_flat, input_lengths, target_lengths)
        out += [loss.item(), total.item(), float(log_probs.shape[0])]
    with torch.no_grad():
        # the greedy labels of each frame (early CTC: all blank) and a few frames' scores
        final = model(x)
        out += [float(c) for c in final.argmax(dim=2).flatten().tolist()]
        out += final[::8].flatten().tolist()
    return out, model


PROGRAMS = {"gpt": gpt_program, "distill": distill_program, "siamese": siamese_program,
            "recommender": recommender_program, "speech": speech_program}


# ---------------------------------------------------------------------------------------------
# the tests


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_program_matches_torch(name, device):
    """The program's losses and the other numbers it reports (gradient norms, learning rates,
    generated tokens, mined indices, decoded labels) and its final parameters and buffers equal
    PyTorch's, with model and data moved by ``.to(device)``."""
    torch.manual_seed(0)  # PyTorch's initial weights, copied into ours
    assert_program_matches(run_both(PROGRAMS[name], steps=STEPS, device=device), device,
                           rtol=1e-10, state_rtol=1e-10, state_atol=1e-12, same_types=True)


def _torch_run(name):
    torch.manual_seed(0)  # as in test_program_matches_torch
    return PROGRAMS[name](torch, STEPS, lambda model: None)


def test_programs_are_not_vacuous():
    """What the comparisons rely on happens: the GPT's gradients exceed the clipping norm, its
    cached generation equals a full causal pass, top-k sampling keeps k tokens and picks
    other tokens than greedy decoding; the distilled student's learning rate steps down at the
    milestones; the mined positives share the anchor's class and the negatives do not; the
    recommender's padding row stays zero while its loss falls; the CTC loss falls."""
    out, model = _torch_run("gpt")
    vocab, n = 13, 3 * 7
    assert out[:2] == [10.0, 16.0]  # the tied weight counted once, in the decayed group
    assert min(out[3:10:2]) > 0.3  # clipping active at every step
    greedy = out[10:10 + n]
    sampled = out[10 + n:10 + 2 * n]
    assert greedy[:3] == sampled[:3] and greedy != sampled
    probs = np.array(out[10 + 2 * n:10 + 2 * n + 3 * vocab]).reshape(3, vocab)
    full = torch.tensor(out[10 + 2 * n + 3 * vocab:], dtype=torch.float64).reshape(3, vocab)
    kth = full.topk(4).values[:, [-1]]
    again = torch.softmax(full.masked_fill(full < kth, float("-inf")), -1).numpy()
    np.testing.assert_allclose(again, probs, rtol=1e-12, atol=1e-15)
    assert ((probs > 0).sum(1) == 4).all()
    assert model.lm_head.weight is model.wte.weight

    out, _ = _torch_run("distill")
    assert out[2:12:3] == pytest.approx([0.2, 0.1, 0.05, 0.05])
    assert out[9] < out[0]

    out, _ = _torch_run("siamese")
    classes = np.repeat(np.arange(4), 3)
    for step in range(STEPS):
        mined = np.array(out[step * 28 + 4:step * 28 + 28], dtype=int)
        assert (classes[mined[:12]] == classes).all() and (mined[:12] != np.arange(12)).all()
        assert (classes[mined[12:]] != classes).all()
    assert out[0] > 0 and out[1] > 0

    out, model = _torch_run("recommender")
    assert out[-4:] == [0.0] * 4 and out[2 * STEPS - 2] < out[0]
    assert model.history.weight.grad.abs().sum() > 0

    out, _ = _torch_run("speech")
    assert out[3 * (STEPS - 1)] < out[0]


# ---------------------------------------------------------------------------------------------
# the gaps the programs found, each fixed and tested on its own


_SR = np.random.default_rng(76)
_ROWS = np.sort(_SR.random((2, 3, 6)), axis=-1)
_VALUES = _SR.random((2, 3, 4))
_VALUES[0, 0, :2] = _ROWS[0, 0, 2]  # ties: left and right differ
_VALUES[1, 2, 3] = np.nan  # NaN sorts last
_INT_ROWS = np.array([[1, 3, 3, 5], [2, 4, 6, 8]])
_SEARCH_CASES = {
    "rows": (_ROWS, _VALUES, {}),
    "rows right": (_ROWS, _VALUES, dict(right=True)),
    "rows side=right int32": (_ROWS, _VALUES, dict(side="right", out_int32=True)),
    "one row per sample (top-k sampling)": (_ROWS[:, 0], _VALUES[:, 0, :1], {}),
    "integer rows": (_INT_ROWS, np.array([[3, 0, 9], [4, 5, 8]]), {}),
    "integer rows right": (_INT_ROWS, np.array([[3, 0, 9], [4, 5, 8]]), dict(right=True)),
    "1-d sequence, n-d input": (_ROWS[0, 0], _VALUES, dict(right=True)),
}


@pytest.mark.parametrize("case", list(_SEARCH_CASES))
def test_searchsorted_batched_rows(case, device):
    """Fix: torch.searchsorted took only a 1-D sorted_sequence (NotImplementedError): the GPT's
    top-k sampling searches each row's cumulative probabilities, ``searchsorted(cdf, u)`` with
    cdf (N, V) and u (N, 1). A (*, M) sequence now searches row by row for a (*, K) input, with
    ``right``/``side``, ``out_int32`` and NaN sorted last, as PyTorch's; ``sorter`` is taken."""
    seq, values, kw = _SEARCH_CASES[case]
    want = torch.searchsorted(torch.tensor(seq), torch.tensor(values), **kw)
    got = tg.searchsorted(tg.tensor(seq, device=device), tg.tensor(values, device=device), **kw)
    assert on(got, device) and str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1]
    np.testing.assert_array_equal(host(got), want.numpy())
    # sorter: the permutation that sorts each row of an unsorted sequence
    order = _SR.permuted(np.tile(np.arange(seq.shape[-1]), seq.shape[:-1] + (1,)), axis=-1)
    shuffled = np.take_along_axis(seq, order, -1)
    sorter = np.argsort(shuffled, axis=-1, kind="stable")
    want = torch.searchsorted(torch.tensor(shuffled), torch.tensor(values), **kw,
                              sorter=torch.tensor(sorter))
    got = tg.searchsorted(tg.tensor(shuffled, device=device), tg.tensor(values, device=device),
                          **kw, sorter=tg.tensor(sorter, device=device))
    np.testing.assert_array_equal(host(got), want.numpy())


def test_searchsorted_batched_errors():
    seq = tg.tensor(_ROWS)
    with pytest.raises(ValueError, match=r"searchsorted\(\): the leading dimensions of "
                                         r"sorted_sequence \(2, 3, 6\) and input \(3, 4\)"):
        tg.searchsorted(seq, tg.tensor(_VALUES[0]))
    with pytest.raises(ValueError, match=r"input can be a number only for a 1-D "
                                         r"sorted_sequence, got sorted_sequence of shape"):
        tg.searchsorted(seq, 0.5)
    with pytest.raises(ValueError, match=r"side must be 'left' or 'right'"):
        tg.searchsorted(seq, tg.tensor(_VALUES), side="middle")
    for bad in (dict(side="middle"), dict(side="left", right=True)):
        with pytest.raises(RuntimeError):
            torch.searchsorted(torch.tensor(_ROWS), torch.tensor(_VALUES), **bad)
        with pytest.raises(ValueError):
            tg.searchsorted(seq, tg.tensor(_VALUES), **bad)


@pytest.mark.parametrize("offsets", [[0, 2, 2, 8], [0, 2, 2, 5], [0, 3, 6]])
@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_include_last_offset(offsets, mode, device):
    """Fix: with include_last_offset=True PyTorch's last bag runs to the end of the input
    whatever the last offset (its kernels check only offsets[-1] <= len(input)); ours ended it
    at the last offset, so a last offset short of the input's length gave other sums, means
    and maxima and gradients. Values and weight gradients now equal PyTorch's."""
    weight = np.random.default_rng(77).standard_normal((10, 3))
    tokens = np.array([1, 2, 4, 5, 4, 3, 2, 9])
    psw = np.random.default_rng(78).random(tokens.size)
    F_ours, F_torch = tg.nn.functional, torch.nn.functional
    extra = [psw] if mode == "sum" else []

    def ours(w, *s):
        return F_ours.embedding_bag(tg.tensor(tokens, device=device), w,
                                    tg.tensor(np.array(offsets), device=device), mode=mode,
                                    include_last_offset=True,
                                    per_sample_weights=s[0] if s else None)

    def theirs(w, *s):
        return F_torch.embedding_bag(torch.tensor(tokens), w, torch.tensor(offsets), mode=mode,
                                     include_last_offset=True,
                                     per_sample_weights=s[0] if s else None)

    out, _ = against_torch(device, ours, theirs, [weight] + extra,
                           grad_args=tuple(range(1 + len(extra))), rtol=1e-13, atol=1e-15)
    assert tuple(out.shape) == (len(offsets) - 1, 3)
    # the module, which passes its include_last_offset on
    ours_bag = tg.nn.EmbeddingBag.from_pretrained(tg.tensor(weight), mode=mode,
                                                  include_last_offset=True).to(device)
    their_bag = torch.nn.EmbeddingBag.from_pretrained(torch.tensor(weight), mode=mode,
                                                      include_last_offset=True)
    got = ours_bag(tg.tensor(tokens, device=device), tg.tensor(np.array(offsets), device=device))
    want = their_bag(torch.tensor(tokens), torch.tensor(offsets))
    np.testing.assert_allclose(host(got), want.numpy(), rtol=1e-13, atol=1e-15)
