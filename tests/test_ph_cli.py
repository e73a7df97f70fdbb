"""`ph_train_cli` (to be wired as `geonb ph-train`): a short real run, its run bundle, and its errors."""
import json, sys

import pytest

from geonb.ph.trainer import ph_train_cli
from geonb.runs import read_bundle
from conftest import BIN, run

CALL = "from geonb.ph.trainer import ph_train_cli; raise SystemExit(ph_train_cli())"


def test_short_run_writes_a_verifying_bundle(tmp_path, capsys):
    code = ph_train_cli(['--dataset', 'digits', '--epochs', '2', '--lr', '3e-3', '--hidden', '32', '--batch-size', '32', '--out', str(tmp_path/'run')])
    out = capsys.readouterr().out
    assert code == 0 and 'SUMMARY — DIGITS' in out and 'run bundle:' in out
    m = read_bundle(tmp_path/'run')
    r = m['results']
    assert r['dataset'] == 'digits' and 0.5 < r['test_acc'] <= 1 and r['epochs_run'] == 2 and r['best_lr'] == 3e-3
    assert m['params']['selection'] == 'valid' and 'weights/model.safetensors' in m['artifacts']
    assert len(json.loads((tmp_path/'run'/'history.json').read_text())) == 2


def test_auto_lr_picks_a_candidate(tmp_path, capsys):
    assert ph_train_cli(['--dataset', 'digits', '--epochs', '1', '--hidden', '16', '--selection', 'test']) == 0
    out = capsys.readouterr().out
    assert 'LR=3e-04: H0 CV=' in out and 'Best LR:' in out


@pytest.mark.parametrize('args, message', [
    (['--dataset', 'nope'], "unknown dataset 'nope'"),
    (['--dataset', 'digits', '--epochs', '0'], '--epochs must be a positive integer'),
    (['--dataset', 'digits', '--lr', 'fast'], "--lr must be 'auto' or a positive number"),
    (['--dataset', 'digits', '--lr', '0'], "--lr must be 'auto' or a positive number"),
    (['--dataset', 'digits', '--gap-threshold', '-0.1'], '--gap-threshold must be a positive number'),
    (['--dataset', 'digits', '--selection', 'train'], "--selection must be 'valid' or 'test'"),
    (['--epochs', '2'], 'the following arguments are required: --dataset'),
])
def test_bad_values_exit_2_with_one_line(args, message):
    r = run(sys.executable, '-c', CALL, *args, timeout=120)
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and lines[0].startswith('geonb ph-train: error:'), r.stderr
    assert r.stdout == ''


def test_missing_dataset_files_are_a_clear_error(tmp_path):
    r = run(sys.executable, '-c', CALL, '--dataset', 'mnist', '--epochs', '1', env={'GEONB_DATA': str(tmp_path), 'HOME': str(tmp_path)}, timeout=120)
    assert r.returncode == 2 and 'Traceback' not in r.stderr and 'mnist' in r.stderr.lower(), r.stderr


def test_console_command_geonb_ph_train():
    r = run(BIN/'geonb', 'ph-train', '--dataset', 'digits', '--gap-threshold', '-1')
    assert r.returncode == 2 and 'geonb ph-train: error:' in r.stderr and 'Traceback' not in r.stderr
    r = run(BIN/'geonb', 'ph-train', '--help')
    assert r.returncode == 0 and '--gap-threshold' in r.stdout
