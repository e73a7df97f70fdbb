"""`geonb reproduce` on Dask: a scheduler and two workers on 127.0.0.1, one killed mid-run; an unreachable scheduler; a runs folder the workers cannot see."""
import json, os, signal, socket, subprocess, sys, time
from pathlib import Path

import pytest

from conftest import BIN, ROOT
from test_faults import TRAIN, alive, results, the_session, train_card, wait_for

import distributed  # the dask extra, which `make test` installs: without it these tests fail rather than vanish

# The training notebook of the fault tests, plus a callback that notes the step each attempt starts from.
STARTS = '''class Start(Callback):
    "Append the step this attempt starts training from to the session folder's starts-seed<seed>.txt."
    def before_fit(self, learner):
        with open(os.path.join(out_dir, '..', f'starts-seed{seed}.txt'), 'a') as f: f.write(f'{learner.step}\\n')
'''


def card(root: Path) -> Path:
    "The fault tests' training card, its notebook also noting the step each attempt starts from; one run per seed (0 and 1)."
    body = TRAIN.replace('seed_everything(seed)\n', STARTS + 'seed_everything(seed)\n', 1).replace('callbacks=[Pace()]', 'callbacks=[Pace(), Start()]')
    assert 'Start()' in body and 'class Start' in body
    return train_card(root, body=body, pause=0.05)


def env(root: Path) -> dict:
    return {**os.environ, 'GEONB_CARDS': str(root/'cards'), 'GEONB_RUNS': str(root/'runs'), 'OMP_NUM_THREADS': '1', 'PYTHONUNBUFFERED': '1'}


def geonb(root: Path, *args, **kw):
    "`geonb reproduce tiny --profile smoke ARGS` in a process group of its own."
    return subprocess.Popen([str(BIN/'geonb'), 'reproduce', 'tiny', '--profile', 'smoke', '--timeout', '120', *map(str, args)], cwd=ROOT, env=env(root),
                            start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.fixture
def cluster(tmp_path):
    "`dask scheduler` and two `dask worker --nthreads 1` on 127.0.0.1, w0 with a GPU resource, w1 without; every process they started is ended afterwards."
    address, procs, logs = f'tcp://127.0.0.1:{free_port()}', {}, tmp_path/'dask-logs'
    logs.mkdir()
    def start(name, *args):
        with open(logs/f'{name}.log', 'w') as log:
            procs[name] = subprocess.Popen([str(BIN/'dask'), *args], cwd=ROOT, env=env(tmp_path), start_new_session=True, stdout=log, stderr=subprocess.STDOUT)
    try:
        start('scheduler', 'scheduler', '--host', '127.0.0.1', '--port', address.rsplit(':', 1)[1], '--no-dashboard')
        for name, gpu in (('w0', ['--resources', 'GPU=1']), ('w1', [])):  # w0 declares a GPU (the tests need no real one)
            start(name, 'worker', address, '--nthreads', '1', '--name', name, '--host', '127.0.0.1', '--no-dashboard', *gpu)
        with distributed.Client(address, timeout=30) as client: client.wait_for_workers(2, timeout=60)
        yield address, procs
    finally:
        for p in procs.values():
            if p.poll() is None: os.killpg(p.pid, signal.SIGKILL)
            p.wait()


@pytest.fixture(scope='module')
def local(tmp_path_factory) -> dict:
    "The records and weights of the same card run on this machine, two jobs side by side."
    root = tmp_path_factory.mktemp('local')
    card(root)
    p = geonb(root, '--jobs', 2)
    out, err = p.communicate(timeout=150)
    assert p.returncode == 0, out + err
    return results(the_session(root))


def test_a_worker_killed_mid_run_is_rescheduled_and_resumes_to_the_uninterrupted_result(tmp_path, cluster, local):
    address, procs = cluster
    folder, t0 = card(tmp_path), time.time()
    p = geonb(tmp_path, '--scheduler', address)
    kernels = []
    try:
        session = wait_for(lambda: the_session(tmp_path), p)
        wait_for(lambda: (session/'session.json').exists(), p)  # the folder is made (and locked) a moment before
        entry = lambda: json.loads((session/'session.json').read_text())['runs'][1]  # main-seed1
        wait_for(lambda: (entry().get('worker') or {}).get('kernel') and list(session.glob('main-seed1/checkpoint/ckpt-*.json')), p)
        victim = entry()['worker']
        kernels.append(victim['kernel'])
        os.killpg(procs[victim['name']].pid, signal.SIGKILL); procs[victim['name']].wait()  # the worker and its nanny, mid-run
        out, err = p.communicate(timeout=150)
    finally:
        if p.poll() is None: os.killpg(p.pid, signal.SIGKILL); p.wait()
        for pid in kernels:
            if alive(pid): os.kill(pid, signal.SIGKILL)
    assert p.returncode == 0, out + err
    info = json.loads((session/'session.json').read_text())
    assert info['status'] == 'complete' and info['cluster'] == address and [r['status'] for r in info['runs']] == ['complete', 'complete']
    survivor = 'w0' if victim['name'] == 'w1' else 'w1'
    assert info['runs'][1]['worker']['name'] == survivor and info['runs'][0]['attempts'] == []
    assert [(a['status'], a['error']) for a in info['runs'][1]['attempts']] == [('interrupted', f"worker {victim['name']} was lost")]
    starts = (session/'starts-seed1.txt').read_text().split()
    assert len(starts) == 2 and starts[0] == '0' and int(starts[1]) >= 4, starts  # the second attempt resumed from a checkpoint
    assert (session/'starts-seed0.txt').read_text().split() == ['0']
    assert 'main-seed1' in out and '(again: its worker was lost)' in out, out
    assert results(session) == local  # records and weights, byte for byte
    assert (folder/'smoke'/'README.md').exists()
    assert not alive(victim['kernel'])  # the lost worker's kernel ended on its own
    print(f'cluster session with a worker killed: {time.time() - t0:.1f} s')


def test_cuda_runs_go_only_to_workers_that_declare_a_gpu(tmp_path, cluster):
    "Runs whose notebook is missing fail at once on whichever worker takes them; the session says which one did."
    from geonb import reproduce as rp
    address, _ = cluster
    runs = [rp.PlannedRun('tiny', name, s, tmp_path/'missing.ipynb', dict(seed=s, **params), tmp_path/'runs'/'tiny'/'smoke-x'/f'{name}-seed{s}')
            for name, params in (('gpu', dict(device='cuda')), ('cpu', dict(device='cpu'))) for s in range(4)]
    session = rp.Session.new('tiny', 'smoke', runs)
    with distributed.Client(address, timeout=30) as client: outcomes = rp._run_on_cluster(client, runs, {session.folder: session}, 60)
    assert [o.status for o in outcomes] == ['failed'] * 8 and all('FileNotFoundError' in o.error for o in outcomes)
    took = {(e['run'], e['worker']['name']) for e in json.loads((session.folder/'session.json').read_text())['runs']}
    assert {w for run, w in took if run == 'gpu'} == {'w0'}, took  # cpu runs may go to either worker


def test_an_unreachable_scheduler_is_refused_before_anything_is_written(tmp_path, monkeypatch, capsys):
    from geonb import reproduce as rp
    from geonb.cli import main
    card(tmp_path)
    monkeypatch.setenv('GEONB_CARDS', str(tmp_path/'cards')); monkeypatch.setenv('GEONB_RUNS', str(tmp_path/'runs'))
    monkeypatch.setattr(rp, 'CONNECT_SECONDS', 2)  # the default is 10 s
    address = f'tcp://127.0.0.1:{free_port()}'  # nothing listens there
    assert main(['reproduce', 'tiny', '--profile', 'smoke', '--scheduler', address]) == 2
    assert capsys.readouterr().err.splitlines() == [f'geonb reproduce: error: cannot reach a Dask scheduler at {address} within 2 s '
                                                    f'(OSError: Timed out trying to connect to {address} after 2 s); expected a running `dask scheduler` there']
    assert not (tmp_path/'runs').exists()


def test_jobs_beside_a_cluster_and_a_bad_cluster_are_refused(tmp_path, monkeypatch, capsys):
    from geonb.cli import main
    card(tmp_path)
    monkeypatch.setenv('GEONB_CARDS', str(tmp_path/'cards')); monkeypatch.setenv('GEONB_RUNS', str(tmp_path/'runs'))
    for args, message in [(('--cluster', 'local:2', '--jobs', '2'), 'on a cluster each worker thread runs one run at a time: drop --jobs 2 (found it with --cluster)'),
                          (('--cluster', 'local:0'), "a cluster must be local:N with N from 1 to"),
                          (('--cluster', 'local:1', '--scheduler', 'tcp://127.0.0.1:1'), 'argument --scheduler: not allowed with argument --cluster')]:
        try: code = main(['reproduce', 'tiny', '--profile', 'smoke', *args])
        except SystemExit as e: code = e.code  # a usage error, from argparse
        err = capsys.readouterr().err
        assert code == 2 and message in err, (args, err)
    assert not (tmp_path/'runs').exists()


def test_a_runs_folder_the_workers_cannot_see_is_refused_before_any_session(tmp_path, monkeypatch):
    "A worker that cannot read the token (as on a machine without the shared filesystem): nothing is submitted or written."
    from geonb import reproduce as rp
    card(tmp_path)
    monkeypatch.setenv('GEONB_CARDS', str(tmp_path/'cards'))
    def blind(path): raise FileNotFoundError(2, 'No such file or directory', path)
    monkeypatch.setattr(rp, '_read_token', blind)
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None)  # in this process: it sees the patch
    try:
        with distributed.Client(cluster) as client:
            with pytest.raises(rp.ClusterError, match=r"worker .* cannot see the runs folder .*/shared/runs: expected to read the token this machine wrote there, "
                                                      r"found 'nothing: it cannot read the file \(FileNotFoundError: No such file or directory\)'"):
                rp.reproduce(['tiny'], 'smoke', out=tmp_path/'shared'/'runs', scheduler=client, progress=False)
            assert not (tmp_path/'shared').exists()  # the folders made for the token are gone again
            monkeypatch.undo(); monkeypatch.setenv('GEONB_CARDS', str(tmp_path/'cards'))
            rp.check_workers(client, tmp_path/'shared'/'runs', rp.plan(['tiny'], 'smoke', out=tmp_path/'shared'/'runs'))  # the same folder, seen: accepted
            assert list((tmp_path/'shared'/'runs').iterdir()) == []  # and the token is removed
    finally: cluster.close()


def test_without_the_extra_a_scheduler_is_refused_with_what_to_install(tmp_path, monkeypatch, capsys):
    from geonb.cli import main
    card(tmp_path)
    monkeypatch.setenv('GEONB_CARDS', str(tmp_path/'cards')); monkeypatch.setenv('GEONB_RUNS', str(tmp_path/'runs'))
    monkeypatch.setitem(sys.modules, 'distributed', None)  # what `import distributed` meets where the extra is not installed
    assert main(['reproduce', 'tiny', '--profile', 'smoke', '--scheduler', 'tcp://127.0.0.1:8786']) == 2
    err = capsys.readouterr().err
    assert err.startswith('geonb reproduce: error: a scheduler or cluster needs Dask distributed, which is not installed') and "install the extra: pip install 'geonb[dask]'" in err, err
    assert not (tmp_path/'runs').exists()


@pytest.mark.slow  # over a minute each; `make test-slow` runs them
def test_ctrl_c_on_a_local_cluster_ends_the_kernels_then_resume_on_it_gives_the_uninterrupted_result(tmp_path, local):
    card(tmp_path)
    p = geonb(tmp_path, '--cluster', 'local:2')
    kernels = []
    try:
        session = wait_for(lambda: the_session(tmp_path), p)
        wait_for(lambda: (session/'session.json').exists(), p)  # the folder is made (and locked) a moment before
        running = lambda: [(e.get('worker') or {}).get('kernel') for e in json.loads((session/'session.json').read_text())['runs']]
        kernels = wait_for(lambda: all(running()) and all(list(session.glob(f'main-seed{s}/checkpoint/ckpt-*.json')) for s in (0, 1)) and running(), p)
        os.killpg(p.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the runner and its local workers (kernels have sessions of their own)
        out, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None: os.killpg(p.pid, signal.SIGKILL); p.wait()
    assert p.returncode == 130, out + err
    assert 'Traceback' not in err and err.strip().splitlines()[-1] == f'geonb reproduce: interrupted with 0 of 2 runs finished; resume with: geonb reproduce --resume {session}', err
    assert [pid for pid in kernels if alive(pid)] == []
    info = json.loads((session/'session.json').read_text())
    assert info['status'] == 'interrupted' and [r['status'] for r in info['runs']] == ['interrupted', 'interrupted']
    assert not list(session.glob('*/manifest.json'))  # interrupted, not failed: both resume
    r = subprocess.run([str(BIN/'geonb'), 'reproduce', '--resume', str(session), '--cluster', 'local:2', '--timeout', '120'], cwd=ROOT, env=env(tmp_path), capture_output=True, text=True, timeout=150)
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads((session/'session.json').read_text())['status'] == 'complete'
    starts = [(session/f'starts-seed{s}.txt').read_text().split() for s in (0, 1)]
    assert all(len(s) == 2 and s[0] == '0' and int(s[1]) >= 4 for s in starts), starts  # each run resumed from its checkpoint
    assert results(session) == local


@pytest.mark.slow  # over a minute each; `make test-slow` runs them
def test_a_killed_runner_has_its_kernels_ended_by_the_workers_then_resume_on_the_cluster_gives_the_uninterrupted_result(tmp_path, cluster, local):
    "The scheduler drops a lost client's tasks; each task sees it is no longer wanted and ends its kernel."
    address, _ = cluster
    card(tmp_path)
    p = geonb(tmp_path, '--scheduler', address)
    try:
        session = wait_for(lambda: the_session(tmp_path), p)
        wait_for(lambda: (session/'session.json').exists(), p)
        kernels = lambda: [(e.get('worker') or {}).get('kernel') for e in json.loads((session/'session.json').read_text())['runs']]
        pids = wait_for(lambda: all(kernels()) and all(list(session.glob(f'main-seed{s}/checkpoint/ckpt-*.json')) for s in (0, 1)) and kernels(), p)
    finally:
        os.killpg(p.pid, signal.SIGKILL); p.wait()
    deadline = time.time() + 20
    while any(alive(k) for k in pids) and time.time() < deadline: time.sleep(0.1)
    assert [k for k in pids if alive(k)] == []
    r = subprocess.run([str(BIN/'geonb'), 'reproduce', '--resume', str(session), '--scheduler', address, '--timeout', '120'], cwd=ROOT, env=env(tmp_path), capture_output=True, text=True, timeout=150)
    assert r.returncode == 0 and '0 of 2 runs kept, 2 to run' in r.stdout, r.stdout + r.stderr
    starts = [(session/f'starts-seed{s}.txt').read_text().split() for s in (0, 1)]
    assert all(len(s) == 2 and s[0] == '0' and int(s[1]) >= 4 for s in starts), starts
    assert results(session) == local
