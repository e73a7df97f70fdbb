"tools/nb_outputs.py: committed outputs are written, cleaned and checked; stale, missing and failing cells fail the check."
import importlib.util, json
from pathlib import Path

import pytest

root = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location('nb_outputs', root/'tools'/'nb_outputs.py')
nb_outputs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(nb_outputs)


def code(source: str) -> dict: return dict(cell_type='code', execution_count=None, id=f'c{abs(hash(source)) % 10**6}', metadata={}, outputs=[], source=source)


def notebook(path: Path, *sources: str) -> Path:
    "A tiny notebook: a title cell, then one code cell per source."
    cells = [dict(cell_type='markdown', id='title', metadata={}, source='# demo\n> a test notebook')] + [code(s) for s in sources]
    meta = dict(kernelspec=dict(display_name='python3', language='python', name='python3'))
    path.write_text(json.dumps(dict(cells=cells, metadata=meta, nbformat=4, nbformat_minor=5), indent=1) + '\n')
    return path


def edit(path: Path, cell: int, f) -> None:
    "Apply `f` to cell number `cell` (from 1, as reports count) of the notebook at `path`."
    nb = json.loads(path.read_text())
    f(nb['cells'][cell - 1])
    path.write_text(json.dumps(nb, indent=1) + '\n')


@pytest.fixture
def run(monkeypatch, capsys):
    "Call the tool in this process (no worker pool); return (exit status, stdout + stderr)."
    for k in ('IN_TEST', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS'): monkeypatch.setenv(k, '')
    def _run(*args):
        status = nb_outputs.main([*map(str, args), '--n_workers', '0'])
        out = capsys.readouterr()
        return status, out.out + out.err
    return _run


@pytest.fixture
def demo(tmp_path, run) -> Path:
    "A notebook written once by the tool: values, a print, stderr noise, a skipped cell, a repr with an address."
    path = notebook(tmp_path/'demo.ipynb', 'import os, sys', '1 + 1', "print('hello'); print('noise', file=sys.stderr)",
                    "#| eval: false\nraise ValueError('never run')", "os.environ['IN_TEST'], [0.1 * 3]", 'object()')
    status, out = run(path)
    assert status == 0, out
    return path


def test_write_stores_outputs_clean_and_stable(demo, run):
    cells = json.loads(demo.read_text())['cells']
    assert cells[2]['outputs'][0]['data']['text/plain'] == ['2']
    assert [o.get('name') for o in cells[3]['outputs']] == ['stdout']  # stderr is dropped
    assert cells[4]['outputs'] == [] and cells[5]['outputs'][0]['data']['text/plain'] == ["('1', [0.30000000000000004])"]
    assert cells[6]['outputs'][0]['data']['text/plain'] == ['<object>']  # '<object at 0x…>', cleaned as nbdev_clean does
    assert all(c.get('execution_count') is None for c in cells)
    before = demo.read_bytes()
    assert run(demo)[0] == 0 and demo.read_bytes() == before


def test_check_passes_on_fresh_outputs(demo, run):
    status, out = run('--check', demo)
    assert status == 0 and '1/1 notebooks checked' in out


def test_check_fails_on_altered_output(demo, run):
    edit(demo, 3, lambda c: c['outputs'][0]['data'].update({'text/plain': ['3']}))
    status, out = run('--check', demo)
    assert status == 1 and "cell 3 ('1 + 1'): committed output differs" in out and '-3' in out and '+2' in out


def test_check_fails_on_missing_output(demo, run):
    edit(demo, 4, lambda c: c.update(outputs=[]))
    status, out = run('--check', demo)
    assert status == 1 and "cell 4 (\"print('hello'); print('noise', file=sys.stderr)\"): has no committed output" in out


def test_check_fails_on_raising_cell(demo, run):
    edit(demo, 3, lambda c: c.update(source='1 / 0'))
    status, out = run('--check', demo)
    assert status == 1 and "cell 3 ('1 / 0') raised" in out and 'ZeroDivisionError' in out and 'While Executing Cell' in out


def test_write_refuses_a_raising_notebook(demo, run):
    edit(demo, 3, lambda c: c.update(source='1 / 0'))
    before = demo.read_bytes()
    status, out = run(demo)
    assert status == 1 and 'raised, not written' in out and demo.read_bytes() == before


def test_numbers_compare_with_a_small_tolerance():
    assert nb_outputs.same_line('loss 0.30000000000000004', 'loss 0.3')
    assert nb_outputs.same_line('acc 0.1234', 'acc 0.1235')  # one unit of the last printed digit
    assert not nb_outputs.same_line('acc 0.1234', 'acc 0.1244')
    assert not nb_outputs.same_line('acc 0.5', 'acc 0.6') and not nb_outputs.same_line('0.012', '0.013')  # too few digits
    assert not nb_outputs.same_line('3 runs', '4 runs') and not nb_outputs.same_line('3 runs', '3 files')


def test_addresses_and_temp_paths_are_masked():
    import tempfile
    out = [dict(output_type='stream', name='stdout', text=[f'<A object at 0x7f3a2b1c9d00> {tempfile.gettempdir()}/tmpab12/x.json\n'])]
    assert nb_outputs.comparable(out) == ['[stdout]', '<A object at 0x…> <tmp>']


def test_a_cell_marked_varies_by_cpu_keeps_its_text_not_its_digits(tmp_path, run):
    path = notebook(tmp_path/'cpu.ipynb', "# varies by CPU: a trained result\n'acc 0.939, weights 1a590573d07a'", "'acc 0.939'")
    assert run(path)[0] == 0
    def replace(old, new):
        return lambda c: [o['data'].update({'text/plain': ''.join(o['data']['text/plain']).replace(old, new)}) for o in c['outputs']]
    edit(path, 2, replace('0.939, weights 1a590573d07a', '0.944, weights 3701059688b6'))  # other digits: accepted
    status, out = run(path, '--check')
    assert status == 0, out
    edit(path, 2, replace('acc', 'loss'))  # other text: refused
    status, out = run(path, '--check')
    assert status == 1 and 'cell 2' in out, out
    edit(path, 3, replace('0.939', '0.944'))  # an unmarked cell still compares its numbers
    status, out = run(path, '--check')
    assert 'cell 3' in out, out
