"""``tg.backends.opt_einsum``: contraction order of ``tg.einsum``. NumPy's ``einsum`` with
``optimize`` picks the order itself, so there is no opt_einsum package to ask for; the switches
are accepted."""

enabled = True
strategy = "auto"


def is_available():
    return False


def get_opt_einsum():
    return None
