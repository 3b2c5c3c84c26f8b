"""What the NumPy special functions (``_host_erf``, ``_host_gamma``, ``_host_bessel``) share."""


def horner(coefs, t):
    """sum_k coefs[k] t^k (the constant term first) by Horner's rule, in a new array."""
    r = t * coefs[-1]
    r += coefs[-2]
    for c in coefs[-3::-1]:
        r *= t
        r += c
    return r
