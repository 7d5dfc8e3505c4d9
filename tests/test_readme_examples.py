"""The README's examples run as written: every Python block marked
``<!-- example: tests/test_readme_examples.py runs this block as written -->`` is executed, and every
published weight the README loads (``zoo.load("<model>", weights="<tag>")``) is in the catalogue."""

from __future__ import annotations

import re

import pytest

from zoo.catalogue import ROOT, index

README = (ROOT / "README.md").read_text()
MARKER = "<!-- example: tests/test_readme_examples.py runs this block as written -->"
EXAMPLES = re.findall(re.escape(MARKER) + r"\n```python\n(.*?)```", README, re.S)


def test_the_readme_marks_its_runnable_examples():
    assert len(EXAMPLES) >= 2 and README.count(MARKER) == len(EXAMPLES)


@pytest.mark.parametrize("number", range(len(EXAMPLES)))
def test_a_readme_example_runs_as_written(number, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the examples load published weights: no path may depend on the folder
    exec(compile(EXAMPLES[number], f"README example {number + 1}", "exec"), {})


def test_every_published_weight_the_readme_loads_exists():
    published = {(entry["model"], entry["tag"]) for entry in index().values()}
    loads = set(re.findall(r'zoo\.load\("(\w+)", weights="(\w+)"\)', README))
    assert loads and loads - {(model, "imagenet") for model, _ in loads} <= published
