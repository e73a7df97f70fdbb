"""david.ipynb refuses bad values: in the runner's plan (no kernel starts) and in the notebook itself (nothing is written)."""
import pytest

from conftest import papermill_real_notebook, plan_real_notebook


@pytest.mark.parametrize('spec, message', [
    ({'head': 'svm'}, "parameter 'head' must be one of ['david', 'linear', 'logistic', 'ncm']"),
    ({'ablation': 'no_rose'}, "parameter 'ablation' must be one of ['full', 'ce_only'"),
    ({'features': 'dino'}, "parameter 'features' must be one of ['cnn', 'clip', 'imagenet_clip']"),
    ({'k': 0}, "parameter 'k' must be at least 1"),
    ({'tau': 0.0}, "parameter 'tau' must be x > 0"),
    ({'dataset': 'imagenet'}, "parameter 'dataset' must be a dataset registered"),
])
def test_bad_values_are_refused_in_the_plan(tmp_path, spec, message):
    r = plan_real_notebook(tmp_path, 'nbs/experiments/david.ipynb', spec)
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert not (tmp_path/'runs').exists()


@pytest.mark.parametrize('args, message', [
    (['-p', 'single_eval', '-1'], 'single_eval in david.ipynb: expected an integer >= 0, found -1'),
    (['-p', 'scales', '384,512,300000'], 'training needs about'),
])
def test_bad_values_stop_the_notebook_before_anything_is_written(tmp_path, args, message):
    r, out = papermill_real_notebook(tmp_path, 'nbs/experiments/david.ipynb', *args)
    assert r.returncode != 0 and message in (r.stdout + r.stderr), r.stderr[-2000:]
    assert not out.exists()
