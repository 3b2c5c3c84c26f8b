"""``python -m tensorgrad.autograd_compat [-m module | prog.py] [args...]``: run an autograd
program (or module, such as ``pytest``) on tensorgrad. ``TENSORGRAD_DEVICE=cuda`` runs it on
the GPU."""

import os
import runpy
import sys

from . import install

USAGE = "usage: python -m tensorgrad.autograd_compat [-m module | program.py] [args ...]"


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    install()
    if argv[0] == "-m":
        if len(argv) < 2:
            print(USAGE, file=sys.stderr)
            return 2
        sys.argv = argv[1:]
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = argv
        sys.path.insert(0, os.path.dirname(os.path.abspath(argv[0])))  # as python prog.py
        runpy.run_path(argv[0], run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main())
