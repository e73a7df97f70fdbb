"""Try bad inputs and faults the way a careful user would, and count what happens.

Every case runs in a fresh process inside its own sandbox folder (copies of a card, a finished smoke session, a
run bundle, as the case needs) and is classified from what a person would see:

- typed:     refused with a clear error: a one-line message on stderr and exit 2 for the CLI; an exception of
             geonb's error hierarchy (`GeonbError`) for the Python API and inside a notebook
- traceback: a raw Python traceback or an exception outside geonb's hierarchy
- accepted:  the bad input was taken (exit 0, no exception): a silent acceptance
- on disk:   (counted beside the above) the sandbox changed although the input was refused

It is not part of the gate (the gate's bad-input suites are the tests); it is the broad re-try whose counts go into
an issue's closing note, and a quick way to look for regressions by hand:

    .venv/bin/python tools/bad_input_sweep.py              # every case, a table at the end (about 15 minutes on 2 cores)
    .venv/bin/python tools/bad_input_sweep.py --only cli   # the cases whose surface starts with 'cli'
    .venv/bin/python tools/bad_input_sweep.py --json out.json
"""
from __future__ import annotations

import argparse, hashlib, json, os, shutil, subprocess, sys, tempfile, textwrap, time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
BIN = Path(PY).parent
GEONB = [str(BIN/'geonb')]
PAPERMILL = [str(BIN/'papermill'), '-k', 'python3']


@dataclass
class Case:
    surface: str  # where the input goes in: 'cli data', 'api loaders', 'notebook baseline', ...
    name: str  # what is wrong with it
    kind: str  # 'cli' (argv), 'py' (Python code), 'notebook' (papermill), 'shell' (a shell line)
    spec: object  # argv list, code string, (notebook, params dict) or shell line
    setup: str = ''  # what the sandbox starts with: '', 'file', 'busy', 'cards:<edit>', 'session[:<tampering>]'
    expect: str = 'typed'  # 'typed'; 'quiet' for a closed pipe (nothing on stderr); 'left out' for a card rendered without a bad bundle, naming it
    timeout: int = 180
    env: dict = field(default_factory=dict)
    prep: str = ''  # Python code that writes the case's fixture files into the sandbox before it is snapshotted


# ---------------------------------------------------------------------------------------------------------------
# The cases. {S} in an argv, a code string or a parameter is the sandbox folder.

def cli(surface, name, *argv, setup='', expect='typed', env=None, timeout=180):
    return Case(surface, name, 'cli', list(argv), setup, expect, timeout, env or {})

def py(surface, name, code, setup='', timeout=180, prep=''):
    return Case(surface, name, 'py', textwrap.dedent(code), setup, 'typed', timeout, prep=textwrap.dedent(prep))

def nb(notebook, name, setup='', timeout=240, **params):
    return Case(f'notebook {notebook}', name, 'notebook', (notebook, params), setup, 'typed', timeout)


CASES: list[Case] = [
    # -- the data CLI -------------------------------------------------------------------------------------------
    cli('cli data', 'unknown dataset', 'data', 'info', 'nosuchdata'),
    cli('cli data', 'no dataset named', 'data', 'info'),
    cli('cli data', 'unknown action', 'data', 'frobnicate'),
    cli('cli data', 'extra argument', 'data', 'list', 'extra'),
    cli('cli data', 'channels 3 of a grey dataset', 'data', 'info', 'fashion', '--channels', '3'),
    cli('cli data', 'channels 0', 'data', 'info', 'fashion', '--channels', '0'),
    cli('cli data', 'root that does not exist', 'data', 'info', 'fashion', '--root', '{S}/nothing'),
    cli('cli data', 'official files required from a fixture root', 'data', 'info', 'digits', '--root', '{S}/busy', '--official', setup='busy'),
    cli('cli', 'unknown command', 'verify'),
    cli('cli', 'no command'),
    Case('cli data', 'closed pipe: data list | head -1', 'shell', f"{GEONB[0]} data list | head -1 >/dev/null", expect='quiet'),
    Case('cli data', 'closed pipe: data info | head -c 10', 'shell', f"{GEONB[0]} data info fashion | head -c 10 >/dev/null", expect='quiet'),

    # -- geonb ph-train: every option before anything is loaded or written ---------------------------------------
    cli('cli ph-train', 'lr 0', 'ph-train', '--dataset', 'digits', '--lr', '0', '--out', '{S}/run'),
    cli('cli ph-train', 'lr nan', 'ph-train', '--dataset', 'digits', '--lr', 'nan', '--out', '{S}/run'),
    cli('cli ph-train', 'lr inf', 'ph-train', '--dataset', 'digits', '--lr', 'inf', '--out', '{S}/run'),
    cli('cli ph-train', 'lr fast', 'ph-train', '--dataset', 'digits', '--lr', 'fast', '--out', '{S}/run'),
    cli('cli ph-train', 'lr negative', 'ph-train', '--dataset', 'digits', '--lr', '-1e-3', '--out', '{S}/run'),
    cli('cli ph-train', 'epochs -1', 'ph-train', '--dataset', 'digits', '--epochs', '-1', '--out', '{S}/run'),
    cli('cli ph-train', 'epochs 0', 'ph-train', '--dataset', 'digits', '--epochs', '0', '--out', '{S}/run'),
    cli('cli ph-train', 'epochs 2.5', 'ph-train', '--dataset', 'digits', '--epochs', '2.5', '--out', '{S}/run'),
    cli('cli ph-train', 'batch size 0', 'ph-train', '--dataset', 'digits', '--batch-size', '0', '--out', '{S}/run'),
    cli('cli ph-train', 'hidden 0', 'ph-train', '--dataset', 'digits', '--hidden', '0', '--out', '{S}/run'),
    cli('cli ph-train', 'hidden 2e9 (memory)', 'ph-train', '--dataset', 'digits', '--hidden', '2000000000', '--out', '{S}/run'),
    cli('cli ph-train', 'seed -1', 'ph-train', '--dataset', 'digits', '--seed', '-1', '--out', '{S}/run'),
    cli('cli ph-train', 'seed 2**32', 'ph-train', '--dataset', 'digits', '--seed', '4294967296', '--out', '{S}/run'),
    cli('cli ph-train', 'valid fraction 1', 'ph-train', '--dataset', 'digits', '--valid-fraction', '1', '--out', '{S}/run'),
    cli('cli ph-train', 'valid fraction 0', 'ph-train', '--dataset', 'digits', '--valid-fraction', '0', '--out', '{S}/run'),
    cli('cli ph-train', 'gap threshold 0', 'ph-train', '--dataset', 'digits', '--gap-threshold', '0', '--out', '{S}/run'),
    cli('cli ph-train', 'selection best', 'ph-train', '--dataset', 'digits', '--selection', 'best', '--out', '{S}/run'),
    cli('cli ph-train', 'device cuda without a GPU', 'ph-train', '--dataset', 'digits', '--device', 'cuda', '--out', '{S}/run'),
    cli('cli ph-train', 'device tpu', 'ph-train', '--dataset', 'digits', '--device', 'tpu', '--out', '{S}/run'),
    cli('cli ph-train', 'unknown dataset', 'ph-train', '--dataset', 'nosuchdata', '--out', '{S}/run'),
    cli('cli ph-train', 'dataset not on disk', 'ph-train', '--dataset', 'cifar10', '--out', '{S}/run', env={'GEONB_DATA': '{S}/empty'}),
    cli('cli ph-train', 'no dataset', 'ph-train', '--out', '{S}/run'),
    cli('cli ph-train', 'out is a file', 'ph-train', '--dataset', 'digits', '--out', '{S}/a_file', setup='file'),
    cli('cli ph-train', 'out under a file', 'ph-train', '--dataset', 'digits', '--out', '{S}/a_file/run', setup='file'),
    cli('cli ph-train', 'out holds unrelated files', 'ph-train', '--dataset', 'digits', '--out', '{S}/busy', setup='busy'),
    cli('cli ph-train', 'out is another run of other settings', 'ph-train', '--dataset', 'digits', '--epochs', '2', '--out', '{S}/phrun', setup='phrun'),
    cli('cli ph-train', 'out is another run of another dataset', 'ph-train', '--dataset', 'mnist5k', '--epochs', '1', '--out', '{S}/phrun', setup='phrun'),
    cli('cli ph-train', 'out is an empty string', 'ph-train', '--dataset', 'digits', '--out', ''),
    cli('cli ph-train', 'out cannot be written', 'ph-train', '--dataset', 'digits', '--out', '/proc/geonb-run'),

    # -- geonb reproduce: the plan refuses before any kernel starts -----------------------------------------------
    cli('cli reproduce', 'timeout 0', 'reproduce', 'baseline', '--profile', 'smoke', '--timeout', '0', '--out', '{S}/runs'),
    cli('cli reproduce', 'timeout -5', 'reproduce', 'baseline', '--profile', 'smoke', '--timeout', '-5', '--out', '{S}/runs'),
    cli('cli reproduce', 'jobs 100000', 'reproduce', 'baseline', '--profile', 'smoke', '--jobs', '100000', '--out', '{S}/runs'),
    cli('cli reproduce', 'jobs 0', 'reproduce', 'baseline', '--profile', 'smoke', '--jobs', '0', '--out', '{S}/runs'),
    cli('cli reproduce', 'seeds 0', 'reproduce', 'baseline', '--profile', 'smoke', '--seeds', '0', '--out', '{S}/runs'),
    cli('cli reproduce', 'seeds -1', 'reproduce', 'baseline', '--profile', 'smoke', '--seeds', '-1', '--out', '{S}/runs'),
    cli('cli reproduce', 'unknown card', 'reproduce', 'nosuchcard', '--profile', 'smoke', '--out', '{S}/runs'),
    cli('cli reproduce', 'unknown profile', 'reproduce', 'baseline', '--profile', 'huge', '--out', '{S}/runs'),
    cli('cli reproduce', 'unknown run', 'reproduce', 'baseline', '--profile', 'smoke', '--runs', 'resnet', '--out', '{S}/runs'),
    cli('cli reproduce', 'empty run list', 'reproduce', 'baseline', '--profile', 'smoke', '--runs', ',', '--out', '{S}/runs'),
    cli('cli reproduce', 'GEONB_CARDS missing', 'reproduce', '--profile', 'smoke', '--dry-run', env={'GEONB_CARDS': '{S}/nocards'}),
    cli('cli reproduce', 'GEONB_CARDS is a file', 'reproduce', '--profile', 'smoke', '--dry-run', setup='file', env={'GEONB_CARDS': '{S}/a_file'}),
    cli('cli reproduce', 'out is a file', 'reproduce', 'baseline', '--profile', 'smoke', '--out', '{S}/a_file', setup='file'),
    cli('cli reproduce', 'resume a missing session', 'reproduce', '--resume', '{S}/nosession'),
    cli('cli reproduce', 'resume a file', 'reproduce', '--resume', '{S}/a_file', setup='file'),
    cli('cli reproduce', 'resume a folder that is no session', 'reproduce', '--resume', '{S}/busy', setup='busy'),
    cli('cli reproduce', 'resume a complete session', 'reproduce', '--resume', '{S}/session', setup='session', env={'GEONB_CARDS': '{S}/cards'}),
    cli('cli reproduce', 'scheduler not a tcp address', 'reproduce', 'baseline', '--profile', 'smoke', '--scheduler', 'localhost', '--out', '{S}/runs'),
    cli('cli reproduce', 'cluster local:0', 'reproduce', 'baseline', '--profile', 'smoke', '--cluster', 'local:0', '--out', '{S}/runs'),
    cli('cli reproduce', 'cluster foo', 'reproduce', 'baseline', '--profile', 'smoke', '--cluster', 'foo', '--out', '{S}/runs'),
    cli('cli reproduce', 'jobs beside a cluster', 'reproduce', 'baseline', '--profile', 'smoke', '--cluster', 'local:1', '--jobs', '2', '--out', '{S}/runs'),
    cli('cli reproduce', 'unreachable scheduler', 'reproduce', 'baseline', '--profile', 'smoke', '--scheduler', 'tcp://127.0.0.1:9', '--out', '{S}/runs', timeout=120),
    # tampered cards (a copy of reports/cards under GEONB_CARDS)
    *[cli('cli reproduce', f'card: {what}', 'reproduce', 'baseline', '--profile', 'smoke', '--out', '{S}/runs', setup=f'cards:{edit}',
          env={'GEONB_CARDS': '{S}/cards'}) for what, edit in [
        ('notebook: 42', 'card.yaml|notebook: nbs/experiments/baseline.ipynb|notebook: 42'),
        ('notebook missing', 'card.yaml|notebook: nbs/experiments/baseline.ipynb|notebook: nbs/experiments/nosuch.ipynb'),
        ('notebook is not JSON', 'notebook-not-json'),
        ('run spec mlp: 5', 'smoke.yaml|  mlp: {dataset: digits, model: mlp, epochs: 1}|  mlp: 5'),
        ('dataset: nosuchdata', 'smoke.yaml|  mlp: {dataset: digits,|  mlp: {dataset: nosuchdata,'),
        ('model: resnet', 'smoke.yaml|model: mlp, epochs: 1}|model: resnet, epochs: 1}'),
        ('epochs: 0', 'smoke.yaml|model: mlp, epochs: 1}|model: mlp, epochs: 0}'),
        ('epochs: -1', 'smoke.yaml|model: mlp, epochs: 1}|model: mlp, epochs: -1}'),
        ('lr: 0', 'smoke.yaml|model: mlp, epochs: 1}|model: mlp, epochs: 1, lr: 0}'),
        ('lr: nan', 'smoke.yaml|model: mlp, epochs: 1}|model: mlp, epochs: 1, lr: .nan}'),
        ('batch_size: 0', 'smoke.yaml|model: mlp, epochs: 1}|model: mlp, epochs: 1, batch_size: 0}'),
        ('device: cuda', 'smoke.yaml|model: mlp, epochs: 1}|model: mlp, epochs: 1, device: cuda}'),
        ('unknown parameter', 'smoke.yaml|model: mlp, epochs: 1}|model: mlp, epochs: 1, learning_rate: 0.1}'),
        ('epochs: "three"', 'smoke.yaml|model: mlp, epochs: 1}|model: mlp, epochs: three}'),
        ('seeds: [-1]', 'smoke.yaml|seeds: [0]|seeds: [-1]'),
        ('seeds: [0, 0]', 'smoke.yaml|seeds: [0]|seeds: [0, 0]'),
        ('seeds: []', 'smoke.yaml|seeds: [0]|seeds: []'),
        ('profile not YAML', 'smoke.yaml|runs:|runs: [unclosed'),
        ('no runs', 'smoke.yaml|runs:|runs_: '),
    ]],

    # -- geonb card render ---------------------------------------------------------------------------------------
    cli('cli card', 'render a missing folder', 'card', 'render', '{S}/nosession'),
    cli('cli card', 'render a file', 'card', 'render', '{S}/a_file', setup='file'),
    cli('cli card', 'render an unrelated folder', 'card', 'render', '{S}/busy', setup='busy'),
    *[cli('cli card', f'render: {what}', 'card', 'render', '{S}/session', setup=f'session:{edit}', env={'GEONB_CARDS': '{S}/cards'},
          expect='typed' if edit.startswith('session-') else 'left out') for what, edit in [
        ('corrupt session.json', 'session-corrupt'),
        ('session.json without runs', 'session-no-runs'),
        ('a result in a manifest edited', 'manifest-edit-result'),
        ('a manifest emptied of artifacts', 'manifest-empty-artifacts'),
        ('records.json edited', 'records-edit'),
        ('records.json truncated', 'records-truncate'),
        ('weights deleted', 'weights-delete'),
        ('manifest deleted', 'manifest-delete'),
        ('manifest not JSON', 'manifest-garbage'),
        ('history.csv edited', 'history-edit'),
        ('a run folder deleted', 'run-delete'),
        ('an executed notebook edited', 'notebook-edit'),
    ]],

    *[cli('cli card', f'index: {what}', 'card', 'index', setup=f'ledger:{edit}', env={'GEONB_CARDS': '{S}/cards'}) for what, edit in [
        ('results.json not JSON', 'garbage'), ('results.json a list', 'list'), ('a number in results.json edited', 'value'),
        ('results.json without its sha256', 'unhashed'), ('a record without its metric', 'metric'),
    ]],

    # -- bundles and weights through the Python API -------------------------------------------------------------
    py('api bundles', 'read a bundle whose records were edited', '''
        from geonb.runs import read_bundle
        read_bundle(next(p.parent for p in Path('{S}/session').rglob('manifest.json')))
        ''', setup='session:records-edit'),
    py('api bundles', 'load weights that are truncated', '''
        from geonb.runs import load_weights
        load_weights(next(Path('{S}/session').rglob('*.safetensors')))
        ''', setup='session', prep='''
        w = next(Path('{S}/session').rglob('*.safetensors')); w.write_bytes(w.read_bytes()[:100])
        '''),
    py('api bundles', 'load weights of another shape for a model', '''
        import torch; from geonb.runs import load_weights
        load_weights('{S}/w.safetensors', torch.nn.Linear(4, 4))
        ''', prep='''
        import torch; from geonb.runs import save_weights
        save_weights('{S}/w.safetensors', {'weight': torch.zeros(3, 3), 'bias': torch.zeros(3)})
        '''),
    py('api bundles', 'save NaN weights', '''
        import torch; from geonb.runs import save_weights
        save_weights('{S}/w.safetensors', {'weight': torch.full((2,), float('nan'))})
        '''),
    py('api bundles', 'a Record with a NaN value', '''
        from geonb.results import Record
        Record('accuracy', float('nan'), 'fraction', 'fashion', 'test', {'test': 10}, 'final', None, 0)
        '''),
    py('api bundles', 'a Record with an accuracy of 1.5', '''
        from geonb.results import Record
        Record('accuracy', 1.5, 'fraction', 'fashion', 'test', {'test': 10}, 'final', None, 0)
        '''),
    py('api bundles', 'a Record with an unknown unit', '''
        from geonb.results import Record
        Record('accuracy', 0.5, 'percent-ish', 'fashion', 'test', {'test': 10}, 'final', None, 0)
        '''),
    py('api bundles', 'a new run folder inside an existing bundle', '''
        from geonb.runs import RunBundle
        RunBundle(next(p.parent for p in Path('{S}/session').rglob('manifest.json')), {'lr': 0.5})
        ''', setup='session'),

    # -- training configuration through the Learner ----------------------------------------------------------------
    *[py('api train', f'TrainConfig {what}', f'''
        from geonb.train import TrainConfig, check_train_config
        check_train_config(TrainConfig({what}))
        ''') for what in ['lr=0', "lr=float('nan')", 'lr=-1', 'epochs=-1', 'epochs=0', 'batch_size=0', 'weight_decay=-1',
                          'warmup_frac=1.5', 'grad_clip=-1', "select_split='best'", "optimizer='lion'", "lr='fast'"]],

    # -- the SKA explorer's callbacks and its command ------------------------------------------------------------
    *[py('api ska explorer', f'run_and_archive {what}', f'''
        from geonb.ska.explorer import run_and_archive
        a = dict(digit=1, n1=16, n2=16, n3=8, n4=4, K=5, tau=0.5, samples=20, data_seed=0, history=[])
        a.update({what})
        run_and_archive(*[a[k] for k in ('digit', 'n1', 'n2', 'n3', 'n4', 'K', 'tau', 'samples', 'data_seed', 'history')], figsize=(4, 8))
        ''') for what in ["digit=10", "digit=-1", "digit='3'", "n1=0", "n2=2.5", "n4=10**9", "n1=10**6, n2=10**6",
                          "K=1", "K=10**9", "tau=0.0", "tau=float('nan')", "tau=float('inf')", "tau='0.5'",
                          "samples=0", "samples=10**6", "data_seed=-1", "history='not a list'", "history=[{'run': 1}]"]],
    py('api ska explorer', 'an unknown dataset', '''
        from geonb.ska.explorer import run_and_archive
        run_and_archive(1, 16, 16, 8, 4, 5, 0.5, 20, 0, [], dataset='nosuchdata', figsize=(4, 8))
        '''),
    cli('cli ska-explorer', 'port 99999', 'ska-explorer', '--port', '99999', timeout=60),
    cli('cli ska-explorer', 'port -1', 'ska-explorer', '--port', '-1', timeout=60),
    cli('cli ska-explorer', 'port not a number', 'ska-explorer', '--port', 'http', timeout=60),
    cli('cli ska-explorer', 'unknown dataset', 'ska-explorer', '--dataset', 'nosuchdata', timeout=60),
    cli('cli ska-explorer', '--share', 'ska-explorer', '--share', timeout=60),
    cli('cli ska-explorer', 'host that does not exist', 'ska-explorer', '--host', 'no.such.host.invalid', '--port', '7999', timeout=90),
    cli('cli ska-explorer', 'dataset not on disk', 'ska-explorer', '--dataset', 'mnist', '--port', '7998', timeout=90,
        env={'GEONB_DATA': '{S}/empty'}),

    # -- models: wrong shapes, values and sizes ------------------------------------------------------------------
    *[py('api david', what, f'''
        import torch; from geonb.david.model import GeoFractalDavid
        {code}
        ''') for what, code in [
        ('wrong feature width', "GeoFractalDavid(feature_dim=64, num_classes=10, k=3, scales=[32])(torch.randn(4, 65))"),
        ('NaN features', "GeoFractalDavid(feature_dim=64, num_classes=10, k=3, scales=[32])(torch.full((4, 64), float('nan')))"),
        ('one class', "GeoFractalDavid(feature_dim=64, num_classes=1, k=3, scales=[32])"),
        ('no scales', "GeoFractalDavid(feature_dim=64, num_classes=10, k=3, scales=[])"),
        ('k 0', "GeoFractalDavid(feature_dim=64, num_classes=10, k=0, scales=[32])"),
        ('scale 0', "GeoFractalDavid(feature_dim=64, num_classes=10, k=3, scales=[0])"),
        ('1-d features', "GeoFractalDavid(feature_dim=64, num_classes=10, k=3, scales=[32])(torch.randn(64))"),
        ('tau 0', "GeoFractalDavid(feature_dim=64, num_classes=10, k=3, scales=[32], tau=0)"),
        ('float64 features', "GeoFractalDavid(feature_dim=64, num_classes=10, k=3, scales=[32])(torch.randn(4, 64, dtype=torch.float64))"),
    ]],
    *[py('api conduit', what, f'''
        import torch; from geonb.conduit.eigh import FLEighConduit
        {code}
        ''') for what, code in [
        ('non-square Grams', "FLEighConduit()(torch.randn(3, 4, 5))"),
        ('non-symmetric Grams', "FLEighConduit()(torch.randn(3, 4, 4))"),
        ('NaN Grams', "FLEighConduit()(torch.full((3, 4, 4), float('nan')))"),
        ('float64 Grams', "FLEighConduit()(torch.eye(4, dtype=torch.float64).expand(3, 4, 4))"),
        ('a single 4x4 matrix', "FLEighConduit()(torch.eye(4))"),
        ('a list', "FLEighConduit()([[1.0, 0.0], [0.0, 1.0]])"),
        ('unknown backend', "FLEighConduit(backend='cuda')"),
    ]],
    *[py('api conduit', what, f'''
        import torch; from geonb.conduit.svae import freckles_64
        from geonb.conduit.readout import stack_channels, SpatialConvClassifier
        {code}
        ''') for what, code in [
        ('image size 63', "freckles_64()(torch.rand(1, 3, 63, 63))"),
        ('one channel', "freckles_64()(torch.rand(1, 1, 64, 64))"),
        ('NaN image', "freckles_64()(torch.full((1, 3, 64, 64), float('nan')))"),
        ('unknown channel set', "stack_channels({}, 'SQ')"),
        ('readout with 0 channels', "SpatialConvClassifier(0)"),
    ]],
    py('api conduit', 'pretrained weights not on this machine', '''
        from geonb.conduit.svae import load_pretrained
        load_pretrained()
        ''', setup='', ),
    py('api conduit', 'pretrained weights of another model', '''
        from geonb.conduit.svae import load_pretrained
        load_pretrained('{S}/best.pt')
        ''', prep='''
        import torch; torch.save({'model_state_dict': {'w': torch.zeros(2)}}, '{S}/best.pt')
        '''),
    py('api conduit', 'pretrained file that is not a checkpoint', '''
        from geonb.conduit.svae import load_pretrained
        load_pretrained('{S}/a_file')
        ''', setup='file'),
    *[py('api simplex', what, f'''
        import torch; from geonb.simplex import edge_cv
        {code}
        ''') for what, code in [
        ('vertices of one point', "edge_cv(torch.zeros(1, 8))"),
    ]],
    *[py('api ph', what, f'''
        import numpy as np; from geonb.topology import h0_total, mst_edges; from geonb.ph.monitor import PHMonitor, compute_h0
        {code}
        ''') for what, code in [
        ('distance matrix that is not square', "h0_total(np.zeros((3, 4)))"),
        ('distance matrix with NaN', "d = np.zeros((3, 3)); d[0, 1] = d[1, 0] = np.nan; h0_total(d)"),
        ('distance matrix not symmetric', "mst_edges(np.array([[0, 1.0], [2.0, 0]]))"),
        ('negative distances', "h0_total(np.array([[0, -1.0], [-1.0, 0]]))"),
        ('monitor gap threshold 0', "PHMonitor(gap_threshold=0)"),
        ('monitor with one class', "PHMonitor(n_classes=1)"),
        ('H0 of 1-d directions', "compute_h0(np.zeros(5), np.zeros(5))"),
        ('monitor check with NaN directions', "y = np.array([0, 0, 1, 1]); PHMonitor(n_classes=2).check(np.full((4, 3), np.nan), y, np.ones((4, 3)), y)"),
    ]],

    # -- loaders: unknown names, roots and parameters (the file-content cases are tests/test_bad_input_data.py) ---
    *[py('api loaders', what, f'''
        from geonb.data import load_dataset, resize
        {code}
        ''', setup=setup) for what, code, setup in [
        ('unknown dataset', "load_dataset('nosuchdata')", ''),
        ('root does not exist', "load_dataset('fashion', root='{S}/nothing')", ''),
        ('root is a file', "load_dataset('fashion', root='{S}/a_file')", 'file'),
        ('root holds unrelated files', "load_dataset('fashion', root='{S}/busy')", 'busy'),
        ('cifar10 offline', "load_dataset('cifar10', root='{S}')", ''),
        ('resize to 0', "import torch; resize(torch.zeros(2, 1, 28, 28, dtype=torch.uint8), 0)", ''),
        ('resize float images', "import torch; resize(torch.zeros(2, 1, 28, 28), 32)", ''),
        ('name not a string', "load_dataset(42)", ''),
    ]],

    # -- the papermill notebooks, outside the runner ---------------------------------------------------------------
    nb('baseline', 'lr 0', lr=0.0), nb('baseline', 'epochs -1', epochs=-1), nb('baseline', 'batch_size 0', batch_size=0),
    nb('baseline', 'device cuda without a GPU', device='cuda'), nb('baseline', 'dataset nosuchdata', dataset='nosuchdata'),
    nb('baseline', 'model resnet', model='resnet'),
    nb('baseline', 'out_dir is a file', setup='file', out_dir='{S}/a_file'),
    nb('baseline', 'out_dir holds unrelated files', setup='busy', out_dir='{S}/busy'),
    nb('baseline', 'epochs is a word', epochs='three'), nb('baseline', 'lr nan', lr='nan'), nb('baseline', 'valid_fraction 1', valid_fraction=1.0),
    nb('baseline', 'seed -1', seed=-1), nb('baseline', 'a mistyped parameter name (epoch for epochs)', epoch=3),
    nb('pentachora', 'lr -0.5', lr=-0.5), nb('pentachora', 'train_per_class above the smallest class', train_per_class=1000000),
    nb('david', 'train_per_class above the smallest class', train_per_class=1000000), nb('conduit', 'test_per_class above the smallest class', test_per_class=1000000),
    nb('ska', 'per_class above the smallest class', per_class=1000000), nb('ph_claims', 'a setting above the smallest class', settings='digits@1000'),
    nb('ph_claims', 'a setting of a dataset not on disk', settings='cifar10'),
    *[Case(f'notebook {n}', 'a dataset not on disk', 'notebook', (n, dict(dataset='cifar10')), env={'GEONB_DATA': '{S}/empty'})
      for n in ('baseline', 'pentachora', 'david', 'conduit', 'ph_training')], nb('ska', 'K 1', K=1), nb('ph_training', 'lr fast', lr='fast'),
    nb('ph_claims', 'eps 0', eps=0.0), nb('david', 'scales with 300000 (memory)', scales='384,512,300000'),
    nb('conduit', 'image size not divisible by the patch', size=63),
    nb('conduit', 'unknown channel set', channels='SQ'), nb('conduit', 'unknown control', control='resnet'),
    Case('notebook memory', 'pentachora size 1000000', 'notebook', ('pentachora', dict(size=1000000))),
    Case('notebook memory', 'ska layers of a billion', 'notebook', ('ska', dict(layers='1000000000,10'))),
    Case('notebook memory', 'conduit size 40000', 'notebook', ('conduit', dict(size=40000))),
    Case('notebook memory', 'conduit svae_size 40000', 'notebook', ('conduit', dict(svae_size=40000))),
    nb('david', 'k 0', k=0), nb('david', 'head svm', head='svm'), nb('david', 'scales empty', scales=''),
]


# ---------------------------------------------------------------------------------------------------------------
# Sandboxes

SESSION_CACHE: Path | None = None  # a finished smoke session of the baseline card, made once per sweep


def _smoke_session(work: Path) -> Path:
    global SESSION_CACHE
    if SESSION_CACHE is None:
        out = work/'smoke-runs'
        if not out.exists():
            print('making one smoke session of the baseline card (about a minute) ...', flush=True)
            r = subprocess.run(GEONB + ['reproduce', 'baseline', '--profile', 'smoke', '--out', str(out), '--no-render'],
                               capture_output=True, text=True, cwd=ROOT)
            if r.returncode: sys.exit(f'could not make the smoke session:\n{r.stderr[-2000:]}')
        SESSION_CACHE = next(p.parent for p in out.rglob('session.json'))
    return SESSION_CACHE


PH_RUN_CACHE: Path | None = None  # a finished `geonb ph-train` run on digits, made once per sweep


def _ph_run(work: Path) -> Path:
    global PH_RUN_CACHE
    if PH_RUN_CACHE is None:
        out = work/'ph-run'
        if not (out/'manifest.json').exists():
            print('making one ph-train run on digits (under a minute) ...', flush=True)
            r = subprocess.run(GEONB + ['ph-train', '--dataset', 'digits', '--epochs', '1', '--lr', '1e-3', '--out', str(out)],
                               capture_output=True, text=True, cwd=ROOT)
            if r.returncode: sys.exit(f'could not make the ph-train run:\n{r.stderr[-2000:]}')
        PH_RUN_CACHE = out
    return PH_RUN_CACHE


def _edit(path: Path, old: str, new: str):
    text = path.read_text()
    if old not in text: raise SystemExit(f'sweep setup: {old!r} not in {path}')
    path.write_text(text.replace(old, new, 1))


def _tamper_session(s: Path, how: str):
    runs = sorted(p.parent for p in s.rglob('manifest.json'))
    run = runs[0]
    if how == 'session-corrupt': (s/'session.json').write_text('{"card": "baseline", "runs": [')
    elif how == 'session-no-runs':
        d = json.loads((s/'session.json').read_text()); d['runs'] = []; (s/'session.json').write_text(json.dumps(d))
    elif how == 'manifest-edit-result':
        m = json.loads((run/'manifest.json').read_text())
        m.setdefault('results', {})['accuracy'] = 0.999  # a number no hash covers, as a forger would add it
        (run/'manifest.json').write_text(json.dumps(m))
    elif how == 'manifest-empty-artifacts':
        m = json.loads((run/'manifest.json').read_text()); m['artifacts'] = {}
        (run/'manifest.json').write_text(json.dumps(m))
        for p in run.rglob('*'):
            if p.is_file() and p.name != 'manifest.json': p.unlink()
    elif how == 'records-edit':
        r = run/'records.json'; r.write_text(r.read_text().replace('0.', '0.9', 1))  # the first number gains a digit
    elif how == 'records-truncate': r = run/'records.json'; r.write_bytes(r.read_bytes()[:40])
    elif how == 'weights-delete':
        for w in run.rglob('*.safetensors'): w.unlink()
    elif how == 'manifest-delete': (run/'manifest.json').unlink()
    elif how == 'manifest-garbage': (run/'manifest.json').write_text('not json')
    elif how == 'history-edit':
        h = next(run.rglob('history.csv')); h.write_text(h.read_text() + '99,0.1,0.1\n')
    elif how == 'run-delete': shutil.rmtree(run)
    elif how == 'notebook-edit':
        n = next(iter(s.rglob('*.ipynb'))); n.write_text(n.read_text().replace('"cells"', '"cells" ', 1))
    else: raise SystemExit(f'sweep setup: unknown tampering {how!r}')


def make_sandbox(case: Case, work: Path) -> Path:
    S = Path(tempfile.mkdtemp(prefix='case-', dir=work))
    (S/'empty').mkdir()
    kind, _, how = case.setup.partition(':')
    if kind == 'file': (S/'a_file').write_text('not a folder\n')
    elif kind == 'busy': (S/'busy').mkdir(); (S/'busy'/'thesis.tex').write_text('\\documentclass{article}\n')
    elif kind == 'cards':
        shutil.copytree(ROOT/'reports'/'cards'/'baseline', S/'cards'/'baseline', ignore=shutil.ignore_patterns('runs', 'figures', 'full'))
        card = S/'cards'/'baseline'
        if how == 'notebook-not-json':
            (S/'bad.ipynb').write_text('this is not a notebook')
            _edit(card/'card.yaml', 'notebook: nbs/experiments/baseline.ipynb', f'notebook: {S}/bad.ipynb')
        else:
            file, old, new = how.split('|')
            _edit(card/file, old, new)
    elif kind == 'phrun': shutil.copytree(_ph_run(work), S/'phrun')
    elif kind == 'ledger':  # a copy of the committed baseline card with its results.json damaged
        shutil.copytree(ROOT/'reports'/'cards'/'baseline', S/'cards'/'baseline', ignore=shutil.ignore_patterns('runs', 'figures', 'full', 'smoke'))
        p = S/'cards'/'baseline'/'results.json'; d = json.loads(p.read_text())
        if how == 'garbage': p.write_text('{"profile": "quick", "records": [')
        elif how == 'list': p.write_text('[1, 2]')
        else:
            if how == 'value': d['records'][0]['value'] = 0.999
            elif how == 'unhashed': d.pop('results_sha256', None)
            elif how == 'metric': d['records'][0].pop('metric')
            p.write_text(json.dumps(d))
    elif kind == 'session':
        shutil.copytree(_smoke_session(work), S/'session')
        shutil.copytree(ROOT/'reports'/'cards'/'baseline', S/'cards'/'baseline', ignore=shutil.ignore_patterns('runs', 'figures', 'full', 'smoke'))
        if how: _tamper_session(S/'session', how)
    return S


def snapshot(folder: Path) -> dict:
    out = {}
    for p in sorted(folder.rglob('*')):
        rel = str(p.relative_to(folder))
        if p.is_symlink(): out[rel] = 'link'
        elif p.is_dir(): out[rel] = 'dir'
        else:
            try: out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
            except OSError: out[rel] = 'unreadable'
    return out


# ---------------------------------------------------------------------------------------------------------------
# Running and classifying

PY_HARNESS = '''
import sys, traceback
from pathlib import Path
from geonb.core import GeonbError
try:
    exec(compile(sys.argv[1], "<case>", "exec"), {"Path": Path})
except GeonbError as e:
    print("TYPED", type(e).__name__ + ":", " ".join(str(e).split()), file=sys.stderr); sys.exit(2)
except BaseException:
    traceback.print_exc(); sys.exit(1)
print("ACCEPTED", file=sys.stderr)
'''


def _geonb_errors() -> set[str]:
    sys.path.insert(0, str(ROOT))
    from geonb.core import GeonbError
    import geonb.cards, geonb.reproduce, geonb.features, geonb.train, geonb.topology, geonb.simplex  # noqa: F401
    import geonb.ph.monitor, geonb.ph.trainer, geonb.pentachora.model, geonb.conduit.svae, geonb.ska.explorer  # noqa: F401
    names, todo = set(), [GeonbError]
    while todo:
        c = todo.pop(); names.add(c.__name__); todo += c.__subclasses__()
    return names


def fill(x, S: Path):
    if isinstance(x, str): return x.replace('{S}', str(S))
    if isinstance(x, list): return [fill(v, S) for v in x]
    if isinstance(x, dict): return {k: fill(v, S) for k, v in x.items()}
    return x


def run_case(case: Case, work: Path, errors: set[str]) -> dict:
    S = make_sandbox(case, work)
    if case.prep:
        r = subprocess.run([PY, '-c', 'from pathlib import Path\n' + fill(case.prep, S)], capture_output=True, text=True, cwd=S)
        if r.returncode: raise SystemExit(f'sweep setup of {case.name!r} failed:\n{r.stderr[-2000:]}')
    before = snapshot(S)
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'GRADIO_ANALYTICS_ENABLED': 'False', 'PYTHONUNBUFFERED': '1',
           'GEONB_RUNS': str(S/'default-runs'), **fill(case.env, S)}
    t = time.time(); ename = ''
    try:
        if case.kind == 'cli':
            r = subprocess.run(GEONB + fill(case.spec, S), capture_output=True, text=True, cwd=S, env=env, timeout=case.timeout)
        elif case.kind == 'shell':
            r = subprocess.run(['bash', '-o', 'pipefail', '-c', case.spec], capture_output=True, text=True, cwd=S, env=env, timeout=case.timeout)
        elif case.kind == 'py':
            r = subprocess.run([PY, '-c', PY_HARNESS, fill(case.spec, S)], capture_output=True, text=True, cwd=S, env=env, timeout=case.timeout)
        else:
            notebook, params = case.spec
            args = [a for k, v in fill(params, S).items() for a in ('-p', k, str(v))]
            if 'out_dir' not in params: args += ['-p', 'out_dir', str(S/'run')]
            out_nb = work/f'{S.name}.ipynb'
            r = subprocess.run(PAPERMILL + [str(ROOT/'nbs'/'experiments'/f'{notebook}.ipynb'), str(out_nb), *args],
                               capture_output=True, text=True, cwd=ROOT, env=env, timeout=case.timeout)
            if out_nb.exists():
                for cell in json.loads(out_nb.read_text()).get('cells', []):
                    for o in cell.get('outputs', []):
                        if o.get('output_type') == 'error': ename, evalue = o['ename'], o['evalue']
                out_nb.unlink()
        timed_out = False
    except subprocess.TimeoutExpired as e:
        r = subprocess.CompletedProcess(e.cmd, -9, e.stdout or '', e.stderr or ''); timed_out = True
    seconds = time.time() - t
    err = r.stderr if isinstance(r.stderr, str) else (r.stderr or b'').decode(errors='replace')
    after = snapshot(S)
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    lines = [l for l in err.strip().splitlines() if l.strip()]
    if case.kind == 'notebook':
        if r.returncode == 0: verdict = 'accepted'
        elif ename in errors: verdict = 'typed'
        else: verdict = 'traceback'
        message = f'{ename}: {evalue}' if ename else (lines[-1] if lines else '')
    elif case.expect == 'left out':  # the card is written, without the bundle, and stderr names it and why
        verdict = 'typed' if r.returncode == 0 and 'is left out:' in err else ('traceback' if 'Traceback' in err else 'accepted')
        message = next((l for l in lines if 'is left out:' in l), lines[-1] if lines else '')
        changed = [k for k in changed if k.startswith('session')]  # the bundles must stay as they were; the card is meant to be written
    elif case.expect == 'quiet':
        verdict = 'typed' if not err.strip() and r.returncode in (0, 141) else ('traceback' if 'Traceback' in err else 'noisy')
        message = lines[-1] if lines else f'(quiet, exit {r.returncode})'
    elif timed_out: verdict, message = 'hung', f'no answer within {case.timeout} s'
    elif 'Traceback (most recent call last)' in err: verdict, message = 'traceback', lines[-1] if lines else ''
    elif r.returncode == 0 or (lines and lines[-1] == 'ACCEPTED'): verdict, message = 'accepted', (lines[-1] if lines else '(exit 0)')
    elif case.kind == 'py': verdict, message = ('typed' if lines and lines[-1].startswith('TYPED') else 'traceback'), (lines[-1] if lines else '')
    else:
        verdict = 'typed' if r.returncode == 2 and len(lines) == 1 else 'untidy'
        message = lines[-1] if lines else f'(nothing on stderr, exit {r.returncode})'
    # a refused case must leave the sandbox as it was; only the smoke cache and papermill's own output are elsewhere
    left = changed if verdict != 'accepted' else []
    shutil.rmtree(S, ignore_errors=True)
    return dict(surface=case.surface, case=case.name, verdict=verdict, exit=r.returncode, message=message[:300],
                left_on_disk=left, seconds=round(seconds, 1))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--only', default='', help='run only the cases whose surface starts with this')
    p.add_argument('--json', default='', help='also write every result to this JSON file')
    p.add_argument('--work', default='', help='scratch folder (default: a new temporary one)')
    a = p.parse_args(argv)
    work = Path(a.work or tempfile.mkdtemp(prefix='geonb-sweep-')); work.mkdir(parents=True, exist_ok=True)
    errors = _geonb_errors()
    cases = [c for c in CASES if c.surface.startswith(a.only)]
    results = []
    for i, c in enumerate(cases, 1):
        res = run_case(c, work, errors); results.append(res)
        mark = '' if res['verdict'] == 'typed' and not res['left_on_disk'] else '  <--'
        print(f"[{i:3}/{len(cases)}] {res['verdict']:9} {c.surface} | {c.name}: {res['message'][:140]}"
              f"{' | left: ' + ', '.join(res['left_on_disk'][:3]) if res['left_on_disk'] else ''}{mark}", flush=True)
    counts = {}
    for r in results: counts[r['verdict']] = counts.get(r['verdict'], 0) + 1
    left = sum(1 for r in results if r['left_on_disk'])
    print(f"\n{len(results)} cases: " + ', '.join(f'{v} {n}' for v, n in sorted(counts.items())) + f"; states left on disk: {left}")
    if a.json: Path(a.json).write_text(json.dumps(dict(counts=counts, left_on_disk=left, results=results), indent=1))
    return 0 if counts.get('typed', 0) == len(results) and not left else 1


if __name__ == '__main__':
    sys.exit(main())
