"""`geonb ph-train`: a short real run, its run bundle, and the errors it reports before doing any work."""
import json, sys

import pytest

from geonb.ph.trainer import ph_train_cli
from geonb.runs import read_records
from conftest import BIN, run

CALL = "from geonb.ph.trainer import ph_train_cli; raise SystemExit(ph_train_cli())"


def test_short_run_writes_a_verifying_bundle(tmp_path, capsys):
    code = ph_train_cli(['--dataset', 'digits', '--epochs', '2', '--lr', '3e-3', '--hidden', '32', '--batch-size', '32', '--out', str(tmp_path/'run')])
    out = capsys.readouterr().out
    assert code == 0 and 'SUMMARY — DIGITS' in out and 'run bundle:' in out
    m, records = read_records(tmp_path/'run')
    by_key = {r.key: r for r in records}
    acc = by_key[('accuracy', 'digits', 'test')]
    assert 0.5 < acc.value <= 1 and acc.unit == 'fraction' and 'epoch with the best validation accuracy' in acc.selection
    assert by_key[('epochs_run', 'digits', 'train')].value == 2 and ('h0_epoch1', 'digits', 'valid') in by_key
    assert m['params']['selection'] == 'valid' and 'weights/model.safetensors' in m['artifacts']
    assert any(a.startswith('phases/main/tensorboard/') for a in m['artifacts'])  # the Learner runs are part of the bundle
    assert len(json.loads((tmp_path/'run'/'history.json').read_text())) == 2


def test_auto_lr_picks_a_candidate(capsys):
    assert ph_train_cli(['--dataset', 'digits', '--epochs', '1', '--hidden', '16', '--selection', 'test']) == 0
    out = capsys.readouterr().out
    assert 'LR=3e-04: H0 CV=' in out and 'Best LR:' in out and 'upstream protocol' in out


@pytest.mark.parametrize('args, message', [
    (['--dataset', 'nope'], "--dataset: expected one of ["),
    (['--dataset', 'digits', '--epochs', '0'], '--epochs: expected an integer in [1, 10000], found 0'),
    (['--dataset', 'digits', '--epochs', '-1'], '--epochs: expected an integer in [1, 10000], found -1'),
    (['--dataset', 'digits', '--lr', 'fast'], "--lr: expected 'auto' or a finite number > 0, found 'fast'"),
    (['--dataset', 'digits', '--lr', '0'], "--lr: expected 'auto' or a finite number > 0, found '0'"),
    (['--dataset', 'digits', '--lr', 'nan'], "--lr: expected 'auto' or a finite number > 0, found 'nan'"),
    (['--dataset', 'digits', '--hidden', '0'], '--hidden: expected an integer >= 1, found 0'),
    (['--dataset', 'fashion', '--hidden', '2000000000'], 'GiB estimated for 784 inputs, 10 classes, batch 256), found 2000000000'),
    (['--dataset', 'digits', '--batch-size', '0'], '--batch-size: expected an integer in [1, 1000000], found 0'),
    (['--dataset', 'digits', '--gap-threshold', '-0.1'], '--gap-threshold: expected a number in (0, 18], found -0.1'),
    (['--dataset', 'digits', '--gap-threshold', 'inf'], '--gap-threshold: expected a number in (0, 18], found inf'),
    (['--dataset', 'digits', '--seed', '-3'], '--seed: expected an integer in [0, 4294967295], found -3'),
    (['--dataset', 'digits', '--selection', 'train'], "--selection: expected 'valid' or 'test', found 'train'"),
    (['--dataset', 'digits', '--valid-fraction', '1'], '--valid-fraction: expected a number in (0, 1), found 1.0'),
    (['--dataset', 'digits', '--device', 'gpu7'], '--device:'),
    (['--dataset', 'digits', '--epochs', 'two'], "argument --epochs: invalid int value: 'two'"),
    (['--epochs', '2'], 'the following arguments are required: --dataset'),
])
def test_bad_values_exit_2_with_one_line_and_write_nothing(tmp_path, capsys, args, message):
    out = tmp_path/'run'
    code = ph_train_cli([*args, '--out', str(out)])
    r = capsys.readouterr()
    assert code == 2, (code, r.err)
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and lines[0].startswith('geonb ph-train: error:'), r.err
    assert r.out == '' and not out.exists() and list(tmp_path.iterdir()) == []


def test_out_that_is_a_file_is_refused_before_training(tmp_path, capsys):
    target = tmp_path/'results.txt'; target.write_text('keep me')
    code = ph_train_cli(['--dataset', 'digits', '--epochs', '1', '--out', str(target)])
    r = capsys.readouterr()
    assert code == 2 and r.out == '' and len(r.err.strip().splitlines()) == 1, r.err
    assert f"--out: expected a new or empty folder (or this run's own, to resume); {target} is a file, found '{target}'" in r.err
    assert target.read_text() == 'keep me' and sorted(p.name for p in tmp_path.iterdir()) == ['results.txt']


def test_out_folder_holding_other_files_is_refused_before_training(tmp_path, capsys):
    folder = tmp_path/'busy'; folder.mkdir(); (folder/'notes.md').write_text('mine')
    code = ph_train_cli(['--dataset', 'digits', '--epochs', '1', '--out', str(folder)])
    r = capsys.readouterr()
    assert code == 2 and r.out == '' and len(r.err.strip().splitlines()) == 1, r.err
    assert "it holds notes.md, found" in r.err
    assert sorted(p.name for p in folder.iterdir()) == ['notes.md']


def test_missing_dataset_files_are_a_clear_error(tmp_path):
    out = tmp_path/'run'
    r = run(sys.executable, '-c', CALL, '--dataset', 'mnist', '--epochs', '1', '--out', str(out),
            env={'GEONB_DATA': str(tmp_path/'data'), 'HOME': str(tmp_path)}, timeout=120)
    assert r.returncode == 2 and 'Traceback' not in r.stderr and 'mnist' in r.stderr.lower(), r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not out.exists()


def test_console_command_geonb_ph_train():
    r = run(BIN/'geonb', 'ph-train', '--dataset', 'digits', '--gap-threshold', '-1')
    assert r.returncode == 2 and 'geonb ph-train: error: --gap-threshold' in r.stderr and 'Traceback' not in r.stderr
    r = run(BIN/'geonb', 'ph-train', '--help')
    assert r.returncode == 0 and '--gap-threshold' in r.stdout


def test_an_empty_out_is_refused_rather_than_read_as_no_bundle(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # `--out "$DIR"` with DIR unset: a mistake, not a request to write nothing
    code = ph_train_cli(['--dataset', 'digits', '--epochs', '1', '--out', ''])
    r = capsys.readouterr()
    assert code == 2 and r.out == '' and r.err.strip().splitlines() == [
        "geonb ph-train: error: --out: expected a folder path (leave --out out to write no bundle), found ''"], r.err
    assert list(tmp_path.iterdir()) == []
