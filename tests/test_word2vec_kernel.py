"""word2vec's compiled CPU kernel (zoo/word2vec_kernel.py) against references: for CBOW, centre by centre
it makes the updates ``Word2Vec.gradients`` makes for chunks of one centre (same noise words), through the
model and through train.py; for skip-gram, pair by pair those of word2vec.c's / gensim's loop written out
here; both draw the noise words the torch path draws. Its Hogwild workers train (with their copies of the
hot rows, whose merges lose no update), and one worker is reproducible."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numba
import numpy as np
import pytest
import torch

import zoo
from datamodules.word_windows import context_windows
from tests.test_word2vec import small_corpus
from zoo.models.word2vec import HS_MAX_SCORE, Word2Vec
from zoo.word2vec_compiled import merge
from zoo.word2vec_kernel import start_run, train_run
from zoo.training import train

SETTINGS = [("skipgram", 5, False, True), ("skipgram", 0, True, True), ("skipgram", 3, True, True),
            ("cbow", 5, False, True), ("cbow", 5, False, False), ("cbow", 0, True, True), ("cbow", 3, True, False)]  # fmt: skip


def model_and_run(architecture: str, negative: int, hs: bool, cbow_mean: bool, words: int = 300) -> tuple[Word2Vec, object]:
    """A small model with random output vectors and a prepared run of random words in 20-word sentences."""
    torch.manual_seed(0)
    vocab = 50
    model = Word2Vec(vocab, [100 - i for i in range(vocab)], 16, architecture, negative=negative, hs=hs, cbow_mean=cbow_mean)
    for name in ("output_negative", "output_hs"):
        if hasattr(model, name):
            torch.nn.init.normal_(getattr(model, name), std=0.1)
    ids = torch.randint(vocab, (words,))
    kept, valid = context_windows(ids, torch.arange(words) // 20, torch.ones(vocab), window=3)
    return model, model.windows(kept, valid)


@pytest.mark.parametrize("architecture,negative,hs,cbow_mean", SETTINGS)
def test_the_kernel_makes_the_torch_paths_updates_one_centre_at_a_time(architecture, negative, hs, cbow_mean):
    check_kernel_against_reference(*model_and_run(architecture, negative, hs, cbow_mean))


@pytest.mark.parametrize("architecture", ["skipgram", "cbow"])
def test_the_kernel_decays_the_rate_centre_by_centre(architecture):
    check_kernel_against_reference(*model_and_run(architecture, 5, True, True), lr_end=0.001)


@pytest.mark.parametrize("architecture", ["skipgram", "cbow"])
def test_saturated_huffman_nodes_are_skipped_alike(architecture):
    """word2vec.c and gensim skip a hierarchical-softmax node whose |score| >= 6: both paths do, and leave it out of the loss."""
    model, run = model_and_run(architecture, 3, True, False)
    torch.nn.init.normal_(model.input, std=2.0)
    torch.nn.init.normal_(model.output_hs, std=2.0)  # scores of std 16 (16 dimensions): most nodes saturate
    terms = check_kernel_against_reference(model, run)
    examples = run.mask if architecture == "skipgram" else (run.mask.sum(1, keepdim=True) > 0).float()  # pairs, or centres with a context
    unskipped = sum(float((weights.sum(2) * examples).sum()) for _, _, weights in model.chunk_heads(run, 0, len(run.mask)).values())
    assert terms < 0.9 * unskipped  # some nodes were skipped (negative sampling never skips)


def check_kernel_against_reference(model: Word2Vec, run, lr_end: float = 0.05) -> float:
    """Train a copy with the reference (CBOW: the torch path one centre a chunk, at the kernel's rate for
    that centre; skip-gram: ``gensim_skipgram``) and the model with the kernel: the same vectors, loss and terms."""
    architecture, negative, hs, cbow_mean = model.architecture, model.negative, model.hs, model.cbow_mean
    reference = Word2Vec(model.vocab_size, [100 - i for i in range(model.vocab_size)], 16, architecture, negative=negative, hs=hs,
                         cbow_mean=cbow_mean)  # fmt: skip
    reference.load_state_dict(model.state_dict())
    loss, terms = 0.0, 0.0
    for centre in range(len(run.mask)):
        rate = 0.05 + (lr_end - 0.05) * centre / len(run.mask)
        if architecture == "skipgram":
            centre_loss, centre_terms = gensim_skipgram(reference, run, centre, rate)
            loss, terms = loss + centre_loss, terms + centre_terms
            continue
        updates = reference.gradients(run, rate, centre, centre + 1)
        reference.input.index_add_(0, updates.input_rows, updates.input_delta)
        for name, rows in updates.output_rows.items():
            getattr(reference, f"output_{name}").index_add_(0, rows, updates.output_delta[name])
        loss, terms = loss + float(updates.loss), terms + float(updates.terms)
    ours = start_run(model, run, 0.05, workers=1, lr_end=lr_end)()
    for name, parameter in model.named_parameters():
        assert torch.allclose(parameter, getattr(reference, name), atol=1e-5), name
    assert ours[0] == pytest.approx(loss, rel=1e-5) and ours[1] == terms
    return terms


def gensim_skipgram(model: Word2Vec, run, centre: int, lr: float) -> tuple[float, float]:
    """gensim's ``fast_sentence_sg_hs`` / ``_neg`` (word2vec.c's loop) for one centre, written out: for each
    context word in turn and each head, the centre's Huffman nodes, or its target and the noise words drawn
    for this pair (``chunk_heads``, the torch path's draws), are scored against the context word's vector and
    updated at once; the vector then gains their summed updates. Returns the loss and the terms."""
    loss, terms = 0.0, 0
    heads = model.chunk_heads(run, centre, centre + 1)
    for k in range(run.mask.shape[1]):
        if run.mask[centre, k] == 0:
            continue
        vector = model.input.data[run.padded[centre + k]]
        for name, (rows, signs, weights) in heads.items():
            out, example = getattr(model, f"output_{name}").data, k if rows.shape[1] > 1 else 0
            work = torch.zeros_like(vector)
            for g in range(rows.shape[2]):
                row, sign = out[rows[0, example, g]], float(signs[0, example, g])
                signed = sign * float(row @ vector)
                if weights[0, example, g] == 0 or (name == "hs" and abs(signed) >= HS_MAX_SCORE):
                    continue
                step = sign * (1 - 1 / (1 + np.exp(-signed))) * lr
                loss, terms = loss + float(np.logaddexp(0.0, -signed)), terms + 1
                work += step * row
                row += step * vector
            vector += work
    return loss, terms


@pytest.mark.parametrize("architecture", ["skipgram", "cbow"])
def test_hogwild_workers_train_and_one_worker_is_reproducible(architecture):
    (first, run), (second, _), (third, _) = (model_and_run(architecture, 5, True, True, words=3000) for _ in range(3))
    start = first.input.clone()
    alone = train_run(first, run, 0.05, workers=1)
    assert alone == train_run(second, run, 0.05, workers=1) and torch.equal(first.input, second.input)
    loss, terms = train_run(third, run, 0.05, workers=2)  # two threads, each half of the centres, the same vectors
    assert terms == alone[1] and loss == pytest.approx(alone[0], rel=0.05)
    assert torch.isfinite(third.input).all() and not torch.equal(third.input, start)


@pytest.mark.parametrize("architecture", ["skipgram", "cbow"])
def test_workers_with_copies_of_the_hot_rows_train_as_one_worker(architecture):
    """Two workers taking chunks of 64 centres in turn, each with its own copies of each head's 8 hottest
    rows (merged every 256 centres): over three passes the loss falls as one worker's does, to within 2%
    of it, and every matrix moves the way one worker moves it (Hogwild's order of updates differs)."""
    (alone, run), (two, _) = (model_and_run(architecture, 5, True, True, words=3000) for _ in range(2))
    start = {name: parameter.clone() for name, parameter in alone.named_parameters()}
    ones = [train_run(alone, run, 0.05, workers=1) for _ in range(3)]
    twos = [train_run(two, run, 0.05, workers=2, hot=8, every=256, chunk=64) for _ in range(3)]
    assert [terms for _, terms in twos] == [terms for _, terms in ones]
    assert twos[2][0] < 0.99 * twos[0][0] and twos[2][0] == pytest.approx(ones[2][0], rel=0.02)
    for name, parameter in two.named_parameters():
        moved, moved_alone = (parameter - start[name]).flatten(), (getattr(alone, name) - start[name]).flatten()
        assert float(torch.nn.functional.cosine_similarity(moved, moved_alone, 0)) > 0.5, name


@pytest.mark.parametrize("architecture", ["skipgram", "cbow"])
def test_the_merges_lose_no_update_of_a_row_both_workers_write(architecture):
    """The Huffman root is on every path: as the one hot row, both workers write it in their copies and
    merge them (at the start and at the end only, when both finish together); at a small rate the
    updates hardly depend on the order, so the root moves as one worker moves it (one worker's lost merge
    would lose about half of it)."""
    (alone, run), (two, _) = (model_and_run(architecture, 0, True, True, words=3000) for _ in range(2))
    root = int(alone.points[0, 0])
    start = alone.output_hs[root].clone()
    train_run(alone, run, 1e-3, workers=1)
    train_run(two, run, 1e-3, workers=2, hot=1, every=10**9, chunk=64)
    moved, moved_alone = two.output_hs[root] - start, alone.output_hs[root] - start
    assert float((moved - moved_alone).norm()) < 0.05 * float(moved_alone.norm())


@numba.njit(nogil=True)
def _add_and_merge(shared, local, snapshot, hot, locks, first, rounds):  # pragma: no cover - compiled
    """A worker's copy of the hot rows gains 1 per round and is merged after each (the last merge waits)."""
    merge(shared, local, snapshot, hot, locks, first, True)
    for _ in range(rounds):
        local += np.float32(1.0)
        merge(shared, local, snapshot, hot, locks, first, False)
    merge(shared, local, snapshot, hot, locks, first, True)


def test_concurrent_merges_of_the_same_row_add_every_update():
    """Two threads merge their copies of the same row 20,000 times each, as fast as they can: the row's
    lock makes the sum exact (integers in float32), where unguarded merges would lose some updates."""
    shared, hot, locks, rounds = np.zeros((5, 16), dtype=np.float32), np.array([3], dtype=np.int64), np.zeros(1, dtype=np.int32), 20_000
    copies = [(np.zeros((1, 16), dtype=np.float32), np.zeros((1, 16), dtype=np.float32)) for _ in range(2)]
    with ThreadPoolExecutor(2) as pool:
        jobs = [pool.submit(_add_and_merge, shared, *copies[w], hot, locks, w, rounds) for w in range(2)]
        [job.result() for job in jobs]
    assert (shared[3] == 2 * rounds).all() and (shared[[0, 1, 2, 4]] == 0).all() and locks[0] == 0


@pytest.mark.parametrize("hs", ["false", "true"])
def test_train_py_with_the_kernel_equals_the_torch_path_in_chunks_of_one(make_cfg, tmp_path, hs):
    """CBOW through train.py: the kernel's run (one worker) and the torch path's in chunks of one centre."""
    corpus = small_corpus(tmp_path / "data")
    runs = []
    for settings in (("task.workers=1",), ("task.kernel=false", "task.chunk_size=1")):  # a constant rate: the torch path's per batch
        cfg = make_cfg("experiment=word2vec_grimm", f"data.path={corpus}", f"data.root={tmp_path / 'data'}", "data.min_count=2",
                       "trainer.max_epochs=1", "model.embedding_size=8", f"model.hs={hs}", "test=false", "task.min_lr=0.025", "model.architecture=cbow",
                       *settings)  # fmt: skip
        train(cfg)
        runs.append(zoo.load(Path(cfg.paths.output_dir) / "vectors.txt").vectors)
    assert torch.allclose(runs[0], runs[1], atol=1e-5)
