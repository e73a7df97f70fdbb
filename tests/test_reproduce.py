"""`geonb reproduce` and `geonb card`: a tiny card end to end, failures, bad parameters, tampering."""
import json, os, re
from pathlib import Path

import pytest
import yaml

from conftest import BIN, ROOT, run, write_notebook

TINY = '''import os, signal
from geonb.runs import RunBundle
from geonb.results import Record
if mode == "raise": raise ValueError("planned failure")
if mode == "die": os.kill(os.getpid(), signal.SIGKILL)
bundle = RunBundle(out_dir, params=dict(mode=mode, value=value, seed=seed), seed=seed)
bundle.finish([Record("accuracy", value + seed / 100, "fraction", "digits", "test", dict(train=10, test=5), "final weights", 1, seed)])'''


def tiny_card(tmp_path, runs, claims=()):
    "A card whose notebook writes a bundle with one score, raises, or kills its own kernel."
    write_notebook(tmp_path/'tiny.ipynb', 'mode: str = "ok"  # ok, raise or die\nvalue: float = 0.5  # the score to report\n'
                   'seed: int = 0  # seed\nout_dir: str = ""  # run folder', TINY)
    card = tmp_path/'cards'/'tiny'; card.mkdir(parents=True)
    (card/'card.yaml').write_text(yaml.safe_dump(dict(
        title='Tiny card', notebook=str(tmp_path/'tiny.ipynb'), summary='A test card.', baseline_run='base',
        claims=list(claims) or [dict(claim='score', reports=0.5, protocol='made up', source='test',
                                     record=dict(run='main', metric='accuracy', dataset='digits'), criterion=dict(at_least=0.4))])))
    (card/'smoke.yaml').write_text(yaml.safe_dump(dict(seeds=[0, 1], runs=runs)))
    return card


def reproduce(tmp_path, *args):
    env = {'GEONB_CARDS': str(tmp_path/'cards'), 'GEONB_RUNS': str(tmp_path/'runs')}
    return run(BIN/'geonb', 'reproduce', '--profile', 'smoke', *args, env=env) if '--resume' not in args else run(BIN/'geonb', 'reproduce', *args, env=env)


def test_tiny_card_end_to_end(tmp_path):
    card = tiny_card(tmp_path, {'main': {'value': 0.5}, 'base': {'value': 0.25}})
    r = reproduce(tmp_path, 'tiny')
    assert r.returncode == 0, r.stdout + r.stderr
    text = (card/'smoke'/'README.md').read_text()
    assert 'model-index' in text and '50.50% ± 0.71 (n=2 seeds)' in text and '25.50% ± 0.71 (n=2 seeds)' in text
    assert '| **holds** |' in text
    from huggingface_hub import ModelCard
    assert sorted(e.metric_value for e in ModelCard.load(card/'smoke'/'README.md').data.eval_results) == pytest.approx([0.255, 0.505])
    sessions = list((tmp_path/'runs'/'tiny').iterdir())
    info = json.loads((sessions[0]/'session.json').read_text())
    assert sorted((x['run'], x['seed'], x['status']) for x in info['runs']) == [('base', 0, 'complete'), ('base', 1, 'complete'), ('main', 0, 'complete'), ('main', 1, 'complete')]
    assert (sessions[0]/'main-seed0'/'main.ipynb').exists()  # the executed notebook beside its bundle
    assert not (card/'README.md').exists()  # only the quick profile's card sits in the card folder itself
    assert '[tiny](cards/tiny/smoke/README.md)' in (tmp_path/'index.md').read_text()


def test_failing_and_dead_runs_are_recorded_and_the_rest_go_on(tmp_path):
    card = tiny_card(tmp_path, {'main': {'value': 0.5}, 'broken': {'mode': 'raise'}, 'dead': {'mode': 'die'}})
    r = reproduce(tmp_path, 'tiny')
    assert r.returncode == 1
    assert 'ValueError: planned failure' in r.stdout and 'the kernel died' in r.stdout
    session = next((tmp_path/'runs'/'tiny').iterdir())
    failed = json.loads((session/'broken-seed0'/'manifest.json').read_text())
    assert failed['status'] == 'failed' and 'planned failure' in failed['error']
    assert (session/'broken-seed0'/'broken.ipynb').exists()  # the executed copy is kept
    assert json.loads((session/'dead-seed1'/'manifest.json').read_text())['status'] == 'failed'
    assert (card/'smoke'/'README.md').exists() and 'did not finish' in (card/'smoke'/'README.md').read_text()


@pytest.mark.parametrize('runs, message', [
    ({'main': {'valu': 0.5}}, "card tiny, run main: unknown parameter 'valu'; accepted keys: ['mode', 'out_dir', 'seed', 'value']"),
    ({'main': {'value': 'high'}}, "card tiny, run main: parameter 'value' must be float, found 'high' (str)"),
    ({'main': {'seed': 3}}, "'seed' is set by the runner"),
])
def test_bad_parameters_fail_before_any_kernel(tmp_path, runs, message):
    tiny_card(tmp_path, runs)
    r = reproduce(tmp_path, 'tiny')
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert not (tmp_path/'runs').exists()


def test_unknown_card_and_dry_run(tmp_path):
    tiny_card(tmp_path, {'main': {'value': 0.5}})
    r = reproduce(tmp_path, 'nope')
    assert r.returncode == 2 and "unknown card(s) ['nope']; registered cards: ['tiny']" in r.stderr
    r = reproduce(tmp_path, '--dry-run')
    assert r.returncode == 0 and '[2/2] tiny/main seed=1' in r.stdout and not (tmp_path/'runs').exists()


def test_tampered_bundle_is_refused(tmp_path):
    tiny_card(tmp_path, {'main': {'value': 0.5}, 'base': {'value': 0.25}})
    assert reproduce(tmp_path, 'tiny').returncode == 0
    session = next((tmp_path/'runs'/'tiny').iterdir())
    for folder in session.iterdir():
        if folder.is_dir():
            rows = json.loads((folder/'records.json').read_text()); rows[0]['value'] = 0.99
            (folder/'records.json').write_text(json.dumps(rows))
    r = run(BIN/'geonb', 'card', 'render', session, env={'GEONB_CARDS': str(tmp_path/'cards')})
    assert r.returncode == 2 and 'no run finished with a verifying bundle' in r.stderr


def test_two_sessions_merge_into_one_card(tmp_path):
    card = tiny_card(tmp_path, {'main': {'value': 0.5}, 'base': {'value': 0.25}})
    assert reproduce(tmp_path, 'tiny', '--runs', 'main').returncode == 0
    first = (card/'smoke'/'README.md').read_text()
    assert '50.50% ± 0.71 (n=2 seeds)' in first and '25.50%' not in first
    assert reproduce(tmp_path, 'tiny', '--runs', 'base').returncode == 0
    merged = json.loads((card/'smoke'/'results.json').read_text())
    assert len(merged['sessions']) == 2 and sorted({b['run'] for b in merged['bundles']}) == ['base', 'main']
    text = (card/'smoke'/'README.md').read_text()
    assert '50.50% ± 0.71 (n=2 seeds)' in text and '25.50% ± 0.71 (n=2 seeds) (base)' in text
    assert str(tmp_path) not in text and str(tmp_path) not in (card/'smoke'/'results.json').read_text()


def test_committed_cards_have_no_unrendered_fields():
    field = re.compile(r'\{\{|\{%|\{[A-Za-z_][\w.]*(\[[^\]]*\])?\}')
    pages = [*ROOT.glob('reports/cards/*/README.md'), *ROOT.glob('reports/cards/*/*/README.md'), ROOT/'reports'/'index.md']
    for page in pages:
        if page.exists():
            hit = field.search(page.read_text())
            assert hit is None, f'{page}: unrendered template field {hit.group(0)!r}'


def test_parallel_jobs_keep_plan_order_and_record_failures(tmp_path):
    card = tiny_card(tmp_path, {'main': {'value': 0.5}, 'broken': {'mode': 'raise'}, 'base': {'value': 0.25}})
    r = reproduce(tmp_path, 'tiny', '--jobs', '2')
    assert r.returncode == 1, r.stdout + r.stderr
    assert 'ValueError: planned failure' in r.stdout
    session = next((tmp_path/'runs'/'tiny').iterdir())
    info = json.loads((session/'session.json').read_text())
    assert [(x['run'], x['seed'], x['status']) for x in info['runs']] == [  # plan order (safe_dump sorts the runs)
        ('base', 0, 'complete'), ('base', 1, 'complete'), ('broken', 0, 'failed'), ('broken', 1, 'failed'),
        ('main', 0, 'complete'), ('main', 1, 'complete')]
    assert '50.50% ± 0.71 (n=2 seeds)' in (card/'smoke'/'README.md').read_text()


def test_bad_jobs_is_refused_before_any_kernel(tmp_path):
    tiny_card(tmp_path, {'main': {'value': 0.5}})
    r = reproduce(tmp_path, 'tiny', '--jobs', '0')
    assert r.returncode == 2 and 'jobs must be an int from 1 to' in r.stderr, r.stderr
    assert not (tmp_path/'runs').exists()


@pytest.mark.parametrize('spec, message', [
    ({'dataset': 'nosuchdata'}, "parameter 'dataset' must be a dataset registered in geonb.data.DATASETS"),
    ({'model': 'resnet'}, "parameter 'model' must be one of ['mlp', 'cnn'] (the notebook's [one of: mlp, cnn]), found 'resnet'"),
    ({'epochs': 0}, "parameter 'epochs' must be at least 1 (the notebook's [at least 1]), found 0"),
    ({'lr': 0.0}, "parameter 'lr' must be x > 0"),
    ({'valid_fraction': 1.0}, "parameter 'valid_fraction' must be 0 ≤ x < 1"),
])
def test_out_of_range_values_of_a_real_notebook_are_refused_in_the_plan(tmp_path, spec, message):
    "The baseline notebook's own constraints refuse a value before any kernel starts (a dry run plans and checks everything)."
    card = tmp_path/'cards'/'real'; card.mkdir(parents=True)
    (card/'card.yaml').write_text(yaml.safe_dump(dict(title='Real notebook', notebook='nbs/experiments/baseline.ipynb', claims=[])))
    (card/'smoke.yaml').write_text(yaml.safe_dump(dict(seeds=[0], runs={'mlp': dict(model='mlp', **spec) if 'model' not in spec else spec})))
    r = reproduce(tmp_path, 'real', '--dry-run')
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert not (tmp_path/'runs').exists()


def snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob('*')) if p.is_file()}


def test_a_tampered_bundle_is_left_out_with_its_reason_even_from_a_moved_session(tmp_path):
    tiny_card(tmp_path, {'main': {'value': 0.5}, 'base': {'value': 0.25}})
    assert reproduce(tmp_path, 'tiny').returncode == 0
    session = next((tmp_path/'runs'/'tiny').iterdir())
    moved = tmp_path/'elsewhere'/'my-session'; moved.parent.mkdir(); session.rename(moved)  # not under <runs>/<card>/<profile>-<time>
    rows = json.loads((moved/'main-seed0'/'records.json').read_text()); rows[0]['value'] = 0.99
    (moved/'main-seed0'/'records.json').write_text(json.dumps(rows))
    before = snapshot(moved)
    r = run(BIN/'geonb', 'card', 'render', moved, env={'GEONB_CARDS': str(tmp_path/'cards')})
    assert r.returncode == 0, r.stderr
    lines = r.stderr.strip().splitlines()
    assert lines == ['geonb card: warning: card tiny: run main seed 0 of session my-session is left out: '
                     f'main-seed0: artifact records.json was modified after the run {lines[0].split("modified after the run ")[1]}'], r.stderr
    text = (tmp_path/'cards'/'tiny'/'smoke'/'README.md').read_text()
    assert '99' not in text.split('## ')[0] and '51.00% (n=1' in text  # only seed 1 of main counts (0.5 + 1/100)
    assert snapshot(moved) == before


def test_resuming_a_complete_session_is_refused_and_changes_nothing(tmp_path):
    tiny_card(tmp_path, {'main': {'value': 0.5}, 'base': {'value': 0.25}})
    assert reproduce(tmp_path, 'tiny').returncode == 0
    session = next((tmp_path/'runs'/'tiny').iterdir())
    before = snapshot(tmp_path)
    r = reproduce(tmp_path, '--resume', str(session))
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        f'geonb reproduce: error: session {session} is complete (4 of 4 runs verify): nothing to resume; render its card with `geonb card render {session}`'], r.stderr
    assert snapshot(tmp_path) == before


def test_a_cuda_run_on_a_machine_without_cuda_is_refused_before_any_kernel(tmp_path):
    import torch
    if torch.cuda.is_available(): pytest.skip('this machine has CUDA')
    card = tmp_path/'cards'/'real'; card.mkdir(parents=True)
    (card/'card.yaml').write_text(yaml.safe_dump(dict(title='Real notebook', notebook='nbs/experiments/baseline.ipynb', claims=[])))
    (card/'smoke.yaml').write_text(yaml.safe_dump(dict(seeds=[0], runs={'mlp': dict(model='mlp', device='cuda')})))
    r = reproduce(tmp_path, 'real')
    assert r.returncode == 2 and 'run real/mlp seed=0 sets device: cuda, but CUDA is not available on this machine' in r.stderr, r.stderr
    assert not (tmp_path/'runs').exists()


@pytest.mark.parametrize('edit, message', [
    (lambda d: d['records'][0].update(value=0.99), 'edited after the card was rendered (its results_sha256 does not match its content)'),
    (lambda d: d.pop('results_sha256'), 'edited after the card was rendered'),
    (lambda d: d['records'][0].pop('metric'), 'edited after the card was rendered'),
])
def test_the_index_refuses_a_results_json_edited_after_rendering(tmp_path, edit, message):
    card = tiny_card(tmp_path, {'main': {'value': 0.5}, 'base': {'value': 0.25}})
    assert reproduce(tmp_path, 'tiny').returncode == 0
    ledger = json.loads((card/'smoke'/'results.json').read_text()); edit(ledger)
    (card/'smoke'/'results.json').write_text(json.dumps(ledger))
    before = snapshot(tmp_path)
    r = run(BIN/'geonb', 'card', 'index', env={'GEONB_CARDS': str(tmp_path/'cards')})
    assert r.returncode == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert snapshot(tmp_path) == before


def test_an_executed_notebook_edited_after_the_run_is_not_linked_and_is_named(tmp_path):
    card = tiny_card(tmp_path, {'main': {'value': 0.5}, 'base': {'value': 0.25}})
    assert reproduce(tmp_path, 'tiny').returncode == 0
    session = next((tmp_path/'runs'/'tiny').iterdir())
    nb = session/'main-seed1'/'main.ipynb'; nb.write_text(nb.read_text().replace('"cells"', '"cells" ', 1))
    r = run(BIN/'geonb', 'card', 'render', session, env={'GEONB_CARDS': str(tmp_path/'cards')})
    assert r.returncode == 0 and r.stderr.strip().splitlines() == [
        'geonb card: warning: card tiny: the executed notebook of run main seed 1 is left out: the notebook changed after the run (sha256 differs from session.json)'], r.stderr
    ledger = json.loads((card/'smoke'/'results.json').read_text())
    assert [n['file'] for n in ledger['notebooks'] if n['run'] == 'main'] == ['runs/main-seed0.ipynb', None]
    assert not (card/'smoke'/'runs'/'main-seed1.ipynb').exists()
