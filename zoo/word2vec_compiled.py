"""The compiled part of word2vec's CPU kernel (``zoo/word2vec_kernel.py`` describes it): the loop over a
worker's chunks of centres, its copies of the hot output rows and their merges. All of it is in this one
file: numba's cache (``cache=True``) recompiles a function when its own file changes, not when a compiled
function it calls from another file does.

The helpers are inlined into the loop over centres: a call between compiled functions costs each array
argument a reference count, which took a third of CBOW's time. For the same reason the loop takes its
arrays without their owners (``_unowned``; the caller holds them): numba counted references on many views
of a row (``out[row]``) with an atomic add on the matrix's count, a cache line every worker wrote; that
took an eighth (CBOW with hierarchical softmax) to a third (skip-gram, negative sampling) of one worker's time."""

from __future__ import annotations

import math

import numba
import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic


def _strip(context, builder, typ, value):
    """``value`` (an array, or a tuple of them and scalars) without owners: null meminfo and parent."""
    if isinstance(typ, types.Array):
        array = context.make_array(typ)(context, builder, value)
        array.meminfo = cgutils.get_null_value(array.meminfo.type)
        array.parent = cgutils.get_null_value(array.parent.type)
        return array._getvalue()
    if isinstance(typ, types.BaseTuple):
        for j, member in enumerate(typ):
            value = builder.insert_value(value, _strip(context, builder, member, builder.extract_value(value, j)), j)
    return value


@intrinsic
def _unowned(typingctx, value):
    """The same arrays, whose views count no references: valid while the caller holds the originals."""
    return value(value), lambda context, builder, signature, args: _strip(context, builder, signature.args[0], args[0])


def _pointer(context, builder, signature, args):
    """The address of ``array[index...]`` (the intrinsic's first argument, indexed by the others)."""
    array = context.make_array(signature.args[0])(context, builder, args[0])
    index = [context.cast(builder, value, typ, types.intp) for value, typ in zip(args[1:], signature.args[1:])]
    return cgutils.get_item_pointer(context, builder, signature.args[0], array, index)


@intrinsic
def _try_lock(typingctx, locks, slot):
    """Take ``locks[slot]`` (int32; 0 -> 1, atomically, acquiring) if it is free: whether it was taken."""
    def codegen(context, builder, signature, args):
        zero, one = ir.Constant(ir.IntType(32), 0), ir.Constant(ir.IntType(32), 1)
        exchange = builder.cmpxchg(_pointer(context, builder, signature, args), zero, one, "acquire", "monotonic")
        return builder.extract_value(exchange, 1)

    return types.boolean(locks, slot), codegen


@intrinsic
def _unlock(typingctx, locks, slot):
    """Free ``locks[slot]`` (a release store: the row's writes are seen before the lock is free)."""
    def codegen(context, builder, signature, args):
        builder.store_atomic(ir.Constant(ir.IntType(32), 0), _pointer(context, builder, signature, args), "release", 4)
        return context.get_dummy_value()

    return types.none(locks, slot), codegen


@intrinsic
def _take(typingctx, counter, slot):
    """Add 1 to ``counter[slot]`` (int64) atomically: its value before (the next chunk of centres)."""
    def codegen(context, builder, signature, args):
        one = ir.Constant(ir.IntType(64), 1)
        return builder.atomic_rmw("add", _pointer(context, builder, signature, args), one, "monotonic")

    return types.int64(counter, slot), codegen


@intrinsic
def _prefetch(typingctx, matrix, row, column):
    """Prefetch the cache line of ``matrix[row, column]`` for writing (it is read, then written)."""
    def codegen(context, builder, signature, args):
        address = builder.bitcast(_pointer(context, builder, signature, args), ir.IntType(8).as_pointer())
        i32 = ir.IntType(32)
        signature = ir.FunctionType(ir.VoidType(), [address.type, i32, i32, i32])
        prefetch = cgutils.get_or_insert_function(builder.module, signature, "llvm.prefetch.p0i8")
        builder.call(prefetch, [address, ir.Constant(i32, 1), ir.Constant(i32, 3), ir.Constant(i32, 1)])  # write, keep, data
        return context.get_dummy_value()

    return types.none(matrix, row, column), codegen


@numba.njit(nogil=True, fastmath=True, cache=True)
def merge(shared, local, snapshot, hot, locks, first, wait):  # pragma: no cover - compiled
    """Add each hot row's updates since the last merge (``local - snapshot``) to its shared row
    ``shared[hot[s]]`` and copy the sum into both, under the row's lock ``locks[s]``, from slot ``first``
    on (the workers start apart); a row whose lock is held is left for the next merge unless ``wait``."""
    for j in range(hot.shape[0]):
        s = (first + j) % hot.shape[0]
        if not _try_lock(locks, s):
            if not wait:
                continue
            while not _try_lock(locks, s):
                pass
        row = shared[hot[s]]
        for d in range(row.shape[0]):
            value = row[d] + (local[s, d] - snapshot[s, d])
            row[d], local[s, d], snapshot[s, d] = value, value, value
        _unlock(locks, s)


@numba.njit(nogil=True, fastmath=True, cache=True, inline="always")
def _axpy(scale, x, y):  # pragma: no cover - compiled
    """``y += scale * x`` in place."""
    for d in range(y.shape[0]):
        y[d] += scale * x[d]


@numba.njit(nogil=True, fastmath=True, cache=True, inline="always")
def _row(out, local, slots, row):  # pragma: no cover - compiled
    """Row ``row`` of an output matrix: the thread's copy ``local[slots[row]]`` when it is hot."""
    slot = slots[row]
    return local[slot] if slot >= 0 else out[row]


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
def _hash(index):  # pragma: no cover - compiled
    """``zoo.models.word2vec.noise_hash``: the same 32-bit hash, in int64 without overflow."""
    x = index & 0xFFFFFFFF
    for _ in range(2):
        x = ((x >> 16) ^ x) * 0x45D9F3B & 0xFFFFFFFF
    return (x >> 16) ^ x


@numba.njit(nogil=True, fastmath=True, cache=True, inline="always")
def _noise_row(noise, draw, index):  # pragma: no cover - compiled
    """``Word2Vec.noise_rows(seed, index)`` from the alias table ``noise`` and ``draw = (seed, the coin's salt)``."""
    (threshold, alias), (seed, salt) = noise, draw
    first = _hash(index + seed)
    column = (first * threshold.shape[0]) >> 32
    return column if _hash(first + salt) < threshold[column] else alias[column]


@numba.njit(nogil=True, fastmath=True, cache=True, inline="always")
def _output(head, i, g, example, noise, draw):  # pragma: no cover - compiled
    """Output ``g`` of centre ``i``'s ``example``-th example: row, sign, weight. Past the listed rows (``head[1]``,
    ``(N, G)``) come the example's ``draws`` noise words, sign -1, weight 0 if it is the target (gensim skips it)."""
    rows, signs, weights, draws = head[1], head[2], head[3], head[7]
    listed = rows.shape[1]
    if g < listed:
        return rows[i, g], signs[i, g], weights[i, g]
    row = _noise_row(noise, draw, example * draws + g - listed)
    return row, np.float32(-1.0), np.float32(0.0) if row == rows[i, 0] else np.float32(1.0)


@numba.njit(nogil=True, fastmath=True, cache=True, inline="always")
def _skipgram(i, inp, padded, mask, heads, lr, local, work, noise, draw, pairs):  # pragma: no cover - compiled
    """Train centre ``i`` from each context word in turn, as gensim's ``fast_sentence_sg_*``: per head, the pair's
    outputs (Huffman path, or target and this pair's noise words) each updated at once, then the context vector."""
    loss, terms = 0.0, 0.0
    for k in range(mask.shape[1]):
        if mask[i, k] == 0.0:
            continue
        vector = inp[padded[i + k]]
        for h in range(len(heads)):
            out, rows, limit, slots, draws = heads[h][0], heads[h][1], heads[h][4], heads[h][5], heads[h][7]
            work[:] = 0.0
            factor, linear = 1.0, 0.0  # the pair's factors multiply to at most 2 ** G: one log per pair and head
            for g in range(rows.shape[1] + draws):
                row_id, sign, weight = _output(heads[h], i, g, i * pairs + k, noise, draw)
                if weight != 0.0:
                    row = _row(out, local[h], slots, row_id)
                    step, term_factor, term_linear, counted = _step(vector, row, sign, weight, lr, limit)
                    if counted != 0.0:
                        factor, linear, terms = factor * term_factor, linear + term_linear, terms + counted
                        _axpy(step, row, work)
                        _axpy(step, vector, row)
            loss += math.log(factor) - linear
            _axpy(np.float32(1.0), work, vector)
    return loss, terms


@numba.njit(nogil=True, fastmath=True, cache=True, inline="always")
def _cbow(i, inp, padded, mask, heads, lr, cbow_mean, local, hidden, input_delta, steps, ids, noise, draw):  # pragma: no cover - compiled
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
        out, rows, limit, slots, draws = heads[h][0], heads[h][1], heads[h][4], heads[h][5], heads[h][7]
        for g in range(rows.shape[1] + draws):
            steps[h, g] = 0.0
            ids[h, g], sign, weight = _output(heads[h], i, g, i, noise, draw)
            if weight != 0.0:
                row = _row(out, local[h], slots, ids[h, g])
                steps[h, g], term_factor, term_linear, counted = _step(hidden, row, sign, weight, lr, limit)
                if counted != 0.0:
                    factor, linear, terms = factor * term_factor, linear + term_linear, terms + counted
                    _axpy(steps[h, g], row, input_delta)
    if not cbow_mean:
        input_delta /= np.float32(count)  # the sum's update is shared among the context words (gensim)
    for k in range(mask.shape[1]):
        if mask[i, k] != 0.0:
            _axpy(mask[i, k], input_delta, inp[padded[i + k]])
    for h in range(len(heads)):
        out, rows, slots, draws = heads[h][0], heads[h][1], heads[h][5], heads[h][7]
        for g in range(rows.shape[1] + draws):
            if steps[h, g] != 0.0:
                _axpy(steps[h, g], hidden, _row(out, local[h], slots, ids[h, g]))  # rank one, from the same hidden vector
    return math.log(factor) - linear, terms


@numba.njit(nogil=True, fastmath=True, cache=True, inline="always")
def _prefetch_centre(i, inp, padded, mask, heads):  # pragma: no cover - compiled
    """Prefetch centre ``i``'s shared rows (its context words' input rows, its listed output rows but the hot ones)."""
    for k in range(mask.shape[1]):
        if mask[i, k] != 0.0:
            for d in range(0, inp.shape[1], 16):
                _prefetch(inp, padded[i + k], d)
    for h in range(len(heads)):
        out, rows, _, weights, _, slots, _, _ = heads[h]
        for g in range(rows.shape[1]):
            if weights[i, g] != 0.0 and slots[rows[i, g]] < 0:
                for d in range(0, out.shape[1], 16):
                    _prefetch(out, rows[i, g], d)


@numba.njit(nogil=True, fastmath=True, cache=True)
def _train_share(inp, padded, mask, heads, rates, cbow, cbow_mean, chunks, chunk, locks, first, phase, every, noise, draw, pairs, scratch):  # pragma: no cover
    """``train_centres`` with the thread's buffers ``scratch``, all taken without owners."""
    inp, padded, mask, heads, chunks, locks, noise = _unowned((inp, padded, mask, heads, chunks, locks, noise))
    input_delta, hidden, steps, ids, local, snapshot = _unowned(scratch)
    loss, terms, done = 0.0, 0.0, 0
    while True:
        start = _take(chunks, 0) * chunk
        if start >= mask.shape[0]:
            break
        end = min(start + chunk, mask.shape[0])
        for i in range(start, end):
            if (done + phase) % every == 0 or done == 0:  # the first merge takes the shared rows
                for h in range(len(heads)):
                    merge(heads[h][0], local[h], snapshot[h], heads[h][6], locks[h], first, done == 0)
            if i + 1 < end:
                _prefetch_centre(i + 1, inp, padded, mask, heads)  # the next centre's rows arrive while this one trains
            rate = rates[0] + (rates[1] - rates[0]) * (i / mask.shape[0])
            if cbow:
                result = _cbow(i, inp, padded, mask, heads, rate, cbow_mean, local, hidden, input_delta, steps, ids, noise, draw)
            else:
                result = _skipgram(i, inp, padded, mask, heads, rate, local, input_delta, noise, draw, pairs)
            loss, terms, done = loss + result[0], terms + result[1], done + 1
    for h in range(len(heads)):
        merge(heads[h][0], local[h], snapshot[h], heads[h][6], locks[h], first, True)  # the last one waits for each row
    return loss, terms


@numba.njit(nogil=True, fastmath=True, cache=True)
def train_centres(inp, padded, mask, heads, lr, lr_end, cbow, cbow_mean, chunks, chunk, locks, worker, workers, every,
                  noise, seed, salt, pairs):  # fmt: skip  # pragma: no cover
    """Train the run's centres in chunks of ``chunk`` centres, taking the next chunk from ``chunks[0]`` (shared
    by the workers) until none is left, one centre after the other, at a rate going linearly from ``lr`` at
    the run's first centre to ``lr_end`` after its last, with the thread's copies of each head's hot rows
    (``heads[h][5:7]``: the map row -> slot, the rows by slot; none with one worker), merged every ``every``
    centres (worker ``worker`` of ``workers`` ``every / workers`` after the one before) and at the end, under
    ``locks`` (per head and slot), ``heads[h][7]`` noise words per example (``pairs`` per centre) drawn from the
    alias table ``noise`` (the run's ``seed``, the coin's ``salt``); the summed loss and number of terms."""
    dim, hot, groups = inp.shape[1], locks.shape[1], max([head[1].shape[1] + head[7] for head in heads])
    local = np.zeros((len(heads), hot, dim), dtype=np.float32)  # the copies of the hot rows, per head
    scratch = (np.zeros(dim, dtype=np.float32), np.zeros(dim, dtype=np.float32), np.zeros((len(heads), groups), dtype=np.float32),
               np.zeros((len(heads), groups), dtype=np.int64), local, local.copy())  # fmt: skip
    first, phase = worker * hot // workers, worker * every // workers  # the workers merge apart in time, from different rows
    return _train_share(inp, padded, mask, heads, (lr, lr_end), cbow, cbow_mean, chunks, chunk, locks, first, phase, every,
                        noise, (np.int64(seed), np.int64(salt)), pairs, scratch)  # fmt: skip
