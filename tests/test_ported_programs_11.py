"""An eleventh round of real PyTorch programs run on tensorgrad with only the module swapped.

As in ``test_ported_programs.py`` (whose ``run_both`` runs each program with ``torch`` and with
``tensorgrad`` passed as ``torch``, from the same initial weights and buffers), each program is
``program(torch, steps, init, device="cpu")``: a BiLSTM-CRF tagger (forward algorithm by
``logsumexp``, Viterbi decoding by ``max`` and backtracking), NeRF-style volume rendering with
hierarchical sampling (``cumprod`` transmittance, ``searchsorted`` inverse-CDF sampling), a
capsule network with dynamic routing (``einsum``, squash, softmax over routes), a Conformer
block (depthwise ``Conv1d``, ``GLU``, relative positional bias, ``SiLU``), Barlow Twins with
VICReg's variance and covariance terms (``BatchNorm1d(affine=False)``, off-diagonal sums),
DINO self-distillation (EMA teacher, centring buffer, multi-crop by ``F.interpolate``), a
graph network with ``scatter_reduce`` message passing (mean and amax, ``include_self=False``)
and per-graph pooling, and beam-search decoding of a small GRU seq2seq (``topk`` over flattened
beams, length penalty). All run in float64 and must equal PyTorch's trajectory (every reported
number) and final parameters and buffers to rounding.

Randomness both runs share (data, crops, stratified samples) is drawn inside each program from
its own ``np.random.default_rng(seed)``.

The gap the programs found, fixed and tested at the end: an in-place op or setitem on a view
of a tensor on the tape (Barlow Twins' ``torch.diagonal(c).add_(-1).pow_(2)``) was refused;
now the view's base takes the write into its history as PyTorch's CopySlices does, and
``torch.diagonal`` is a view (it was an advanced-indexing copy, so a write into it never
reached the base). DINO's EMA is written ``pt.mul_(m).add_(ps.detach(), alpha=1 - m)``
rather than through ``.data``, which is the raw array in tensorgrad by design.
"""

import copy
import math

import numpy as np
import pytest
from test_ported_programs import check_program, torch_run

torch = pytest.importorskip("torch")


# ---------------------------------------------------------------------------------------------
# the programs (plain PyTorch code; only ``torch`` differs)


def crf_program(torch, steps, init, device="cpu"):
    """A BiLSTM-CRF part-of-speech-style tagger on padded sentences: embeddings, a packed
    bidirectional LSTM, emission scores, a transition matrix with start and end scores; the
    negative log-likelihood is the forward algorithm (logsumexp over the previous tag, masked
    by torch.where past each sentence's end) minus the gold path's score (gather and advanced
    indexing of the transitions); Viterbi decoding keeps max/argmax back-pointers and
    backtracks per sentence. Reports each loss, the decoded accuracy and the best path scores."""
    nn = torch.nn
    rnn = torch.nn.utils.rnn
    rng = np.random.default_rng(110)
    n_words, n_tags, batch, seq_len = 12, 4, 5, 7
    lengths = [7, 6, 5, 5, 3]
    words_np = rng.integers(1, n_words, (batch, seq_len))
    tags_np = (words_np + np.roll(words_np, 1, axis=1)) % n_tags  # depends on the previous word
    mask_np = np.arange(seq_len)[None, :] < np.array(lengths)[:, None]
    words_np[~mask_np], tags_np[~mask_np] = 0, 0
    words = torch.tensor(words_np).to(device)
    tags = torch.tensor(tags_np).to(device)
    mask = torch.tensor(mask_np).to(device)

    class BiLSTMCRF(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(n_words, 8, padding_idx=0)
            self.lstm = nn.LSTM(8, 6, batch_first=True, bidirectional=True)
            self.hidden2tag = nn.Linear(12, n_tags)
            self.transitions = nn.Parameter(0.1 * torch.randn(n_tags, n_tags))
            self.start_transitions = nn.Parameter(torch.zeros(n_tags))
            self.end_transitions = nn.Parameter(torch.zeros(n_tags))

        def emissions(self, words):
            packed = rnn.pack_padded_sequence(self.embed(words), torch.tensor(lengths),
                                              batch_first=True, enforce_sorted=False)
            out, _ = self.lstm(packed)
            out, _ = rnn.pad_packed_sequence(out, batch_first=True, total_length=seq_len)
            return self.hidden2tag(out)

        def gold_score(self, em, tags, mask):
            score = self.start_transitions[tags[:, 0]]
            score = score + em[:, 0].gather(1, tags[:, :1]).squeeze(1)
            for t in range(1, seq_len):
                step = self.transitions[tags[:, t - 1], tags[:, t]]
                step = step + em[:, t].gather(1, tags[:, t].unsqueeze(1)).squeeze(1)
                score = score + step * mask[:, t]
            last = tags.gather(1, (mask.sum(1) - 1).unsqueeze(1)).squeeze(1)
            return score + self.end_transitions[last]

        def log_partition(self, em, mask):
            alpha = self.start_transitions + em[:, 0]
            for t in range(1, seq_len):
                scores = alpha.unsqueeze(2) + self.transitions + em[:, t].unsqueeze(1)
                alpha = torch.where(mask[:, t].unsqueeze(1), torch.logsumexp(scores, dim=1),
                                    alpha)
            return torch.logsumexp(alpha + self.end_transitions, dim=1)

        def forward(self, words, tags, mask):
            em = self.emissions(words)
            return (self.log_partition(em, mask) - self.gold_score(em, tags, mask)).mean()

        @torch.no_grad()
        def decode(self, words, mask):
            em = self.emissions(words)
            score = self.start_transitions + em[:, 0]
            history = []
            for t in range(1, seq_len):
                best, indices = (score.unsqueeze(2) + self.transitions).max(dim=1)
                score = torch.where(mask[:, t].unsqueeze(1), best + em[:, t], score)
                history.append(indices)
            score = score + self.end_transitions
            best_scores, best_last = score.max(dim=1)
            paths = []
            for b, length in enumerate(mask.sum(1).tolist()):
                path = [best_last[b].item()]
                for indices in reversed(history[:length - 1]):
                    path.append(indices[b, path[-1]].item())
                paths.append(path[::-1])
            return best_scores, paths

    model = BiLSTMCRF().double()
    init(model)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    out = []
    for _ in range(steps):
        loss = model(words, tags, mask)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        model.eval()
        best_scores, paths = model.decode(words, mask)
        model.train()
        correct = sum(p == t for path, row in zip(paths, tags_np.tolist())
                      for p, t in zip(path, row))
        out += [loss.item(), correct / sum(lengths)] + best_scores.tolist()
    return out, model


def nerf_program(torch, steps, init, device="cpu"):
    """NeRF-style rendering of a soft coloured ball: positional encoding of 3-D points (sin and
    cos at octave frequencies), coarse and fine MLPs giving density (ReLU) and colour (sigmoid);
    stratified samples along each ray, alpha compositing with the transmittance as an exclusive
    cumprod, then hierarchical sampling: the coarse weights' piecewise-constant PDF is inverted
    by searchsorted(right=True) on its CDF, the new depths are sorted in with the coarse ones and
    the fine network renders them. Adam on both photometric losses; reports each loss, the PSNR,
    the mean expected depth and the mean fine sample depth."""
    nn = torch.nn
    rng = np.random.default_rng(111)
    n_rays, n_coarse, n_fine, n_freqs, near, far = 12, 8, 8, 3, 1.0, 4.0

    def make_rays():
        origins = np.tile([0.0, 0.0, -2.5], (n_rays, 1)) + 0.3 * rng.standard_normal((n_rays, 3))
        targets = 0.6 * rng.standard_normal((n_rays, 3))
        directions = targets - origins
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
        t_closest = -(origins * directions).sum(1)
        miss = np.linalg.norm(origins + t_closest[:, None] * directions, axis=1)
        colour = np.stack([np.exp(-miss ** 2 / 0.3), 0.5 * np.ones(n_rays),
                           1 - np.exp(-miss ** 2 / 0.5)], axis=1)
        return [torch.tensor(a).to(device) for a in (origins, directions, colour)]

    def encode(x):
        freqs = 2.0 ** torch.arange(n_freqs, dtype=x.dtype, device=x.device) * math.pi
        angles = (x.unsqueeze(-1) * freqs).flatten(-2)
        return torch.cat([x, torch.sin(angles), torch.cos(angles)], dim=-1)

    class Field(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(3 + 6 * n_freqs, 32), nn.ReLU(),
                                     nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 4))

        def forward(self, points):
            raw = self.net(encode(points))
            return torch.sigmoid(raw[..., :3]), torch.relu(raw[..., 3])

    def render(field, origins, directions, depths):
        points = origins[:, None, :] + directions[:, None, :] * depths[..., :, None]
        rgb, sigma = field(points)
        deltas = depths[..., 1:] - depths[..., :-1]
        deltas = torch.cat([deltas, torch.full_like(deltas[..., :1], 1e10)], dim=-1)
        alpha = 1.0 - torch.exp(-sigma * deltas)
        transmittance = torch.cumprod(
            torch.cat([torch.ones_like(alpha[..., :1]), 1.0 - alpha + 1e-10], dim=-1),
            dim=-1)[..., :-1]
        weights = alpha * transmittance
        return (weights[..., None] * rgb).sum(dim=-2), weights

    def sample_pdf(bins, weights, n_samples):
        weights = weights + 1e-5
        pdf = weights / weights.sum(-1, keepdim=True)
        cdf = torch.cumsum(pdf, -1)
        cdf = torch.cat([torch.zeros_like(cdf[..., :1]), cdf], -1)
        u = torch.tensor(rng.random((n_rays, n_samples)), dtype=cdf.dtype).to(cdf.device)
        inds = torch.searchsorted(cdf, u.contiguous(), right=True)
        below = torch.clamp(inds - 1, min=0)
        above = torch.clamp(inds, max=cdf.shape[-1] - 1)
        inds_g = torch.stack([below, above], -1)
        shape = [inds_g.shape[0], inds_g.shape[1], cdf.shape[-1]]
        cdf_g = torch.gather(cdf.unsqueeze(1).expand(shape), 2, inds_g)
        bins_g = torch.gather(bins.unsqueeze(1).expand(shape), 2, inds_g)
        denom = cdf_g[..., 1] - cdf_g[..., 0]
        denom = torch.where(denom < 1e-5, torch.ones_like(denom), denom)
        t = (u - cdf_g[..., 0]) / denom
        return bins_g[..., 0] + t * (bins_g[..., 1] - bins_g[..., 0])

    class NeRF(nn.Module):
        def __init__(self):
            super().__init__()
            self.coarse = Field()
            self.fine = Field()

    model = NeRF().double()
    init(model)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    out = []
    for _ in range(steps):
        origins, directions, colour = make_rays()
        edges = torch.linspace(near, far, n_coarse + 1, dtype=torch.float64, device=device)
        jitter = torch.tensor(rng.random((n_rays, n_coarse))).to(device)
        depths = edges[:-1] + (edges[1:] - edges[:-1]) * jitter
        rgb_coarse, weights = render(model.coarse, origins, directions, depths)
        mids = 0.5 * (depths[..., 1:] + depths[..., :-1])
        fine_depths = sample_pdf(mids, weights[..., 1:-1].detach(), n_fine).detach()
        all_depths, _ = torch.sort(torch.cat([depths, fine_depths], -1), -1)
        rgb_fine, fine_weights = render(model.fine, origins, directions, all_depths)
        mse = nn.functional.mse_loss(rgb_fine, colour)
        loss = nn.functional.mse_loss(rgb_coarse, colour) + mse
        opt.zero_grad()
        loss.backward()
        opt.step()
        psnr = -10.0 * torch.log10(mse.detach())
        depth = (fine_weights * all_depths).sum(-1)
        out += [loss.item(), psnr.item(), depth.mean().item(), fine_depths.mean().item()]
    return out, model


def capsule_program(torch, steps, init, device="cpu"):
    """A capsule network on 8x8 images of three stroke classes: a convolution, primary capsules
    (a strided convolution reshaped to capsule vectors and squashed), class capsules by routing
    by agreement (prediction vectors by einsum with a weight per capsule pair, three iterations
    of softmax over classes, weighted sums, squash and agreement updates), the margin loss on
    capsule lengths plus a reconstruction decoder fed the true class capsule (masked by
    one_hot). Adam; reports each loss, its margin part and the accuracy by longest capsule."""
    nn = torch.nn
    F = torch.nn.functional
    rng = np.random.default_rng(112)
    n, n_classes, caps_dim, out_dim, iterations = 12, 3, 4, 6, 3
    labels_np = np.arange(n) % n_classes
    images = np.zeros((n, 1, 8, 8))
    for i, c in enumerate(labels_np):
        k = rng.integers(1, 7)
        if c == 0:
            images[i, 0, k, 1:7] = 1.0
        elif c == 1:
            images[i, 0, 1:7, k] = 1.0
        else:
            images[i, 0, np.arange(1, 7), np.arange(1, 7)] = 1.0
    images += 0.1 * rng.standard_normal(images.shape)
    x = torch.tensor(images).to(device)
    labels = torch.tensor(labels_np).to(device)

    def squash(s, dim=-1):
        squared = (s ** 2).sum(dim=dim, keepdim=True)
        return squared / (1 + squared) * s / torch.sqrt(squared + 1e-8)

    class CapsNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 16, 3)
            self.primary = nn.Conv2d(16, 4 * caps_dim, 3, stride=2)
            n_primary = 4 * 2 * 2
            self.W = nn.Parameter(0.1 * torch.randn(n_primary, n_classes, out_dim, caps_dim))
            self.decoder = nn.Sequential(nn.Linear(n_classes * out_dim, 32), nn.ReLU(),
                                         nn.Linear(32, 64), nn.Sigmoid())

        def forward(self, x, labels):
            h = F.relu(self.conv(x))
            u = self.primary(h)  # (n, 4 * caps_dim, 2, 2)
            u = u.view(x.size(0), 4, caps_dim, 2, 2).permute(0, 1, 3, 4, 2)
            u = squash(u.reshape(x.size(0), -1, caps_dim))
            u_hat = torch.einsum("ijdk,bik->bijd", self.W, u)
            logits = torch.zeros(u_hat.shape[:3], dtype=u_hat.dtype, device=u_hat.device)
            for r in range(iterations):
                c = F.softmax(logits, dim=2)
                v = squash((c.unsqueeze(-1) * u_hat).sum(dim=1))
                if r < iterations - 1:
                    logits = logits + (u_hat * v.unsqueeze(1)).sum(-1)
            lengths = v.norm(dim=-1)
            masked = v * F.one_hot(labels, n_classes).unsqueeze(-1).to(v.dtype)
            return lengths, self.decoder(masked.flatten(1))

    model = CapsNet().double()
    init(model)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    target = F.one_hot(labels, n_classes).double()
    out = []
    for _ in range(steps):
        lengths, recon = model(x, labels)
        margin = (target * F.relu(0.9 - lengths) ** 2
                  + 0.5 * (1 - target) * F.relu(lengths - 0.1) ** 2).sum(1).mean()
        recon_loss = F.mse_loss(recon, x.flatten(1), reduction="sum") / n
        loss = margin + 0.0005 * 784 / 64 * recon_loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        accuracy = (lengths.argmax(1) == labels).float().mean()
        out += [loss.item(), margin.item(), accuracy.item()]
    return out, model


def conformer_program(torch, steps, init, device="cpu"):
    """One Conformer block on a sequence-labelling task: Macaron half-step feed-forward modules
    (LayerNorm, Linear, SiLU, Dropout(0), Linear), multi-head self-attention with a learned
    relative positional bias (an Embedding over clipped offsets, added to the scores) and a key
    padding mask, the convolution module (pointwise Conv1d to 2d, GLU over channels, depthwise
    Conv1d with groups=d, BatchNorm1d, SiLU, pointwise Conv1d) and a final LayerNorm; per-frame
    cross-entropy with ignore_index on the padding, AdamW and a cosine schedule. Reports each
    loss and learning rate, then the eval-mode accuracy (BatchNorm's running statistics)."""
    nn = torch.nn
    F = torch.nn.functional
    rng = np.random.default_rng(113)
    batch, seq_len, d, heads, n_classes, max_rel = 4, 9, 8, 2, 3, 4
    feats = rng.standard_normal((batch, seq_len, d))
    labels_np = (np.cumsum(feats[..., 0] > 0, axis=1) % n_classes)
    lengths = np.array([9, 7, 8, 5])
    pad_np = np.arange(seq_len)[None, :] >= lengths[:, None]
    labels_np[pad_np] = -100
    x = torch.tensor(feats).to(device)
    labels = torch.tensor(labels_np).to(device)
    pad = torch.tensor(pad_np).to(device)

    class FeedForward(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, 4 * d), nn.SiLU(),
                                     nn.Dropout(0.0), nn.Linear(4 * d, d), nn.Dropout(0.0))

        def forward(self, x):
            return self.net(x)

    class RelativeSelfAttention(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm = nn.LayerNorm(d)
            self.qkv = nn.Linear(d, 3 * d)
            self.out = nn.Linear(d, d)
            self.rel_bias = nn.Embedding(2 * max_rel + 1, heads)

        def forward(self, x, pad):
            b, t, _ = x.shape
            q, k, v = self.qkv(self.norm(x)).chunk(3, dim=-1)
            q, k, v = (z.view(b, t, heads, d // heads).transpose(1, 2) for z in (q, k, v))
            scores = q @ k.transpose(-2, -1) / math.sqrt(d // heads)
            positions = torch.arange(t, device=x.device)
            offsets = (positions[None, :] - positions[:, None]).clamp(-max_rel, max_rel)
            scores = scores + self.rel_bias(offsets + max_rel).permute(2, 0, 1).unsqueeze(0)
            scores = scores.masked_fill(pad[:, None, None, :], float("-inf"))
            attn = F.dropout(scores.softmax(dim=-1), p=0.0, training=self.training)
            h = (attn @ v).transpose(1, 2).reshape(b, t, d)
            return self.out(h)

    class ConvModule(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm = nn.LayerNorm(d)
            self.pointwise1 = nn.Conv1d(d, 2 * d, 1)
            self.glu = nn.GLU(dim=1)
            self.depthwise = nn.Conv1d(d, d, 3, padding=1, groups=d, bias=False)
            self.bn = nn.BatchNorm1d(d)
            self.pointwise2 = nn.Conv1d(d, d, 1)

        def forward(self, x, pad):
            h = self.norm(x).masked_fill(pad.unsqueeze(-1), 0.0).transpose(1, 2)
            h = self.glu(self.pointwise1(h))
            h = F.silu(self.bn(self.depthwise(h)))
            return self.pointwise2(h).transpose(1, 2)

    class Conformer(nn.Module):
        def __init__(self):
            super().__init__()
            self.ff1, self.ff2 = FeedForward(), FeedForward()
            self.attn = RelativeSelfAttention()
            self.conv = ConvModule()
            self.norm = nn.LayerNorm(d)
            self.classifier = nn.Linear(d, n_classes)

        def forward(self, x, pad):
            x = x + 0.5 * self.ff1(x)
            x = x + self.attn(x, pad)
            x = x + self.conv(x, pad)
            x = x + 0.5 * self.ff2(x)
            return self.classifier(self.norm(x))

    model = Conformer().double()
    init(model)
    model.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.05)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=1e-3)
    out = []
    for _ in range(steps):
        logits = model(x, pad)
        loss = F.cross_entropy(logits.reshape(-1, n_classes), labels.reshape(-1),
                               ignore_index=-100)
        opt.zero_grad()
        loss.backward()
        opt.step()
        out += [loss.item(), schedule.get_last_lr()[0]]
        schedule.step()
    model.eval()
    with torch.no_grad():
        predicted = model(x, pad).argmax(-1)
        out.append(((predicted == labels) & ~pad).sum().item() / int(lengths.sum()))
    return out, model


def barlow_program(torch, steps, init, device="cpu"):
    """Barlow Twins on two augmented views of 2-D clusters (random scaling, jitter and feature
    dropout from a NumPy generator): a shared encoder and projector, the cross-correlation of
    the views' embeddings normalised by BatchNorm1d(affine=False), the on-diagonal (1 - c_ii)^2
    plus lambda times the off-diagonal sum (the flatten()[:-1].view(n-1, n+1)[:, 1:] trick),
    with VICReg's variance hinge on the std of each dimension and covariance penalty as
    monitored regularisers; SGD with Nesterov momentum. Reports each loss and its terms, then
    a linear probe's accuracy on frozen features fit by least squares."""
    nn = torch.nn
    F = torch.nn.functional
    rng = np.random.default_rng(114)
    n, d_in, d_emb, lambd = 24, 6, 8, 5e-3
    labels = np.arange(n) % 3
    centres = rng.standard_normal((3, d_in)) * 2
    data = centres[labels] + 0.3 * rng.standard_normal((n, d_in))

    def augment(x):
        scale = rng.uniform(0.8, 1.2, size=(n, 1))
        keep = rng.random((n, d_in)) > 0.1
        return torch.tensor(x * scale * keep + 0.1 * rng.standard_normal(x.shape)).to(device)

    def off_diagonal(m):
        k = m.shape[0]
        return m.flatten()[:-1].view(k - 1, k + 1)[:, 1:].flatten()

    class BarlowTwins(nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = nn.Sequential(nn.Linear(d_in, 16), nn.BatchNorm1d(16), nn.ReLU(),
                                          nn.Linear(16, 16), nn.ReLU())
            self.projector = nn.Sequential(nn.Linear(16, 16), nn.BatchNorm1d(16), nn.ReLU(),
                                           nn.Linear(16, d_emb, bias=False))
            self.bn = nn.BatchNorm1d(d_emb, affine=False)

        def forward(self, y1, y2):
            z1 = self.projector(self.backbone(y1))
            z2 = self.projector(self.backbone(y2))
            c = self.bn(z1).T @ self.bn(z2) / n
            on_diag = torch.diagonal(c).add_(-1).pow_(2).sum()
            off_diag = off_diagonal(c).pow_(2).sum()
            return on_diag + lambd * off_diag, z1, z2

    def vicreg_terms(z1, z2):
        std = torch.sqrt(z1.var(dim=0) + 1e-4)
        variance = F.relu(1 - std).mean()
        z = z1 - z1.mean(dim=0)
        cov = (z.T @ z) / (n - 1)
        covariance = off_diagonal(cov).pow(2).sum() / d_emb
        invariance = F.mse_loss(z1, z2)
        return variance, covariance, invariance

    model = BarlowTwins().double()
    init(model)
    model.to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True,
                          weight_decay=1e-4)
    out = []
    for _ in range(steps):
        loss, z1, z2 = model(augment(data), augment(data))
        variance, covariance, invariance = vicreg_terms(z1, z2)
        total = loss + 0.1 * (variance + 0.04 * covariance)
        opt.zero_grad()
        total.backward()
        opt.step()
        out += [total.item(), loss.item(), variance.item(), covariance.item(), invariance.item()]
    model.eval()
    with torch.no_grad():
        feats = model.backbone(torch.tensor(data).to(device))
        feats = torch.cat([feats, torch.ones_like(feats[:, :1])], 1)
        onehot = F.one_hot(torch.tensor(labels).to(device), 3).double()
        probe = torch.linalg.lstsq(feats, onehot, driver="gelsd").solution
        out.append((feats @ probe).argmax(1).eq(onehot.argmax(1)).double().mean().item())
    return out, model


def dino_program(torch, steps, init, device="cpu"):
    """DINO self-distillation on 10x10 images: multi-crop (two global crops resized to 8x8 by
    bilinear F.interpolate, four local crops resized to 4x4 by bicubic, offsets from NumPy), a
    student that runs every crop and a teacher (copy.deepcopy of it, requires_grad off) that
    runs the global ones; the cross-entropy between the teacher's centred, sharpened softmax
    and the student's log_softmax over all pairs of different views; the centre is an EMA
    buffer of the teacher's batch mean and the teacher an EMA of the student, both under
    torch.no_grad() with in-place mul_/add_. AdamW with gradient clipping; reports each loss,
    the teacher's entropy and the centre's norm."""
    nn = torch.nn
    F = torch.nn.functional
    rng = np.random.default_rng(115)
    n, out_dim, t_student, t_teacher, momentum, center_momentum = 6, 12, 0.1, 0.04, 0.9, 0.9
    images = torch.tensor(rng.standard_normal((n, 1, 10, 10))).to(device)

    def crops():
        views = []
        for size, out_size, mode, count in ((7, 8, "bilinear", 2), (4, 4, "bicubic", 4)):
            for _ in range(count):
                i, j = rng.integers(0, 10 - size + 1, size=2)
                crop = images[:, :, i:i + size, j:j + size]
                kw = {} if mode == "nearest" else {"align_corners": False}
                views.append(F.interpolate(crop, size=(out_size, out_size), mode=mode, **kw))
        return views

    class Network(nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.GELU(),
                                          nn.AdaptiveAvgPool2d(1), nn.Flatten())
            self.head = nn.Sequential(nn.Linear(8, 16), nn.GELU(), nn.Linear(16, 8))
            self.last = nn.Linear(8, out_dim, bias=False)

        def forward(self, views):
            feats = torch.cat([self.backbone(v) for v in views])
            return self.last(F.normalize(self.head(feats), dim=-1))

    class DINO(nn.Module):
        def __init__(self):
            super().__init__()
            self.student = Network()
            self.teacher = copy.deepcopy(self.student)
            for p in self.teacher.parameters():
                p.requires_grad = False
            self.register_buffer("center", torch.zeros(1, out_dim))

    model = DINO().double()
    init(model)
    model.to(device)
    opt = torch.optim.AdamW(model.student.parameters(), lr=5e-3, weight_decay=0.04)
    out = []
    for _ in range(steps):
        views = crops()
        student_out = (model.student(views) / t_student).chunk(len(views))
        teacher_logits = model.teacher(views[:2])
        teacher_out = F.softmax((teacher_logits - model.center) / t_teacher, dim=-1).detach()
        loss, pairs = 0.0, 0
        for iq, q in enumerate(teacher_out.chunk(2)):
            for v, s in enumerate(student_out):
                if v == iq:
                    continue
                loss = loss + torch.sum(-q * F.log_softmax(s, dim=-1), dim=-1).mean()
                pairs += 1
        loss = loss / pairs
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.student.parameters(), 3.0)
        opt.step()
        with torch.no_grad():
            for ps, pt in zip(model.student.parameters(), model.teacher.parameters()):
                pt.mul_(momentum).add_(ps.detach(), alpha=1 - momentum)
            batch_center = torch.sum(teacher_logits, dim=0, keepdim=True) / len(teacher_logits)
            model.center.mul_(center_momentum).add_(batch_center * (1 - center_momentum))
            entropy = -(teacher_out * torch.log(teacher_out + 1e-12)).sum(-1).mean()
        out += [loss.item(), entropy.item(), model.center.norm().item()]
    return out, model


def graph_program(torch, steps, init, device="cpu"):
    """Message passing on a batch of five small graphs (edges drawn from NumPy, some nodes with
    no incoming edge): messages from source, target and edge features, aggregated by
    Tensor.scatter_reduce with reduce='mean' and 'amax' (include_self=False, so a node without
    messages keeps its zero) and a degree-normalised index_add_, a GRU-style gated update;
    per-graph readout by a segment mean (index_add_ / bincount) and a segment max
    (scatter_reduce 'amax' over the batch vector). Graph regression by Adam with an MSE loss;
    reports each loss and the fraction of isolated-target nodes."""
    nn = torch.nn
    F = torch.nn.functional
    rng = np.random.default_rng(116)
    sizes = [5, 4, 6, 3, 5]
    d_in, d_edge, d = 3, 2, 8
    batch_np = np.repeat(np.arange(len(sizes)), sizes)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    src, dst = [], []
    for size, off in zip(sizes, offsets):
        for _ in range(size + 1):
            a, b = rng.integers(0, size, size=2)
            if a != b:
                src.append(off + a)
                dst.append(off + b)
    n_nodes = int(sum(sizes))
    x = torch.tensor(rng.standard_normal((n_nodes, d_in))).to(device)
    edge_attr = torch.tensor(rng.standard_normal((len(src), d_edge))).to(device)
    edge_index = torch.tensor(np.array([src, dst])).to(device)
    batch = torch.tensor(batch_np).to(device)
    y = torch.tensor(np.array([np.sin(x_g.sum()) for x_g in np.split(
        np.asarray(x.tolist()), offsets[1:])])).to(device).unsqueeze(1)

    class MessagePassing(nn.Module):
        def __init__(self, d_node):
            super().__init__()
            self.message = nn.Sequential(nn.Linear(2 * d_node + d_edge, d), nn.Tanh())
            self.update = nn.GRUCell(3 * d, d)
            self.project = nn.Linear(d_node, d) if d_node != d else nn.Identity()

        def forward(self, h, edge_index, edge_attr):
            src, dst = edge_index
            m = self.message(torch.cat([h[src], h[dst], edge_attr], dim=-1))
            index = dst.unsqueeze(-1).expand(-1, d)
            zeros = torch.zeros(h.size(0), d, dtype=m.dtype, device=m.device)
            mean = zeros.scatter_reduce(0, index, m, reduce="mean", include_self=False)
            amax = zeros.scatter_reduce(0, index, m, reduce="amax", include_self=False)
            degree = torch.zeros(h.size(0), dtype=m.dtype, device=m.device).index_add_(
                0, dst, torch.ones_like(dst, dtype=m.dtype))
            summed = torch.zeros_like(zeros).index_add_(0, dst, m)
            normed = summed / degree.clamp(min=1).sqrt().unsqueeze(-1)
            return self.update(torch.cat([mean, amax, normed], dim=-1), self.project(h))

    class GNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList([MessagePassing(d_in), MessagePassing(d)])
            self.readout = nn.Sequential(nn.Linear(2 * d, d), nn.ReLU(), nn.Linear(d, 1))

        def forward(self, x, edge_index, edge_attr, batch):
            h = x
            for layer in self.layers:
                h = layer(h, edge_index, edge_attr)
            n_graphs = int(batch.max()) + 1
            counts = torch.bincount(batch, minlength=n_graphs).to(h.dtype)
            mean = torch.zeros(n_graphs, d, dtype=h.dtype, device=h.device).index_add_(
                0, batch, h) / counts.unsqueeze(-1)
            amax = torch.full((n_graphs, d), float("-inf"), dtype=h.dtype,
                              device=h.device).scatter_reduce(
                0, batch.unsqueeze(-1).expand_as(h), h, reduce="amax", include_self=True)
            return self.readout(torch.cat([mean, amax], dim=-1))

    model = GNN().double()
    init(model)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    out = []
    for _ in range(steps):
        loss = F.mse_loss(model(x, edge_index, edge_attr, batch), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        out.append(loss.item())
    isolated = torch.ones(n_nodes, device=device).index_fill_(0, edge_index[1], 0).mean()
    out.append(isolated.item())
    return out, model


def beam_program(torch, steps, init, device="cpu"):
    """A GRU encoder-decoder trained to reverse digit strings by teacher forcing, then beam
    search under torch.no_grad(): each step scores beam x vocabulary continuations, takes topk
    over the flattened (beam * vocab) scores, recovers the beam by floor division and the token
    by remainder, reorders the hidden state with index_select, freezes finished beams
    (masked_fill with -inf off the end token, 0 on it) and ranks the final hypotheses with
    GNMT's length penalty ((5 + len) / 6) ** alpha. Reports each training loss and, after
    training, every beam's tokens and penalised score."""
    nn = torch.nn
    F = torch.nn.functional
    rng = np.random.default_rng(117)
    vocab, bos, eos, d, n, length, beam, max_len, alpha = 7, 5, 6, 16, 16, 4, 3, 6, 0.6
    sources = rng.integers(0, 5, (n, length))
    targets = np.concatenate([np.full((n, 1), bos), sources[:, ::-1], np.full((n, 1), eos)], 1)
    src = torch.tensor(sources).to(device)
    tgt = torch.tensor(targets.copy()).to(device)

    class Seq2Seq(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(vocab, d)
            self.encoder = nn.GRU(d, d, batch_first=True)
            self.decoder = nn.GRU(d, d, batch_first=True)
            self.out = nn.Linear(d, vocab)

        def forward(self, src, tgt_in):
            _, h = self.encoder(self.embed(src))
            dec, _ = self.decoder(self.embed(tgt_in), h)
            return self.out(dec)

        @torch.no_grad()
        def beam_search(self, src):
            _, h = self.encoder(self.embed(src))  # (1, 1, d)
            h = h.repeat(1, beam, 1)
            tokens = torch.full((beam, 1), bos, dtype=torch.long, device=src.device)
            scores = torch.zeros(beam, dtype=torch.float64, device=src.device)
            scores[1:] = float("-inf")  # all beams start as the same hypothesis
            finished = torch.zeros(beam, dtype=torch.bool, device=src.device)
            lengths = torch.zeros(beam, dtype=torch.float64, device=src.device)
            for _ in range(max_len):
                dec, h = self.decoder(self.embed(tokens[:, -1:]), h)
                log_probs = F.log_softmax(self.out(dec[:, -1]), dim=-1)
                frozen = torch.zeros_like(log_probs).masked_fill(
                    torch.arange(vocab, device=src.device) != eos, float("-inf"))
                log_probs = torch.where(finished.unsqueeze(1), frozen, log_probs)
                candidates = (scores.unsqueeze(1) + log_probs).view(-1)
                scores, flat = candidates.topk(beam)
                origin = torch.div(flat, vocab, rounding_mode="floor")
                token = flat % vocab
                tokens = torch.cat([tokens.index_select(0, origin), token.unsqueeze(1)], 1)
                h = h.index_select(1, origin)
                lengths = lengths.gather(0, origin) + (~finished.gather(0, origin)).double()
                finished = finished.gather(0, origin) | (token == eos)
                if bool(finished.all()):
                    break
            penalty = ((5.0 + lengths) / 6.0) ** alpha
            ranked = scores / penalty
            order = ranked.argsort(descending=True)
            return tokens[order], ranked[order]

    model = Seq2Seq().double()
    init(model)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=2e-2)
    out = []
    for _ in range(steps):
        logits = model(src, tgt[:, :-1])
        loss = F.cross_entropy(logits.transpose(1, 2), tgt[:, 1:], label_smoothing=0.05)
        opt.zero_grad()
        loss.backward()
        opt.step()
        out.append(loss.item())
    model.eval()
    for i in range(2):
        hyps, ranked = model.beam_search(src[i:i + 1])
        out += hyps.flatten().tolist() + ranked.tolist()
    return out, model


PROGRAMS = {"crf": (crf_program, 4), "nerf": (nerf_program, 4),
            "capsule": (capsule_program, 4), "conformer": (conformer_program, 4),
            "barlow": (barlow_program, 4), "dino": (dino_program, 4),
            "graph": (graph_program, 5), "beam": (beam_program, 12)}


# ---------------------------------------------------------------------------------------------
# the tests


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_program_matches_torch(name, device):
    """The program's losses (and every other number it reports) and its final parameters and
    buffers equal PyTorch's, with model and data moved by ``.to(device)``."""
    check_program(PROGRAMS, name, device)


def _torch_run(name):
    return torch_run(PROGRAMS, name)


def test_programs_are_not_vacuous():
    """What the comparisons rely on happens: the CRF's Viterbi paths change and its loss falls;
    NeRF's fine samples and PSNR move; the capsules' margin loss falls; the Conformer's
    schedule decays; Barlow Twins' off-diagonal term is present (loss above its on-diagonal
    part); DINO's centre moves; the graph has nodes without incoming edges (the include_self
    path); beam search keeps distinct hypotheses with finite scores."""
    crf, _ = _torch_run("crf")
    assert crf[0] > crf[-7] and len(set(crf[1::7])) > 1
    nerf, _ = _torch_run("nerf")
    assert len(set(nerf[3::4])) == 4 and len(set(nerf[1::4])) == 4
    caps, _ = _torch_run("capsule")
    assert caps[1] > caps[-2]
    conformer, _ = _torch_run("conformer")
    assert conformer[1] > conformer[3] > conformer[7] > 1e-3
    barlow, _ = _torch_run("barlow")
    assert all(v > 0 for v in barlow[:20]) and barlow[0] > barlow[1]
    dino, _ = _torch_run("dino")
    assert 0 < dino[2] < dino[5] and dino[1] > 0
    graph, _ = _torch_run("graph")
    assert graph[-1] > 0 and graph[0] > graph[-2]
    beam, _ = _torch_run("beam")
    hyps = np.array(beam[12:12 + 3 * 7]).reshape(3, 7)
    assert len({tuple(h) for h in hyps}) == 3 and all(math.isfinite(v) for v in beam[33:36])


# ---------------------------------------------------------------------------------------------
# the gap the programs found, fixed and tested on its own: an in-place write into a view of a
# tensor on the tape (Barlow Twins' torch.diagonal(c).add_(-1).pow_(2)) rewrites the base's
# history as PyTorch's CopySlices does; torch.diagonal is a view, as PyTorch's


def _view_writes(lib, a):
    """Writes into views of ``c = 2a + 1`` (a diagonal, a slice of a reshape, a row by
    setitem, a transposed slice), each view read before the next write, then a loss that
    reads ``c`` afterwards."""
    c = a * 2 + 1
    d = lib.diagonal(c, 0, 1, 2).add_(-1).pow_(2).sum()
    off = c[0, :, :3].flatten()[:-1].view(2, 4)[:, 1:].flatten().pow_(2).sum()  # torch: a copy
    row = c[1]
    row[1] = 5.0
    row = row.sum() * a[1, 0, 0]
    c.transpose(1, 2)[:, 1:3].mul_(a[0, 0, 0])
    return d + off + (c * c).sum() + row


def test_inplace_write_into_view_rewrites_base_history(device):
    """Values and gradients equal PyTorch's when in-place ops and setitem write into views of
    an intermediate tensor that is read again afterwards; a second backward through the
    rewritten history (create_graph) equals PyTorch's too."""
    from devices import host, tensor_on

    import tensorgrad as tg

    x = np.random.default_rng(0).standard_normal((2, 3, 4))
    results = []
    for lib, a in ((torch, torch.tensor(x, requires_grad=True)),
                   (tg, tensor_on(x, device, requires_grad=True))):
        loss = _view_writes(lib, a)
        g, = lib.autograd.grad(loss, a, create_graph=True)
        gg, = lib.autograd.grad((g * g).sum(), a)
        results.append([loss, g, gg])
    for ours, theirs in zip(results[1], results[0]):
        np.testing.assert_allclose(host(ours.detach()), theirs.detach().numpy(), rtol=1e-12,
                                   atol=1e-12)


def test_inplace_write_into_view_derivatives_by_finite_differences():
    """The tape's gradient through the rewritten history equals central finite differences
    of the loss (the second derivative is compared with PyTorch's above; inside the
    functional transforms and under forward mode an in-place write rebinds the view alone, a
    gap left open, so check_grads does not apply)."""
    import tensorgrad as tg

    x = np.random.default_rng(1).standard_normal((2, 3, 4)) * 0.5
    a = tg.tensor(x, requires_grad=True)
    _view_writes(tg, a).backward()
    numeric = np.zeros_like(x)
    eps = 1e-6
    for i in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[i] = eps
        with tg.no_grad():
            up, down = (_view_writes(tg, tg.tensor(x + s)).item() for s in (step, -step))
        numeric[i] = (up - down) / (2 * eps)
    np.testing.assert_allclose(a.grad.numpy(), numeric, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("offset, dim1, dim2", [(0, 0, 1), (2, 1, 2), (-1, 2, 0), (7, 0, 1)])
def test_diagonal_is_a_view(offset, dim1, dim2, device):
    """torch.diagonal shares memory with its input (a write shows in the base, as in
    PyTorch), for any offset and pair of dimensions; an empty diagonal too."""
    from devices import host, tensor_on

    import tensorgrad as tg

    x = np.arange(24.0).reshape(2, 3, 4)
    ours, theirs = tensor_on(x, device), torch.tensor(x)
    for lib, t in ((tg, ours), (torch, theirs)):
        lib.diagonal(t, offset, dim1, dim2).mul_(-1)
    np.testing.assert_array_equal(host(ours), theirs.numpy())
    assert (offset == 7) == bool((theirs == torch.tensor(x)).all())


def test_inplace_write_into_view_of_leaf_is_an_error():
    """As in PyTorch, a view of a leaf that requires grad cannot be written in place while
    recording; under no_grad it can."""
    import tensorgrad as tg

    w = tg.ones(3, 3, requires_grad=True)
    with pytest.raises(RuntimeError, match="view of a leaf"):
        tg.diagonal(w).mul_(2)
    with tg.no_grad():
        tg.diagonal(w).mul_(2)
    assert w.sum().item() == 12.0
