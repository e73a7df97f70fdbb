"""Execute the library notebooks and commit their outputs, or check that the committed outputs are current.

A reader on GitHub, in Colab or on the docs site sees a notebook's stored outputs, so every library
notebook is committed executed. Execution is nbdev_test's: execnb's CaptureShell, cwd = the notebook's
folder, IN_TEST=1, the repository root on sys.path, cells flagged with settings.ini's `tst_flags` or
`#| eval: false` skipped, one torch thread. Each notebook runs in a fresh worker process, so its outputs
never depend on which notebooks ran before it in the same worker.

write (default): store the outputs (stderr dropped: warnings and progress bars are noise), figures as
  PNG at the figure's own dpi but at most 800 pixels on the longer side, then clean the notebook
  exactly as nbdev_clean does.
--check: fail (exit 1) when a cell raises or when a committed output is missing or differs from a fresh
  execution; memory addresses and temp paths are masked, numbers compared with a small tolerance,
  images by mime type and pixel size. Cells that are not executed (skipped flags) are not compared.
  A cell with a comment line `# varies by CPU: <why>` shows a result whose digits depend on the processor's
  float kernels (training, near-singular solves): its outputs must keep their kind and text, numbers and hex
  digests aside.
Usage: python tools/nb_outputs.py [--check] [--n_workers N] [NOTEBOOK ...]   (default: nbs/*.ipynb)
The gate runs `--check` on the library notebooks instead of nbdev_test, and nbdev_test on nbs/experiments only.
"""
from __future__ import annotations
import argparse, base64, configparser, difflib, io, json, math, multiprocessing, os, re, sys, tempfile, time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

root = Path(__file__).resolve().parent.parent
# Imported once by the fork server, so that a fresh worker per notebook costs no more than nbdev_test's reused ones.
HEAVY_IMPORTS = ['numpy', 'torch', 'torchvision.datasets', 'torch.utils.tensorboard', 'safetensors.torch', 'matplotlib.pyplot',
                 'mpl_toolkits.mplot3d', 'seaborn', 'sklearn.linear_model', 'sklearn.datasets', 'sklearn.pipeline',
                 'sklearn.preprocessing', 'PIL.Image', 'yaml', 'tqdm.auto', 'papermill', 'medmnist', 'ripser',
                 'huggingface_hub', 'IPython', 'execnb.shell', 'nbdev.process', 'nbdev.frontmatter', 'nbdev.clean']
MAX_FIGURE_PIXELS = 800  # a displayed figure's longer side, so that committed PNGs stay small


def settings(path: Path = root/'settings.ini') -> configparser.SectionProxy:
    "The [DEFAULT] section of the repository's settings.ini."
    cfg = configparser.ConfigParser()
    if not cfg.read(path): raise FileNotFoundError(f'expected nbdev settings at {path}, found no file')
    return cfg['DEFAULT']


def library_notebooks(nbs: Path = root/'nbs') -> list[Path]:
    "Every library notebook: nbs/*.ipynb but names nbdev skips (`_*`, `.*`); never the papermill notebooks in nbs/experiments/."
    return sorted(p for p in nbs.glob('*.ipynb') if not p.name.startswith(('_', '.')))


# ---------------------------------------------------------------- execution (in a worker process)

def _skipped(cell, flags: set[str]) -> bool:
    "nbdev_test's rule: not code, the export call, `#| eval: false`, or a skip flag."
    if cell.cell_type != 'code': return True
    if 'nbdev_export' + '(' in cell.source: return True
    directives = getattr(cell, 'directives_', {}) or {}
    if directives.get('eval:', [''])[0].lower() == 'false': return True
    return bool(flags & directives.keys())


def modest_png(fig) -> bytes:
    "A figure as PNG at its own dpi, lowered so that its longer side is at most MAX_FIGURE_PIXELS."
    from IPython.core.pylabtools import print_figure
    return print_figure(fig, 'png', dpi=min(fig.dpi, MAX_FIGURE_PIXELS / max(fig.get_size_inches())))


def _plain(outputs) -> list[dict]:
    "execnb's AttrDict outputs as plain JSON data."
    return json.loads(json.dumps(outputs))


def execute(path: str | Path, flags: tuple[str, ...] = ()) -> dict:
    "Run one notebook as nbdev_test does; return {cell index: outputs} of the cells run, and the traceback if one raised."
    from execnb.nbio import read_nb
    from execnb.shell import CaptureShell
    from fastcore.xtras import working_directory
    from nbdev.frontmatter import FrontmatterProc
    from nbdev.process import NBProcessor
    path, start = Path(path).absolute(), time.time()
    os.environ['IN_TEST'] = '1'
    if 'torch' in sys.modules: sys.modules['torch'].set_num_threads(1)
    if str(root) not in sys.path: sys.path.insert(0, str(root))
    nb = read_nb(path)
    for i, cell in enumerate(nb.cells): cell.index_, cell.outputs = i, []
    nb = NBProcessor(nb=nb, procs=FrontmatterProc, process=True).nb
    ran, shell, error = {}, CaptureShell(path, mpl_format='png'), None
    from matplotlib.figure import Figure
    shell.display_formatter.formatters['image/png'].for_type(Figure, modest_png)
    def record(cell): ran[cell.index_] = cell
    try:
        with working_directory(path.parent): shell.run_all(nb, exc_stop=True, preproc=lambda c: _skipped(c, set(flags)), postproc=record)
    except BaseException: error = shell.prettytb(fname=path)
    outputs = {i: _plain(c.get('outputs', [])) for i, c in ran.items()}
    failed = max(ran) if error and ran else None
    return dict(path=str(path), outputs=outputs, error=error, failed_cell=failed, seconds=time.time() - start)


def _worker_execute(args) -> dict:
    "`execute` in a pool worker, never raising (a result always comes back)."
    path, flags = args
    try: return execute(path, flags)
    except BaseException as e: return dict(path=str(path), outputs={}, error=f'{type(e).__name__}: {e}', failed_cell=None, seconds=0.0)


def execute_all(paths: list[Path], flags: tuple[str, ...], n_workers: int):
    "Yield each notebook's execution result as it finishes; n_workers=0 runs them here, one after another."
    os.environ['OMP_NUM_THREADS'] = os.environ['MKL_NUM_THREADS'] = '1'
    jobs = [(str(p), flags) for p in paths]
    if n_workers == 0:
        yield from map(_worker_execute, jobs)
        return
    context = multiprocessing.get_context('forkserver')
    context.set_forkserver_preload(HEAVY_IMPORTS)
    with ProcessPoolExecutor(n_workers, mp_context=context, max_tasks_per_child=1) as pool:
        yield from pool.map(_worker_execute, jobs)


# ---------------------------------------------------------------- what is stored

def stored(outputs: list[dict]) -> list[dict]:
    "What is committed: every output but stderr streams (warnings, progress bars), cleaned as nbdev_clean cleans them."
    nb = dict(cells=[dict(cell_type='code', metadata={}, source='', outputs=[
        o for o in outputs if not (o.get('output_type') == 'stream' and o.get('name') == 'stderr')])], metadata={})
    clean(nb)
    return nb['cells'][0]['outputs']


def clean(nb) -> None:
    "Clean `nb` in place exactly as nbdev_clean does with this repository's settings."
    from nbdev.clean import clean_nb
    cfg = settings()
    clean_nb(nb, cfg.getboolean('clear_all', False), cfg.get('allowed_metadata_keys', '').split(),
             cfg.get('allowed_cell_metadata_keys', '').split(), cfg.getboolean('clean_ids', True))


def read(path: Path):
    "A notebook as nbdev_clean reads it."
    from execnb.nbio import loads
    return loads(Path(path).read_text(encoding='utf-8'))


def write(path: Path, result: dict) -> int:
    "Store `result`'s outputs in the notebook at `path`, clean it; return the change in bytes."
    from execnb.nbio import nb2str
    before, nb = path.stat().st_size, read(path)
    for i, outputs in result['outputs'].items(): nb['cells'][int(i)]['outputs'] = stored(outputs)
    clean(nb)
    path.write_text(nb2str(nb), encoding='utf-8')
    return path.stat().st_size - before


# ---------------------------------------------------------------- comparison

_address = re.compile(r'0x[0-9a-fA-F]{6,}')
_tmp = re.compile(re.escape(tempfile.gettempdir()) + r'''/[^\s'"(),\]}>]*''')
_number = re.compile(r'[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?')


def _image_size(data: str) -> str:
    "An image's pixel size, e.g. '800x320'."
    from PIL import Image
    try: return 'x'.join(map(str, Image.open(io.BytesIO(base64.b64decode(''.join(data)))).size))
    except Exception as e: return f'unreadable ({type(e).__name__})'


def _mime_lines(mime: str, data) -> list[str]:
    "One mime entry as comparable lines: text masked, images by size, anything else as JSON."
    if mime.startswith('image/'): return [f'<{mime} {_image_size(data) if mime != "image/svg+xml" else "svg"}>']
    text = ''.join(data) if isinstance(data, list) and mime.startswith('text/') else data
    if not isinstance(text, str): text = json.dumps(text, sort_keys=True, indent=1)
    return _tmp.sub('<tmp>', _address.sub('0x…', text)).splitlines()


def comparable(outputs: list[dict]) -> list[str]:
    "Outputs as lines to compare: a header per output, then its masked content."
    lines = []
    for o in outputs:
        kind = o.get('output_type')
        if kind == 'stream':
            lines += [f'[{o.get("name")}]'] + _mime_lines('text/plain', o.get('text', ''))
        elif kind == 'error':
            lines += [f'[error {o.get("ename")}: {o.get("evalue")}]']
        else:
            data = o.get('data', {})
            for mime in sorted(data): lines += [f'[{kind} {mime}]'] + _mime_lines(mime, data[mime])
    return lines


def _significant(s: str) -> int:
    "How many significant digits a printed decimal such as '0.0123' has (3)."
    return len(s.lstrip('+-').split('e')[0].split('E')[0].replace('.', '').lstrip('0'))


def _close(a: str, b: str, rel: float = 1e-5) -> bool:
    "Two printed numbers agree: integers exactly; decimals within `rel`, or, printed to 3 or more significant digits, one unit of the last."
    if a == b: return True
    if not any(c in a + b for c in '.eE'): return False
    x, y = float(a), float(b)
    if math.isclose(x, y, rel_tol=rel, abs_tol=1e-12): return True
    plain = [s for s in (a, b) if '.' in s and 'e' not in s.lower()]
    decimals = {len(s.split('.')[1]) for s in plain}
    return (len(plain) == 2 and len(decimals) == 1 and min(map(_significant, plain)) >= 3
            and abs(x - y) <= 1.5 * 10 ** -decimals.pop())


def same_line(a: str, b: str) -> bool:
    "Two lines agree: the same text around the numbers, and each pair of numbers close."
    if a == b: return True
    na, nb = _number.findall(a), _number.findall(b)
    return (_number.sub('#', a) == _number.sub('#', b) and len(na) == len(nb)
            and all(_close(x, y) for x, y in zip(na, nb)))


def differs(committed: list[str], fresh: list[str]) -> list[str]:
    "The first differing lines (a short unified diff), or [] when the outputs agree."
    if len(committed) == len(fresh) and all(map(same_line, committed, fresh)): return []
    diff = difflib.unified_diff(committed, fresh, 'committed', 'executed', n=1, lineterm='')
    return [l[:200] for l in list(diff)[:12]]


_varies = re.compile(r'^# varies by CPU:', re.M)
_hex = re.compile(r'\b(?=[0-9a-f]*\d)[0-9a-f]{8,64}\b')


def varies(cell) -> bool:
    "Is this cell marked `# varies by CPU: <why>`?"
    return bool(_varies.search(''.join(cell.get('source', ''))))


def without_digits(lines: list[str]) -> list[str]:
    "Lines with every number and hex digest masked: what must hold of a result that varies by CPU."
    return [_number.sub('#', _hex.sub('<hex>', l)) for l in lines]


def _cell_name(nb, i: int) -> str:
    "How a report names a cell: its number in the file (from 1) and its first line of code."
    lines = [l for l in ''.join(nb['cells'][i]['source']).splitlines() if l.strip() and not l.startswith('#|')]
    return f'cell {i + 1} ({(lines or [""])[0][:60]!r})'


def check(path: Path, result: dict) -> list[str]:
    "Problems with `path`'s committed outputs: a cell that raised, or outputs missing or different."
    nb = read(path)
    if result['error']:
        where = f' at {_cell_name(nb, result["failed_cell"])}' if result['failed_cell'] is not None else ''
        return [f'{path}{where} raised:\n{result["error"]}']
    problems = []
    for i, outputs in sorted((int(i), o) for i, o in result['outputs'].items()):
        committed, fresh = comparable(nb['cells'][i].get('outputs', [])), comparable(stored(outputs))
        if varies(nb['cells'][i]): committed, fresh = without_digits(committed), without_digits(fresh)
        if diff := differs(committed, fresh):
            what = 'has no committed output' if not committed else 'committed output differs'
            problems.append(f'{path} {_cell_name(nb, i)}: {what}\n  ' + '\n  '.join(diff))
    return problems


# ---------------------------------------------------------------- command line

def main(argv: list[str] | None = None) -> int:
    "Write or check the outputs of the notebooks named (default: every library notebook)."
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('notebooks', nargs='*', type=Path, help='notebooks (default: nbs/*.ipynb)')
    p.add_argument('--check', action='store_true', help='fail when committed outputs are missing or stale')
    p.add_argument('--n_workers', type=int, default=min(os.cpu_count() or 1, 8), help='worker processes; 0 runs here')
    args = p.parse_args(argv)
    paths = [n.resolve() for n in args.notebooks] or library_notebooks()
    if missing := [str(n) for n in paths if n.suffix != '.ipynb' or not n.is_file()]:
        p.error(f'expected existing .ipynb files, found: {", ".join(missing)}')
    flags, start, failures, added = tuple(settings().get('tst_flags', '').split()), time.time(), 0, 0
    for result in execute_all(paths, flags, args.n_workers):
        path = Path(result['path'])
        if args.check: problems = check(path, result)
        else: problems = [f'{path} raised, not written:\n{result["error"]}'] if result['error'] else []
        if problems:
            failures += 1
            print('\n'.join(problems), file=sys.stderr, flush=True)
            continue
        if not args.check: added += (change := write(path, result))
        note = f'{change:+,d} bytes' if not args.check else 'outputs current'
        print(f'ok {path.relative_to(root) if path.is_relative_to(root) else path} ({result["seconds"]:.1f} s, {note})', flush=True)
    verb = 'checked' if args.check else f'wrote, {added:+,d} bytes in all'
    print(f'{len(paths) - failures}/{len(paths)} notebooks {verb} in {time.time() - start:.0f} s', flush=True)
    return 1 if failures else 0


if __name__ == '__main__': sys.exit(main())
