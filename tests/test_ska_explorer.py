"""The SKA Single Digit Explorer: its callbacks as plain functions, and the Gradio app driven in a headless Chromium."""
import os, socket, time

import pytest

os.environ.setdefault('GRADIO_ANALYTICS_ENABLED', 'False')

from conftest import chromium
from geonb.core import GeonbError
from geonb.ska.explorer import (ExplorerInputError, ExplorerDependencyError, clear_history, history_rows,
                                run_and_archive, explorer_cli)

TINY = dict(n1=16, n2=16, n3=8, n4=4, K=5, tau=0.5, samples=20)  # each run well under a second


def _run(digit, history, seed=0, **kw):
    s = {**TINY, **kw}
    return run_and_archive(digit, s['n1'], s['n2'], s['n3'], s['n4'], s['K'], s['tau'], s['samples'], seed, history,
                           figsize=(4, 8))


def test_history_grows_and_clears():
    h, fig, rows = _run(2, [])
    h, fig, rows = _run(5, h, seed=3)
    assert [r[0] for r in rows] == [1, 2] and [r[1] for r in rows] == [2, 5] and rows[1][6] == 3
    assert rows == history_rows(h) and len(fig.axes) >= 3
    assert len(h[1]['entropy_history_norm']) == 4 and len(h[1]['entropy_history_norm'][0]) == TINY['K'] - 1
    empty, efig, erows = clear_history()
    assert empty == [] and erows == [] and not efig.axes


def test_runs_are_reproducible_and_seed_dependent():
    a, _, _ = _run(7, None)
    b, _, _ = _run(7, None)
    c, _, _ = _run(7, None, seed=1)
    assert a[0]['convergence_state'] == b[0]['convergence_state']
    assert a[0]['convergence_state'] != c[0]['convergence_state']


@pytest.mark.parametrize('bad', [dict(digit=10), dict(digit=-1), dict(n2=0), dict(K=1), dict(tau=0.0), dict(tau=-0.5),
                                 dict(samples=0), dict(n1=2.5), dict(seed=-1)])
def test_bad_input_raises(bad):
    digit, seed = bad.pop('digit', 1), bad.pop('seed', 0)
    with pytest.raises(ExplorerInputError) as e: _run(digit, [], seed=seed, **bad)
    assert isinstance(e.value, ValueError) and isinstance(e.value, GeonbError)


def test_cli_refuses_share(capsys):
    assert explorer_cli(['--share']) == 2
    assert 'refused' in capsys.readouterr().err


def test_cli_without_gradio(monkeypatch, capsys):
    import sys
    monkeypatch.setitem(sys.modules, 'gradio', None)
    assert explorer_cli([]) == 2
    assert 'pip install "geonb[app]"' in capsys.readouterr().err
    assert issubclass(ExplorerDependencyError, ImportError) and issubclass(ExplorerDependencyError, GeonbError)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _rows(page) -> int:
    "Data rows of the history table, from the grid's aria-rowcount (which counts the header row)."
    return int(page.get_attribute('#ska-history [role=grid]', 'aria-rowcount')) - 1


def _wait_rows(page, n: int, timeout: float = 20.0) -> int:
    end = time.time() + timeout
    while time.time() < end:
        if _rows(page) == n: return n
        page.wait_for_timeout(200)
    return _rows(page)


def test_browser_run_archive_clear():
    pytest.importorskip('gradio', reason='gradio is not installed (pip install "geonb[app]")')
    from geonb.ska.explorer import build_app
    app = build_app(figsize=(4, 8))
    port = _free_port()
    app.launch(server_name='127.0.0.1', server_port=port, prevent_thread_lock=True, quiet=True, share=False)
    try:
        with chromium() as browser:
            page = browser.new_page()
            page.goto(f'http://127.0.0.1:{port}/')
            page.wait_for_selector('#ska-run', timeout=30_000)
            assert page.title() == 'SKA Single Digit Explorer'
            page.locator('#ska-digit label', has_text='3').first.click()
            for name, value in TINY.items():
                box = page.locator(f'#ska-{name} input[type=number]')
                box.fill(str(value)); box.press('Enter')
            assert _rows(page) == 0 and page.locator('#ska-plot img').count() == 0
            k = page.locator('#ska-K input[type=number]')
            k.fill('1'); k.press('Enter')  # the slider allows K = 1, the callback refuses it
            page.click('#ska-run')
            page.get_by_text('K: expected an integer in [2, 200], got 1').first.wait_for(timeout=20_000)
            assert _rows(page) == 0
            k.fill(str(TINY['K'])); k.press('Enter')
            page.click('#ska-run')
            assert _wait_rows(page, 1) == 1
            page.click('#ska-run')
            assert _wait_rows(page, 2) == 2
            text = page.inner_text('#ska-history')
            assert '[16, 16, 8, 4]' in text, text  # the tiny settings reached the run
            assert page.locator('#ska-plot img').count() == 1  # the comparison figure arrived
            page.click('#ska-clear')
            assert _wait_rows(page, 0) == 0
    finally:
        app.close()


@pytest.mark.parametrize('argv, message', [
    (['--port', '99999'], '--port: expected a port in [1, 65535], found 99999'),
    (['--port', '-1'], '--port: expected a port in [1, 65535], found -1'),
    (['--port', 'http'], "argument --port: invalid int value: 'http'"),
    (['--dataset', 'nosuchdata'], "argument --dataset: invalid choice: 'nosuchdata'"),
    (['--host', 'no.such.host.invalid', '--port', '7999'], '--host/--port: cannot listen on no.such.host.invalid:7999'),
])
def test_cli_refuses_bad_options_in_one_line_before_serving(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert explorer_cli(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith('geonb ska-explorer: error: ') and message in err and err.count('\n') == 1, err
    assert list(tmp_path.iterdir()) == []


def test_cli_refuses_a_busy_port_and_a_missing_dataset(capsys, tmp_path, monkeypatch):
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); s.listen(1)
        assert explorer_cli(['--port', str(s.getsockname()[1])]) == 2
    assert 'cannot listen on 127.0.0.1:' in capsys.readouterr().err
    monkeypatch.setenv('GEONB_DATA', str(tmp_path))
    import geonb.data as gd
    monkeypatch.setattr(gd, '_CACHE', {})
    monkeypatch.setattr(gd, 'search_dirs', lambda root=None: [tmp_path])
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); free = s.getsockname()[1]
    assert explorer_cli(['--dataset', 'mnist', '--port', str(free)]) == 2
    err = capsys.readouterr().err
    assert "dataset 'mnist': files not found" in err and err.count('\n') == 1, err
