"""Shared fixtures: small dataset files written in the official formats, and helpers to run commands."""
import contextlib, gzip, hashlib, os, pickle, shutil, subprocess, sys
from pathlib import Path

import numpy as np
import pytest

from geonb.data import write_idx

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def pytest_configure(config):
    config.addinivalue_line('markers', 'slow: fault tests of over a minute each, left out of `make test` (run them with `make test-slow`)')


CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
                 '--disable-sync', '--no-first-run']


@contextlib.contextmanager
def chromium():
    """Debian's chromium driven by playwright's sync API (never a browser downloaded by a test tool); skips without them.

    Playwright's sync API marks an asyncio loop as running in this thread for as long as its context is open, and a
    second `sync_playwright()` refuses to start inside it: so open one only around the tests that use it (a test, or
    a module-scoped fixture), never for the whole session."""
    exe = shutil.which('chromium')
    if not exe: pytest.skip('no chromium on PATH')
    pw = pytest.importorskip('playwright.sync_api', reason='the playwright package is not installed')
    with pw.sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, headless=True, args=CHROMIUM_ARGS)
        try: yield b
        finally: b.close()


def run(*args, timeout=600, **kw):
    "Run a command from the repo root with one torch thread; returns CompletedProcess (never raises)."
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONUNBUFFERED': '1', **kw.pop('env', {})}
    return subprocess.run([str(a) for a in args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env, **kw)


def write_notebook(path: Path, parameters: str, body: str) -> Path:
    "A two-cell notebook: a cell tagged `parameters` with `parameters`, then `body`, on the python3 kernel."
    import nbformat
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(parameters)
    cell.metadata['tags'] = ['parameters']
    nb.cells = [cell, nbformat.v4.new_code_cell(body)]
    nb.metadata['kernelspec'] = {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'}
    nbformat.write(nb, path)
    return path


def _images(rng, n, *shape):
    return rng.integers(0, 256, size=(n, *shape), dtype=np.uint8)


@pytest.fixture
def idx_root(tmp_path):
    "MNIST (torchvision raw layout, gzipped) and EMNIST balanced (plain) fixtures."
    rng = np.random.default_rng(0)
    raw = tmp_path/'MNIST'/'raw'; raw.mkdir(parents=True)
    for split, n in (('train', 30), ('t10k', 10)):
        write_idx(raw/f'{split}-images-idx3-ubyte.gz', _images(rng, n, 28, 28))
        write_idx(raw/f'{split}-labels-idx1-ubyte.gz', np.arange(n) % 10)
    em = tmp_path/'emnist'; em.mkdir()
    for split, n in (('train', 47), ('test', 20)):
        write_idx(em/f'emnist-balanced-{split}-images-idx3-ubyte', _images(rng, n, 28, 28))
        write_idx(em/f'emnist-balanced-{split}-labels-idx1-ubyte', np.arange(n) % 47)
    return tmp_path


def cifar_py_batch(path, n, rng):
    "A CIFAR-10 python batch as the official files hold it (a pickled dict with bytes keys)."
    d = {b'batch_label': b'fixture', b'labels': [int(i % 10) for i in range(n)],
         b'data': _images(rng, n, 3072), b'filenames': [b'x.png'] * n}
    path.write_bytes(pickle.dumps(d, protocol=2))
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def cifar_bin_root(tmp_path):
    rng = np.random.default_rng(1)
    d = tmp_path/'cifar-10-batches-bin'; d.mkdir()
    for name, n in [*((f'data_batch_{i}', 4) for i in range(1, 6)), ('test_batch', 5)]:
        rec = np.concatenate([(np.arange(n) % 10)[:, None].astype(np.uint8), _images(rng, n, 3072)], axis=1)
        (d/f'{name}.bin').write_bytes(rec.tobytes())
    return tmp_path


@pytest.fixture
def medmnist_root(tmp_path):
    rng = np.random.default_rng(2)
    d = tmp_path/'medmnist'; d.mkdir()
    arrays = {}
    for split, n in (('train', 16), ('val', 8), ('test', 8)):
        arrays[f'{split}_images'] = _images(rng, n, 28, 28, 3)
        arrays[f'{split}_labels'] = (np.arange(n) % 8).reshape(n, 1).astype(np.uint8)
    np.savez(d/'bloodmnist.npz', **arrays)
    return tmp_path


def plan_real_notebook(tmp_path: Path, notebook: str, spec: dict):
    "Dry-run a one-run smoke card of a real experiment notebook with `spec`: the runner's plan checks, no kernel."
    import yaml
    card = tmp_path/'cards'/'real'; card.mkdir(parents=True)
    (card/'card.yaml').write_text(yaml.safe_dump(dict(title='Plumbing', notebook=str(ROOT/notebook), claims=[])))
    (card/'smoke.yaml').write_text(yaml.safe_dump(dict(seeds=[0], runs={'main': spec})))
    env = {'GEONB_CARDS': str(tmp_path/'cards'), 'GEONB_RUNS': str(tmp_path/'runs')}
    return run(BIN/'geonb', 'reproduce', 'real', '--profile', 'smoke', '--dry-run', env=env)


def papermill_real_notebook(tmp_path: Path, notebook: str, *args):
    "Execute a real experiment notebook with papermill into tmp_path/run; returns (CompletedProcess, the run folder)."
    out = tmp_path/'run'
    return run(BIN/'papermill', '-k', 'python3', str(ROOT/notebook), str(tmp_path/'out.ipynb'), '-p', 'out_dir', str(out), *args), out
