"""The installed `geonb` console script behaves like a Unix tool: every error is one line on stderr with exit code 2
(usage errors and operating-system errors included), a closed pipe is quiet (exit 141, 128 + SIGPIPE), and Ctrl-C
prints one line and exits 130 (128 + SIGINT). Never a traceback."""
import os, signal, subprocess, sys, time
from pathlib import Path

import numpy as np
import pytest

from geonb.data import write_idx

GEONB = Path(sys.executable).parent/'geonb'
ROOT = Path(__file__).resolve().parent.parent


def geonb(*args, home, **kw):
    "Run the console script with an empty data home; returns CompletedProcess."
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'GEONB_DATA': str(home)}
    kw = {'capture_output': True, **kw}
    return subprocess.run([str(GEONB), *map(str, args)], cwd=ROOT, text=True, timeout=300, env=env, **kw)


def one_line_error(r, *fragments):
    "Exit code 2, nothing on stdout, exactly one line on stderr holding every fragment, no traceback."
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert len(r.stderr.splitlines()) == 1 and r.stderr.endswith('\n'), r.stderr
    assert 'Traceback' not in r.stderr and r.stdout == '', (r.stdout, r.stderr)
    for f in fragments: assert f in r.stderr, (f, r.stderr)


def fashion_fixture(root, n=20):
    d = root/'fashion-mnist'; d.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split in ('train', 't10k'):
        write_idx(d/f'{split}-images-idx3-ubyte.gz', rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(d/f'{split}-labels-idx1-ubyte.gz', np.arange(n) % 10)
    return d


@pytest.fixture
def home(tmp_path):
    (tmp_path/'home').mkdir()
    return tmp_path/'home'


def test_console_script_is_installed():
    assert GEONB.exists(), f"{GEONB}: run `make setup` (pip install -e .) first"


def test_a_closed_pipe_is_quiet(home):
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'GEONB_DATA': str(home)}
    p = subprocess.Popen([str(GEONB), 'data', 'list'], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    p.stdout.close()  # the reader is gone before geonb writes its first line
    err = p.stderr.read().decode(); p.wait(timeout=300)
    assert (p.returncode, err) == (141, '')


def test_head_in_a_shell_pipeline_prints_no_traceback(home):
    r = subprocess.run(['bash', '-c', f'set -o pipefail; "{GEONB}" data list | head -1; echo "status $?"'],
                       capture_output=True, text=True, timeout=300, env={**os.environ, 'GEONB_DATA': str(home)})
    first, status = r.stdout.splitlines()
    assert first.startswith('bloodmnist') and status in ('status 0', 'status 141') and r.stderr == '', r.stderr


def test_a_reader_that_exits_at_once_gives_141_under_pipefail(home):
    r = subprocess.run(['bash', '-c', f'set -o pipefail; "{GEONB}" data list | true; echo "status $?"'],
                       capture_output=True, text=True, timeout=300, env={**os.environ, 'GEONB_DATA': str(home)})
    assert (r.stdout, r.stderr) == ('status 141\n', '')


def test_a_full_disk_is_one_line(home):
    with open('/dev/full', 'w') as full:
        r = geonb('data', 'list', home=home, stdout=full, stderr=subprocess.PIPE, capture_output=False)
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1 and 'No space left on device' in r.stderr, r.stderr
    assert r.stderr.startswith('geonb data: error: OSError: [Errno 28]'), r.stderr


def test_an_os_error_is_one_line(home, tmp_path):
    r = geonb('data', 'info', 'mnist', '--root', tmp_path/('x' * 300), home=home)
    one_line_error(r, 'geonb data: error: OSError: [Errno 36] File name too long')


def test_unknown_dataset(home):
    one_line_error(geonb('data', 'info', 'nosuchdata', home=home), "geonb data: error: unknown dataset 'nosuchdata'", 'mnist5k')


def test_missing_dataset_names_the_folders_and_how_to_get_it(home, tmp_path):
    one_line_error(geonb('data', 'info', 'mnist', '--root', tmp_path, home=home),
                   'train-images-idx3-ubyte', str(tmp_path/'MNIST'/'raw'), '--download')


def test_bad_dataset_file_is_one_line(home, tmp_path):
    d = fashion_fixture(tmp_path/'root')
    write_idx(d/'train-labels-idx1-ubyte.gz', np.full(20, 200, np.uint8))
    one_line_error(geonb('data', 'info', 'fashion', '--root', tmp_path/'root', home=home),
                   'train-labels-idx1-ubyte.gz', "0..9 (10 classes of 'fashion')", 'the first 200')


def test_a_fixture_loads_from_root_but_not_with_official(home, tmp_path):
    fashion_fixture(tmp_path/'root')
    r = geonb('data', 'info', 'fashion', '--root', tmp_path/'root', home=home)
    assert r.returncode == 0 and '"official": false' in r.stdout, r.stderr
    one_line_error(geonb('data', 'info', 'fashion', '--root', tmp_path/'root', '--official', home=home),
                   "expected the official 60,000 train images of 'fashion', found 20")


USAGE_ERRORS = [
    ([], 'geonb: error: the following arguments are required: COMMAND'),
    (['nosuchcommand'], "geonb: error: argument COMMAND: invalid choice: 'nosuchcommand'"),
    (['data'], 'geonb data: error: the following arguments are required: ACTION'),
    (['data', 'info'], 'geonb data info: error: the following arguments are required: name'),
    (['data', 'info', 'fashion', '--channels', 'x'], "geonb data info: error: argument --channels: invalid int value: 'x'"),
    (['data', 'list', '--bogus'], 'geonb: error: unrecognized arguments: --bogus'),
    (['reproduce', '--profile', 'nope'], "geonb reproduce: error: argument --profile: invalid choice: 'nope'"),
]


@pytest.mark.parametrize('args, message', USAGE_ERRORS, ids=[' '.join(a) or 'no-arguments' for a, _ in USAGE_ERRORS])
def test_usage_errors_are_one_line(home, args, message):
    one_line_error(geonb(*args, home=home), message, '--help`)')


def test_help_still_prints_usage(home):
    r = geonb('data', 'info', '--help', home=home)
    assert r.returncode == 0 and r.stdout.startswith('usage: geonb data info') and '--official' in r.stdout


def _as_from_a_terminal():
    "In the child before exec: SIGINT handled by default and unblocked, as in a shell (a test runner's worker may differ)."
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _signal_state(pid: int) -> str:
    "What the kernel says of a process that did not react to a signal: its state, signal masks and threads."
    try:
        st = Path(f'/proc/{pid}/status').read_text().splitlines()
        keep = [l for l in st if l.split(':')[0] in ('State', 'Threads', 'SigPnd', 'ShdPnd', 'SigBlk', 'SigIgn', 'SigCgt')]
        wchan = Path(f'/proc/{pid}/wchan').read_text()
        return '; '.join(keep) + f'; wchan {wchan}'
    except OSError as e: return f'unreadable ({e})'


def test_ctrl_c_is_one_line_and_130(home, tmp_path):
    d = fashion_fixture(tmp_path/'root')
    fifo = d/'train-images-idx3-ubyte'; os.mkfifo(fifo)  # geonb blocks reading it until it is interrupted
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'GEONB_DATA': str(home)}
    p = subprocess.Popen([str(GEONB), 'data', 'info', 'fashion', '--root', str(tmp_path/'root')],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
                         preexec_fn=_as_from_a_terminal)
    writer, deadline = None, time.time() + 300
    while writer is None and p.poll() is None and time.time() < deadline:
        try: writer = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)  # succeeds once geonb has opened the file to read it
        except OSError: time.sleep(0.05)
    assert writer is not None, p.communicate()
    try:
        p.send_signal(signal.SIGINT)
        try: out, err = p.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            state = _signal_state(p.pid); p.kill(); p.communicate()
            pytest.fail(f'geonb did not end within 60 s of SIGINT; its state then: {state}')
    finally: os.close(writer)
    assert (p.returncode, out, err) == (130, '', 'geonb data: interrupted\n')
