"""The documentation site: built once by tools/docs.py, every internal link resolves, and a browser sees the pages."""
import functools, os, subprocess, sys, threading, time
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from conftest import chromium

ROOT = Path(__file__).resolve().parents[1]
SHOTS = Path('/tmp/docs-shots')
EXTERNAL = ('http:', 'https:', '//')
NOT_FILES = ('mailto:', 'data:', 'javascript:', 'tel:')


@pytest.fixture(scope='session')
def site(tmp_path_factory) -> Path:
    "The site, built once per session by the same script as `make docs`, into a temporary folder."
    pytest.importorskip('mkdocs', reason='mkdocs is not installed (pip install "geonb[dev]")')
    pytest.importorskip('material', reason='mkdocs-material is not installed (pip install "geonb[dev]")')
    out = tmp_path_factory.mktemp('docs')
    t = time.time()
    r = subprocess.run([sys.executable, str(ROOT/'tools'/'docs.py'), '--site', str(out/'site'), '--work', str(out/'work')],
                       capture_output=True, text=True, timeout=900, env={**os.environ, 'OMP_NUM_THREADS': '1'})
    assert r.returncode == 0, f'tools/docs.py failed after {time.time()-t:.0f} s:\n{r.stdout}\n{r.stderr}'
    return out/'site'


class _Refs(HTMLParser):
    "The ids a page defines and the local files and anchors it points at."
    def __init__(self):
        super().__init__()
        self.ids, self.refs, self.assets = set(), [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get('id'): self.ids.add(a['id'])
        if tag == 'a' and a.get('name'): self.ids.add(a['name'])
        for key in ('href', 'src'):
            url = a.get(key)
            if not url: continue
            if tag in ('script', 'img', 'source', 'iframe') or (tag == 'link' and 'stylesheet' in (a.get('rel') or '')):
                self.assets.append((tag, url))
            if not url.startswith(EXTERNAL + NOT_FILES): self.refs.append(url)


def _parse(path: Path) -> _Refs:
    p = _Refs()
    p.feed(path.read_text(encoding='utf-8'))
    return p


@pytest.fixture(scope='session')
def pages(site) -> dict:
    "Every HTML page of the site, parsed once."
    return {f: _parse(f) for f in site.rglob('*.html')}


def test_every_internal_link_resolves(site, pages):
    assert len(pages) > 40, sorted(str(p.relative_to(site)) for p in pages)
    broken = []
    for page, refs in pages.items():
        if page.name == '404.html': continue  # its links are absolute on purpose, for any missing path under site_url
        for url in refs.refs:
            parts = urlsplit(url)
            target = page if not parts.path else (page.parent/unquote(parts.path)).resolve()
            if target.is_dir(): target = target/'index.html'
            if not target.is_file(): broken.append(f'{page.relative_to(site)}: {url} (no file)'); continue
            if parts.fragment and target.suffix == '.html':
                ids = pages[target].ids if target in pages else _parse(target).ids
                if unquote(parts.fragment) not in ids: broken.append(f'{page.relative_to(site)}: {url} (no anchor)')
    assert not broken, '\n'.join(broken[:40])


def test_nothing_loads_from_elsewhere(site, pages):
    outside = [f'{page.relative_to(site)}: <{tag}> {url}' for page, refs in pages.items()
               for tag, url in refs.assets if url.startswith(EXTERNAL)]
    assert not outside, '\n'.join(outside[:20])
    css = ''.join(f.read_text(encoding='utf-8', errors='replace') for f in site.rglob('*.css'))
    assert 'fonts.googleapis' not in css and 'fonts.gstatic' not in css


def test_api_anchors_are_nbdevs(site, pages):
    "show_doc headings carry nbdev's anchors (`Class.method`), as geonb/_modidx.py has them for every public name."
    from geonb._modidx import d
    ids = pages[site/'ph.monitor.html'].ids
    public = {loc.split('#')[1] for sym, (loc, _) in d['syms']['geonb.ph.monitor'].items()
              if loc.startswith('ph.monitor.html#') and '.' not in loc.split('#')[1] and not sym.split('.')[-1].startswith('_')}
    assert public and public <= ids, sorted(public - ids)
    assert {'phmonitor.check', 'layerphmonitor.check'} <= ids


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args): pass


@pytest.fixture(scope='session')
def served(site):
    "The site over http on a free local port, as a reader's browser gets it."
    httpd = ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(_Quiet, directory=str(site)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f'http://127.0.0.1:{httpd.server_port}'
    httpd.shutdown()


@pytest.fixture(scope='module')
def browser():
    "One headless chromium for this module's browser tests, closed when the module ends (see conftest.chromium)."
    with chromium() as b: yield b


def _page(browser, url):
    page = browser.new_page(viewport={'width': 1280, 'height': 900})
    outside = []
    page.on('request', lambda r: outside.append(r.url) if not r.url.startswith(('http://127.0.0.1', 'data:', 'blob:')) else None)
    page.goto(url, wait_until='load')
    return page, outside


def _h1(page) -> str:
    return page.inner_text('article h1').replace('¶', '').strip()


def _shot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS/f'{name}.png'))


def test_browser_home_api_card_and_search(browser, served):
    home, outside = _page(browser, f'{served}/index.html')
    assert home.title().startswith('geonb')
    assert _h1(home) == 'geonb'
    _shot(home, 'home')

    api, more = _page(browser, f'{served}/ph.monitor.html#phmonitor')
    outside += more
    entry = api.locator('[id="phmonitor"]')
    assert entry.is_visible() and entry.inner_text().startswith('PHMonitor')
    signature = entry.locator('xpath=following::div[contains(@class, "highlight")][1]').inner_text()
    assert 'def PHMonitor(' in signature and 'gap_threshold:float=0.08' in signature, signature
    table = entry.locator('xpath=following::table[1]').inner_text()
    assert 'gap_threshold' in table and 'ALERT above this gap' in table, table
    assert api.locator('[id="phmonitor.check"]').is_visible()
    _shot(api, 'api-ph.monitor')

    card, more = _page(browser, f'{served}/reports/cards/baseline/index.html')
    outside += more
    assert 'baselines' in _h1(card).lower()
    figures = card.locator('article img')
    assert figures.count() >= 1
    figures.first.scroll_into_view_if_needed()
    card.wait_for_function('() => [...document.querySelectorAll("article img")].every(i => i.complete)')
    widths = card.eval_on_selector_all('article img', 'imgs => imgs.map(i => i.naturalWidth)')
    assert widths and all(w > 0 for w in widths), widths
    _shot(card, 'card-baseline')

    for p in (home, api, card): p.close()
    search, more = _page(browser, f'{served}/index.html')  # a page in the foreground: background tabs get no frames
    outside += more
    search.fill('input.md-search__input', 'PHMonitor')
    hit = search.locator('.md-search-result__item a', has_text='PHMonitor').first
    hit.wait_for(timeout=60_000)
    assert 'ph.monitor.html' in hit.get_attribute('href')
    _shot(search, 'search-PHMonitor')
    assert not outside, outside[:10]
