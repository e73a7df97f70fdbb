"""conduit.ipynb refuses bad values: in the runner's plan (no kernel starts) and in the notebook itself (nothing is written)."""
import pytest

from conftest import papermill_real_notebook, plan_real_notebook


@pytest.mark.parametrize('spec, message', [
    ({'channels': 'SX'}, "parameter 'channels' must be one of ['S', 'F', 'E', 'T', 'SF', 'SE', 'SFE', 'SFET']"),
    ({'channels': 'FS'}, "parameter 'channels' must be one of"),
    ({'control': 'random'}, "parameter 'control' must be one of ['none', 'pixels', 'eigh']"),
    ({'valid_fraction': 0.0}, "parameter 'valid_fraction' must be 0 < x < 1"),
    ({'epochs': 0}, "parameter 'epochs' must be at least 1"),
    ({'svae_lr': -1.0}, "parameter 'svae_lr' must be x > 0"),
    ({'dataset': 'cifar100'}, "parameter 'dataset' must be a dataset registered"),
])
def test_bad_values_are_refused_in_the_plan(tmp_path, spec, message):
    r = plan_real_notebook(tmp_path, 'nbs/experiments/conduit.ipynb', spec)
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert not (tmp_path/'runs').exists()


@pytest.mark.parametrize('args, message', [
    (['-p', 'size', '30'], 'size in conduit.ipynb: expected a multiple of the patch size 4'),
    (['-p', 'svae_size', '10'], 'svae_size in conduit.ipynb: expected a multiple of the patch size 4'),
])
def test_bad_values_stop_the_notebook_before_anything_is_written(tmp_path, args, message):
    r, out = papermill_real_notebook(tmp_path, 'nbs/experiments/conduit.ipynb', *args)
    assert r.returncode != 0 and message in (r.stdout + r.stderr), r.stderr[-2000:]
    assert not out.exists()
