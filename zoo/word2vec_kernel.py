"""word2vec's CPU updates as a compiled kernel (numba, ``nogil``; the compiled part is in
``zoo/word2vec_compiled.py``): a prepared run (``Word2Vec.windows``) is trained centre by centre in place,
as word2vec.c and gensim's ``word2vec_inner.pyx`` do, instead of in chunks of a few hundred centres whose
updates all come from the same vectors.

CBOW's updates for a centre are those of ``Word2Vec.gradients`` for a chunk of that one centre (all of
its outputs scored with the vectors as they were before it; applied before the next centre), so the kernel
and the torch path agree for ``chunk_size=1``. Skip-gram goes one (centre, context) pair at a time, as
gensim's ``fast_sentence_sg_*``: each output row is updated as soon as it is scored, the context vector
after the pair. Both draw noise words per example (skip-gram: per pair) in the compiled loop, from the
model's alias table with the hash ``Word2Vec.noise_rows`` uses: the same words as the torch path, without
a table of them in memory (tests/test_word2vec_kernel.py checks both against references).

With ``workers > 1`` the worker threads take the run's centres in chunks of ``CHUNK``, the next free
one each (as gensim's threads take jobs: a worker that shares its core with the preparation of the
next run takes fewer), and all update the shared vectors without locks (Hogwild,
as word2vec.c's and gensim's threads): fast, but the order of the racing updates, and so the last bits
of the vectors, vary from run to run; ``workers=1`` takes the chunks in order and is reproducible bit for
bit: its updates are those of the serial loop over the centres.

Hot rows. Rows that nearly every centre writes (the Huffman root and the nodes near it are on every
path; the frequent targets' and noise words' output rows) bounced between the workers' caches at every
update: on two cores, CBOW with hierarchical softmax ran slower than on one. So with several workers
each thread keeps its own copy of the ``HOT_ROWS`` rows of each output matrix that the run names most
often (``hot_rows``), reads and writes those rows there (it sees its own updates at once), and every
``MERGE_EVERY`` centres (the workers at different times) and when no chunk is left merges them:
``shared += local - snapshot``, then ``local = snapshot = shared``: it sees another worker's updates of
those rows once both have merged, a few hundred centres late. A merge takes each row's lock (an atomic
compare-and-swap; a periodic merge leaves a row another one holds for the next), so no merge loses another's updates. One worker keeps no copies. Copies of the input
matrix's hottest rows (frequent words, thinned out by ``sample``) saved no measurable time, so it has
none. Each centre's rows are also prefetched (for writing) while the centre before it trains.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numpy as np
import torch

from zoo.models.word2vec import COIN_SALT, HS_MAX_SCORE, Word2Vec
from zoo.word2vec_compiled import train_centres as _train_centres

HOT_ROWS = 64  # rows of each output matrix with per-thread copies when several workers train
MERGE_EVERY = 256  # centres between a worker's merges of its copies (how late it sees the others' updates)
SAMPLE = 1024  # about this many centres of a run are counted to find its hot rows
CHUNK = 1024  # centres a worker takes at a time

_POOLS: dict[int, ThreadPoolExecutor] = {}


def hot_rows(rows: np.ndarray, weights: np.ndarray, size: int, count: int, drawn: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The ``count`` rows of a ``size``-row output matrix that a run's ``rows`` (N, G) name most often where
    ``weights`` is nonzero, counted on about ``SAMPLE`` evenly spread centres, plus ``drawn`` (size,): the
    rows' expected noise draws per centre: the map row -> slot (int32, -1 for a row that is not hot) and
    the hot rows by slot (int64). ``count=0``: none."""
    slots = np.full(size, -1, dtype=np.int32)
    if count == 0 or len(rows) == 0:
        return slots, np.zeros(0, dtype=np.int64)
    step = max(1, len(rows) // SAMPLE)
    counts = np.bincount(rows[::step].ravel(), weights[::step].ravel(), minlength=size)
    if drawn is not None:
        counts = counts + drawn * len(rows[::step])
    count = min(count, size)
    hot = np.argpartition(counts, size - count)[size - count :]
    hot = np.sort(hot[counts[hot] > 0]).astype(np.int64)
    slots[hot] = np.arange(len(hot), dtype=np.int32)
    return slots, hot


def _heads(model: torch.nn.Module, run, hot: int) -> tuple:
    """The run's output heads as numpy views: (output matrix, rows, signs, weights, the |score| from which
    a term is skipped: ``HS_MAX_SCORE`` for hierarchical softmax, never for negative sampling, the
    ``hot`` hot rows: their map row -> slot and the rows by slot, and the noise words the kernel draws per
    example: ``negative`` for negative sampling, none for hierarchical softmax) each."""
    heads = []
    for name, (rows, signs, weights) in run.heads.items():
        out = getattr(model, f"output_{name}").detach().numpy()
        limit = np.float32(HS_MAX_SCORE if name == "hs" else np.inf)
        rows, weights = rows.numpy(), weights.float().numpy()
        draws = np.int64(model.negative if name == "negative" else 0)
        drawn = noise_probabilities(model) * float(run.mask.sum(1).mean() if run.pairs > 1 else 1) * draws if draws and hot else None
        heads.append((out, rows, signs.float().numpy(), weights, limit, *hot_rows(rows, weights, len(out), hot, drawn), draws))
    return tuple(heads)


def noise_probabilities(model: torch.nn.Module) -> np.ndarray:
    """Each word's probability as a noise word, from the model's alias table (``alias_table``)."""
    keep = model.noise_threshold.double().numpy() / 2**32
    return (keep + np.bincount(model.noise_alias.numpy(), 1 - keep, minlength=len(keep))) / len(keep)


def start_run(model: torch.nn.Module, run, lr: float, workers: int = 1, lr_end: float | None = None, hot: int = HOT_ROWS,
              every: int = MERGE_EVERY, chunk: int = CHUNK) -> Callable[[], tuple[float, float]]:  # fmt: skip
    """Start training a prepared run (``Word2Vec.windows``, on the CPU) in place at rate ``lr`` (decaying
    linearly to ``lr_end`` over its centres, as word2vec.c's rate over the corpus) in ``workers`` background
    threads taking ``chunk`` centres at a time (Hogwild when several, each with copies of each output
    matrix's ``hot`` hot rows, merged every ``every`` centres); returns the wait for it, which gives the
    summed loss and number of terms (as ``RowUpdates.loss``/``terms``). Meanwhile the caller may prepare the next run."""
    inp, padded, mask = model.input.detach().numpy(), run.padded.numpy(), run.mask.float().numpy()
    n, chunk = len(mask), max(chunk, 1)
    workers = max(1, min(workers, -(-n // chunk)))  # no more workers than chunks
    heads = _heads(model, run, hot if workers > 1 else 0)  # one worker: no copies, the serial loop's updates bit for bit
    locks = np.zeros((len(heads), max(len(head[6]) for head in heads)), dtype=np.int32)  # a lock per head and slot
    shared = (inp, padded, mask, heads, lr, lr if lr_end is None else lr_end, model.architecture == "cbow", bool(model.cbow_mean))
    noise = (model.noise_threshold.numpy(), model.noise_alias.numpy()) if model.negative else (np.ones(1, np.int64), np.zeros(1, np.int64))
    drawing = (noise, run.noise_seed, COIN_SALT, run.pairs)
    if workers not in _POOLS:
        _POOLS[workers] = ThreadPoolExecutor(workers, thread_name_prefix="word2vec")
    chunks = np.zeros(1, dtype=np.int64)  # the next chunk of centres: the workers take them in turn
    jobs = [_POOLS[workers].submit(_train_centres, *shared, chunks, chunk, locks, w, workers, max(every, 1), *drawing) for w in range(workers)]

    def wait() -> tuple[float, float]:
        results = [job.result() for job in jobs]
        return sum(loss for loss, _ in results), sum(terms for _, terms in results)

    return wait


def train_run(model: torch.nn.Module, run, lr: float, workers: int = 1, **settings) -> tuple[float, float]:
    """``start_run`` (``settings``: its ``hot``, ``every``, ``chunk``) and wait for it: the run's summed loss and number of terms."""
    return start_run(model, run, lr, workers, **settings)()


def warm_up(model: torch.nn.Module) -> None:
    """Compile (or load from numba's cache) the kernel for this model's settings on a tiny run, on a
    probe model, so that the first training batch does not pay for it."""
    with torch.random.fork_rng(devices=[]):  # the run's random draws stay those it would make without the probe
        probe = Word2Vec(4, [5, 4, 3, 2], 2, model.architecture, negative=min(model.negative, 2), hs=model.hs, cbow_mean=model.cbow_mean)
        run = probe.windows(torch.tensor([0, 1, 2, 3]), torch.ones(4, 2, dtype=torch.bool))
    train_run(probe, run, 0.0)
