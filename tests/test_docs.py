"""Every ```python block in docs/*.md runs. The blocks of one page run in order in one namespace (a
chapter builds on its earlier blocks), in a temporary directory, as a reader pasting them would."""
import linecache
import pathlib
import re

import pytest

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs"
PAGES = sorted(DOCS.glob("*.md"))


def python_blocks(page):
    return re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S)


def test_docs_have_runnable_pages():
    assert PAGES and all(python_blocks(page) for page in PAGES)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_python_block_runs(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__docs__"}
    for number, code in enumerate(python_blocks(page), start=1):
        filename = f"{page.name} block {number}"
        # so that tracebacks (and anomaly mode's report of the creating line) can quote the source
        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
        exec(compile(code, filename, "exec"), namespace)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_linked_files_exist(page):
    targets = re.findall(r"\]\(([^)#\s]+)\)", page.read_text())
    missing = [t for t in targets if "://" not in t and not (page.parent / t).exists()]
    assert not missing, f"{page.name} links to missing files: {missing}"
