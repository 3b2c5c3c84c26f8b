"""tanh and its first six derivatives, by nesting elementwise_grad; saves tanh_derivatives.png.

Run: python examples/tanh_derivatives.py [output.png]
"""

import sys

import tensorgrad.numpy as np
from tensorgrad import elementwise_grad as egrad


def derivatives(f, n):
    """[f, f', f'', ...]: each one the elementwise_grad of the one before."""
    out = [f]
    for _ in range(n):
        out.append(egrad(out[-1]))
    return out


def main(path="tanh_derivatives.png"):
    import matplotlib

    matplotlib.use("Agg")  # no screen needed
    import matplotlib.pyplot as plt

    x = np.linspace(-7, 7, 200)
    fig, ax = plt.subplots(figsize=(6, 4))
    for k, f in enumerate(derivatives(np.tanh, 6)):
        ax.plot(x, f(x), label="tanh" if k == 0 else f"order {k}")
    ax.set_title("tanh and its derivatives, by nested elementwise_grad")
    ax.legend(fontsize=7)
    ax.axis("off")
    fig.savefig(path, dpi=100)
    print(f"saved {path}")
    return path


if __name__ == "__main__":
    main(*sys.argv[1:])
