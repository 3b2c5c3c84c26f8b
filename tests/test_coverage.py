"""The coverage of NumPy's names and docs/ops.md, generated from the registry."""

import pathlib

import numpy as onp
import pytest

import tensorgrad as tg
import tensorgrad.numpy as tnp
from tensorgrad import _coverage

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs" / "ops.md"
REGENERATE = "python -m tensorgrad._coverage > docs/ops.md"


def test_every_numpy_function_is_classified():
    defined = _coverage.tnp_defined()
    missing = [n for n in _coverage.numpy_functions() if _coverage.classify(n, defined) is None]
    assert not missing, (
        f"NumPy functions tensorgrad does not classify: {missing}. Make each differentiable in "
        "tensorgrad/numpy/__init__.py, or add it to NONDIFF or UNSUPPORTED (with the reason) in "
        f"tensorgrad/_coverage.py, then run `{REGENERATE}`")


def test_the_lists_do_not_overlap_and_are_not_stale():
    defined = _coverage.tnp_defined()
    assert not _coverage.NONDIFF & set(_coverage.UNSUPPORTED)
    now_defined = sorted(n for n in _coverage.UNSUPPORTED if n in defined)
    assert not now_defined, f"defined in tensorgrad.numpy now, drop from UNSUPPORTED: {now_defined}"
    for name, why in _coverage.UNSUPPORTED.items():
        assert why.strip(), name


@pytest.mark.parametrize("name", sorted(_coverage.UNSUPPORTED))
def test_unsupported_functions_refuse_a_derivative(name):
    if not hasattr(onp, name):
        pytest.skip(f"numpy {onp.__version__} has no {name}")
    x = tg.tensor(onp.array([0.5, 1.5, 2.5]), requires_grad=True)
    try:
        out = getattr(tnp, name)(x)
    except (NotImplementedError, TypeError, ValueError):
        # NotImplementedError from the passthrough; a TypeError/ValueError when NumPy's
        # signature needs more arguments
        return
    pytest.fail(f"{name} returned {type(out).__name__} for a tensor that requires grad: a "
                "derivative was dropped silently, or the function is differentiable now")


@pytest.mark.parametrize("name", ["sign", "floor", "argmax", "isnan", "unique", "searchsorted"])
def test_nondiff_functions_work_on_tensors_without_derivative(name):
    x = tg.tensor(onp.array([0.5, -1.5, 2.5]))
    args = (x, x) if name == "searchsorted" else (x,)
    out = getattr(tnp, name)(*args)
    want = getattr(onp, name)(*[onp.array([0.5, -1.5, 2.5])] * len(args))
    onp.testing.assert_array_equal(out.numpy() if isinstance(out, tg.Tensor) else out, want)


def test_primitives_are_found_with_their_rules():
    prims = {p.name: (fam, p) for fam, p in _coverage.primitives()}
    for name in ("add", "exp", "sum", "matmul", "getitem", "einsum_", "fmax", "_sqrt_kink0"):
        assert name in prims, name
        assert prims[name][1].vjps is not None and prims[name][1].jvps is not None
    assert prims["fmax"][0] == "ops.elementwise"
    assert prims["sign"][1].vjps is None  # non-differentiable


def test_markdown_is_deterministic():
    assert _coverage.markdown() == _coverage.markdown()


def test_docs_ops_md_is_up_to_date():
    assert DOCS.exists(), f"docs/ops.md is missing; run `{REGENERATE}`"
    fresh = _coverage.markdown()
    if DOCS.read_text() != fresh:
        old, new = DOCS.read_text().splitlines(), fresh.splitlines()
        diff = [ln for ln in new if ln not in old][:5] + [ln for ln in old if ln not in new][:5]
        pytest.fail(f"docs/ops.md is stale; regenerate it with `{REGENERATE}` "
                    f"(first differing lines: {diff})")
