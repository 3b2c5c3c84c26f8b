"""RESULTS.md, results.png and scaling.png from the ``results`` dict that ``run.py`` measures
(and stores as results.json). Plain functions of that dict, so the tests can feed it
synthetic timings: ``write_all(results, out_dir)``."""

import math
import os

ORDER = ("numpy", "tensorgrad", "torch", "autograd", "jax.jit", "jax eager")
LABELS = {"numpy": "NumPy by hand (floor)", "tensorgrad": "tensorgrad", "torch": "PyTorch eager",
          "autograd": "HIPS autograd", "jax.jit": "JAX jit", "jax eager": "JAX eager"}
COLORS = {"numpy": "#7f7f7f", "tensorgrad": "#d62728", "torch": "#1f77b4",
          "autograd": "#2ca02c", "jax.jit": "#9467bd", "jax eager": "#c5b0d5"}
DASH = "—"


def fmt_time(seconds):
    """3 significant digits in ns, us, ms or s."""
    if seconds is None or not math.isfinite(seconds):
        return DASH
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9)):
        if seconds >= scale or unit == "ns":
            return f"{seconds / scale:.3g} {unit}"
    return DASH


def fmt_ratio(r):
    if r is None or not math.isfinite(r):
        return DASH
    return f"{r:.2f}x" if r < 100 else f"{r:.0f}x"


def fmt_bytes(n):
    if n is None:
        return DASH
    return f"{n / 2**20:.0f} MiB" if n >= 10 * 2**20 else f"{n / 2**20:.1f} MiB"


def impls_of(stats):
    return [name for name in ORDER if name in stats] + sorted(set(stats) - set(ORDER))


def _header(results):
    m = results["machine"]
    lines = [
        "# tensorgrad benchmark results",
        "",
        f"Written by `make bench` (`benchmarks/run.py`) on {results['date']}, in "
        f"{results.get('seconds', 0):.0f} s. Do not edit by hand: rerun `make bench`.",
    ]
    if results.get("quick"):
        lines += ["", "**Quick run (`--quick`): few rounds, for checking the machinery only; "
                  "these numbers are not representative.**"]
    removed = ", ".join(f"{k}={v}" for k, v in results.get("removed_env", {}).items())
    versions = ", ".join(f"{name} {m.get(f'{name}_version') or 'not installed'}"
                         for name in ("tensorgrad", "torch", "autograd", "jax"))
    lines += [
        "",
        "| | |",
        "|---|---|",
        f"| machine | {m.get('cpu', 'unknown')}, {m.get('cores', '?')} cores "
        f"({m.get('platform', '')}) |",
        f"| BLAS | {m.get('blas', 'unknown')}, {m.get('blas_threads', '?')} threads |",
        f"| threads | {results['threads']} for every library (BLAS, OpenMP, PyTorch "
        f"intra-op: {m.get('torch_threads', DASH)}, XLA) |",
        f"| Python, NumPy | {m.get('python', '?')}, {m.get('numpy', '?')} |",
        f"| libraries | {versions} |",
        f"| environment | removed: {removed or 'nothing'} (OpenBLAS overrides that pick a "
        "slower kernel) |",
        f"| malloc | {results.get('malloc', 'glibc defaults')} |",
        "",
        "Method: every implementation of a workload is first checked against the floor (same "
        "loss and gradients), then all are timed in alternation: each round runs each "
        "implementation once (a sample repeats the call for at least 20 ms), in an order "
        "that rotates from round to round, so a load that drifts on a shared machine drifts "
        "for all of them alike. Times are medians over rounds with the interquartile range "
        "(IQR, 25th-75th percentile); a ratio is the median over rounds of the ratio of two "
        "samples of the same round. The floor is NumPy forward and backward written out by "
        "hand; lower is better.",
    ]
    return lines


def _summary(results):
    rows = results["workloads"]
    names = [n for n in ORDER if any(n in w["stats"] for w in rows)]
    lines = ["", "## Summary: time relative to the hand-written NumPy floor", "",
             "| workload | " + " | ".join(LABELS[n] for n in names) + " |",
             "|---|" + "---:|" * len(names)]
    for w in rows:
        cells = [fmt_ratio(w["stats"][n].get("vs_floor")) if n in w["stats"] else DASH
                 for n in names]
        lines.append(f"| {w['key']} | " + " | ".join(cells) + " |")
    lines += ["", "![time relative to the floor, log scale](results.png)"]
    return lines


def _workload_table(w):
    lines = ["", f"### {w['key']}: {w['title']}", "",
             f"| implementation | median per {w['unit']} | IQR | / floor | / PyTorch | rounds |",
             "|---|---:|---:|---:|---:|---:|"]
    for name in impls_of(w["stats"]):
        s = w["stats"][name]
        lines.append(f"| {LABELS.get(name, name)} | {fmt_time(s['median'])} | "
                     f"{fmt_time(s['q1'])} - {fmt_time(s['q3'])} | "
                     f"{fmt_ratio(s.get('vs_floor'))} | {fmt_ratio(s.get('vs_torch'))} | "
                     f"{s['rounds']} |")
    for note in w.get("notes", []):
        lines += ["", note]
    return lines


def _memory(results):
    rows = results.get("memory") or []
    if not rows:
        return []
    lines = ["", "## Peak memory (one fresh process per implementation)", "",
             "Resident memory before the first step (model, data and the imported library), "
             "and the peak the training steps add on top (after one warm-up step, so one-time "
             "costs such as JIT compilation are not counted; glibc is told to return freed "
             "memory at once, so the resident set follows the live arrays).", "",
             "| workload | implementation | resident before stepping | peak added by steps |",
             "|---|---|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['workload']} | {LABELS.get(r['impl'], r['impl'])} | "
                     f"{fmt_bytes(r.get('base'))} | {fmt_bytes(r.get('step_peak'))} |")
    return lines


def crossover(points, num, den, limit):
    """The smallest x from which on ``num / den`` (medians) stays at or below ``limit``, or
    None."""
    found = None
    for p in points:
        s = p["stats"]
        if num not in s or den not in s:
            return None
        ok = s[num]["median"] <= limit * s[den]["median"]
        found = (found if found is not None else p["x"]) if ok else None
    return found


def _scaling(results):
    sc = results.get("scaling")
    if not sc:
        return []
    sizes = "-".join(map(str, sc["sizes"]))
    lines = ["", "## Scaling of W3 with batch size and depth", "",
             f"Per-step time of the MLP {sizes} against batch size, and of MLPs "
             f"784-{sc['depth_width']}-...-{sc['depth_width']}-10 with 2 to 64 linear layers "
             f"at batch {sc['batch_for_depth']}; same code and checks as W3.", "",
             "![per-step time against batch size and depth](scaling.png)"]
    for axis, label in (("batch", "batch"), ("depth", "layers")):
        pts = sc[axis]
        if not pts:
            continue
        names = impls_of(pts[0]["stats"])
        lines += ["", f"| {label} | " + " | ".join(LABELS.get(n, n) for n in names)
                  + " | tensorgrad / floor | tensorgrad / PyTorch |",
                  "|---:|" + "---:|" * (len(names) + 2)]
        for p in pts:
            s = p["stats"]
            cells = [fmt_time(s[n]["median"]) for n in names]
            tg = s.get("tensorgrad", {})
            lines.append(f"| {p['x']} | " + " | ".join(cells) + f" | "
                         f"{fmt_ratio(tg.get('vs_floor'))} | {fmt_ratio(tg.get('vs_torch'))} |")
    batch = sc["batch"]
    if batch and "tensorgrad" in batch[0]["stats"] and "numpy" in batch[0]["stats"]:
        first = batch[0]["stats"]
        fixed = first["tensorgrad"]["median"] - first["numpy"]["median"]
        at = crossover(batch, "tensorgrad", "numpy", 1.10)
        lines += ["", f"The tape's fixed cost: at batch {batch[0]['x']} a tensorgrad step "
                  f"takes {fmt_time(fixed)} more than the hand-written step. "
                  + (f"From batch {at} on it stays within 10% of the floor."
                     if at is not None else "It does not come within 10% of the floor at "
                     "the batch sizes measured.")]
        at_torch = crossover(batch, "tensorgrad", "torch", 1.0)
        if "torch" in first:
            lines[-1] += (f" It is at least as fast as PyTorch from batch {at_torch} on."
                          if at_torch is not None else
                          " It is slower than PyTorch at the largest batch measured.")
    return lines


def markdown(results):
    lines = _header(results) + _summary(results)
    lines += ["", "## Per workload"]
    for w in results["workloads"]:
        lines += _workload_table(w)
    lines += _memory(results) + _scaling(results)
    return "\n".join(lines) + "\n"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_ratios(results, path):
    """A grouped bar chart: per workload, each implementation's time / the floor's, log
    scale."""
    plt = _pyplot()
    rows = results["workloads"]
    names = [n for n in ORDER if any(n in w["stats"] for w in rows)]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.3 * len(rows) + 2), 4.2))
    width = 0.8 / max(1, len(names))
    for i, name in enumerate(names):
        xs, ys = [], []
        for j, w in enumerate(rows):
            r = w["stats"].get(name, {}).get("vs_floor")
            if r is not None and math.isfinite(r) and r > 0:
                xs.append(j + (i - (len(names) - 1) / 2) * width)
                ys.append(r)
        ax.bar(xs, ys, width, label=LABELS.get(name, name), color=COLORS.get(name),
               bottom=0)
    ax.set_yscale("log")
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(rows)), [w["key"] for w in rows])
    ax.set_ylabel("time / hand-written NumPy (log)")
    ax.set_title("Time relative to the floor (lower is better)")
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_scaling(results, path):
    """Per-step time against batch size and against depth, each library a line (log-log),
    and underneath tensorgrad's time relative to the floor and to PyTorch."""
    plt = _pyplot()
    sc = results["scaling"]
    fig, axes = plt.subplots(2, 2, figsize=(10, 7), sharex="col",
                             gridspec_kw={"height_ratios": [2, 1]})
    for col, (axis, label) in enumerate((("batch", "batch size"),
                                         ("depth", "linear layers (width 256, batch 128)"))):
        pts = sc[axis]
        top, bottom = axes[0][col], axes[1][col]
        if not pts:
            continue
        xs = [p["x"] for p in pts]
        for name in impls_of(pts[0]["stats"]):
            top.plot(xs, [p["stats"][name]["median"] * 1e3 for p in pts], marker="o",
                     label=LABELS.get(name, name), color=COLORS.get(name))
        for key, ref in (("vs_floor", "numpy"), ("vs_torch", "torch")):
            ys = [p["stats"].get("tensorgrad", {}).get(key) for p in pts]
            if all(y is not None for y in ys):
                bottom.plot(xs, ys, marker="o", color=COLORS[ref],
                            label=f"tensorgrad / {LABELS[ref]}")
        top.set(xscale="log", yscale="log", ylabel="ms per step",
                title=f"W3 step against {label}")
        top.legend(fontsize=8)
        bottom.axhline(1.0, color="black", linewidth=0.8)
        bottom.set(xscale="log", xlabel=label, ylabel="ratio")
        bottom.set_xticks(xs, [str(x) for x in xs])
        bottom.minorticks_off()
        bottom.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_all(results, out_dir):
    """RESULTS.md, results.png and (with scaling data) scaling.png in ``out_dir``; returns the
    paths written."""
    written = []
    path = os.path.join(out_dir, "RESULTS.md")
    with open(path, "w") as f:
        f.write(markdown(results))
    written.append(path)
    if results["workloads"]:
        plot_ratios(results, os.path.join(out_dir, "results.png"))
        written.append(os.path.join(out_dir, "results.png"))
    if results.get("scaling"):
        plot_scaling(results, os.path.join(out_dir, "scaling.png"))
        written.append(os.path.join(out_dir, "scaling.png"))
    return written
