"""The promises of the training loop and the run bundle, checked end to end."""
import csv, io, json, random, shutil, signal, subprocess, sys, time
from pathlib import Path

import pytest
import torch

from geonb.core import seed_everything
from geonb.data import load_dataset
from geonb.results import dumps_records
from geonb.runs import RunBundle, read_bundle, read_records
from geonb.train import InjectNonFinite, Learner, TrainConfig
from conftest import BIN, ROOT, run

JOB = Path(__file__).with_name('train_job.py')


def test_sigkill_then_resume_gives_identical_weights(tmp_path):
    ref = run(sys.executable, JOB, tmp_path/'ref', tmp_path/'ref.safetensors')
    assert ref.returncode == 0, ref.stderr
    rng = random.Random()
    ckpt = tmp_path/'killed'
    for attempt in range(3):  # kill at a random moment, up to three times, then let it finish
        p = subprocess.Popen([sys.executable, JOB, ckpt, tmp_path/'resumed.safetensors'], cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={'OMP_NUM_THREADS': '1', 'PATH': ''})
        deadline = time.time() + 120
        while not list(ckpt.glob('ckpt-*.json')) and p.poll() is None and time.time() < deadline: time.sleep(0.02)
        time.sleep(rng.uniform(0, 0.8))
        p.send_signal(signal.SIGKILL); p.wait()
        assert p.returncode == -signal.SIGKILL, 'the job finished before it could be killed; make it longer'
    final = run(sys.executable, JOB, ckpt, tmp_path/'resumed.safetensors')
    assert final.returncode == 0, final.stderr
    assert (tmp_path/'resumed.safetensors').read_bytes() == (tmp_path/'ref.safetensors').read_bytes()


def test_nan_in_loss_is_rolled_back_and_the_run_finishes(tmp_path):
    seed_everything(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
    bundle = RunBundle(tmp_path/'run', params={'test': 'nan'}, seed=0)
    learner = Learner(model, load_dataset('digits'), TrainConfig(epochs=2, batch_size=64, progress=False, select_split='none'),
                      callbacks=[InjectNonFinite([7])], bundle=bundle)
    learner.fit()
    bundle.save_weights('model', learner.model.state_dict())
    bundle.finish([learner.accuracy_record('test')], status=learner.status)
    history = json.loads((tmp_path/'run'/'history.json').read_text())
    rollbacks = [r for r in history if r['kind'] == 'rollback']
    assert [r['step'] for r in rollbacks] == [7] and 'nan' in rollbacks[0]['reason']
    assert [r['epoch'] for r in history if r['kind'] == 'epoch'] == [1, 2]
    manifest, records = read_records(tmp_path/'run')
    assert manifest['status'] == 'complete' and [r.key for r in records] == [('accuracy', 'digits', 'test')]
    assert records[0].selection == 'final weights' and records[0].epochs == 2 and 0 < records[0].value <= 1
    assert 'rollback' in (tmp_path/'run'/'history.csv').read_text()


def _baseline(out, *params):
    args = [BIN/'papermill', '-k', 'python3', '--no-progress-bar', 'nbs/experiments/baseline.ipynb', out.with_suffix('.ipynb'), '-p', 'out_dir', out]
    for p in params: args += ['-p', *p.split('=', 1)]
    return run(*args)


def _without_seconds(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != 'seconds'} for r in rows]


def _same_folder_run(tmp_path, name, *params):
    "Run baseline.ipynb into one fixed out_dir (so config.json, which records out_dir, can match), then move it to `name`."
    r = _baseline(tmp_path/'run', *params)
    assert r.returncode == 0, r.stderr[-2000:]
    shutil.move(tmp_path/'run', tmp_path/name)
    return tmp_path/name


def test_same_seed_gives_byte_identical_artifacts_across_processes(tmp_path):
    """Two processes, same seed: weights, checkpoint tensors, plots and config.json are byte-identical; records.json is
    identical except the timing records (unit 'seconds'); history is identical except its 'seconds' fields. What may
    differ: the manifest (creation time, command, timings), TensorBoard event files (named and stamped with the wall
    time, host and pid), and the 'seconds' inside history and the checkpoint's copy of it."""
    a, b = _same_folder_run(tmp_path, 'a'), _same_folder_run(tmp_path, 'b')
    ma, mb = read_bundle(a), read_bundle(b)
    files = lambda m: {k for k in m['artifacts'] if not k.startswith('tensorboard/')}
    assert files(ma) == files(mb)
    exact = sorted(k for k in files(ma) if k.endswith(('.safetensors', '.png')) or k == 'config.json')
    assert 'weights/model.safetensors' in exact and 'config.json' in exact
    assert [k for k in exact if ma['artifacts'][k]['sha256'] != mb['artifacts'][k]['sha256']] == []
    (_, ra), (_, rb) = read_records(a), read_records(b)
    untimed = lambda rs: dumps_records([r for r in rs if r.unit != 'seconds'])
    assert untimed(ra) == untimed(rb) and [r.key for r in ra] == [r.key for r in rb]
    history = lambda p: _without_seconds(json.loads((p/'history.json').read_text()))
    assert history(a) == history(b)
    table = lambda p: _without_seconds(list(csv.DictReader(io.StringIO((p/'history.csv').read_text()))))
    assert table(a) == table(b)
    c = _same_folder_run(tmp_path, 'c', 'seed=1')
    assert read_bundle(c)['artifacts']['weights/model.safetensors']['sha256'] != ma['artifacts']['weights/model.safetensors']['sha256']


@pytest.mark.parametrize('param, message', [
    ('epochs=five', "epochs in baseline.ipynb: expected int, got 'five'"),
    ('lr=fast', "lr in baseline.ipynb: expected float, got 'fast'"),
    ('dataset=imagenet', "dataset in baseline.ipynb: unknown value 'imagenet'"),
    ('model=resnet', "model in baseline.ipynb: unknown value 'resnet'; expected one of ['mlp', 'cnn']"),
])
def test_bad_experiment_parameters_fail_before_training(tmp_path, param, message):
    r = _baseline(tmp_path/'run', param)
    assert r.returncode != 0
    executed = json.loads((tmp_path/'run.ipynb').read_text())
    errors = [o for c in executed['cells'] for o in c.get('outputs', []) if o.get('output_type') == 'error']
    assert errors and errors[0]['ename'] == 'ConfigError' and message in errors[0]['evalue']
    assert not (tmp_path/'run').exists()  # nothing was loaded, trained or written
