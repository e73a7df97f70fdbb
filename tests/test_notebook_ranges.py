"""The experiment notebooks refuse out-of-range values themselves (papermill and Colab run them without the
runner's plan): a typed error naming the parameter, the range and the value, before any run folder exists.
Each case starts a kernel (several seconds), so two of them run in `make test-slow` only."""
import pytest

from conftest import papermill_real_notebook


@pytest.mark.parametrize('notebook, args, message', [
    ('pentachora', ['-p', 'lr', '-0.5'], 'ConfigError: lr in pentachora.ipynb: expected a finite number >= 0 (0 uses the size-aware rule), found -0.5'),
    pytest.param('pentachora', ['-p', 'size', '4'], 'ConfigError: size in pentachora.ipynb: expected an integer >= 8, found 4', marks=pytest.mark.slow),
    ('ph_training', ['-p', 'lr', 'fast'], "ConfigError: lr in ph_training.ipynb: expected 'auto' or a learning rate such as 1e-3, found 'fast'"),
    pytest.param('ska', ['-p', 'K', '1'], 'ConfigError: K in ska.ipynb: expected an integer >= 2, found 1', marks=pytest.mark.slow),
    ('ska', ['-p', 'invariance_pairs', '0.02:25,-0.01:50'], 'ConfigError: invariance_pairs in ska.ipynb: expected η > 0 and K >= 1 in each η:K pair, found [(-0.01, 50)]'),
    pytest.param('ph_claims', ['-p', 'settings', 'digits@1000'], "ConfigError: settings in ph_claims.ipynb: 'digits@1000' asks for 1000 images per class; digits/train has 139", marks=pytest.mark.slow),
    ('ph_claims', ['-p', 'eps', '0.0'], 'ConfigError: eps in ph_claims.ipynb: expected a finite number > 0, found 0.0'),
    ('baseline', ['-p', 'epoch', '3'], "ConfigError: baseline.ipynb: unknown parameter(s) ['epoch']; the notebook's parameters are"),
    ('pentachora', ['-p', 'train_per_class', '1000000'], 'InputError: train_per_class in pentachora.ipynb: expected an integer from 0 to'),
    ('pentachora', ['-p', 'size', '1000000'], "ConfigError: size in pentachora.ipynb: expected a value whose work fits in this machine's"),
    pytest.param('ska', ['-p', 'layers', '1000000000,10'], "ConfigError: layers in ska.ipynb: expected a value whose work fits", marks=pytest.mark.slow),
    pytest.param('conduit', ['-p', 'size', '40000'], "ConfigError: size in conduit.ipynb: expected a value whose work fits", marks=pytest.mark.slow),
    pytest.param('baseline', ['-p', 'device', 'cuda'], "ConfigError: device 'cuda' was requested but CUDA is not available on this machine",
                 marks=pytest.mark.skipif(__import__('torch').cuda.is_available(), reason='this machine has CUDA')),
])
def test_out_of_range_values_stop_the_notebook_before_anything_is_written(tmp_path, notebook, args, message):
    r, out = papermill_real_notebook(tmp_path, f'nbs/experiments/{notebook}.ipynb', *args)
    assert r.returncode != 0 and message in (r.stdout + r.stderr), (r.stdout + r.stderr)[-2000:]
    assert not out.exists()
