"""david.ipynb refuses bad values: in the runner's plan (no kernel starts) and in the notebook itself (nothing is written)."""
import pytest
import yaml

from conftest import BIN, ROOT, run


def plan(tmp_path, spec):
    card = tmp_path/'cards'/'d'; card.mkdir(parents=True)
    (card/'card.yaml').write_text(yaml.safe_dump(dict(title='David plumbing', notebook=str(ROOT/'nbs/experiments/david.ipynb'), claims=[])))
    (card/'smoke.yaml').write_text(yaml.safe_dump(dict(seeds=[0], runs={'main': spec})))
    env = {'GEONB_CARDS': str(tmp_path/'cards'), 'GEONB_RUNS': str(tmp_path/'runs')}
    return run(BIN/'geonb', 'reproduce', 'd', '--profile', 'smoke', '--dry-run', env=env)


@pytest.mark.parametrize('spec, message', [
    ({'head': 'svm'}, "parameter 'head' must be one of ['david', 'linear', 'logistic', 'ncm']"),
    ({'ablation': 'no_rose'}, "parameter 'ablation' must be one of ['full', 'ce_only'"),
    ({'features': 'dino'}, "parameter 'features' must be one of ['cnn', 'clip', 'imagenet_clip']"),
    ({'k': 0}, "parameter 'k' must be at least 1"),
    ({'tau': 0.0}, "parameter 'tau' must be x > 0"),
    ({'dataset': 'imagenet'}, "parameter 'dataset' must be a dataset registered"),
])
def test_bad_values_are_refused_in_the_plan(tmp_path, spec, message):
    r = plan(tmp_path, spec)
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert not (tmp_path/'runs').exists()


@pytest.mark.parametrize('args, message', [
    (['-p', 'single_eval', '-1'], 'single_eval in david.ipynb: expected an integer >= 0, found -1'),
    (['-p', 'scales', '384,512,300000'], 'training needs about'),
])
def test_bad_values_stop_the_notebook_before_anything_is_written(tmp_path, args, message):
    out = tmp_path/'run'
    r = run(BIN/'papermill', '-k', 'python3', str(ROOT/'nbs/experiments/david.ipynb'), str(tmp_path/'out.ipynb'), '-p', 'out_dir', str(out), *args)
    assert r.returncode != 0 and message in (r.stdout + r.stderr), r.stderr[-2000:]
    assert not out.exists()
