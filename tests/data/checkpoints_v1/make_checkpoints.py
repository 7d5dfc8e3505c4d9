"""Regenerate tests/data/checkpoints_v1/ with the OLD code (commit 4342b4d, before the task-layer redesign).

Run it with the project's Python against a checkout of that commit, e.g.

    git worktree add ../zoo-4342b4d 4342b4d
    cd ../zoo-4342b4d && .venv/bin/python /path/to/make_checkpoints.py \
        --old ../zoo-4342b4d --out tests/data/checkpoints_v1

It writes the synthetic data (FSDD-style WAVs, a character text, a word corpus with an analogy
file) into a temporary folder outside both checkouts, trains each kind of model with the old
``train.py`` for a couple of steps (tiny sizes, CPU), copies each run's ``last.ckpt`` to
``<out>/<kind>.ckpt``, and records, with the old ``zoo.load``, every network's output on a fixed
input in ``<out>/expected_outputs.safetensors`` (inputs stored too). ``--keep`` keeps the temp folder.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

import numpy as np

# ---------------------------------------------------------------------------------------------
# synthetic data (the same recipes as the old tests: tests/test_fsdd.py, test_language_model.py,
# test_word2vec.py)
SPEAKERS = ("alice", "bob")
RATE = 8000
PATTERN = "the cat sat on a mat.\nthe dog ate a log.\n"
QUESTIONS = ": capital-common-countries\nathens greece paris france\nathens greece zzz france\n: family\nboy girl brother sister\n"


def write_wav(path: Path, samples: np.ndarray, rate: int = RATE) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(samples.astype("<i2").tobytes())


def tone(digit: int, rng: np.random.Generator) -> np.ndarray:
    """A "spoken digit": a tone at 250 (digit + 1) Hz of 0.25-0.45 s after up to 50 ms of quiet, with noise."""
    seconds = rng.uniform(0.25, 0.45)
    onset = int(rng.uniform(0, 0.05) * RATE)
    t = np.arange(int(seconds * RATE)) / RATE
    frequency = 250 * (digit + 1) * rng.uniform(0.97, 1.03)
    signal = rng.uniform(0.3, 0.8) * np.sin(2 * np.pi * frequency * t) * np.hanning(len(t))
    signal = np.concatenate([np.zeros(onset), signal]) + rng.normal(0, 0.01, onset + len(t))
    return np.clip(signal * 32767, -32768, 32767).astype(np.int16)


def write_fsdd(root: Path, indices: range = range(7)) -> Path:
    """<root>/fsdd/recordings/{digit}_{speaker}_{index}.wav: 10 digits x 2 speakers x 7 indices = 140 files
    (index 0-4: the official test split, 5-6: train/validation)."""
    rng = np.random.default_rng(0)
    folder = root / "fsdd" / "recordings"
    for digit in range(10):
        for speaker in SPEAKERS:
            for index in indices:
                write_wav(folder / f"{digit}_{speaker}_{index}.wav", tone(digit, rng))
    return folder


def write_text(path: Path, repeats: int = 120) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(PATTERN * repeats)
    return path


def small_corpus(folder: Path, lines: int = 400) -> Path:
    """400 lines of 11 words (40 filler words, country/capital and family pairs) and an analogy file."""
    rng = np.random.default_rng(0)
    pairs = [("athens", "greece"), ("paris", "france"), ("berlin", "germany"), ("boy", "girl"), ("brother", "sister")]
    filler = [f"w{i}" for i in range(40)]
    text = []
    for _ in range(lines):
        a, b = pairs[int(rng.integers(len(pairs)))]
        words = [filler[int(i)] for i in rng.integers(len(filler), size=8)]
        text.append(" ".join(words[:3] + [a, "of", b] + words[3:]))
    (folder / "analogy").mkdir(parents=True, exist_ok=True)
    (folder / "analogy" / "questions-words.txt").write_text(QUESTIONS)
    path = folder / "corpus.txt"
    path.write_text("\n".join(text) + "\n")
    return path


# ---------------------------------------------------------------------------------------------
COMMON = ["trainer=cpu", "test=false"]
DIGITS = ["data=digits", "model.input_size=8", "data.augment=none"]


def runs(data: Path) -> dict[str, list[str]]:
    """The train.py overrides of each checkpoint (paths.log_dir is added per run)."""
    return {
        "image_classifier": ["model=mlp", "model.hidden_sizes=[16]", *DIGITS,
                             "trainer.max_epochs=1", "trainer.limit_train_batches=2", "trainer.limit_val_batches=1"],
        "audio_classifier": ["model=audio_rnn", "model.hidden_size=8", "data=fsdd", f"data.root={data}",
                             "data.download=false", "data.max_seconds=0.5", "data.batch_size=16",
                             "trainer.max_epochs=1", "trainer.limit_train_batches=2", "trainer.limit_val_batches=1"],
        "language_model": ["model=rnn_lm", "model.hidden_size=16", "model.num_layers=1", "model.dropout=0",
                           "data=text_file", f"data.path={data / 'pattern.txt'}", "data.seq_len=20",
                           "data.batch_size=8", "trainer.max_epochs=1", "trainer.limit_train_batches=2",
                           "trainer.limit_val_batches=1"],
        "autoencoder": ["model=autoencoder", "model.hidden_sizes=[16,8]", *DIGITS,
                        "trainer.max_epochs=1", "trainer.limit_train_batches=2", "trainer.limit_val_batches=1"],
        "word2vec": ["model=word2vec", "model.embedding_size=8", "data=word_corpus",
                     f"data.path={data / 'words' / 'corpus.txt'}", f"data.root={data / 'words'}",
                     "data.min_count=2", "data.batch_words=500", "scheduler=none",
                     "trainer.max_epochs=1", "trainer.num_sanity_val_steps=0"],
        "stacked_autoencoder": ["model=stacked_autoencoder", "model.hidden_sizes=[16,8]", "task.pretrain_epochs=1",
                                *DIGITS, "trainer.max_epochs=3", "trainer.limit_train_batches=2",
                                "trainer.limit_val_batches=1"],
    }


def train(old: Path, python: str, overrides: list[str], log_dir: Path, data_dir: Path) -> Path:
    command = [python, "train.py", *overrides, *COMMON, f"paths.log_dir={log_dir}"]
    print("$", " ".join(command), flush=True)
    env = {**os.environ, "ZOO_ROOT": str(old), "ZOO_DATA_DIR": str(data_dir), "PYTHONPATH": str(old)}
    result = subprocess.run(command, cwd=old, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"train.py failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    (last,) = log_dir.glob("*/runs/*/checkpoints/last.ckpt")
    return last  # the end of the run (stacked_autoencoder's best.ckpt is its epoch-0 pretraining state)


def expected_outputs(out: Path, kinds: list[str]) -> dict:
    import torch

    import zoo
    from zoo.checkpoint import network_state_dict, read_checkpoint
    from zoo.inference import _model_from_config

    tensors: dict[str, torch.Tensor] = {}
    for kind in kinds:
        path = out / f"{kind}.ckpt"
        loaded = zoo.load(path)
        config = read_checkpoint(path)["hyper_parameters"]
        info = config["data_info"]
        if kind == "word2vec":  # zoo.load gives WordVectors: the network is built the same way, from the same file
            model = _model_from_config(config, network_state_dict(read_checkpoint(path)["state_dict"]), path).eval()
            assert torch.equal(loaded.vectors, model.input.detach())
        else:
            model = loaded.model
            assert not model.training, kind
        torch.manual_seed(0)
        with torch.no_grad():
            if kind in ("image_classifier", "stacked_autoencoder", "autoencoder"):
                x = torch.randn(2, info["channels"], info["image_size"], info["image_size"])
                y = model(x)
                if kind == "autoencoder":
                    tensors[f"{kind}.code"] = y.code
                    y = y.reconstruction
            elif kind == "audio_classifier":
                x = torch.randn(2, *info["sample_shape"])
                y = model(x)
            elif kind == "language_model":
                x = torch.randint(0, config["model"]["vocab_size"], (2, 5))
                y = model(x)[0]
            elif kind == "word2vec":
                x = torch.arange(model.input.shape[0])
                y = model.input.detach()
                assert torch.equal(model(x), y)
        tensors[f"{kind}.input"] = x.contiguous()
        tensors[f"{kind}.output"] = y.contiguous()
    return tensors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", type=Path, required=True, help="checkout of commit 4342b4d")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--keep", action="store_true", help="keep the temporary data and logs")
    args = parser.parse_args()
    old, out = args.old.resolve(), args.out.resolve()
    sys.path.insert(0, str(old))
    os.environ["ZOO_ROOT"] = str(old)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="zoo_ckpt_v1_"))
    try:
        data = work / "data"
        write_fsdd(data)
        write_text(data / "pattern.txt")
        small_corpus(data / "words")
        for kind, overrides in runs(data).items():
            last = train(old, args.python, overrides, work / "logs" / kind, data)
            shutil.copyfile(last, out / f"{kind}.ckpt")
            print(f"  {last.name} -> {out / (kind + '.ckpt')} ({(out / (kind + '.ckpt')).stat().st_size} bytes)")
        from safetensors.torch import save_file

        tensors = expected_outputs(out, list(runs(data)))
        save_file(tensors, str(out / "expected_outputs.safetensors"),
                  metadata={"written_by": "zoo commit 4342b4d (old zoo.load), torch.manual_seed(0) inputs"})  # fmt: skip
        os.chmod(out / "expected_outputs.safetensors", 0o644)  # safetensors writes it 0600
        for key, value in tensors.items():
            print(f"  {key}: {tuple(value.shape)} {value.dtype}")
    finally:
        if args.keep:
            print("kept", work)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
