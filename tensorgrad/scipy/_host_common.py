"""What the NumPy special functions (``_host_erf``, ``_host_gamma``, ``_host_bessel``,
``_host_bessel_jy``) share."""

import numpy as np


def horner(coefs, t):
    """sum_k coefs[k] t^k (the constant term first) by Horner's rule, in a new array."""
    r = t * coefs[-1]
    r += coefs[-2]
    for c in coefs[-3::-1]:
        r *= t
        r += c
    return r


def polyval(t, coefs):
    """sum_k coefs[k] t^(n-k) (the leading coefficient first, as np.polyval) by Horner's
    rule, in a new array."""
    r = coefs[0] * t
    r += coefs[1]
    for c in coefs[2:]:
        r *= t
        r += c
    return r


def unary(f, block):
    """f (a float64 array of one dimension in, one out) as a ufunc with SciPy's dtype rules for
    its d->d and f->f loops (float32 gives float32, other real types float64; complex is a
    TypeError), run ``block`` elements at a time so that the temporaries stay in cache."""
    name = f.__name__

    def wrapper(x):
        a = np.asarray(x)
        if a.dtype.kind == "c":
            raise TypeError(f"{name}: complex arguments need SciPy "
                            "(pip install 'tensorgrad[scipy]')")
        if a.dtype.kind in "biu" or a.dtype in (np.float16, np.float64):
            out_dtype = np.float64
        elif a.dtype == np.float32:
            out_dtype = np.float32
        else:
            raise TypeError(f"{name} takes real arguments (booleans, integers, float16, "
                            f"float32, float64), not {a.dtype}")
        flat = a.astype(np.float64, copy=False).reshape(-1)
        with np.errstate(all="ignore"):  # no warnings, as SciPy's (float32 overflows too)
            if flat.size <= block:
                r = f(flat) if flat.size else flat.copy()
            else:
                r = np.empty(flat.size)
                for i in range(0, flat.size, block):
                    r[i:i + block] = f(flat[i:i + block])
            r = r.reshape(a.shape).astype(out_dtype, copy=False)
        return r[()] if a.ndim == 0 else r

    wrapper.__name__ = wrapper.__qualname__ = name
    wrapper.__doc__ = f.__doc__
    wrapper.__module__ = f.__module__
    return wrapper


def by_range(x, ends, fns, *args):
    """fns[k](x, *args) where ends[k-1] < x <= ends[k] (NaN: the first range); ``args`` are
    arrays of x's shape, taken at the same entries. Each range's entries are gathered,
    evaluated together and scattered back by index (several times faster than boolean masks
    on mixed inputs; a scan per range costs less than a sort)."""
    idx = (x > ends[0]).view(np.int8)
    for e in ends[1:]:
        idx += x > e
    out = None
    for k, f in enumerate(fns):
        at = np.flatnonzero(idx == k)
        if at.size == x.size:
            return f(x, *args)
        if at.size:
            if out is None:
                out = np.empty_like(x)
            out[at] = f(x.take(at), *(a.take(at) for a in args))
    return out
