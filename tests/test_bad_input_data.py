"""Bad input to the dataset loaders: every refusal is a typed error that names the file, says what was expected and
what was found, and leaves every file on disk as it was.

Each case writes a small fixture in the dataset's official format, then loads it either from an explicit `root`
(where a subset or fixture may load, so only its contents are judged) or from the data home `$GEONB_DATA` (where
the files claim to be the official ones, so split sizes and checksums are judged too)."""
import gzip, hashlib, io, pickle
from pathlib import Path

import numpy as np
import pytest

import geonb.data as gd
from geonb.data import write_idx, load_dataset, CorruptDatasetError, DatasetError


def images(n, *shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, *shape), dtype=np.uint8)


def idx_files(folder, n_train=20, n_test=10, classes=10, prefix='', test='t10k', hw=(28, 28), gz=True):
    "The four IDX files of an MNIST-like dataset, labels cycling through the classes."
    folder.mkdir(parents=True, exist_ok=True)
    ext = '.gz' if gz else ''
    for split, n in (('train', n_train), (test, n_test)):
        write_idx(folder/f'{prefix}{split}-images-idx3-ubyte{ext}', images(n, *hw))
        write_idx(folder/f'{prefix}{split}-labels-idx1-ubyte{ext}', np.arange(n) % classes)
    return folder


def set_label(path, index, value):
    "Rewrite one label of an IDX labels file (gzipped or plain) in place."
    labels = gd.read_idx(path).copy(); labels[index] = value
    write_idx(path, labels)


def csv_gz(path, table):
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.savetxt(buffer, table, delimiter=',', fmt='%d' if np.issubdtype(table.dtype, np.integer) else '%g')
    path.write_bytes(gzip.compress(buffer.getvalue(), compresslevel=1, mtime=0))


def mnist5k_table(per_class=5, classes=10):
    labels = np.repeat(np.arange(classes), per_class)
    return np.concatenate([images(len(labels), 784).astype(np.int64), labels[:, None]], axis=1)


def medmnist_npz(path, sizes=(16, 8, 8), classes=8, shape=(28, 28, 3), **override):
    "A MedMNIST npz in the official layout; `override` replaces any of its arrays."
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for split, n in zip(('train', 'val', 'test'), sizes):
        arrays[f'{split}_images'] = images(n, *shape)
        arrays[f'{split}_labels'] = (np.arange(n) % classes).reshape(n, 1).astype(np.uint8)
    arrays.update(override)
    np.savez(path, **arrays)


CIFAR_BATCHES = [*(f'data_batch_{i}' for i in range(1, 6)), 'test_batch']


def cifar_bin(folder, n=4, labels=None):
    "The six CIFAR-10 binary batches, n records of (label byte, 3,072 pixel bytes) each."
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(CIFAR_BATCHES):
        lab = (np.arange(n) % 10) if labels is None or name not in labels else np.asarray(labels[name])
        rec = np.concatenate([lab[:, None].astype(np.uint8), images(len(lab), 3072, seed=i)], axis=1)
        (folder/f'{name}.bin').write_bytes(rec.tobytes())


def cifar_py(folder, n=3):
    folder.mkdir(parents=True, exist_ok=True)
    for name in CIFAR_BATCHES:
        d = {b'batch_label': b'fixture', b'labels': [i % 10 for i in range(n)], b'data': images(n, 3072), b'filenames': [b'x.png'] * n}
        (folder/name).write_bytes(pickle.dumps(d, protocol=2))


# Each builder writes its fixture under `root` (the explicit root) or `home` ($GEONB_DATA) and returns
# the keyword arguments of load_dataset; the case then names the error class and fragments of its message.

def fashion_label_200(root, home):
    set_label(idx_files(root/'fashion-mnist')/'train-labels-idx1-ubyte.gz', 3, 200)
    return dict(root=root)

def fashion_32px(root, home):
    idx_files(root/'fashion-mnist', hw=(32, 32)); return dict(root=root)

def fashion_empty_train(root, home):
    idx_files(root/'fashion-mnist', n_train=0); return dict(root=root)

def fashion_fewer_labels(root, home):
    d = idx_files(root/'fashion-mnist'); write_idx(d/'train-labels-idx1-ubyte.gz', np.arange(19) % 10)
    return dict(root=root)

def fashion_fixture_in_data_home(root, home):
    idx_files(home/'fashion-mnist'); return {}

def fashion_fixture_must_be_official(root, home):
    idx_files(root/'fashion-mnist'); return dict(root=root, expect_official=True)

def fashion_unbalanced_official_counts(root, home):
    d = idx_files(home/'fashion-mnist', n_train=60000, n_test=10000, gz=False)
    set_label(d/'t10k-labels-idx1-ubyte', 0, 1)
    return {}

def mnist_official_sizes_other_bytes(root, home):
    idx_files(home/'mnist', n_train=60000, n_test=10000, gz=False); return {}

def mnist_more_than_official(root, home):
    idx_files(root/'MNIST'/'raw', n_test=10001, gz=False); return dict(root=root)

def mnist_float_idx(root, home):
    d = idx_files(root/'mnist', gz=False)
    raw = bytearray((d/'train-images-idx3-ubyte').read_bytes()); raw[2] = 0x0D
    (d/'train-images-idx3-ubyte').write_bytes(bytes(raw)); return dict(root=root)

def mnist_labels_2d(root, home):
    d = idx_files(root/'mnist'); write_idx(d/'t10k-labels-idx1-ubyte.gz', np.zeros((10, 1), np.uint8))
    return dict(root=root)

def mnist_trailing_bytes(root, home):
    d = idx_files(root/'mnist', gz=False)
    with open(d/'train-labels-idx1-ubyte', 'ab') as f: f.write(b'\x00\x01')
    return dict(root=root)

def emnist_label_47(root, home):
    d = idx_files(root/'emnist', n_train=47, n_test=20, classes=47, prefix='emnist-balanced-', test='test')
    set_label(d/'emnist-balanced-test-labels-idx1-ubyte.gz', 5, 47); return dict(root=root)

def emnist_fixture_in_data_home(root, home):
    idx_files(home/'emnist', n_train=47, n_test=20, classes=47, prefix='emnist-balanced-', test='test'); return {}

def mnist5k_label_10(root, home):
    t = mnist5k_table(); t[7, 784] = 10; csv_gz(root/'mnist5k'/'mnist_5k.csv.gz', t); return dict(root=root)

def mnist5k_784_columns(root, home):
    csv_gz(root/'mnist5k'/'mnist_5k.csv.gz', mnist5k_table()[:, :784]); return dict(root=root)

def mnist5k_pixel_300(root, home):
    t = mnist5k_table(); t[0, 10] = 300; csv_gz(root/'mnist5k'/'mnist_5k.csv.gz', t); return dict(root=root)

def mnist5k_float_values(root, home):
    t = mnist5k_table().astype(float) + 0.5; csv_gz(root/'mnist5k'/'mnist_5k.csv.gz', t); return dict(root=root)

def mnist5k_not_gzip(root, home):
    (root/'mnist5k').mkdir(); (root/'mnist5k'/'mnist_5k.csv.gz').write_bytes(b'0,1,2\n'); return dict(root=root)

def mnist5k_fixture_in_data_home(root, home):
    csv_gz(home/'mnist5k'/'mnist_5k.csv.gz', mnist5k_table()); return {}

def mnist5k_official_count_unbalanced(root, home):
    t = mnist5k_table(per_class=500); t[:600, 784] = 0
    csv_gz(home/'mnist5k'/'mnist_5k.csv.gz', t); return {}

def blood_label_8(root, home):
    labels = (np.arange(16) % 8).reshape(16, 1).astype(np.uint8); labels[2] = 8
    medmnist_npz(root/'medmnist'/'bloodmnist.npz', train_labels=labels); return dict(root=root)

def blood_negative_label(root, home):
    labels = (np.arange(8) % 8).reshape(8, 1).astype(np.int64); labels[0] = -1
    medmnist_npz(root/'medmnist'/'bloodmnist.npz', val_labels=labels); return dict(root=root)

def blood_float_labels(root, home):
    medmnist_npz(root/'medmnist'/'bloodmnist.npz', train_labels=np.full((16, 1), 1.7)); return dict(root=root)

def blood_32px(root, home):
    medmnist_npz(root/'medmnist'/'bloodmnist.npz', shape=(32, 32, 3)); return dict(root=root)

def blood_grey_images(root, home):
    medmnist_npz(root/'medmnist'/'bloodmnist.npz', shape=(28, 28)); return dict(root=root)

def blood_empty_train(root, home):
    medmnist_npz(root/'medmnist'/'bloodmnist.npz', sizes=(0, 8, 8)); return dict(root=root)

def blood_float_images(root, home):
    medmnist_npz(root/'medmnist'/'bloodmnist.npz', test_images=np.zeros((8, 28, 28, 3))); return dict(root=root)

def blood_fixture_in_data_home(root, home):
    medmnist_npz(home/'medmnist'/'bloodmnist.npz'); return {}

def breast_official_sizes_other_bytes(root, home):
    medmnist_npz(home/'medmnist'/'breastmnist.npz', sizes=(546, 78, 156), classes=2, shape=(28, 28)); return {}

def cifar_bin_label_10(root, home):
    cifar_bin(root/'cifar-10-batches-bin', labels={'data_batch_3': [0, 1, 10, 3]}); return dict(root=root)

def cifar_bin_few_records_in_data_home(root, home):
    cifar_bin(home/'cifar-10-batches-bin'); return {}

def cifar_bin_partial_record(root, home):
    cifar_bin(root/'cifar-10-batches-bin')
    with open(root/'cifar-10-batches-bin'/'test_batch.bin', 'ab') as f: f.write(b'\x01' * 100)
    return dict(root=root)

def cifar_bin_empty_batch(root, home):
    cifar_bin(root/'cifar-10-batches-bin'); (root/'cifar-10-batches-bin'/'data_batch_2.bin').write_bytes(b'')
    return dict(root=root)

def cifar_py_unofficial(root, home):
    cifar_py(root/'cifar-10-batches-py'); return dict(root=root)


CASES = [
    # name, builder, dataset, error class, fragments of the message (the file first)
    ('fashion', fashion_label_200, CorruptDatasetError, ['train-labels-idx1-ubyte.gz', '0..9', '200']),
    ('fashion', fashion_32px, CorruptDatasetError, ['train-images-idx3-ubyte.gz', '1x28x28', '1x32x32']),
    ('fashion', fashion_empty_train, CorruptDatasetError, ['train-images-idx3-ubyte.gz', 'train split is empty']),
    ('fashion', fashion_fewer_labels, CorruptDatasetError, ['train-labels-idx1-ubyte.gz', '20 images', '19 labels']),
    ('fashion', fashion_fixture_in_data_home, CorruptDatasetError, ['train-images-idx3-ubyte.gz', 'official 60,000 train images', 'found 20']),
    ('fashion', fashion_fixture_must_be_official, CorruptDatasetError, ['train-images-idx3-ubyte.gz', 'official 60,000 train images', 'found 20']),
    ('fashion', fashion_unbalanced_official_counts, CorruptDatasetError, ['t10k-labels-idx1-ubyte', '1,000 test images per class', 'found 999']),
    ('mnist', mnist_official_sizes_other_bytes, CorruptDatasetError, ['train-images-idx3-ubyte', 'does not match the official', '6bbc9ace898e44ae57da46a324031adb']),
    ('mnist', mnist_more_than_official, CorruptDatasetError, ['t10k-images-idx3-ubyte', '10,001 test images', 'more than the official 10,000']),
    ('mnist', mnist_float_idx, CorruptDatasetError, ['train-images-idx3-ubyte', 'type 0x08', 'type 0x0d']),
    ('mnist', mnist_labels_2d, CorruptDatasetError, ['t10k-labels-idx1-ubyte.gz', 'expected 1 dimensions, found 2']),
    ('mnist', mnist_trailing_bytes, CorruptDatasetError, ['train-labels-idx1-ubyte', 'expected 28 bytes', 'found 30']),
    ('emnist_balanced', emnist_label_47, CorruptDatasetError, ['emnist-balanced-test-labels-idx1-ubyte.gz', '0..46', '47']),
    ('emnist_balanced', emnist_fixture_in_data_home, CorruptDatasetError, ['emnist-balanced-train-images', 'official 112,800 train images', 'found 47']),
    ('mnist5k', mnist5k_label_10, CorruptDatasetError, ['mnist_5k.csv.gz', '0..9', '10']),
    ('mnist5k', mnist5k_784_columns, CorruptDatasetError, ['mnist_5k.csv.gz', '785 integers', '(50, 784)']),
    ('mnist5k', mnist5k_pixel_300, CorruptDatasetError, ['mnist_5k.csv.gz', 'pixel values in [0, 255]', '300']),
    ('mnist5k', mnist5k_float_values, CorruptDatasetError, ['mnist_5k.csv.gz', 'not a CSV of integers']),
    ('mnist5k', mnist5k_not_gzip, CorruptDatasetError, ['mnist_5k.csv.gz', 'gzip']),
    ('mnist5k', mnist5k_fixture_in_data_home, CorruptDatasetError, ['mnist_5k.csv.gz', 'official 4,000 train images', 'found 40']),
    ('mnist5k', mnist5k_official_count_unbalanced, CorruptDatasetError, ['mnist_5k.csv.gz', '400 train images per class', 'found 480']),
    ('bloodmnist', blood_label_8, CorruptDatasetError, ['bloodmnist.npz', 'train_labels', '0..7', '8']),
    ('bloodmnist', blood_negative_label, CorruptDatasetError, ['bloodmnist.npz', 'val_labels', '0..7', '-1']),
    ('bloodmnist', blood_float_labels, CorruptDatasetError, ['bloodmnist.npz', 'train_labels', 'integer class labels', 'float64']),
    ('bloodmnist', blood_32px, CorruptDatasetError, ['bloodmnist.npz', 'train_images', '3x28x28', '3x32x32']),
    ('bloodmnist', blood_grey_images, CorruptDatasetError, ['bloodmnist.npz', 'train_images', '3x28x28', '1x28x28']),
    ('bloodmnist', blood_empty_train, CorruptDatasetError, ['bloodmnist.npz', 'train split is empty']),
    ('bloodmnist', blood_float_images, CorruptDatasetError, ['bloodmnist.npz', 'test_images must be uint8', 'float64']),
    ('bloodmnist', blood_fixture_in_data_home, CorruptDatasetError, ['bloodmnist.npz', 'official 11,959 train images', 'found 16']),
    ('breastmnist', breast_official_sizes_other_bytes, CorruptDatasetError, ['breastmnist.npz', 'does not match the official']),
    ('cifar10', cifar_bin_label_10, CorruptDatasetError, ['data_batch_3.bin', '0..9', '10']),
    ('cifar10', cifar_bin_few_records_in_data_home, CorruptDatasetError, ['data_batch_1.bin', '30,730,000 bytes', 'found 12,292']),
    ('cifar10', cifar_bin_partial_record, CorruptDatasetError, ['test_batch.bin', '3,073-byte records', 'found 12,392 bytes']),
    ('cifar10', cifar_bin_empty_batch, CorruptDatasetError, ['data_batch_2.bin', '3,073-byte records', 'found 0 bytes']),
    ('cifar10', cifar_py_unofficial, CorruptDatasetError, ['data_batch_1', 'does not match the official']),
]


def snapshot(*folders):
    "Every path under the folders, with the sha256 of each file."
    out = {}
    for folder in folders:
        for p in sorted(Path(folder).rglob('*')):
            out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else 'dir'
    return out


@pytest.fixture
def folders(tmp_path, monkeypatch):
    "An explicit root for fixtures and an empty data home ($GEONB_DATA); nothing else is searched first."
    root, home = tmp_path/'root', tmp_path/'home'
    root.mkdir(); home.mkdir()
    monkeypatch.setenv('GEONB_DATA', str(home))
    return root, home


@pytest.mark.parametrize('dataset, build, error, fragments', CASES, ids=[c[1].__name__ for c in CASES])
def test_bad_input_is_refused_with_a_typed_error(folders, dataset, build, error, fragments):
    root, home = folders
    kwargs = build(root, home)
    before, cached = snapshot(root, home), set(gd._CACHE)
    with pytest.raises(error) as e: load_dataset(dataset, **kwargs)
    message = str(e.value)
    assert '\n' not in message, message
    for fragment in fragments: assert fragment in message, (fragment, message)
    assert snapshot(root, home) == before
    assert set(gd._CACHE) == cached, 'a refused dataset must not be cached'


def test_every_refusal_is_a_dataset_error():
    assert all(issubclass(c[2], DatasetError) for c in CASES) and len(CASES) >= 25


def test_a_fixture_under_an_explicit_root_loads_and_says_it_is_not_official(folders):
    root, _ = folders
    idx_files(root/'fashion-mnist')
    ds = load_dataset('fashion', root=root)
    assert (len(ds['train']), len(ds['test'])) == (20, 10) and ds.official is False
    assert ds.notes.startswith('Not the official files: train 20 / test 10 images')
    assert gd.dataset_info('fashion', root=root)['official'] is False


def test_a_fixture_in_the_data_home_loads_when_asked_for_explicitly(folders):
    _, home = folders
    medmnist_npz(home/'medmnist'/'bloodmnist.npz')
    ds = load_dataset('bloodmnist', expect_official=False)
    assert len(ds['train']) == 16 and ds.official is False


def test_real_offline_data_is_official():
    for name, sizes in (('mnist5k', (4000, 1000)), ('digits', (1438, 359))):
        ds = load_dataset(name)
        assert (len(ds['train']), len(ds['test'])) == sizes and ds.official is True


@pytest.mark.skipif(not Path('/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz').exists(),
                    reason="Debian's dataset-fashion-mnist is not installed")
def test_real_fashion_mnist_passes_every_official_check(monkeypatch, tmp_path):
    monkeypatch.setenv('GEONB_DATA', str(tmp_path))
    ds = load_dataset('fashion', expect_official=True)
    assert ds.official and (len(ds['train']), len(ds['test'])) == (60000, 10000)
