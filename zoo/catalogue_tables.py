"""The README's tables of published weights and results, generated from ``weights/index.json``
(``python -m zoo.weights readme``): no number in them is typed by hand, and a test fails when the
README and the catalogue disagree.

A table lives between two markers in the README: ``<!-- weights table ... -->`` (every entry) or
``<!-- results table: <task> ... -->`` (the entries of one task, with that task's test metrics),
each closed by ``<!-- end of table -->``.
"""

from __future__ import annotations

import re
from typing import Any

from zoo.catalogue import ROOT, index

README = ROOT / "README.md"
TABLE = re.compile(r"(<!-- (weights table|results table: (\w+))[^>]*-->\n)(.*?)(<!-- end of table -->)", re.S)
# a task's headline metrics (zoo.tasks.*.headline_metrics) that its results table shows, in order
RESULT_METRICS = {
    "classification": ("test/acc", "test/loss"),
    "layerwise_pretraining": ("test/acc", "test/loss"),
    "language_modeling": ("test/loss", "test/ppl", "test/bpc"),
    "reconstruction": ("test/mse", "test/pca_mse", "test/loss"),
    "word_embedding": ("test/analogy_acc",),
}


def load_call(entry: dict[str, Any]) -> str:
    return f"`zoo.load(\"{entry['model']}\", weights=\"{entry['tag']}\")`"


def trained(entry: dict[str, Any]) -> str:
    seconds = entry["wall_time_s"]
    took = f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"
    threads = f", {entry['threads']} threads" if "threads" in entry else ""
    return f"{took} on {entry['machine']}{threads}"


def paper(entry: dict[str, Any]) -> str:
    reference = entry.get("paper") or {}
    return f"{reference['value']:.4f} ({reference['source']})" if reference else ""


def weights_table() -> str:
    """Every published weight: how to load it, its headline test metric, size and how it was trained."""
    from zoo.catalogue_verify import reproducibility

    lines = ["| weights | data | test metric | paper | parameters | file | trained | rebuilt (`python -m zoo.weights verify`) | command |",
             "|---|---|---:|---|---:|---:|---:|---|---|"]  # fmt: skip
    for entry in sorted(index().values(), key=lambda e: (e["model"], e["tag"])):
        lines.append(
            f"| {load_call(entry)} | {entry['data']} | {entry['metric']} {entry['value']:.4f} | {paper(entry)}"
            f" | {entry['parameters']:,} | {entry['bytes'] / 2**20:.2f} MB ({entry.get('dtype', 'float32')}) | {trained(entry)}"
            f" | {reproducibility(entry)} | `{entry['command']}` |"
        )
    return "\n".join(lines)


def results_table(task: str) -> str:
    """The published weights of one task with that task's test metrics and the command that trained each."""
    if task not in RESULT_METRICS:
        raise KeyError(f"no results table for task {task!r} (tasks: {', '.join(RESULT_METRICS)})")
    metrics = RESULT_METRICS[task]
    entries = [entry for entry in index().values() if entry["task"] == task]
    shown = [m for m in metrics if any(m in entry["test_metrics"] for entry in entries)]
    header = ["network", "data", *shown, "paper or target", "trained", "command"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" if h in shown else "---" for h in header) + "|"]
    for entry in sorted(entries, key=lambda e: (e["model"], e["tag"])):
        values = [f"{entry['test_metrics'][m]:.4f}" if m in entry["test_metrics"] else "" for m in shown]
        cells = [entry["description"], entry["data"], *values, paper(entry), trained(entry), f"`{entry['train_command']}`"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def readme_with_tables(text: str) -> str:
    """The README text with every generated table rewritten from the catalogue."""

    def table(match: re.Match) -> str:
        body = weights_table() if match.group(2) == "weights table" else results_table(match.group(3))
        return match.group(1) + body + "\n" + match.group(5)

    return TABLE.sub(table, text)
