"""Write the short markdown report of ``make gpu-check``.

The report gives the GPU, its driver and the CuPy / CUDA runtime / NumPy / PyTorch versions;
the pass / fail / skip counts of the ``cuda`` test run (from pytest's ``--junitxml`` file, or
else from its summary line); and the GPU benchmark table from pytest-benchmark's
``--benchmark-json`` files: the median per benchmark in each group, with the ratios to the
floor (hand-written CuPy) and to the fastest PyTorch, and the targets met or missed.

    python3 benchmarks/gpu_report.py [REPORT.md] [--tests-junit XML] [--tests-log LOG]
        [--tests-summary LINE] [--bench-json JSON ...] [--bench-junit XML ...]
        [--step NAME=EXIT_STATUS ...] [--no-device-info] [--quiet]

REPORT.md defaults to ``gpu-report.md``. An input that is missing or unreadable is named in the
report instead of failing it: the report is written even when the step before it crashed. The
report is also printed unless ``--quiet``. Standard library only (CuPy and PyTorch are imported,
guarded, for the device information alone).
"""

import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

KERNEL_TESTS = "test_kernels_gpu"  # tests/test_kernels_gpu.py: every kernel against its reference
MAX_LISTED = 30

# ---- pytest results --------------------------------------------------------------------------

_WORDS = {"passed": "passed", "failed": "failed", "error": "errors", "errors": "errors",
          "skipped": "skipped", "xfailed": "xfailed", "xpassed": "xpassed",
          "deselected": "deselected", "warning": "warnings", "warnings": "warnings"}
_COUNT = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed|deselected|"
                    r"warnings?)\b")


def parse_summary_line(text):
    """The counts in pytest's final summary line, the last one found in ``text`` (a line or a
    whole log), e.g. ``{"failed": 2, "passed": 1950, "skipped": 3, "seconds": 73.2}``; ``{}``
    when there is none. ``1 error`` and ``2 errors`` both count under ``errors``."""
    for line in reversed(text.splitlines()):
        found = _COUNT.findall(line)
        if not found or not re.search(r"\bin [\d.]+s\b", line):
            continue
        counts = {}
        for n, word in found:
            key = _WORDS[word]
            counts[key] = counts.get(key, 0) + int(n)
        seconds = re.search(r"\bin ([\d.]+)s\b", line)
        counts["seconds"] = float(seconds.group(1))
        return counts
    return {}


def _module_of(classname):
    """``tests.test_x.TestY`` -> ``tests.test_x``: the test module of a junit classname."""
    parts = classname.split(".")
    while len(parts) > 1 and parts[-1][:1].isupper():  # test classes: TestY, Test_y
        parts.pop()
    return ".".join(parts)


def parse_junit(path):
    """Counts from a pytest ``--junitxml`` file, by test case: ``passed``, ``failed``,
    ``errors``, ``skipped`` (xfail included), ``tests``, ``seconds``, ``modules`` (the same
    counts per test module), ``problems`` (``(kind, test id, first line of the message)`` for
    failures and errors) and ``skips`` (skip reason -> number of tests)."""
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    out = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0, "tests": 0,
           "seconds": sum(float(s.get("time") or 0) for s in suites),
           "modules": {}, "problems": [], "skips": {}}
    for case in root.iter("testcase"):
        classname, name = case.get("classname", ""), case.get("name", "")
        tags = {child.tag: child for child in case}
        if "failure" in tags:
            kind = "failed"
        elif "error" in tags:
            kind = "errors"
        elif "skipped" in tags:
            kind = "skipped"
        else:
            kind = "passed"
        out[kind] += 1
        out["tests"] += 1
        module = _module_of(classname)
        per = out["modules"].setdefault(module, {"passed": 0, "failed": 0, "errors": 0,
                                                 "skipped": 0})
        per[kind] += 1
        test_id = f"{module.replace('.', '/')}.py::{name}" if module else name
        if kind in ("failed", "errors"):
            el = tags["failure" if kind == "failed" else "error"]
            message = (el.get("message") or el.text or "").strip().splitlines()
            out["problems"].append((kind, test_id, message[0][:200] if message else ""))
        elif kind == "skipped":
            reason = (tags["skipped"].get("message") or "").strip()[:200]
            out["skips"][reason] = out["skips"].get(reason, 0) + 1
    return out


def _counts_text(c):
    keys = ["passed", "failed", "errors", "skipped"] + [
        k for k in ("xfailed", "xpassed", "deselected") if c.get(k)]
    text = ", ".join(f"{c.get(k, 0)} {k}" for k in keys)
    extra = []
    if "tests" in c:
        extra.append(f"{c['tests']} tests")
    if c.get("seconds"):
        extra.append(f"{c['seconds']:.1f} s")
    return text + (f" ({', '.join(extra)})" if extra else "")


def _read_test_results(junit=None, log=None, summary=None):
    """(counts or None, note): the junit file first, then a summary line, then a log."""
    notes = []
    if junit:
        try:
            return parse_junit(junit), f"from {junit}"
        except FileNotFoundError:
            notes.append(f"{junit} is missing")
        except (ET.ParseError, OSError, ValueError) as e:
            notes.append(f"{junit} is unreadable ({type(e).__name__}: {e})")
    sources = []
    if summary:
        sources.append((summary, "the summary line given"))
    if log:
        try:
            with open(log, encoding="utf-8", errors="replace") as f:
                sources.append((f.read(), log))
        except OSError as e:
            notes.append(f"{log} is unreadable ({type(e).__name__})")
    for text, where in sources:
        counts = parse_summary_line(text)
        if counts:
            return counts, f"from {where}" + (f" ({'; '.join(notes)})" if notes else "")
        notes.append(f"no pytest summary line in {where}")
    return None, "; ".join(notes) or "no result given"


def _test_section(title, counts, note, kernel_line=False):
    lines = [f"## {title}", ""]
    if counts is None:
        return lines + [f"No result: {note}.", ""]
    lines.append(f"{_counts_text(counts)}; {note}.")
    modules = counts.get("modules")
    if kernel_line and modules is not None:
        kern = {m: c for m, c in modules.items() if m.endswith(KERNEL_TESTS)}
        if kern:
            for m, c in kern.items():
                lines.append(f"Kernels against their references ({m.replace('.', '/')}.py): "
                             f"{_counts_text(c)}.")
        else:
            lines.append(f"No test of tests/{KERNEL_TESTS}.py ran (missing, or not marked "
                         "`cuda`).")
    problems = counts.get("problems") or []
    if problems:
        lines += ["", f"Failures and errors ({len(problems)}"
                      + (f", first {MAX_LISTED}" if len(problems) > MAX_LISTED else "") + "):"]
        lines += [f"- {kind}: `{tid}`: {msg}" for kind, tid, msg in problems[:MAX_LISTED]]
    skips = counts.get("skips") or {}
    if skips:
        top = sorted(skips.items(), key=lambda kv: -kv[1])[:5]
        lines += ["", "Skip reasons (most frequent):"]
        lines += [f"- {n} x {reason or '(no reason given)'}" for reason, n in top]
    return lines + [""]


# ---- benchmarks ------------------------------------------------------------------------------


def _role(impl, info):
    if info.get("role"):
        return info["role"]
    low = impl.lower()
    if "tensorgrad" in low:
        return "tensorgrad"
    if "torch" in low:
        return "torch"
    if any(word in low for word in ("cupy", "numpy", "floor")):
        return "floor"
    return "other"


def load_benchmarks(paths):
    """(rows, notes): one row per benchmark in the ``--benchmark-json`` files: ``group``,
    ``impl``, ``role`` (tensorgrad | floor | torch | other), ``median``, ``min`` (seconds per
    call), ``rounds``, ``n_ops``, ``check``, ``targets``. A file that is missing or unreadable
    gives a note instead."""
    rows, notes = [], []
    for path in paths:
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
            benches = data["benchmarks"]
        except FileNotFoundError:
            notes.append(f"{path} is missing")
            continue
        except (OSError, ValueError, KeyError, TypeError) as e:
            notes.append(f"{path} is unreadable ({type(e).__name__}: {e})")
            continue
        for b in benches:
            info = b.get("extra_info") or {}
            stats = b.get("stats") or {}
            if "median" not in stats:
                continue
            impl = info.get("impl") or b.get("name", "?")
            rows.append({
                "group": info.get("group") or b.get("group") or "(no group)",
                "impl": impl,
                "role": _role(impl, info),
                "median": float(stats["median"]),
                "min": float(stats.get("min", stats["median"])),
                "rounds": stats.get("rounds"),
                "n_ops": int(info.get("n_ops") or 1),
                "check": info.get("check"),
                "targets": info.get("targets") or {},
            })
    return rows, notes


def _references(group_rows):
    floor = next((r for r in group_rows if r["role"] == "floor"), None)
    torches = [r for r in group_rows if r["role"] == "torch"]
    torch = min(torches, key=lambda r: r["median"]) if torches else None
    return floor, torch


def add_ratios(rows):
    """Put ``vs_floor`` and ``vs_torch`` (median over the group's floor's, and over its
    fastest PyTorch's; None where the group has none) into every row; returns the groups in
    order of first appearance."""
    groups = {}
    for r in rows:
        groups.setdefault(r["group"], []).append(r)
    for group_rows in groups.values():
        floor, torch = _references(group_rows)
        for r in group_rows:
            r["vs_floor"] = r["median"] / floor["median"] if floor else None
            r["vs_torch"] = r["median"] / torch["median"] if torch else None
    return groups


def target_results(groups):
    """``(group, impl, reference name, ratio, limit, met)`` for every target of every row."""
    out = []
    for group, group_rows in groups.items():
        floor, torch = _references(group_rows)
        for r in group_rows:
            for key, limit in sorted(r["targets"].items()):
                ref = {"floor": floor, "torch": torch}.get(key)
                if ref is None:
                    out.append((group, r["impl"], key, None, float(limit), None))
                    continue
                ratio = r["median"] / ref["median"]
                out.append((group, r["impl"], ref["impl"], ratio, float(limit),
                            ratio <= float(limit)))
    return out


def fmt_time(seconds):
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3f} ms"
    return f"{seconds * 1e6:.2f} us"


def _time_cell(r, key):
    t = r[key]
    if r["n_ops"] > 1:
        return f"{fmt_time(t / r['n_ops'])}/op ({fmt_time(t)})"
    return fmt_time(t)


def _ratio(x):
    return "-" if x is None else f"{x:.2f}"


def _check_cell(check):
    if not check:
        return "-"
    if check.startswith("ok"):
        return "ok"
    if check.startswith("FAILED"):
        return "**FAILED**"
    return check


def _bench_section(rows, notes):
    lines = ["## GPU benchmarks", ""]
    if notes:
        lines += [f"Not read: {'; '.join(notes)}.", ""]
    if not rows:
        return lines + ["No benchmark results.", ""]
    groups = add_ratios(rows)
    lines += [
        "Medians over the timed rounds (minimum beside it); every call ends in a device "
        "synchronisation. Ratios: median over the floor's (hand-written CuPy, or the same math "
        "as a chain of CuPy calls) and over the fastest PyTorch variant's; below 1 is faster.",
        "",
        "| group | implementation | median | min | rounds | vs floor | vs torch | check |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for group, group_rows in groups.items():
        for r in group_rows:
            lines.append(f"| {group} | {r['impl']} | {_time_cell(r, 'median')} | "
                         f"{_time_cell(r, 'min')} | {r['rounds'] if r['rounds'] else '-'} | "
                         f"{_ratio(r['vs_floor'])} | {_ratio(r['vs_torch'])} | "
                         f"{_check_cell(r['check'])} |")
    targets = target_results(groups)
    if targets:
        lines += ["", "Targets:", ""]
        for group, impl, ref, ratio, limit, met in targets:
            if ratio is None:
                lines.append(f"- {group}: {impl} / {ref}: no {ref} result (target <= "
                             f"{limit:.2f})")
                continue
            verdict = "met" if met else "**MISSED**"
            lines.append(f"- {group}: {impl} / {ref} = {ratio:.2f} (target <= {limit:.2f}): "
                         f"{verdict}")
    failed = [r for r in rows if r["check"] and r["check"].startswith("FAILED")]
    if failed:
        lines += ["", "Implementations that disagree with the floor (their times are not "
                      "comparable):", ""]
        lines += [f"- {r['group']}, {r['impl']}: {r['check']}" for r in failed]
    return lines + [""]


# ---- the machine -----------------------------------------------------------------------------


def cuda_version_text(v):
    """CUDA's integer versions as text: 13020 -> "13.2", 12040 -> "12.4"."""
    try:
        v = int(v)
    except (TypeError, ValueError):
        return str(v)
    return f"{v // 1000}.{(v % 1000) // 10}"


def _run(cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else None


def device_info():
    """``[(what, value)]``: GPU, driver and library versions; each guarded on its own."""
    info = [("Python", platform.python_version())]
    smi = _run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                "--format=csv,noheader"])
    if smi:
        info.append(("nvidia-smi (name, driver, memory)", smi.splitlines()[0]))
    try:
        import cupy

        rt = cupy.cuda.runtime
        props = rt.getDeviceProperties(0)
        name = props["name"]
        name = name.decode() if isinstance(name, bytes) else str(name)
        info += [
            ("GPU", f"{name}, compute capability {props['major']}.{props['minor']}, "
                    f"{props['totalGlobalMem'] / 2**30:.0f} GiB, "
                    f"{rt.getDeviceCount()} device(s)"),
            ("CUDA driver (API version)", cuda_version_text(rt.driverGetVersion())),
            ("CUDA runtime", cuda_version_text(rt.runtimeGetVersion())),
            ("CuPy", cupy.__version__),
        ]
    except Exception as e:
        info.append(("CuPy / GPU", f"not available ({type(e).__name__}: {e})"[:200]))
    try:
        import numpy

        info.append(("NumPy", numpy.__version__))
    except Exception as e:
        info.append(("NumPy", f"not available ({type(e).__name__})"))
    try:
        import torch

        cuda = torch.version.cuda or "none"
        info.append(("PyTorch", f"{torch.__version__} (CUDA {cuda}, "
                                f"cuda available: {torch.cuda.is_available()})"))
    except Exception as e:
        info.append(("PyTorch", f"not available ({type(e).__name__}: {e})"[:200]))
    commit = _run(["git", "rev-parse", "--short", "HEAD"])
    if commit:
        info.append(("tensorgrad commit", commit))
    return info


# ---- the report ------------------------------------------------------------------------------


def _rc_text(rc):
    meaning = {0: "ok", 1: "tests failed", 2: "interrupted", 3: "internal error",
               4: "usage error", 5: "no tests collected", 124: "timed out",
               137: "killed (time limit)"}
    try:
        n = int(rc)
    except (TypeError, ValueError):
        return str(rc)
    return f"{n} ({meaning.get(n, 'failed')})"


def parse_steps(specs):
    """``["cuda-tests=0", "bench-mlp=1"]`` -> ``[("cuda-tests", "0"), ("bench-mlp", "1")]``;
    a step without ``=`` has the status ``unknown``."""
    steps = []
    for spec in specs or []:
        name, sep, rc = spec.rpartition("=")
        steps.append((name.strip(), rc.strip()) if sep else (spec.strip(), "unknown"))
    return steps


def render(steps=(), tests=(None, "no result given"), bench_tests=None, bench=((), ()),
           info=None, now=None):
    """The report as markdown text. ``tests`` and ``bench_tests``: ``(counts, note)`` as
    returned by ``_read_test_results``; ``bench``: ``(rows, notes)`` from
    ``load_benchmarks``; ``info``: ``device_info()``'s list, or None to leave it out."""
    now = now or datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    failed = [name for name, rc in steps if rc not in ("0", 0)]
    lines = [f"# tensorgrad GPU check ({now})", ""]
    if steps:
        lines.append("**Result: every step passed.**" if not failed else
                     f"**Result: FAILED: {', '.join(failed)}.**")
        lines += ["", "| step | exit status |", "|---|---|"]
        lines += [f"| {name} | {_rc_text(rc)} |" for name, rc in steps]
        lines.append("")
    if info is not None:
        lines += ["## Machine", ""] + [f"- {k}: {v}" for k, v in info] + [""]
    lines += _test_section("cuda tests (`pytest tests -m cuda`, real CuPy)", *tests,
                           kernel_line=True)
    if bench_tests is not None:
        lines += _test_section("GPU benchmark tests (agreement checks and timings)",
                               *bench_tests)
    lines += _bench_section(*bench)
    return "\n".join(lines).rstrip() + "\n"


def appended(paths):
    """The markdown files ``paths`` as sections after the report (a missing one is named)."""
    parts = []
    for path in paths:
        try:
            with open(path, encoding="utf-8") as f:
                parts.append(f.read().strip())
        except OSError as e:
            parts.append(f"(no {os.path.basename(path)}: {e.strerror})")
    return "".join(f"\n{p}\n" for p in parts)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("report", nargs="?", default="gpu-report.md", help="the markdown file")
    p.add_argument("--tests-junit", help="--junitxml file of the cuda test run")
    p.add_argument("--tests-log", help="output of the cuda test run (its summary line is used "
                                       "where the junit file is missing)")
    p.add_argument("--tests-summary", help="pytest's summary line of the cuda test run")
    p.add_argument("--bench-json", nargs="*", action="extend", default=[],
                   help="--benchmark-json files of the GPU benchmarks")
    p.add_argument("--bench-junit", nargs="*", action="extend", default=[],
                   help="--junitxml files of the GPU benchmark runs")
    p.add_argument("--step", action="append", default=[], metavar="NAME=EXIT_STATUS",
                   help="a step of the check and its exit status (repeatable)")
    p.add_argument("--no-device-info", action="store_true",
                   help="leave out the machine section (imports neither CuPy nor PyTorch)")
    p.add_argument("--append", nargs="*", action="extend", default=[],
                   help="markdown files whose sections go at the end of the report (the "
                        "profile of benchmarks/gpu_profile.py)")
    p.add_argument("--quiet", action="store_true", help="do not print the report")
    a = p.parse_args(argv)

    tests = _read_test_results(a.tests_junit, a.tests_log, a.tests_summary)
    bench_tests = None
    if a.bench_junit:
        merged, notes = None, []
        for path in a.bench_junit:
            counts, note = _read_test_results(path)
            if counts is None:
                notes.append(note)
                continue
            merged = counts if merged is None else _merge(merged, counts)
        bench_tests = (merged, f"from {len(a.bench_junit) - len(notes)} junit file(s)"
                       + (f"; {'; '.join(notes)}" if notes else ""))
    text = render(parse_steps(a.step), tests, bench_tests, load_benchmarks(a.bench_json),
                  None if a.no_device_info else device_info())
    text += appended(a.append)
    parent = os.path.dirname(os.path.abspath(a.report))
    os.makedirs(parent, exist_ok=True)
    with open(a.report, "w", encoding="utf-8") as f:
        f.write(text)
    if not a.quiet:
        sys.stdout.write(text)
    return 0


def _merge(a, b):
    out = dict(a)
    for k in ("passed", "failed", "errors", "skipped", "tests"):
        out[k] = a.get(k, 0) + b.get(k, 0)
    out["seconds"] = a.get("seconds", 0) + b.get("seconds", 0)
    out["problems"] = a.get("problems", []) + b.get("problems", [])
    skips = dict(a.get("skips", {}))
    for reason, n in b.get("skips", {}).items():
        skips[reason] = skips.get(reason, 0) + n
    out["skips"] = skips
    modules = {m: dict(c) for m, c in a.get("modules", {}).items()}
    for m, c in b.get("modules", {}).items():
        per = modules.setdefault(m, {"passed": 0, "failed": 0, "errors": 0, "skipped": 0})
        for k, n in c.items():
            per[k] = per.get(k, 0) + n
    out["modules"] = modules
    return out


if __name__ == "__main__":
    sys.exit(main())
