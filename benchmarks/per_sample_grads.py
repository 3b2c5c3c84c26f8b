"""Per-sample gradients of a 32-64-10 MLP at batch 64 (float64, one thread):
``tg.func.vmap(grad(loss))`` against a loop of backward passes and ``torch.func``.

    python benchmarks/per_sample_grads.py [mse|ce]

Prints the median of 30 timings of each; not part of ``run.py``'s workloads.
"""

import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import tensorgrad as tg  # noqa: E402
import tensorgrad.func as F  # noqa: E402


def median_ms(f, n=30):
    f()
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return 1e3 * float(np.median(ts))


def main(kind="mse"):
    rng = np.random.default_rng(0)
    model = tg.nn.Sequential(tg.nn.Linear(32, 64), tg.nn.Tanh(), tg.nn.Linear(64, 10)).double()
    params = {k: v.detach() for k, v in model.named_parameters()}
    xa, labels = rng.standard_normal((64, 32)), rng.integers(0, 10, 64)
    ya = labels if kind == "ce" else np.eye(10)[labels]
    x, y = tg.tensor(xa), tg.tensor(ya)

    def loss(p, xi, yi):
        out = F.functional_call(model, p, (xi[None],))
        if kind == "ce":
            return tg.nn.functional.cross_entropy(out, yi[None])
        return ((out - yi[None]) ** 2).sum()

    per_sample = F.vmap(F.grad(loss), in_dims=(None, 0, 0))

    def loop():
        for i in range(64):
            model.zero_grad()
            out = model(x[i:i + 1])
            if kind == "ce":
                tg.nn.functional.cross_entropy(out, y[i:i + 1]).backward()
            else:
                ((out - y[i:i + 1]) ** 2).sum().backward()

    line = (f"{kind}: tg.vmap {median_ms(lambda: per_sample(params, x, y)):.2f} ms | "
            f"loop of backward passes {median_ms(loop):.2f} ms")
    try:
        import torch
        import torch.func as tf
    except ImportError:
        print(line)
        return
    torch.set_num_threads(1)
    tm = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.Tanh(),
                             torch.nn.Linear(64, 10)).double()
    tp = {k: v.detach() for k, v in tm.named_parameters()}
    tx, ty = torch.tensor(xa), torch.tensor(ya)

    def tloss(p, xi, yi):
        out = tf.functional_call(tm, p, (xi[None],))
        if kind == "ce":
            return torch.nn.functional.cross_entropy(out, yi[None])
        return ((out - yi[None]) ** 2).sum()

    tper = tf.vmap(tf.grad(tloss), in_dims=(None, 0, 0))
    print(line + f" | torch.func {median_ms(lambda: tper(tp, tx, ty)):.2f} ms")


if __name__ == "__main__":
    main(*sys.argv[1:2])
