"""Random benchmark inputs, as PyTorch's ``torch.utils.benchmark.utils.fuzzer``.

A ``Fuzzer`` draws parameter dicts from ``FuzzedParameter`` distributions (``ParameterAlias``
values copy another parameter), rejects those that a constraint or a ``FuzzedTensor``'s element
limits refuse, and builds the tensors: shapes from the parameters, a random memory layout
(permuted, then permuted back) unless drawn contiguous, and ``steps`` slicing for strided views.
``take(n)`` yields ``(tensors, tensor_properties, params)``; the same seed gives the same
parameters and, through ``tg.manual_seed(seed)``, the same values.

>>> from tensorgrad.utils.benchmark import Fuzzer, FuzzedParameter, FuzzedTensor
>>> fuzzer = Fuzzer(parameters=[FuzzedParameter("n", 1, 64, distribution="loguniform")],
...                 tensors=[FuzzedTensor("x", size=("n", 3))], seed=0)
>>> [(params["n"], tuple(tensors["x"].shape)) for tensors, _, params in fuzzer.take(2)]
[(9, (9, 3)), (6, (6, 3))]

Constraints are called with the parameter dict as their one argument (as PyTorch 2.13 calls
them, whatever its docstring says).
"""

import math
from numbers import Integral, Real

import numpy as np

__all__ = ["Fuzzer", "FuzzedParameter", "ParameterAlias", "FuzzedTensor"]

_DISTRIBUTIONS = ("loguniform", "uniform")
_MAX_ATTEMPTS = 1000  # candidates per parameter set before giving up
_STRICT_REDRAW = 100  # strict parameters are kept for this many candidates


def _is_int(x):
    return isinstance(x, Integral) and not isinstance(x, bool)


class ParameterAlias:
    """A value of a custom distribution meaning "the value of parameter ``alias_to``" (chains
    allowed, cycles not)."""

    def __init__(self, alias_to):
        self.alias_to = alias_to

    def __repr__(self):
        return f"ParameterAlias[alias_to: {self.alias_to}]"


class FuzzedParameter:
    """A parameter drawn from ``distribution``: "loguniform" (uniform in log space between
    ``minval`` and ``maxval``; ints stay ints and, as in PyTorch, ``maxval`` itself is not
    drawn), "uniform" (integers from ``minval`` to ``maxval`` inclusive where both are ints,
    else continuous), or a dict of value: probability (values may be ParameterAliases).
    ``strict``: kept while the other parameters are redrawn to satisfy the constraints, so
    that rejection does not skew its distribution."""

    def __init__(self, name, minval=None, maxval=None, distribution=None, strict=False):
        self._name = name
        self._minval = minval
        self._maxval = maxval
        self._distribution = self._check_distribution(distribution)
        self.strict = strict

    @property
    def name(self):
        return self._name

    def _check_distribution(self, distribution):
        where = f"FuzzedParameter({self._name!r})"
        if isinstance(distribution, dict):
            if self._minval is not None or self._maxval is not None:
                raise ValueError(f"{where}: minval and maxval must be None with a custom "
                                 f"(dict) distribution")
            probs = list(distribution.values())
            if not probs or any(not isinstance(p, Real) or p < 0 for p in probs):
                raise ValueError(f"{where}: a custom distribution maps values to "
                                 f"non-negative probabilities, got {distribution!r}")
            if abs(sum(probs) - 1) > 1e-5:
                raise ValueError(f"{where}: the probabilities of a custom distribution must "
                                 f"sum to 1, got {sum(probs)}")
            return dict(distribution)
        if not isinstance(distribution, str) or distribution not in _DISTRIBUTIONS:
            raise ValueError(f"{where}: unknown distribution {distribution!r} (expected "
                             f"'loguniform', 'uniform' or a dict of value: probability)")
        lo, hi = self._minval, self._maxval
        if not all(isinstance(v, Real) and not isinstance(v, bool) for v in (lo, hi)):
            raise ValueError(f"{where}: the {distribution} distribution needs numeric minval "
                             f"and maxval, got {lo!r} and {hi!r}")
        if lo > hi:
            raise ValueError(f"{where}: minval ({lo}) is greater than maxval ({hi})")
        if distribution == "loguniform" and lo <= 0:
            raise ValueError(f"{where}: the loguniform distribution needs minval > 0, got {lo}")
        return distribution

    def sample(self, state):
        """One value, drawn with the NumPy RandomState ``state``."""
        lo, hi = self._minval, self._maxval
        ints = _is_int(lo) and _is_int(hi)
        if self._distribution == "loguniform":
            value = 2 ** state.uniform(np.log2(lo), np.log2(hi))
            return min(max(int(value), lo), hi) if ints else float(value)
        if self._distribution == "uniform":
            return int(state.randint(lo, hi + 1)) if ints else float(state.uniform(lo, hi))
        choices = list(self._distribution)
        probs = np.asarray(list(self._distribution.values()), dtype=np.float64)
        return choices[state.choice(len(choices), p=probs / probs.sum())]


class FuzzedTensor:
    """A tensor the Fuzzer builds: ``size`` (ints or parameter names), ``steps`` (allocate
    ``size * steps`` and slice with those steps: a strided view), ``probability_contiguous``
    (else the memory layout is a random permutation), element and allocation limits that
    reject parameter sets, ``dim_parameter`` (a parameter giving the number of dimensions:
    ``size`` is cut, or padded with 1s, to it), ``dtype``, ``cuda`` and ``tensor_constructor``
    (called as ``f(size=..., dtype=..., **params)``). ``roll_parameter`` is accepted and unused,
    as in PyTorch."""

    def __init__(self, name, size, steps=None, probability_contiguous=0.5, min_elements=None,
                 max_elements=None, max_allocation_bytes=None, dim_parameter=None,
                 roll_parameter=None, dtype=None, cuda=False, tensor_constructor=None):
        where = f"FuzzedTensor({name!r})"
        size = tuple(size)
        steps = (1,) * len(size) if steps is None else tuple(steps)
        for what, values in (("size", size), ("steps", steps)):
            if any(not (_is_int(v) or isinstance(v, str)) for v in values):
                raise ValueError(f"{where}: {what} entries must be ints or parameter names, "
                                 f"got {values!r}")
        if len(steps) != len(size):
            raise ValueError(f"{where}: steps {steps!r} must have one entry per dimension of "
                             f"size {size!r}")
        if not 0 <= probability_contiguous <= 1:
            raise ValueError(f"{where}: probability_contiguous must be in [0, 1], got "
                             f"{probability_contiguous!r}")
        self._name = name
        self._size = size
        self._steps = steps
        self._probability_contiguous = probability_contiguous
        self._min_elements = min_elements
        self._max_elements = max_elements
        self._max_allocation_bytes = max_allocation_bytes
        self._dim_parameter = dim_parameter
        self._roll_parameter = roll_parameter
        if dtype is None:
            from .... import float32 as dtype
        self._dtype = dtype
        self._cuda = cuda
        self._tensor_constructor = tensor_constructor

    @property
    def name(self):
        return self._name

    def _names(self):
        """The parameter names this tensor reads."""
        found = [v for v in self._size + self._steps if isinstance(v, str)]
        return found + ([self._dim_parameter] if self._dim_parameter is not None else [])

    @staticmethod
    def default_tensor_constructor(size, dtype, **kwargs):
        """Uniform [0, 1) floats (and complex), random bools, else integers in [1, 127)."""
        import tensorgrad as tg

        kind = np.dtype(dtype).kind
        if kind in "fc":
            return tg.rand(size, dtype=dtype)
        if kind == "b":
            return tg.rand(size) < 0.5
        return tg.randint(1, 127, size, dtype=dtype)

    def _shape(self, params):
        def value(v):
            return int(params[v]) if isinstance(v, str) else int(v)

        size = tuple(value(v) for v in self._size)
        steps = tuple(value(v) for v in self._steps)
        if self._dim_parameter is not None:
            dim = int(params[self._dim_parameter])
            size = size[:dim] + (1,) * (dim - len(size))
            steps = steps[:dim] + (1,) * (dim - len(steps))
        return size, steps

    def satisfies_constraints(self, params):
        """Whether the tensor ``params`` describe respects the element and allocation limits."""
        size, steps = self._shape(params)
        numel = math.prod(size)
        itemsize = np.dtype(self._dtype).itemsize
        allocation = math.prod(s * st for s, st in zip(size, steps)) * itemsize
        return ((self._min_elements is None or numel >= self._min_elements)
                and (self._max_elements is None or numel <= self._max_elements)
                and (self._max_allocation_bytes is None
                     or allocation <= self._max_allocation_bytes))

    def _make_tensor(self, params, state):
        size, steps = self._shape(params)
        dim = len(size)
        order = np.arange(dim)
        if state.rand() >= self._probability_contiguous:
            while dim > 1 and np.array_equal(order, np.arange(dim)):
                order = state.permutation(dim)
        constructor = self._tensor_constructor or self.default_tensor_constructor
        tensor = constructor(size=tuple(s * st for s, st in zip(size, steps)), dtype=self._dtype,
                             **params)
        if self._cuda:
            tensor = tensor.to("cuda")
        if not np.array_equal(order, np.arange(dim)):  # lay it out in `order`, same shape
            tensor = tensor.permute(*order.tolist()).contiguous()
            tensor = tensor.permute(*np.argsort(order).tolist())
        if any(st != 1 for st in steps):
            tensor = tensor[tuple(slice(None, None, st) for st in steps)]
        properties = {"numel": math.prod(size), "order": order, "steps": steps,
                      "is_contiguous": tensor.is_contiguous(), "dtype": str(self._dtype)}
        return tensor, properties


def _flatten(items, cls, what):
    out = []
    for item in items:
        for x in (item if isinstance(item, (list, tuple)) else (item,)):
            if not isinstance(x, cls):
                raise TypeError(f"Fuzzer(): {what} must be {cls.__name__}s or lists of them, "
                                f"got {type(x).__name__}")
            out.append(x)
    return out


class Fuzzer:
    """Draws parameter sets and the tensors they describe (see the module docstring).
    ``parameters``/``tensors``: FuzzedParameters/FuzzedTensors or lists of them;
    ``constraints``: callables taking the parameter dict, False rejects it; ``seed``: of the
    NumPy RandomState and of ``tg.manual_seed`` (random where None)."""

    def __init__(self, parameters, tensors, constraints=None, seed=None):
        if seed is None:
            seed = int(np.random.RandomState().randint(0, 2 ** 32 - 1, dtype=np.int64))
        self._seed = seed
        self._parameters = _flatten(parameters, FuzzedParameter, "parameters")
        self._tensors = _flatten(tensors, FuzzedTensor, "tensors")
        names = [p.name for p in self._parameters] + [t.name for t in self._tensors]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"Fuzzer(): duplicate names in parameters and tensors: "
                             f"{duplicates}")
        known = {p.name for p in self._parameters}
        for t in self._tensors:
            missing = [n for n in t._names() if n not in known]
            if missing:
                raise ValueError(f"Fuzzer(): FuzzedTensor {t.name!r} refers to parameters "
                                 f"{missing} that are not among the parameters")
        for p in self._parameters:
            if isinstance(p._distribution, dict):
                for v in p._distribution:
                    if isinstance(v, ParameterAlias) and v.alias_to not in known:
                        raise ValueError(f"Fuzzer(): parameter {p.name!r} aliases unknown "
                                         f"parameter {v.alias_to!r}")
        self._constraints = list(constraints or ())
        if not all(callable(c) for c in self._constraints):
            raise TypeError("Fuzzer(): constraints must be callables taking the parameter dict")
        self._rejections = 0
        self._total_generated = 0

    def take(self, n):
        """Yield ``n`` tuples ``(tensors, tensor_properties, params)``; each call starts again
        from the seed."""
        import tensorgrad as tg

        state = np.random.RandomState(self._seed)
        tg.manual_seed(self._seed)
        for _ in range(n):
            params = self._generate(state)
            tensors, properties = {}, {}
            for t in self._tensors:
                tensors[t.name], properties[t.name] = t._make_tensor(params, state)
            yield tensors, properties, params

    @property
    def rejection_rate(self):
        """The fraction of drawn parameter sets rejected so far."""
        return self._rejections / self._total_generated if self._total_generated else 0.0

    def _generate(self, state):
        candidate = {}
        for attempt in range(_MAX_ATTEMPTS):
            for p in self._parameters:
                if not p.strict or attempt % _STRICT_REDRAW == 0:
                    candidate[p.name] = p.sample(state)
            params = self._resolve(candidate)
            self._total_generated += 1
            if (all(c(params) for c in self._constraints)
                    and all(t.satisfies_constraints(params) for t in self._tensors)):
                return params
            self._rejections += 1
        raise ValueError(f"Fuzzer: no parameter set satisfied the constraints in "
                         f"{_MAX_ATTEMPTS} attempts")

    def _resolve(self, candidate):
        params = {}
        for p in self._parameters:
            value, seen = candidate[p.name], [p.name]
            while isinstance(value, ParameterAlias):
                if value.alias_to in seen:
                    raise ValueError(f"Fuzzer: ParameterAlias cycle {seen + [value.alias_to]}")
                seen.append(value.alias_to)
                value = candidate[value.alias_to]
            params[p.name] = value
        return params
