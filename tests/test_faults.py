"""Interrupted reproduction sessions: a killed runner, Ctrl-C and a dead kernel, each resumed to the uninterrupted result."""
import json, os, signal, subprocess, sys, time
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, write_notebook
from geonb.runs import read_bundle

psutil = pytest.importorskip('psutil')  # ipykernel depends on it, so it is there wherever kernels run

TRAIN = '''import os, signal, time, torch
from geonb.core import seed_everything
from geonb.data import load_dataset
from geonb.runs import RunBundle
from geonb.train import Callback, Learner, TrainConfig
torch.set_num_threads(1)
class Pace(Callback):
    "Sleep after each step, so a signal lands mid-run; kill this kernel once at step `die_at`."
    def after_step(self, learner):
        time.sleep(pause)
        if die_at and learner.step == die_at and not os.path.exists(die_marker):
            open(die_marker, 'w').close(); os.kill(os.getpid(), signal.SIGKILL)
seed_everything(seed)
bundle = RunBundle(out_dir, params=dict(epochs=epochs, hidden=hidden, seed=seed, out_dir=out_dir), seed=seed)
data = load_dataset('digits')
model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 10))
config = TrainConfig(epochs=epochs, batch_size=64, checkpoint_every=4, progress=False, select_split='none', seed=seed)
learner = Learner(model, data, config, callbacks=[Pace()], bundle=bundle)
learner.fit()
bundle.save_weights('model', learner.model.state_dict())
bundle.finish([learner.accuracy_record('test')], status=learner.status)'''

RUNNER = '''import sys
from geonb.reproduce import SessionInterrupted, reproduce, resume
try:
    if sys.argv[1] == 'reproduce': outcomes = reproduce(['tiny'], 'smoke', jobs=int(sys.argv[2]), progress=False, timeout=120)
    else: outcomes = resume(sys.argv[2], jobs=int(sys.argv[3]) if len(sys.argv) > 3 else 1, progress=False, timeout=120)
except SessionInterrupted as e:
    print(f"geonb reproduce: {e}", file=sys.stderr); sys.exit(130)
sys.exit(0 if all(o.status == 'complete' for o in outcomes) else 1)'''


def train_card(root: Path, seeds=(0, 1), body: str = TRAIN, pause: float = 0.04, **params) -> Path:
    "A card whose notebook (default TRAIN) trains a small MLP on digits through Learner for 2 epochs, one run per seed."
    write_notebook(root/'train.ipynb', 'epochs: int = 2  # passes over the training split\nhidden: int = 32  # hidden units\n'
                   'pause: float = 0.0  # seconds slept after each step\ndie_at: int = 0  # step at which the kernel kills itself once\n'
                   'die_marker: str = ""  # file that says the kernel has died once\nseed: int = 0  # seed\nout_dir: str = ""  # run folder', body)
    card = root/'cards'/'tiny'; card.mkdir(parents=True)
    (card/'card.yaml').write_text(yaml.safe_dump(dict(
        title='Tiny training card', notebook=str(root/'train.ipynb'), summary='A test card.',
        claims=[dict(claim='learns digits', reports=0.5, protocol='made up', source='test',
                     record=dict(run='main', metric='accuracy', dataset='digits'), criterion=dict(at_least=0.1))])))
    (card/'smoke.yaml').write_text(yaml.safe_dump(dict(seeds=list(seeds), runs={'main': dict(pause=pause, **params)})))
    (root/'runner.py').write_text(RUNNER)
    return card


def _env(root: Path) -> dict:
    return {**os.environ, 'GEONB_CARDS': str(root/'cards'), 'GEONB_RUNS': str(root/'runs'), 'OMP_NUM_THREADS': '1', 'PYTHONUNBUFFERED': '1'}


def start(root: Path, *args) -> subprocess.Popen:
    "The runner in a process group of its own, as a shell starts a command."
    return subprocess.Popen([sys.executable, root/'runner.py', *map(str, args)], cwd=ROOT, env=_env(root), start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(root: Path, *args, timeout=150) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, root/'runner.py', *map(str, args)], cwd=ROOT, env=_env(root), capture_output=True, text=True, timeout=timeout)


def wait_for(found, p: subprocess.Popen, seconds=90):
    "Poll until `found()` gives something, failing if the runner ends first."
    deadline = time.time() + seconds
    while time.time() < deadline:
        hit = found()
        if hit: return hit
        assert p.poll() is None, f'the runner ended before the moment to interrupt it: {p.communicate()}'
        time.sleep(0.02)
    raise AssertionError('timed out waiting for the runner')


def the_session(root: Path) -> Path:
    return next((root/'runs'/'tiny').glob('smoke-*'), None)


def kernels_of(p: subprocess.Popen) -> list[int]:
    "The kernel processes the runner has started."
    return [c.pid for c in psutil.Process(p.pid).children(recursive=True) if any('ipykernel' in a for a in c.cmdline())]


def alive(pid: int) -> bool:
    try: return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess: return False


def results(session: Path) -> dict:
    "Each run's verified records.json and weights, as bytes."
    out = {}
    for r in json.loads((session/'session.json').read_text())['runs']:
        folder = session/r['folder']
        read_bundle(folder)
        out[r['folder']] = ((folder/'records.json').read_bytes(), (folder/'weights'/'model.safetensors').read_bytes())
    return out


@pytest.fixture(scope='module')
def reference(tmp_path_factory) -> dict:
    "The records and weights of an uninterrupted session."
    root = tmp_path_factory.mktemp('reference')
    train_card(root)
    r = finish(root, 'reproduce', 2)
    assert r.returncode == 0, r.stdout + r.stderr
    return results(the_session(root))


def test_sigkill_mid_session_then_resume_gives_the_uninterrupted_result(tmp_path, reference):
    card = train_card(tmp_path)
    p = start(tmp_path, 'reproduce', 1)
    session = wait_for(lambda: the_session(tmp_path), p)
    wait_for(lambda: list(session.glob('main-seed1/checkpoint/ckpt-*.json')), p)
    os.killpg(p.pid, signal.SIGKILL); p.wait()
    info = json.loads((session/'session.json').read_text())  # the plan and progress were on disk all along
    assert info['status'] == 'running' and [(r['folder'], r['status']) for r in info['runs']] == [('main-seed0', 'complete'), ('main-seed1', 'running')]
    assert info['runs'][1]['params'] == dict(pause=0.04, seed=1) and not (session/'main-seed1'/'manifest.json').exists()
    r = finish(tmp_path, 'resume', session)  # waits for the orphaned kernel to exit, then continues from the checkpoint
    assert r.returncode == 0, r.stdout + r.stderr
    assert '1 of 2 runs kept, 1 to run' in r.stdout
    info = json.loads((session/'session.json').read_text())
    assert info['status'] == 'complete' and [x['status'] for x in info['runs']] == ['complete', 'complete']
    assert [a['status'] for a in info['runs'][1]['attempts']] == ['running'] and [h['action'] for h in info['history']] == ['reproduce', 'resume']
    assert results(session) == reference
    assert (card/'smoke'/'README.md').exists()


def test_ctrl_c_with_two_jobs_stops_cleanly_then_resume_gives_the_uninterrupted_result(tmp_path, reference):
    train_card(tmp_path)
    p = start(tmp_path, 'reproduce', 2)
    session = wait_for(lambda: the_session(tmp_path), p)
    wait_for(lambda: list(session.glob('main-seed*/checkpoint/ckpt-*.json')), p)
    kernels = kernels_of(p)
    assert kernels
    os.killpg(p.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the runner's group only, kernels have their own
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130, out + err
    assert 'Traceback' not in err and 'Traceback' not in out, err
    assert err.strip().splitlines() == [f'geonb reproduce: interrupted with 0 of 2 runs finished; resume with: geonb reproduce --resume {session}'], err
    assert [pid for pid in kernels if alive(pid)] == []
    info = json.loads((session/'session.json').read_text())
    assert info['status'] == 'interrupted' and [x['status'] for x in info['runs']] == ['interrupted', 'interrupted']
    assert not list(session.glob('*/manifest.json'))  # interrupted, not failed: nothing is closed, everything can resume
    r = finish(tmp_path, 'resume', session, 2)
    assert r.returncode == 0, r.stdout + r.stderr
    info = json.loads((session/'session.json').read_text())
    assert info['status'] == 'complete' and [a['status'] for x in info['runs'] for a in x['attempts']] == ['interrupted', 'interrupted']
    assert results(session) == reference


def test_a_dead_kernel_is_recorded_failed_and_resume_runs_it_again(tmp_path, reference):
    train_card(tmp_path, seeds=[0], die_at=6, die_marker=str(tmp_path/'died'))
    r = finish(tmp_path, 'reproduce', 1)
    assert r.returncode == 1 and 'the kernel died' in r.stdout, r.stdout + r.stderr
    session = the_session(tmp_path)
    assert read_bundle(session/'main-seed0', require_complete=False)['status'] == 'failed'
    r = finish(tmp_path, 'resume', session)
    assert r.returncode == 0, r.stdout + r.stderr
    entry = json.loads((session/'session.json').read_text())['runs'][0]
    assert entry['status'] == 'complete' and entry['attempts'][0]['error'].startswith('the kernel died')
    assert results(session) == {k: v for k, v in reference.items() if k == 'main-seed0'}


def test_resume_refuses_what_is_not_a_session(tmp_path):
    train_card(tmp_path)
    (tmp_path/'runs').mkdir()
    r = finish(tmp_path, 'resume', tmp_path/'runs')
    assert r.returncode != 0 and 'SessionError' in r.stderr and 'is not a session folder: it has no session.json' in r.stderr
    (tmp_path/'runs'/'session.json').write_text('{"card": "tiny", ')
    r = finish(tmp_path, 'resume', tmp_path/'runs')
    assert 'session.json is corrupt: not valid JSON' in r.stderr
