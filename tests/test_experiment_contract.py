"""Every experiment notebook keeps geonb's papermill contract (Colab cell, one documented parameters cell, checked
parameters), finishes its bundle with typed records, and the README links it for Colab."""
import json
from pathlib import Path

import papermill
import pytest

from conftest import ROOT

EXPERIMENTS = sorted((ROOT/'nbs'/'experiments').glob('*.ipynb'))


def code_cells(nb_path):
    return [c for c in json.loads(nb_path.read_text())['cells'] if c['cell_type'] == 'code']


@pytest.mark.parametrize('nb', EXPERIMENTS, ids=lambda p: p.name)
def test_colab_guard_then_one_documented_parameters_cell(nb):
    cells = code_cells(nb)
    first = ''.join(cells[0]['source'])
    assert "'google.colab' in sys.modules" in first, 'the first code cell must be the guarded Colab install cell'
    tagged = [i for i, c in enumerate(cells) if 'parameters' in c.get('metadata', {}).get('tags', [])]
    assert tagged == [1], f'exactly one parameters cell, right after the Colab cell; found at {tagged}'
    params = papermill.inspect_notebook(str(nb))
    declared = [l.split(':')[0].split('=')[0].strip() for l in ''.join(cells[1]['source']).splitlines()
                if l.strip() and not l.lstrip().startswith('#')]
    assert declared == list(params), f'papermill could not parse {sorted(set(declared) - set(params))} (an "=" in a help comment?)'
    assert {'seed', 'out_dir'} <= set(params), f'missing seed/out_dir in {sorted(params)}'
    assert 'dataset' in params or 'datasets' in params or 'settings' in params
    undocumented = [k for k, v in params.items() if not v['help'] or v['inferred_type_name'] == 'None']
    assert not undocumented, f'parameters without `name: type = value  # help`: {undocumented}'
    assert 'check_params(globals()' in ''.join(''.join(c['source']) for c in cells[2:5])


@pytest.mark.parametrize('nb', EXPERIMENTS, ids=lambda p: p.name)
def test_readme_has_an_open_in_colab_badge(nb):
    readme = (ROOT/'README.md').read_text()
    assert f'colab.research.google.com/github/geonb/geonb/blob/main/nbs/experiments/{nb.name}' in readme


# The notebooks already moved to typed records; every experiment notebook joins this list as it moves.
ON_RECORDS = ['baseline.ipynb', 'bench_data.ipynb', 'bench_david.ipynb', 'bench_ph.ipynb', 'bench_train.ipynb', 'pentachora.ipynb', 'ph_claims.ipynb', 'ph_training.ipynb', 'ska.ipynb']


@pytest.mark.parametrize('nb', [p for p in EXPERIMENTS if p.name in ON_RECORDS], ids=lambda p: p.name)
def test_bundle_is_finished_with_typed_records(nb):
    source = '\n'.join(''.join(c['source']) for c in code_cells(nb))
    assert 'results_markdown' not in source and 'records_markdown' in source, 'the last cell shows the records with geonb.runs.records_markdown'
    assert 'bundle.finish(' in source and any(w in source for w in ('Record(', 'accuracy_record(', '_records(')), 'bundle.finish takes geonb.results.Record objects'
