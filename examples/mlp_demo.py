"""Train a small MLP with tensorgrad to tell apart three interleaved 2-D spirals.

Everything is made here: the data set (numpy) and the model (three weight matrices); the loss
is ``tg.nn.functional.cross_entropy`` and the optimiser ``tg.optim.SGD`` with momentum. Run it
with ``make demo``; it takes a few seconds. ``--device cuda`` trains on a GPU (with CuPy);
``--steps N`` changes the length of the run.
"""

import argparse
import time

import numpy as np

import tensorgrad as tg
import tensorgrad.nn.functional as F

CLASSES = 3
POINTS = 200  # per class
HIDDEN = 64
STEPS = 400
LR = 0.1
MOMENTUM = 0.9


def spirals(rng):
    """Three spiral arms in the plane, with a little noise: not separable by a straight line."""
    xs, ys = [], []
    for k in range(CLASSES):
        r = np.linspace(0.05, 1.0, POINTS)
        angle = np.linspace(4.0 * k, 4.0 * (k + 1), POINTS) + rng.normal(0.0, 0.2, POINTS)
        xs.append(np.stack([r * np.sin(angle), r * np.cos(angle)], axis=1))
        ys.append(np.full(POINTS, k))
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys)


def layer(n_in, n_out, device):
    """A weight matrix (He initialisation) and a zero bias, both trainable."""
    w = (tg.randn(n_in, n_out, device=device) * (2.0 / n_in) ** 0.5).requires_grad_()
    b = tg.zeros(n_out, device=device, requires_grad=True)
    return w, b


def forward(params, x):
    w1, b1, w2, b2, w3, b3 = params
    h = (x @ w1 + b1).relu()
    h = (h @ w2 + b2).relu()
    return h @ w3 + b3  # logits, one column per class


def main(device="cpu", steps=STEPS):
    rng = np.random.default_rng(0)
    tg.manual_seed(0)
    x_np, labels = spirals(rng)
    x, targets = tg.tensor(x_np, device=device), tg.tensor(labels, device=device)
    x_test, labels_test = spirals(rng)  # a fresh draw of the noise, never trained on
    params = [*layer(2, HIDDEN, device), *layer(HIDDEN, HIDDEN, device),
              *layer(HIDDEN, CLASSES, device)]
    opt = tg.optim.SGD(params, lr=LR, momentum=MOMENTUM)

    start = time.perf_counter()
    for step in range(steps + 1):
        opt.zero_grad()
        loss = F.cross_entropy(forward(params, x), targets)
        loss.backward()
        opt.step()
        if step % 50 == 0:
            print(f"step {step:4d}   loss {loss.item():.4f}")
    seconds = time.perf_counter() - start

    with tg.no_grad():
        train_acc = (forward(params, x).argmax(axis=1).numpy() == labels).mean()
        test_out = forward(params, tg.tensor(x_test, device=device))
        test_acc = (test_out.argmax(axis=1).numpy() == labels_test).mean()
    print(f"{steps} steps on {len(labels)} points in {seconds:.1f} s: "
          f"train accuracy {train_acc:.1%}, test accuracy {test_acc:.1%}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda[:N]")
    parser.add_argument("--steps", type=int, default=STEPS)
    args = parser.parse_args()
    main(args.device, args.steps)
