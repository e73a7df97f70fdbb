"""Packaging for geonb, driven by settings.ini (the nbdev 2 convention)."""
from configparser import ConfigParser
from pathlib import Path

import setuptools

cfg = ConfigParser(delimiters=['='])
cfg.read(Path(__file__).parent / 'settings.ini', encoding='utf-8')
c = cfg['DEFAULT']

requirements = c.get('requirements', '').split()
dev_requirements = c.get('dev_requirements', '').split()
app_requirements = c.get('app_requirements', '').split()
dask_requirements = c.get('dask_requirements', '').split()
long_description = Path(__file__).with_name('README.md')

setuptools.setup(
    name=c['lib_name'],
    version=c['version'],
    description=c['description'],
    long_description=long_description.read_text(encoding='utf-8') if long_description.exists() else c['description'],
    long_description_content_type='text/markdown',
    author=c['author'],
    author_email=c['author_email'],
    license='Apache-2.0',
    url=c['git_url'],
    packages=setuptools.find_packages(include=['geonb', 'geonb.*']),
    include_package_data=True,
    python_requires=f">={c['min_python']}",
    install_requires=requirements,
    extras_require={'dev': dev_requirements, 'app': app_requirements, 'dask': dask_requirements},
    entry_points={'console_scripts': c['console_scripts'].split(), 'nbdev': [f"{c['lib_path']}={c['lib_path']}._modidx:d"]},
    zip_safe=False,
)
