"""Shared fixtures: a ``device`` to run on (cpu, and cuda where CuPy sees a GPU) and seeded RNGs."""

import zlib

import numpy as np
import pytest

import tensorgrad as tg


def _device_params():
    params = [pytest.param("cpu", id="cpu")]
    try:
        has_cuda = tg.cuda.is_available()
    except Exception:  # a broken CuPy install must not take the cpu tests down with it
        has_cuda = False
    if has_cuda:
        params.append(pytest.param("cuda", id="cuda", marks=pytest.mark.cuda))
    return params


def pytest_configure(config):
    config.addinivalue_line("markers", "cuda: needs CuPy and a CUDA GPU")


def _seed_of(request):
    # stable across runs and processes (unlike hash()), different for every test
    return zlib.crc32(request.node.nodeid.encode())


@pytest.fixture(params=_device_params())
def device(request):
    """The device name a test runs on: "cpu", and "cuda" (marked ``cuda``) when available."""
    return request.param


@pytest.fixture(autouse=True)
def _seed_rngs(request):
    seed = _seed_of(request)
    np.random.seed(seed)
    tg.manual_seed(seed)


@pytest.fixture
def rng(request):
    """A NumPy Generator seeded from the test's id: reruns see the same numbers."""
    return np.random.default_rng(_seed_of(request))
