"""`geonb data` and the official-format readers, offline, on fixture files."""
import gzip, json
import numpy as np
import pytest
import torch

import geonb.data as gd
from geonb.data import load_dataset, CorruptDatasetError, DatasetNotFoundError, InputError, UnknownDatasetError
from conftest import BIN, run, cifar_py_batch


def info(*args):
    r = run(BIN/'geonb', 'data', 'info', *args)
    return r, (json.loads(r.stdout) if r.returncode == 0 else None)


def test_info_real_offline_data():
    r, d = info('mnist5k')
    assert r.returncode == 0, r.stderr
    assert d['splits'] == {'train': 4000, 'test': 1000} and d['shape'] == [1, 28, 28] and d['num_classes'] == 10
    assert len(d['fingerprint']) == 64 and d['source'].endswith('data/data')


def test_info_unknown_name_is_a_clear_error():
    r, _ = info('mnist6k')
    assert r.returncode == 2 and 'unknown dataset' in r.stderr and 'mnist5k' in r.stderr and 'Traceback' not in r.stderr


def test_info_missing_files_names_what_and_how(tmp_path):
    r, _ = info('mnist', '--root', tmp_path)
    assert r.returncode == 2
    assert 'train-images-idx3-ubyte' in r.stderr and str(tmp_path) in r.stderr and '--download' in r.stderr


def test_info_truncated_file(idx_root):
    f = idx_root/'MNIST'/'raw'/'t10k-images-idx3-ubyte.gz'
    f.write_bytes(f.read_bytes()[:-20])
    r, _ = info('mnist', '--root', idx_root)
    assert r.returncode == 2 and 'truncated or corrupt' in r.stderr and 't10k-images' in r.stderr


def test_info_wrong_magic(idx_root):
    (idx_root/'MNIST'/'raw'/'train-labels-idx1-ubyte.gz').write_bytes(gzip.compress(b'\x01\x02\x08\x01' + b'\x00' * 8))
    r, _ = info('mnist', '--root', idx_root)
    assert r.returncode == 2 and 'not an IDX file' in r.stderr


def test_mnist_and_emnist_fixtures(idx_root):
    m = load_dataset('mnist', root=idx_root)
    assert m['train'].images.shape == (30, 1, 28, 28) and m['test'].labels.tolist() == list(range(10))
    e = load_dataset('emnist_balanced', root=idx_root)
    assert e.num_classes == 47 and e.classes[36] == 'a' and len(e['test']) == 20
    raw = gd.read_idx(idx_root/'emnist'/'emnist-balanced-train-images-idx3-ubyte')
    assert torch.equal(e['train'].images[0, 0], torch.from_numpy(raw[0].T.copy()))  # turned upright


def test_cifar10_binary_fixture(cifar_bin_root):
    c = load_dataset('cifar10', root=cifar_bin_root)
    assert c['train'].images.shape == (20, 3, 32, 32) and len(c['test']) == 5 and c.classes[0] == 'airplane'


def test_cifar10_python_batches_need_official_checksums(tmp_path, monkeypatch):
    rng = np.random.default_rng(3)
    d = tmp_path/'cifar-10-batches-py'; d.mkdir()
    md5 = {name: cifar_py_batch(d/name, 3, rng) for name in [*(f'data_batch_{i}' for i in range(1, 6)), 'test_batch']}
    with pytest.raises(CorruptDatasetError, match='does not match the official'):
        load_dataset('cifar10', root=tmp_path)
    monkeypatch.setattr(gd, 'CIFAR10_MD5', md5)  # trust these fixture files explicitly
    c = load_dataset('cifar10', root=tmp_path)
    assert c['train'].images.shape == (15, 3, 32, 32) and c['test'].labels.tolist() == [0, 1, 2]


def test_medmnist_fixture_and_channel_mismatch(medmnist_root):
    b = load_dataset('bloodmnist', root=medmnist_root)
    assert list(b.splits) == ['train', 'val', 'test'] and b['train'].images.shape == (16, 3, 28, 28)
    assert b.num_classes == 8 and b.classes[0] == 'basophil'
    with pytest.raises(InputError, match='has 3 channel'):
        load_dataset('bloodmnist', root=medmnist_root, channels=1)


def test_medmnist_corrupt_and_wrong_keys(tmp_path):
    d = tmp_path/'medmnist'; d.mkdir()
    (d/'bloodmnist.npz').write_bytes(b'PK\x03\x04 not really a zip')
    with pytest.raises(CorruptDatasetError, match='not a readable npz'):
        load_dataset('bloodmnist', root=tmp_path)
    np.savez(d/'pathmnist.npz', train_images=np.zeros((2, 28, 28, 3), np.uint8))
    with pytest.raises(CorruptDatasetError, match="expected arrays 'train_images' and 'train_labels'"):
        load_dataset('pathmnist', root=tmp_path)


def test_missing_and_unknown_are_typed(tmp_path):
    with pytest.raises(DatasetNotFoundError): load_dataset('fashion', root=tmp_path)
    with pytest.raises(FileNotFoundError): load_dataset('cifar10', root=tmp_path)
    with pytest.raises(UnknownDatasetError): load_dataset('imagenet')


def test_data_list():
    r = run(BIN/'geonb', 'data', 'list')
    assert r.returncode == 0 and 'fashion' in r.stdout and 'bloodmnist' in r.stdout


def test_info_wrong_channel_count():
    r, _ = info('fashion', '--channels', '3')
    assert r.returncode == 2 and "dataset 'fashion' has 1 channel(s), but 3 were requested" in r.stderr
