"""word2vec's CPU updates as a compiled kernel (numba, ``nogil``): a prepared run (``Word2Vec.windows``)
is trained centre by centre in place, as word2vec.c and gensim's ``word2vec_inner.pyx`` do, instead of
in chunks of a few hundred centres whose updates all come from the same vectors.

A centre's updates are those of ``Word2Vec.gradients`` for a chunk of that one centre (all of its
pairs scored with the vectors as they were before it; applied before the next centre), so the kernel
and the torch path agree for ``chunk_size=1`` (tests/test_word2vec_kernel.py). The same noise words (drawn by
``windows``) serve both. With ``workers > 1`` each worker thread takes a contiguous share of the run's
centres and all update the shared vectors without locks (Hogwild, as word2vec.c's and gensim's
threads): fast, but the order of the racing updates, and so the last bits of the vectors, vary from
run to run; ``workers=1`` is reproducible bit for bit.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numba
import numpy as np
import torch

from zoo.models.word2vec import HS_MAX_SCORE, Word2Vec

_POOLS: dict[int, ThreadPoolExecutor] = {}
# the helpers are inlined into the loop over centres: a call between compiled functions costs each array
# argument a reference count, which took a third of CBOW's time


@numba.njit(nogil=True, fastmath=True, cache=True, inline="always")
def _axpy(scale, x, y):  # pragma: no cover - compiled
    """``y += scale * x`` in place."""
    for d in range(y.shape[0]):
        y[d] += scale * x[d]


@numba.njit(nogil=True, fastmath=True, cache=True, inline="always")
def _step(vector, row, sign, weight, lr, limit):  # pragma: no cover - compiled
    """The update's scale ``sign * (1 - sigmoid(sign * score)) * weight * lr``, the term's loss
    ``-logsigmoid(signed) = log(1 + exp(-|signed|)) - min(signed, 0)`` as its two parts: the factor
    ``1 + exp(-|signed|)`` (callers multiply them and take one log per centre: the weights are 0 or 1)
    and ``min(signed, 0)``; and the term's weight, 0 for a skipped one (``|score| >= limit``)."""
    score = np.float32(0.0)
    for d in range(vector.shape[0]):
        score += vector[d] * row[d]
    if abs(score) >= limit:
        return np.float32(0.0), 1.0, np.float32(0.0), 0.0
    signed = np.float32(sign * score)
    tail = math.exp(-abs(signed))  # float32 math, as torch's
    one = np.float32(1.0)
    complement = tail / (one + tail) if signed >= 0.0 else one / (one + tail)  # 1 - sigmoid(signed)
    return np.float32(sign * complement * weight * lr), one + tail, min(signed, np.float32(0.0)), weight


@numba.njit(nogil=True, fastmath=True, cache=True, inline="always")
def _score(vector, out, rows, signs, weights, pair_weight, lr, limit, input_delta, output_delta):  # pragma: no cover - compiled
    """Skip-gram: one context vector against a centre's output rows; adds the vector's update to
    ``input_delta`` and the rows' to ``output_delta`` (G, D); the loss's factor and linear part, the terms."""
    factor, linear, terms = 1.0, 0.0, 0.0
    for g in range(rows.shape[0]):
        weight = weights[g] * pair_weight
        if weight != 0.0:
            row = out[rows[g]]
            step, term_factor, term_linear, counted = _step(vector, row, signs[g], weight, lr, limit)
            if counted == 0.0:
                continue
            factor, linear, terms = factor * term_factor, linear + term_linear, terms + counted
            for d in range(vector.shape[0]):
                input_delta[d] += step * row[d]
                output_delta[g, d] += step * vector[d]
    return factor, linear, terms


@numba.njit(nogil=True, fastmath=True, cache=True, inline="always")
def _skipgram(i, inp, padded, mask, heads, lr, input_delta, deltas):  # pragma: no cover - compiled
    """Train centre ``i`` from each of its context words: every pair scored before any update."""
    loss, terms = 0.0, 0.0  # a context word's factors multiply to at most 2 ** G: one log per context word
    for k in range(mask.shape[1]):
        input_delta[k] = 0.0
    for h in range(len(heads)):
        out, rows, signs, weights, limit = heads[h]
        for g in range(rows.shape[1]):
            if weights[i, g] != 0.0:  # a short Huffman path leaves most of the (depth, D) buffer alone
                deltas[h, g] = 0.0
        for k in range(mask.shape[1]):
            if mask[i, k] != 0.0:
                result = _score(inp[padded[i + k]], out, rows[i], signs[i], weights[i], mask[i, k], lr, limit, input_delta[k], deltas[h])
                loss, terms = loss + math.log(result[0]) - result[1], terms + result[2]
    for k in range(mask.shape[1]):
        if mask[i, k] != 0.0:
            _axpy(np.float32(1.0), input_delta[k], inp[padded[i + k]])
    for h in range(len(heads)):
        out, rows, _, weights, _ = heads[h]
        for g in range(rows.shape[1]):
            if weights[i, g] != 0.0:
                _axpy(np.float32(1.0), deltas[h, g], out[rows[i, g]])
    return loss, terms


@numba.njit(nogil=True, fastmath=True, cache=True, inline="always")
def _cbow(i, inp, padded, mask, heads, lr, cbow_mean, hidden, input_delta, steps):  # pragma: no cover - compiled
    """Train centre ``i`` from the mean (or sum) of its context vectors: every output scored before any update."""
    hidden[:] = 0.0
    input_delta[:] = 0.0
    count = 0.0
    for k in range(mask.shape[1]):
        if mask[i, k] != 0.0:
            _axpy(mask[i, k], inp[padded[i + k]], hidden)
            count += mask[i, k]
    if count == 0.0:
        return 0.0, 0.0
    if cbow_mean:
        hidden /= np.float32(count)
    factor, linear, terms = 1.0, 0.0, 0.0
    for h in range(len(heads)):
        out, rows, signs, weights, limit = heads[h]
        for g in range(rows.shape[1]):
            steps[h, g] = 0.0
            if weights[i, g] != 0.0:
                steps[h, g], term_factor, term_linear, counted = _step(hidden, out[rows[i, g]], signs[i, g], weights[i, g], lr, limit)
                if counted != 0.0:
                    factor, linear, terms = factor * term_factor, linear + term_linear, terms + counted
                    _axpy(steps[h, g], out[rows[i, g]], input_delta)
    if not cbow_mean:
        input_delta /= np.float32(count)  # the sum's update is shared among the context words (gensim)
    for k in range(mask.shape[1]):
        if mask[i, k] != 0.0:
            _axpy(mask[i, k], input_delta, inp[padded[i + k]])
    for h in range(len(heads)):
        out, rows, _, weights, _ = heads[h]
        for g in range(rows.shape[1]):
            if steps[h, g] != 0.0:
                _axpy(steps[h, g], hidden, out[rows[i, g]])  # rank one, from the same hidden vector
    return math.log(factor) - linear, terms


@numba.njit(nogil=True, fastmath=True, cache=True)
def _train_centres(inp, padded, mask, heads, lr, lr_end, cbow, cbow_mean, start, end):  # pragma: no cover - compiled
    """Train centres ``start:end`` one after the other, at a rate going linearly from ``lr`` at the run's
    first centre to ``lr_end`` after its last; the summed loss and number of terms."""
    dim, groups = inp.shape[1], max([head[1].shape[1] for head in heads])
    input_delta = np.zeros((mask.shape[1], dim), dtype=np.float32)
    hidden = np.zeros(dim, dtype=np.float32)
    steps = np.zeros((len(heads), groups), dtype=np.float32)
    deltas = np.zeros((len(heads), groups, dim), dtype=np.float32)
    loss, terms = 0.0, 0.0
    for i in range(start, end):
        rate = lr + (lr_end - lr) * (i / mask.shape[0])
        if cbow:
            result = _cbow(i, inp, padded, mask, heads, rate, cbow_mean, hidden, input_delta[0], steps)
        else:
            result = _skipgram(i, inp, padded, mask, heads, rate, input_delta, deltas)
        loss, terms = loss + result[0], terms + result[1]
    return loss, terms


def _heads(model: torch.nn.Module, run) -> tuple:
    """The run's output heads as numpy views: (output matrix, rows, signs, weights, the |score| from which
    a term is skipped: ``HS_MAX_SCORE`` for hierarchical softmax, never for negative sampling) each."""
    heads = []
    for name, (rows, signs, weights) in run.heads.items():
        out = getattr(model, f"output_{name}").detach().numpy()
        limit = np.float32(HS_MAX_SCORE if name == "hs" else np.inf)
        heads.append((out, rows.numpy(), signs.float().numpy(), weights.float().numpy(), limit))
    return tuple(heads)


def start_run(model: torch.nn.Module, run, lr: float, workers: int = 1, lr_end: float | None = None) -> Callable[[], tuple[float, float]]:
    """Start training a prepared run (``Word2Vec.windows``, on the CPU) in place at rate ``lr`` (decaying
    linearly to ``lr_end`` over its centres, as word2vec.c's rate over the corpus) in ``workers`` background
    threads (Hogwild when several); returns the wait for it, which gives the summed loss and number of
    terms (as ``RowUpdates.loss``/``terms``). Meanwhile the caller may prepare the next run."""
    inp, padded, mask = model.input.detach().numpy(), run.padded.numpy(), run.mask.float().numpy()
    rates = (lr, lr if lr_end is None else lr_end)
    shared = (inp, padded, mask, _heads(model, run), *rates, model.architecture == "cbow", bool(model.cbow_mean))
    n = len(mask)
    workers = max(1, min(workers, n // 64 or 1))  # a few centres are not worth a thread
    bounds = np.linspace(0, n, workers + 1).astype(np.int64).tolist()
    pool = _POOLS.setdefault(workers, ThreadPoolExecutor(workers, thread_name_prefix="word2vec"))
    jobs = [pool.submit(_train_centres, *shared, bounds[w], bounds[w + 1]) for w in range(workers)]

    def wait() -> tuple[float, float]:
        results = [job.result() for job in jobs]
        return sum(loss for loss, _ in results), sum(terms for _, terms in results)

    return wait


def train_run(model: torch.nn.Module, run, lr: float, workers: int = 1) -> tuple[float, float]:
    """``start_run`` and wait for it: the run's summed loss and number of terms."""
    return start_run(model, run, lr, workers)()


def warm_up(model: torch.nn.Module) -> None:
    """Compile (or load from numba's cache) the kernel for this model's settings on a tiny run, on a
    probe model, so that the first training batch does not pay for it."""
    with torch.random.fork_rng(devices=[]):  # the run's random draws stay those it would make without the probe
        probe = Word2Vec(4, [5, 4, 3, 2], 2, model.architecture, negative=min(model.negative, 2), hs=model.hs, cbow_mean=model.cbow_mean)
        run = probe.windows(torch.tensor([0, 1, 2, 3]), torch.ones(4, 2, dtype=torch.bool))
    train_run(probe, run, 0.0)
