"""``tg.hub``: PyTorch's ``torch.hub`` for local repositories and for checkpoint URLs.

- ``load(dir, model, *args, source="local", **kwargs)`` runs ``dir/hubconf.py`` (its
  ``dependencies`` list is checked first) and calls its entry point ``model``; ``list(dir,
  source="local")`` names the entry points, ``help(dir, model)`` gives one's docstring.
  A GitHub source (``"owner/repo[:ref]"``, PyTorch's default) raises: its hubconf.py builds
  PyTorch models, so tensorgrad does not download it; clone it and adapt it instead.
- ``load_state_dict_from_url(url)`` downloads ``url`` once into ``get_dir()/checkpoints`` (with
  ``urllib``; ``file://`` URLs are copied) and reads it with ``tg.load``: the file must be a
  ``tg.save`` checkpoint (PyTorch's pickled ``.pth`` files are not read: tensorgrad never
  unpickles). ``check_hash`` checks the SHA-256 prefix in the file name (``name-<hex>.ext``).
- ``get_dir()`` is ``set_dir``'s directory, else ``$TENSORGRAD_HOME/hub``, else
  ``$XDG_CACHE_HOME/tensorgrad/hub`` (``~/.cache/tensorgrad/hub``).

>>> import tensorgrad as tg
>>> tg.hub.get_dir().endswith("hub")
True
"""

import hashlib
import importlib.util
import os
import re
import shutil
import sys
import tempfile

__all__ = ["download_url_to_file", "get_dir", "help", "list", "load", "load_state_dict_from_url",
           "set_dir"]

ENV_TENSORGRAD_HOME = "TENSORGRAD_HOME"
ENV_XDG_CACHE_HOME = "XDG_CACHE_HOME"
DEFAULT_CACHE_DIR = "~/.cache"
VAR_DEPENDENCY = "dependencies"
MODULE_HUBCONF = "hubconf.py"
HASH_REGEX = re.compile(r"-([a-f0-9]*)\.")
READ_DATA_CHUNK = 128 * 1024

_HUB_DIR = [None]


def _home():
    return os.path.expanduser(os.getenv(ENV_TENSORGRAD_HOME, os.path.join(
        os.getenv(ENV_XDG_CACHE_HOME, DEFAULT_CACHE_DIR), "tensorgrad")))


def get_dir():
    """The directory hub files are cached in (see the module's docstring)."""
    if _HUB_DIR[0] is not None:
        return _HUB_DIR[0]
    return os.path.join(_home(), "hub")


def set_dir(d):
    """Cache hub files in ``d`` from now on."""
    if not isinstance(d, (str, os.PathLike)):
        raise TypeError(f"tg.hub.set_dir: expected a path, got {type(d).__name__}")
    _HUB_DIR[0] = os.path.expanduser(os.fspath(d))


def download_url_to_file(url, dst, hash_prefix=None, progress=True):
    """Copy ``url`` (``http(s)://`` with urllib, or ``file://``) to ``dst``, through a
    temporary file in ``dst``'s directory so that ``dst`` never holds a partial download;
    with ``hash_prefix`` the SHA-256 of the data must start with it (else ``RuntimeError``
    and ``dst`` is not written). ``progress`` is accepted for PyTorch's signature."""
    import urllib.parse  # here: urllib.request costs ~9 ms at import
    import urllib.request

    scheme = urllib.parse.urlparse(url).scheme
    if scheme not in ("http", "https", "file", "ftp"):
        raise ValueError(f"tg.hub.download_url_to_file: unsupported URL {url!r} (expected "
                         "http://, https:// or file://)")
    dst = os.path.expanduser(os.fspath(dst))
    folder = os.path.dirname(os.path.abspath(dst))
    os.makedirs(folder, exist_ok=True)
    sha = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(dst) + ".", suffix=".partial",
                               dir=folder)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url) as src:
            while True:
                chunk = src.read(READ_DATA_CHUNK)
                if not chunk:
                    break
                out.write(chunk)
                sha.update(chunk)
        digest = sha.hexdigest()
        if hash_prefix is not None and not digest.startswith(hash_prefix):
            raise RuntimeError(f'invalid hash value (expected "{hash_prefix}", got '
                               f'"{digest}")')
        shutil.move(tmp, dst)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def load_state_dict_from_url(url, model_dir=None, map_location=None, progress=True,
                             check_hash=False, file_name=None, weights_only=True):
    """The object ``tg.save`` wrote to the file at ``url``, downloaded into ``model_dir``
    (default ``get_dir()/checkpoints``) unless a file of that name is already there.
    ``weights_only`` defaults to True (PyTorch's default here is False): a downloaded file
    names no class to import unless the caller asks for it.

    >>> import os, tempfile, pathlib, tensorgrad as tg
    >>> d = tempfile.mkdtemp()
    >>> tg.save({"w": tg.ones(2)}, os.path.join(d, "w.tg"))
    >>> url = pathlib.Path(d, "w.tg").as_uri()
    >>> tg.hub.load_state_dict_from_url(url, model_dir=os.path.join(d, "cache"))["w"].tolist()
    [1.0, 1.0]
    """
    from .io import load as _load

    if not isinstance(url, str):
        raise TypeError(f"tg.hub.load_state_dict_from_url: url must be a str, got "
                        f"{type(url).__name__}")
    if model_dir is None:
        model_dir = os.path.join(get_dir(), "checkpoints")
    os.makedirs(model_dir, exist_ok=True)
    import urllib.parse

    filename = file_name or os.path.basename(urllib.parse.urlparse(url).path)
    if not filename:
        raise ValueError(f"tg.hub.load_state_dict_from_url: {url!r} names no file; pass "
                         "file_name=")
    cached = os.path.join(model_dir, filename)
    if not os.path.exists(cached):
        if progress:
            sys.stderr.write(f'Downloading: "{url}" to {cached}\n')
        hash_prefix = None
        if check_hash:
            m = HASH_REGEX.search(filename)
            hash_prefix = m.group(1) if m else None
        download_url_to_file(url, cached, hash_prefix, progress=progress)
    return _load(cached, map_location=map_location, weights_only=weights_only)


def _local_hubconf(repo_or_dir, source, what):
    if source not in ("github", "local"):
        raise ValueError(f'Unknown source: "{source}". Allowed values: "github" | "local".')
    if source == "github":
        raise RuntimeError(f"tg.hub.{what}: source='github' ({repo_or_dir!r}) is not "
                           "supported: tensorgrad does not download repositories (their "
                           "hubconf.py builds PyTorch models). Clone the repository, adapt its "
                           "hubconf.py to tensorgrad and pass its directory with "
                           "source='local'")
    path = os.path.join(os.path.expanduser(os.fspath(repo_or_dir)), MODULE_HUBCONF)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"tg.hub.{what}: no {MODULE_HUBCONF} in {repo_or_dir!r}")
    folder = os.path.dirname(path)
    sys.path.insert(0, folder)  # hubconf.py may import the repository's modules
    try:
        spec = importlib.util.spec_from_file_location(MODULE_HUBCONF[:-3], path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(folder)
    deps = getattr(module, VAR_DEPENDENCY, None)
    if deps is not None:
        missing = [p for p in deps if importlib.util.find_spec(p) is None]
        if missing:
            raise RuntimeError(f"Missing dependencies: {', '.join(missing)}")
    return module


def _entry(module, model):
    if not isinstance(model, str):
        raise ValueError("Invalid input: model should be a string of function name")
    fn = getattr(module, model, None)
    if fn is None or not callable(fn):
        raise RuntimeError(f"Cannot find callable {model} in hubconf")
    return fn


def list(github, force_reload=False, skip_validation=False, trust_repo=None, verbose=True,
         *, source="local"):
    """The names of the entry points (public callables) of ``github``'s hubconf.py: here a
    local directory (see the module's docstring)."""
    module = _local_hubconf(github, source, "list")
    return [n for n in dir(module) if callable(getattr(module, n)) and not n.startswith("_")]


def help(github, model, force_reload=False, skip_validation=False, trust_repo=None,
         *, source="local"):
    """The docstring of the entry point ``model`` of the local repository ``github``."""
    return _entry(_local_hubconf(github, source, "help"), model).__doc__


def load(repo_or_dir, model, *args, source="github", trust_repo=None, force_reload=False,
         verbose=True, skip_validation=False, **kwargs):
    """``model(*args, **kwargs)`` from ``repo_or_dir``'s hubconf.py, with
    ``source="local"`` (PyTorch's default, ``"github"``, raises; see the module's
    docstring)."""
    source = source.lower() if isinstance(source, str) else source
    return _entry(_local_hubconf(repo_or_dir, source, "load"), model)(*args, **kwargs)

