"""Build the documentation site offline: nbdev's processors on every notebook, nbconvert to Markdown, mkdocs-material.

    python tools/docs.py [--site _docs] [--work _proc/_mkdocs]

Every notebook under nbs/ goes through nbdev's own docs processors (`FilterDefaults`, as `nbdev_proc_nbs` applies
them, with IN_TEST=1) in this one process, so show_doc cells execute and torch is imported once; nbconvert turns the
result into Markdown; the cards, their run notebooks and the claims index join them; mkdocs builds `_docs/`.
Quarto is never needed: `nbdev_docs` stays usable where it exists, from nbs/_quarto.yml and nbs/nbdev.yml.
"""
from __future__ import annotations

import argparse, copy, json, os, posixpath, re, shutil, subprocess, sys, time, warnings
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASE_CONFIG = ROOT/'tools'/'mkdocs.yml'
SYSTEMS = {'1': 'PH Training', '2': 'Pentachora', '3': 'SKA', '4': 'GeoFractalDavid', '5': 'Conduit readout'}
TEXT_LINES = {'run': 40, 'default': 400}  # lines of one text output kept, per page kind
HTML_BYTES = 200_000  # a larger text/html output is replaced by a note
PRIORITY = ['text/markdown', 'text/html', 'image/png', 'image/jpeg', 'image/svg+xml', 'text/latex', 'text/plain']


class DocsError(Exception):
    "The documentation site cannot be built."


@dataclass
class Page:
    "One page of the site: the repository file it comes from and the Markdown file it becomes under docs_dir."
    src: Path  # absolute path of the source file in the repository
    dest: str  # posix path of the staged Markdown file, relative to docs_dir
    kind: str  # library, index, experiment, card, run or claims
    title: str = ''
    label: str = ''  # the name in the navigation
    anchors: set = field(default_factory=set)  # the explicit heading ids (show_doc entries)


@dataclass
class Site:
    "Everything the pages need to know about each other."
    root: Path
    docs: Path  # the staged docs_dir
    pages: list[Page] = field(default_factory=list)
    settings: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # notebook cells that did not run, kept with their stored outputs

    def by_src(self) -> dict[Path, Page]: return {p.src: p for p in self.pages}

    def by_html(self) -> dict[str, Page]: return {posixpath.splitext(p.dest)[0]+'.html': p for p in self.pages}


# ---------------------------------------------------------------- settings and discovery

def read_settings(root: Path) -> dict:
    "The [DEFAULT] section of settings.ini, the keys the site needs checked."
    import configparser
    ini = root/'settings.ini'
    if not ini.exists(): raise DocsError(f'expected {ini}, found no such file')
    cp = configparser.ConfigParser(interpolation=None)
    cp.read(ini)
    s = dict(cp['DEFAULT'])
    missing = [k for k in ('doc_host', 'doc_baseurl', 'git_url', 'branch', 'nbs_path') if k not in s]
    if missing: raise DocsError(f'settings.ini: expected keys doc_host, doc_baseurl, git_url, branch, nbs_path; missing {missing}')
    return s


def html_name(rel: Path) -> str:
    "nbdev's page name for a notebook path relative to nbs/: `10_ph.monitor.ipynb` -> `ph.monitor.html`."
    return rel.with_name(re.sub(r'^\d+[a-zA-Z0-9]*_', '', rel.name.lower())).with_suffix('.html').as_posix()


def ignored(root: Path, paths: list[Path]) -> set[Path]:
    "The paths git ignores (none when root is not a git work tree)."
    if not paths or not (root/'.git').exists(): return set()
    r = subprocess.run(['git', 'check-ignore', '--stdin'], cwd=root, input='\n'.join(str(p) for p in paths),
                       capture_output=True, text=True)
    return {Path(l) for l in r.stdout.splitlines() if l}


def notebook_pages(root: Path, nbs: Path) -> list[Page]:
    "The front page, the library notebooks and the experiment notebooks."
    index = nbs/'index.ipynb'
    if not index.exists(): raise DocsError(f'expected the front page {index}, found no such file')
    pages = [Page(index, 'index.md', 'index', label='Home')]
    for p in sorted(nbs.glob('[0-9]*.ipynb')): pages.append(Page(p, html_name(p.relative_to(nbs))[:-5]+'.md', 'library'))
    for p in sorted((nbs/'experiments').glob('*.ipynb')):
        pages.append(Page(p, html_name(p.relative_to(nbs))[:-5]+'.md', 'experiment', label=p.stem))
    for pg in pages:
        if not pg.label: pg.label = posixpath.splitext(pg.dest)[0]
    return pages


def card_pages(root: Path) -> list[Page]:
    "The claims index, every card README (a profile's sub-card in full/ too) and the run notebooks under runs/."
    reports = root/'reports'
    found = sorted((reports/'cards').glob('*/README.md')) + sorted((reports/'cards').glob('*/*/README.md'))
    runs = sorted((reports/'cards').rglob('runs/*.ipynb'))
    skip = ignored(root, [p.relative_to(root) for p in found + runs])
    pages = [Page(reports/'index.md', 'reports/index.md', 'claims', label='Claims index')] if (reports/'index.md').exists() else []
    for p in found:
        if p.relative_to(root) in skip: continue
        rel = p.parent.relative_to(root).as_posix()
        pages.append(Page(p, f'{rel}/index.md', 'card', label=p.parent.name))
    for p in runs:
        if p.relative_to(root) not in skip: pages.append(Page(p, p.relative_to(root).with_suffix('.md').as_posix(), 'run', label=p.stem))
    return pages


# ---------------------------------------------------------------- nbdev processing

def table_renderer():
    "nbdev's show_doc renderer with the docments also as a parameter table under a plain signature."
    from fastcore.docments import DocmentTbl, DocmentText
    from nbdev.showdoc import BasicMarkdownRenderer

    class PlainSignature(DocmentText):
        "The signature without the docments comments, which the table shows instead."
        @property
        def params(self): return [(f, '') for f, _ in super().params]
        @property
        def _ret_str(self): return super()._ret_str.split(' # ')[0]

    class TableRenderer(BasicMarkdownRenderer):
        "show_doc Markdown: source link, heading, signature, docstring, then the parameter table."
        def _repr_markdown_(self):
            try: table = DocmentTbl(self.sym)
            except Exception: return super()._repr_markdown_()
            if not table.has_docment: return super()._repr_markdown_()
            plain = copy.copy(self.dm)  # the same docments, not parsed again
            plain.__class__ = PlainSignature
            self.dm = plain
            return super()._repr_markdown_() + '\n\n' + table._repr_markdown_()
    return TableRenderer


def filters(problems: list[str]):
    "nbdev's FilterDefaults, with a show_doc executor that records a failing cell instead of stopping the build."
    from fastcore.basics import str2bool
    from nbdev.processors import FilterDefaults, exec_show_docs

    class exec_show_docs_or_record(exec_show_docs):
        "exec_show_docs; a failing cell keeps its stored outputs and is reported."
        def __call__(self, cell):
            before = cell.get('outputs')
            fm = getattr(self.nb, 'frontmatter_', {})
            live = getattr(self, 'k', None) and self.nb.has_docs_ and not str2bool(fm.get('skip_showdoc', False))
            imports = mixed_imports(cell) if live else None
            if imports is not None:  # run only its imports: the rest is test code, and its stored outputs show
                problems.append(f'{rel_path(self.nb.path_)}: cell id {cell.get("id")} mixes imports with '
                                f'other code; nbdev runs all of it for the docs, this site only its imports')
                self.k.run(imports)
                if self.k.exc: self._record(cell, self.k.exc, before)
                return
            try: super().__call__(cell)
            except Exception as e: self._record(cell, self.k.exc or e, before)

        def _record(self, cell, err, before):
                first = (cell.source or '').strip().splitlines()[:1]
                problems.append(f'{rel_path(self.nb.path_)}: cell {cell.idx_} ({first[0][:60] if first else ""}) raised '
                                f'{type(err).__name__}: {str(err)[:200]}; its stored outputs are shown')
                self.k.exc = None
                if before is not None: cell.outputs = before

        def end(self):
            super().end()
            if hasattr(self, 'k'): close_shell(self.k)

    class SiteFilters(FilterDefaults):
        "The docs processors nbdev_proc_nbs applies, in this process."
        def base_procs(self): return [exec_show_docs_or_record if p is exec_show_docs else p for p in super().base_procs()]
    return SiteFilters()


def mixed_imports(cell) -> str | None:
    "The import statements of a cell that mixes them with other code (nbdev would run all of it), else None."
    import ast
    if cell.cell_type != 'code' or not cell.source or set(cell.directives_) & {'export', 'exports', 'exporti', 'exec_doc'}: return None
    if cell.directives_.get('eval:', [''])[0].lower() == 'false': return None
    try: tree = ast.parse(cell.source)
    except SyntaxError: return None
    imports = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    if not imports or not any(isinstance(n, (ast.Expr, ast.Assign)) for n in ast.walk(tree)): return None  # nbdev's test
    return '\n'.join(ast.get_source_segment(cell.source, n) for n in imports)


def rel_path(path) -> str:
    "A path relative to the repository where it is inside it."
    path = Path(path)
    return path.relative_to(ROOT).as_posix() if ROOT in path.parents else str(path)


def close_shell(shell) -> None:
    "End an IPython shell now, without the namespace reset and garbage collection it would run at exit (seconds each)."
    import atexit
    atexit.unregister(shell.atexit_operations)
    shell._atexit_once_called = True
    if shell.history_manager is not None:
        shell.history_manager.end_session()
        shell.history_manager.close()
        shell.history_manager = None


def split_title_cell(nb) -> None:
    "Keep the prose of a `# Title` cell: nbdev's front matter drops the whole cell, so the rest moves to a new cell."
    from execnb.nbio import mk_cell
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != 'markdown': continue
        lines = cell.source.splitlines()
        if not lines or not re.match(r'#\s+\S', lines[0]): return
        meta = lambda l: l.startswith('>') or re.match(r'-\s+\S.*:', l) or not l.strip()
        head = 1 + next((j for j, l in enumerate(lines[1:]) if not meta(l)), len(lines)-1)
        rest = '\n'.join(lines[head:]).strip()
        if rest:
            cell.source = '\n'.join(lines[:head]).rstrip()
            nb.cells.insert(i+1, mk_cell(rest, 'markdown'))
        return


def process_notebook(page: Page, site: Site):
    "The notebook after nbdev's docs processors, run with the notebook's folder as the working directory."
    from execnb.nbio import read_nb
    nb = read_nb(page.src)
    nb.path_ = str(page.src)
    split_title_cell(nb)
    cwd = os.getcwd()
    os.chdir(page.src.parent)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings('ignore', message='Found cells containing imports')  # reported by mixed_imports
            filters(site.problems)(nb)
    finally: os.chdir(cwd)
    return nb


def read_run_notebook(page: Page):
    "An executed run notebook as stored: no processing, nothing executed."
    from execnb.nbio import read_nb
    from nbdev.frontmatter import FrontmatterProc
    from nbdev.process import NBProcessor
    nb = read_nb(page.src)
    nb.path_ = str(page.src)
    split_title_cell(nb)
    NBProcessor(nb=nb, procs=[FrontmatterProc], rm_directives=False).process()  # its `# Title` cell as the page title
    return nb


# ---------------------------------------------------------------- notebook -> Markdown

_re_directive = re.compile(r'^\s*#\|\s*([\w-]+)\s*:?\s*(.*?)\s*$')
_re_ansi = re.compile(r'\x1B(?:[@-Z\\-_]|\[[0-?]*[ -/]*[@-~])')


def directives(source: str) -> tuple[dict, str]:
    "The leading `#|` directives of a code cell and its source without them."
    lines, opts = source.splitlines(), {}
    i = 0
    while i < len(lines) and (m := _re_directive.match(lines[i])):
        opts[m.group(1).lower()] = m.group(2).strip('"\'').lower()
        i += 1
    return opts, '\n'.join(lines[i:]).strip('\n')


def cap_text(text: str, n: int) -> str:
    "At most n lines: the first and last halves, with a note of how many were left out."
    lines = text.splitlines()
    if len(lines) <= n: return text
    return '\n'.join(lines[:n//2] + [f'... {len(lines)-n} lines left out ...'] + lines[-n//2:])


def clean_output(out, kind: str):
    "One output ready for the page: no ANSI codes, widgets dropped, long text and HTML capped."
    n = TEXT_LINES.get(kind, TEXT_LINES['default'])
    if out.output_type == 'stream': out.text = cap_text(_re_ansi.sub('', out.text), n)
    if out.output_type == 'error': out.traceback = cap_text(_re_ansi.sub('', '\n'.join(out.traceback)), n).splitlines()
    data = out.get('data', {})
    data.pop('application/vnd.jupyter.widget-view+json', None)
    if 'text/plain' in data: data['text/plain'] = cap_text(_re_ansi.sub('', data['text/plain']), n)
    if len(data.get('text/html', '')) > HTML_BYTES:
        data.pop('text/html')
        data.setdefault('text/plain', f'(an HTML output of {len(out.data.get("text/html", ""))//1000} kB, left out of the site)')
    return out


def prepare_cells(nb, page: Page) -> dict:
    "Apply the Quarto cell options nbdev leaves behind and return the front matter of the processed notebook."
    import yaml
    meta, cells = {}, []
    for cell in nb.cells:
        if cell.cell_type == 'raw':
            m = re.match(r'^---\s*\n(.*?)\n---\s*$', cell.source.strip(), flags=re.S)
            if m and not meta: meta = yaml.safe_load(m.group(1)) or {}
            continue
        if cell.cell_type == 'markdown':
            if cell.source.strip().startswith('<!-- WARNING: THIS FILE WAS AUTOGENERATED'): continue
            cells.append(cell)
            continue
        if cell.cell_type != 'code': continue
        opts, source = directives(cell.source)
        if 'hide' in opts or opts.get('include') == 'false': continue
        is_doc = source.lstrip().startswith('show_doc(')
        cell.source = '' if opts.get('echo') == 'false' or is_doc else source
        cell.outputs = [] if opts.get('output') == 'false' else [clean_output(o, page.kind) for o in cell.get('outputs', [])]
        if is_doc:
            for o in cell.outputs:
                if 'text/markdown' in o.get('data', {}): o.data['text/markdown'] = doc_entry(o.data['text/markdown'])
        cell.metadata['fold'] = opts.get('code-fold', '')
        if cell.source.strip() or cell.outputs: cells.append(cell)
    nb.cells = cells
    return meta


def doc_entry(md: str) -> str:
    "A show_doc entry whose heading carries nbdev's anchor (`Class.method` lower-cased) as an explicit id."
    def heading(m):
        name = m.group(2)
        return f'{m.group(1)} {name.replace("_", chr(92)+"_")} {{ #{name.lower()} .doc-heading }}'
    md = re.sub(r'^(#{1,6}) (\S+)[ \t]*$', heading, md, count=1, flags=re.M)
    md = re.sub(r'^---\s*\n', '', md.lstrip(), count=1)
    source = re.match(r'\s*(\[source\]\([^)]*\)\{[^}]*\})\s*\n', md)  # the source link closes the entry
    return md[source.end():].rstrip() + '\n\n' + source.group(1) if source else md


def fence(text: str, lang: str = '', cls: str = '') -> str:
    "A fenced code block longer than any backtick run inside it."
    text = str(text).rstrip('\n')
    ticks = '`' * max(3, 1 + max((len(r) for r in re.findall(r'`+', text)), default=0))
    info = f'{{ .{lang} .{cls} }}' if cls else lang
    return f'{ticks}{info}\n{text}\n{ticks}'


def pre(text: str, cls: str) -> str:
    "An output as a raw HTML block: shown verbatim, and cheaper to build than a highlighted fence."
    import html
    return f'<pre class="{cls}"><code>{html.escape(str(text).rstrip(chr(10)))}</code></pre>'


TEMPLATE = r"""{% extends 'markdown/index.md.j2' %}
{% block input %}
{%- if cell.source.strip() -%}
{%- if cell.metadata.get('fold') %}
??? abstract "Exported source"

{{ cell.source | fence('python') | indent(4, True) }}
{% else %}
{{ cell.source | fence('python') }}
{% endif -%}
{%- endif -%}
{% endblock input %}
{% block stream %}

{{ output.text | pre('nb-output') }}

{% endblock stream %}
{% block error %}

{{ output.traceback | join('\n') | pre('nb-error') }}

{% endblock error %}
{% block data_text scoped %}

{{ output.data['text/plain'] | pre('nb-output') }}

{% endblock data_text %}
{% block data_html scoped %}

<div class="nb-html" markdown="0">
{{ output.data['text/html'] }}
</div>

{% endblock data_html %}
{% block data_png %}

![figure]({{ output.metadata.filenames['image/png'] | path2url }}){ .nb-figure }

{% endblock data_png %}
{% block data_jpg %}

![figure]({{ output.metadata.filenames['image/jpeg'] | path2url }}){ .nb-figure }

{% endblock data_jpg %}
{% block data_svg %}

![figure]({{ output.metadata.filenames['image/svg+xml'] | path2url }}){ .nb-figure }

{% endblock data_svg %}
"""


def exporter():
    "nbconvert's Markdown exporter with the site's template: fenced outputs, extracted figures, HTML kept."
    from jinja2 import DictLoader
    from nbconvert import MarkdownExporter
    from traitlets.config import Config
    cfg = Config({'NbConvertBase': {'display_data_priority': PRIORITY},
                  'ExtractOutputPreprocessor': {'extract_output_types': {'image/png', 'image/jpeg', 'image/svg+xml'}}})
    ex = MarkdownExporter(config=cfg, extra_loaders=[DictLoader({'site.md.j2': TEMPLATE})], template_file='site.md.j2')
    ex.register_filter('fence', fence)
    ex.register_filter('pre', pre)
    return ex


def notebook_markdown(nb, page: Page, site: Site, ex) -> str:
    "The page's Markdown from a processed notebook; its figures are written beside it."
    import nbformat
    from execnb.nbio import nb2str
    node = nbformat.reads(nb2str(nb), as_version=4)
    for c, raw in zip(node.cells, nb.cells): c.metadata['fold'] = raw.metadata.get('fold', '')
    meta = prepare_cells(node, page)
    dest = site.docs/page.dest
    stem = Path(page.dest).stem
    body, resources = ex.from_notebook_node(node, resources={'output_files_dir': f'{stem}_files', 'unique_key': stem})
    for name, data in resources.get('outputs', {}).items():
        f = dest.parent/name
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(data)
    page.title = str(meta.get('title') or page.title or page.label)
    head = f'# {page.title}\n'
    if meta.get('description'): head += f'\n{meta["description"]}\n{{: .nb-subtitle }}\n'
    return head + '\n' + body


# ---------------------------------------------------------------- Markdown cleaning

_re_link = re.compile(r'(!?\[(?:[^\[\]]|\[[^\[\]]*\])*\])\(\s*<?([^)\s>]+)>?(\s+"[^"]*")?\s*\)')
_re_html_ref = re.compile(r'''\b(href|src)=(["'])([^"']+)\2''')
_re_fence = re.compile(r'^(\s*)(`{3,}|~{3,})')


def callouts(md: str) -> str:
    "Quarto callouts (`::: {.callout-note}`) as Material admonitions; other fenced divs lose their fences."
    out, stack = [], []  # stack of indents added by the open divs
    fence_open = None
    for line in md.splitlines():
        m = _re_fence.match(line)
        if m and (fence_open is None or m.group(2).startswith(fence_open)):
            fence_open = None if fence_open else m.group(2)
        if fence_open is None and (d := re.match(r'^\s*(:{3,})\s*(\{.*\})?\s*$', line)):
            attrs = d.group(2) or ''
            if not attrs and stack: stack.pop(); continue
            c = re.search(r'\.callout-(\w+)', attrs)
            if c:
                title = re.search(r'title="([^"]*)"', attrs)
                kind = {'important': 'danger', 'caution': 'warning'}.get(c.group(1), c.group(1))
                mark = '???' if 'collapse="true"' in attrs else '!!!'
                pad = '    ' * len(stack)
                out.append(f'{pad}{mark} {kind}' + (f' "{title.group(1)}"' if title else ''))
                stack.append('    ')
            else: stack.append('')
            continue
        out.append(''.join(stack) + line if line.strip() else line)
    return '\n'.join(out)


def callout_titles(md: str) -> str:
    "A callout whose first line is a `## heading` takes it as its title, as Quarto does."
    return re.sub(r'^(\s*)(!!!|\?\?\?) (\w+)\n\s*\n?\1    #{1,6} (.+)$', r'\1\2 \3 "\4"', md, flags=re.M)


def strip_link_attrs(md: str) -> str:
    "nbdev's and Quarto's `{target=...}` link attributes: the source link floats right, others lose them."
    md = re.sub(r'(\[source\]\([^)]*\))\{target="_blank"[^}]*\}', r'\1{ .doc-source }', md)
    return re.sub(r'(\]\([^)]*\))\{\s*target=[^}]*\}', r'\1', md)


def badges(md: str) -> str:
    "External badge images (Colab's) become plain button links: the site loads nothing from elsewhere."
    md = re.sub(r'\[!\[([^\]]*)\]\(https?://[^)]*\)\]\(([^)]+)\)', r'[\1](\2){ .nb-badge }', md)
    return re.sub(r'!\[([^\]]*)\]\((https?://[^)]*)\)', r'[\1](\2)', md)


def unlink_code(md: str) -> str:
    "Inside fenced code (show_doc signatures), nbdev's Markdown links back to their plain text."
    out, fence_open = [], None
    for line in md.splitlines():
        m = _re_fence.match(line)
        if m and (fence_open is None or m.group(2).startswith(fence_open)):
            fence_open = None if fence_open else m.group(2)
            out.append(line); continue
        if fence_open: line = re.sub(r'\[`?([^\]`]+)`?\]\([^)]*\)', r'\1', line)
        out.append(line)
    return '\n'.join(out)


def rel(dest_from: str, dest_to: str) -> str:
    "A relative posix link from one staged file to another."
    return posixpath.relpath(dest_to, posixpath.dirname(dest_from) or '.')


def stage_file(src: Path, site: Site) -> str:
    "Copy a repository file the site links to (a figure) to the same relative place under docs_dir."
    dest = src.relative_to(site.root).as_posix()
    target = site.docs/dest
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)
    return dest


def resolve(url: str, page: Page, site: Site, html: dict, srcs: dict) -> str:
    "Where a link of `page` should point on the site: pages and figures relative, other repository files on GitHub."
    base = site.settings['doc_host'].rstrip('/') + '/' + site.settings['doc_baseurl'].strip('/') + '/'
    if url.startswith(base):
        path, _, frag = url[len(base):].partition('#')
        target = html.get(path or 'index.html')
        if target and frag and frag not in target.anchors: return None  # an undocumented symbol: no entry to point at
        return rel(page.dest, target.dest) + (f'#{frag}' if frag else '') if target else url
    if re.match(r'^[a-z][a-z0-9+.-]*:', url, flags=re.I) or url.startswith(('#', '/')): return url
    path, _, frag = url.partition('#')
    frag = f'#{frag}' if frag else ''
    for cand in (page.src.parent/path, site.root/path):
        cand = Path(os.path.normpath(cand))
        if not cand.exists() or site.root not in cand.parents: continue
        if cand in srcs: return rel(page.dest, srcs[cand].dest) + frag
        if cand.is_file() and (cand.suffix.lower() in {'.png', '.jpg', '.jpeg', '.svg', '.gif', '.pdf'} or
                               site.root/'reports' in cand.parents):
            return rel(page.dest, stage_file(cand, site)) + frag
        kind = 'tree' if cand.is_dir() else 'blob'
        return f"{site.settings['git_url']}/{kind}/{site.settings['branch']}/{cand.relative_to(site.root).as_posix()}{frag}"
    return url


def links(md: str, page: Page, site: Site) -> str:
    "Every Markdown and HTML link and image of a page pointed at the site."
    html, srcs = site.by_html(), site.by_src()
    def md_link(m):
        url = resolve(m.group(2), page, site, html, srcs)
        return m.group(1)[1:-1] if url is None else f'{m.group(1)}({url}{m.group(3) or ""})'
    def html_ref(m):
        url = resolve(m.group(3), page, site, html, srcs)
        return f'{m.group(1)}={m.group(2)}{m.group(3) if url is None else url}{m.group(2)}'
    return _re_html_ref.sub(html_ref, _re_link.sub(md_link, md))


def clean_markdown(md: str) -> str:
    "Quarto and nbdev syntax that mkdocs would show raw, cleaned."
    md = re.sub(r'<!--\s*WARNING: THIS FILE WAS AUTOGENERATED.*?-->\n?', '', md)
    md = callout_titles(callouts(md))
    return unlink_code(badges(strip_link_attrs(md)))


# ---------------------------------------------------------------- cards and the claims index

def front_matter(md: str) -> tuple[str, str]:
    "YAML front matter and the rest of a Markdown file."
    m = re.match(r'^---\s*\n(.*?)\n---\s*\n', md, flags=re.S)
    return (m.group(1), md[m.end():]) if m else ('', md)


def card_markdown(page: Page, site: Site) -> str:
    "A card's README: its front matter folded under the title, its figures copied, run notebooks linked as pages."
    yml, body = front_matter(page.src.read_text(encoding='utf-8'))
    title = re.search(r'^#\s+(.+?)\s*$', body, flags=re.M)
    page.title = title.group(1) if title else page.label
    if yml:
        fold = ('??? info "Card metadata (the YAML front matter the Hugging Face Hub reads)"\n\n' +
                '\n'.join('    ' + l for l in fence(yml, 'yaml').splitlines()) + '\n')
        body = body[:title.end()] + '\n\n' + fold + body[title.end():] if title else fold + '\n' + body
    figures = page.src.parent/'figures'
    if figures.is_dir():
        for f in figures.iterdir():
            if f.is_file(): stage_file(f, site)
    return body


def markdown_page(page: Page, site: Site) -> str:
    "A plain Markdown page (the claims index)."
    body = page.src.read_text(encoding='utf-8')
    title = re.search(r'^#\s+(.+?)\s*$', body, flags=re.M)
    page.title = title.group(1) if title else page.label
    return body


# ---------------------------------------------------------------- navigation and config

def nav(site: Site) -> list:
    "Navigation grouped like the house: ground floor, the systems, top floor, experiments, cards."
    lib = [p for p in site.pages if p.kind == 'library']
    digit = lambda p: p.src.name[0]
    entry = lambda p: {p.label: p.dest}
    out = [{'Home': 'index.md'}, {'Ground floor (0x)': [entry(p) for p in lib if digit(p) == '0']}]
    systems = [{f'{name} ({d}x)': [entry(p) for p in lib if digit(p) == d]} for d, name in SYSTEMS.items()
               if any(digit(p) == d for p in lib)]
    other = [entry(p) for p in lib if digit(p) not in SYSTEMS and digit(p) not in '09']
    out.append({'Systems (1x-5x)': systems + other})
    out.append({'Top floor (9x)': [entry(p) for p in lib if digit(p) == '9']})
    out.append({'Experiments': [entry(p) for p in site.pages if p.kind == 'experiment']})
    cards = [entry(p) for p in site.pages if p.kind == 'claims']
    for p in site.pages:
        if p.kind != 'card' or p.src.parent.parent.name != 'cards': continue
        subs = [q for q in site.pages if q.kind == 'card' and q.src.parent.parent == p.src.parent]
        cards.append({p.label: [{f'{p.label}: quick profile': p.dest}] +
                                [{f'{p.label}: {q.label} profile': q.dest} for q in subs]} if subs else entry(p))
    out.append({'Cards': cards})
    return out


CSS = """
.md-typeset .doc-heading { font-family: var(--md-code-font-family); font-size: 1.05rem; margin-top: 2.2em;
  padding-top: .6em; border-top: 1px solid var(--md-default-fg-color--lightest); }
.md-typeset p:has(> a.doc-source) { text-align: right; margin-top: -.4em; }
.md-typeset .doc-source { font-size: .7rem; }
.md-typeset .nb-subtitle { font-size: 1.1rem; color: var(--md-default-fg-color--light); font-style: italic; }
.md-typeset pre.nb-output, .md-typeset pre.nb-error { margin: 0 0 1em 0; }
.md-typeset pre.nb-output > code, .md-typeset pre.nb-error > code { display: block; padding: .6em 1em; overflow-x: auto;
  background: var(--md-default-bg-color); border-left: 3px solid var(--md-accent-fg-color--transparent); font-size: .75rem; }
.md-typeset pre.nb-error > code { border-left-color: #e57373; }
.md-typeset .nb-html { overflow-x: auto; font-size: .7rem; }
.md-typeset .nb-html table { border-collapse: collapse; }
.md-typeset .nb-html th, .md-typeset .nb-html td { padding: .2em .6em; border-bottom: 1px solid var(--md-default-fg-color--lightest); }
.md-typeset img.nb-figure { max-width: 100%; }
.md-typeset a.nb-badge { display: inline-block; padding: 0 .5em; border: 1px solid currentColor; border-radius: .8em;
  font-size: .7rem; white-space: nowrap; }
.md-typeset table:not([class]) { font-size: .68rem; }
"""


def write_config(site: Site, work: Path, site_dir: Path) -> Path:
    "The complete mkdocs.yml next to the staged pages: the committed base plus docs_dir, site_dir and nav."
    import yaml
    cfg = yaml.safe_load(BASE_CONFIG.read_text(encoding='utf-8'))
    cfg.update(docs_dir='docs', site_dir=str(site_dir.resolve()), nav=nav(site))
    (site.docs/'assets').mkdir(parents=True, exist_ok=True)
    (site.docs/'assets'/'geonb.css').write_text(CSS.lstrip(), encoding='utf-8')
    path = work/'mkdocs.yml'
    path.write_text('# Generated by tools/docs.py from tools/mkdocs.yml; do not edit.\n' +
                    yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True), encoding='utf-8')
    return path


def mkdocs_build(config: Path, strict: bool) -> None:
    "Build the site with mkdocs; in strict mode a broken link or anchor fails the build."
    import logging
    from mkdocs.commands.build import build
    from mkdocs.config import load_config
    from mkdocs.exceptions import Abort
    logging.basicConfig(format='%(levelname)-7s - %(message)s', level=logging.WARNING)
    logging.getLogger('mkdocs').setLevel(logging.WARNING)
    try: build(load_config(config_file=str(config), strict=strict))
    except Abort as e: raise DocsError(f'mkdocs: expected a build without warnings (strict), found: {e}') from None


# ---------------------------------------------------------------- the build

def page_markdown(page: Page, site: Site, ex) -> str:
    "One page's Markdown before its links are resolved."
    if page.kind == 'card': return card_markdown(page, site)
    if page.kind == 'claims': return markdown_page(page, site)
    try: nb = read_run_notebook(page) if page.kind == 'run' else process_notebook(page, site)
    except json.JSONDecodeError as e:
        raise DocsError(f'{page.src.relative_to(site.root)}: expected a notebook (JSON), found {e}') from None
    return notebook_markdown(nb, page, site, ex)


def stage(site: Site, verbose: bool = False) -> None:
    "Every page's Markdown under docs_dir; links are resolved once every page and its anchors are known."
    ex, texts = exporter(), {}
    for page in site.pages:
        t = time.time()
        (site.docs/page.dest).parent.mkdir(parents=True, exist_ok=True)
        texts[page.dest] = clean_markdown(page_markdown(page, site, ex))
        page.anchors = set(re.findall(r'\{ #([^\s}]+)', texts[page.dest]))
        if verbose: print(f'docs: {page.dest} {time.time()-t:.1f} s', file=sys.stderr)
    for page in site.pages: (site.docs/page.dest).write_text(links(texts[page.dest], page, site) + '\n', encoding='utf-8')


def main(argv=None) -> int:
    "Build the site; print where it is, how long it took and which notebook cells did not run."
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--site', default=str(ROOT/'_docs'), help='the built site (default _docs/)')
    ap.add_argument('--work', default=str(ROOT/'_proc'/'_mkdocs'), help='staged Markdown and mkdocs.yml (default _proc/_mkdocs/)')
    ap.add_argument('--root', default=str(ROOT), help='the repository to document')
    ap.add_argument('--no-strict', action='store_true', help='do not fail on mkdocs warnings (broken links)')
    ap.add_argument('--verbose', action='store_true', help='time every page')
    args = ap.parse_args(argv)
    t0 = time.time()
    root, work, site_dir = Path(args.root).resolve(), Path(args.work).resolve(), Path(args.site).resolve()
    os.environ['IN_TEST'] = '1'
    # jsonschema (under nbformat) builds its IRI format checkers with lark at import when rfc3987_syntax is
    # installed: about 3.5 s of CPU, for formats no notebook uses
    sys.modules.setdefault('rfc3987_syntax', None)
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    os.environ.setdefault('MPLBACKEND', 'Agg')
    settings = read_settings(root)
    if work.exists(): shutil.rmtree(work)
    site = Site(root=root, docs=work/'docs', settings=settings)
    site.docs.mkdir(parents=True)
    site.pages = notebook_pages(root, root/settings['nbs_path']) + card_pages(root)
    os.chdir(root)
    sys.path.insert(0, str(root))
    import nbdev.showdoc
    nbdev.showdoc.BasicMarkdownRenderer = table_renderer()
    stage(site, args.verbose)
    t1 = time.time()
    mkdocs_build(write_config(site, work, site_dir), strict=not args.no_strict)
    for p in site.problems: print('docs: warning:', p, file=sys.stderr)
    print(f'docs: {len(site.pages)} pages in {site_dir} (staging {t1-t0:.1f} s, mkdocs {time.time()-t1:.1f} s)')
    return 0


if __name__ == '__main__':
    try: sys.exit(main())
    except DocsError as e:
        print(f'docs: error: {e}', file=sys.stderr)
        sys.exit(1)
