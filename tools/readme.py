"""Render nbs/index.ipynb to README.md (GitHub markdown) without Quarto.

nbdev_readme needs Quarto, which cannot be installed on every machine; this does the same job for the
cells a front page uses: markdown verbatim, code in fenced blocks, outputs below them (text/markdown as
markdown, text in a fenced block). Cells whose first lines carry `#| hide` are left out, `#| echo: false`
cells show only their outputs, and nbdev directives are stripped.
Usage: python tools/readme.py [--check]   (--check: exit 1 if README.md is out of date)
"""
import json, sys
from pathlib import Path

root = Path(__file__).resolve().parent.parent


def render_output(out: dict) -> str:
    "One output as GitHub markdown: markdown as it is, text fenced; anything else (images, html) left out."
    data = out.get('data', {})
    if 'text/markdown' in data: return ''.join(data['text/markdown']).strip()
    text = ''.join(out.get('text', '') or data.get('text/plain', ''))
    return f'```\n{text.rstrip()}\n```' if text.strip() else ''


def render(nb_path: Path) -> str:
    nb = json.loads(nb_path.read_text(encoding='utf-8'))
    parts = ['<!-- Generated from nbs/index.ipynb by tools/readme.py: edit the notebook, not this file. -->']
    for cell in nb['cells']:
        src = ''.join(cell['source'])
        lines = src.splitlines()
        directives = [l for l in lines if l.startswith('#|')]
        if any(d.replace(' ', '') in ('#|hide', '#|include:false') for d in directives): continue
        body = '\n'.join(l for l in lines if not l.startswith('#|')).strip()
        if not body: continue
        if cell['cell_type'] == 'markdown': parts.append(body)
        elif cell['cell_type'] == 'code':
            if not any(d.replace(' ', '') == '#|echo:false' for d in directives): parts.append(f'```python\n{body}\n```')
            parts += [o for o in map(render_output, cell.get('outputs', [])) if o]
    return '\n\n'.join(parts) + '\n'


if __name__ == '__main__':
    text, readme = render(root/'nbs'/'index.ipynb'), root/'README.md'
    if '--check' in sys.argv:
        if not readme.exists() or readme.read_text(encoding='utf-8') != text:
            sys.exit('README.md is out of date with nbs/index.ipynb: run `python tools/readme.py` and commit')
        sys.exit(0)
    readme.write_text(text, encoding='utf-8')
    print(f'wrote {readme}')
