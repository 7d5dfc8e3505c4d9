"""Time to load each published weight with ``zoo.load(<model>, weights=<tag>)`` after ``import zoo``,
against the bare route (build the network, ``safetensors.torch.load_file``, ``load_state_dict``: no
hash check, no preprocessing, no notebook object), each in a fresh Python process, the two sides
alternating round by round.

    python benchmarks/load_published.py --rounds 5 [lenet5.mnist ...]

Prints per entry the median load time of both sides with the spread (min-max) over the rounds.
The target is under 1 s for ``zoo.load`` of an in-repository weight.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ZOO = """
import time, zoo, torch
start = time.perf_counter()
zoo.load({model!r}, weights={tag!r})
print(time.perf_counter() - start)
"""
BARE = """
import time, zoo, torch, json
from safetensors import safe_open
from safetensors.torch import load_file
start = time.perf_counter()
path = {path!r}
with safe_open(path, framework="pt") as handle:
    settings = json.loads(handle.metadata()["zoo"])
    tied = json.loads(handle.metadata().get("zoo_tied", "{{}}"))
model = zoo.create_model(**{{k: v for k, v in settings["model"].items() if k not in ("pretrained", "weights_path", "encoder_ckpt", "weights")}})
state = load_file(path)
state.update({{alias: state[name] for alias, name in tied.items()}})
model.load_state_dict(state)
model.eval()
print(time.perf_counter() - start)
"""


def seconds(code: str) -> float:
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return float(result.stdout.strip().splitlines()[-1])


def main() -> None:
    from zoo.catalogue import WEIGHTS_DIR, index

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("entries", nargs="*", help="entries (<model>.<tag>); default: all")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    entries = index()
    names = args.entries or sorted(entries)
    print(f"| weights | MB | zoo.load (s), median [min-max] of {args.rounds} | bare load (s) | zoo / bare |")
    print("|---|---:|---:|---:|---:|")
    for name in names:
        entry = entries[name]
        sides = {"zoo": ZOO.format(model=entry["model"], tag=entry["tag"]), "bare": BARE.format(path=str(WEIGHTS_DIR / entry["file"]))}
        times: dict[str, list[float]] = {"zoo": [], "bare": []}
        for round_ in range(args.rounds):
            for side in (("zoo", "bare") if round_ % 2 == 0 else ("bare", "zoo")):
                times[side].append(seconds(sides[side]))
        zoo_s, bare_s = statistics.median(times["zoo"]), statistics.median(times["bare"])
        print(f"| {name} | {entry['bytes'] / 2**20:.1f} | {zoo_s:.3f} [{min(times['zoo']):.3f}-{max(times['zoo']):.3f}]"
              f" | {bare_s:.3f} [{min(times['bare']):.3f}-{max(times['bare']):.3f}] | {zoo_s / bare_s:.2f}x |", flush=True)
    print(json.dumps({"rounds": args.rounds}))


if __name__ == "__main__":
    main()
