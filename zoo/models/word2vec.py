"""word2vec (Mikolov et al. 2013, "Efficient Estimation of Word Representations in Vector Space" and
"Distributed Representations of Words and Phrases and their Compositionality"): skip-gram and CBOW,
trained with negative sampling (noise ~ unigram^0.75) and/or hierarchical softmax over a Huffman tree.

The gradients are the closed-form ones of the original tool (``word2vec.c``, gensim's
``word2vec_inner.pyx``), computed for a whole chunk of centre words at once: every centre's output rows
(itself and its noise words, or its Huffman path) are scored against each context row (skip-gram: fresh
noise words for every (centre, context) pair, as word2vec.c and gensim draw them) or against the
mean/sum of its context rows (CBOW) with batched products.
``gradients`` returns the row updates; the task applies them (sparse in place, or dense + fused step).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

from zoo.registry import register_model

ARCHITECTURES = ("skipgram", "cbow")
COIN_SALT = 0x9E3779B9  # added to a draw's hash before hashing it again for the alias table's coin
HS_MAX_SCORE = 6.0  # word2vec.c's MAX_EXP: hierarchical softmax skips a node whose |score| is at least this (gensim too)


@dataclass
class RowUpdates:
    """Additive updates (already scaled by the learning rate) for rows of the model's matrices; a row
    id may repeat (its updates add up)."""

    input_rows: torch.Tensor  # (R,) row ids of ``input``
    input_delta: torch.Tensor  # (R, D)
    output_rows: dict[str, torch.Tensor]  # "negative"/"hs" -> (S,) row ids of that output matrix
    output_delta: dict[str, torch.Tensor]  # "negative"/"hs" -> (S, D)
    loss: torch.Tensor  # summed negative log-likelihood of the batch's (pair, output) terms
    terms: torch.Tensor  # how many terms the loss sums


@dataclass
class CentreWindows:
    """A run of centre words prepared once for all the chunks ``gradients`` takes it in."""

    padded: torch.Tensor  # (N + 2W,) the run's word ids, padded at each end with W copies of its first/last word
    mask: torch.Tensor  # (N, 2W + 1) float: 1 where word i + k - W is in word i's context (never k = W, i itself)
    heads: dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]  # per output matrix: rows, signs (+1 target, -1 not), weights (N, G)
    noise_seed: int = 0  # the run's noise words: draw d of centre i's example p is ``noise_rows(seed, (i * pairs + p) * negative + d)``
    pairs: int = 1  # examples per centre with their own noise words: 2W + 1 window slots for skip-gram, 1 for CBOW


def noise_hash(index: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer hash (two multiply-xorshift rounds), in int64 without overflow;
    ``word2vec_compiled._noise_row`` computes the same, so both paths draw the same noise words."""
    x = index & 0xFFFFFFFF
    for _ in range(2):
        x = ((x >> 16) ^ x) * 0x45D9F3B & 0xFFFFFFFF
    return (x >> 16) ^ x


def alias_table(weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Walker's alias method (Vose's construction) for sampling ``i`` with probability ``weights[i] / sum``:
    column ``j`` (uniform) keeps ``j`` when a 32-bit coin is below ``threshold[j]``, else gives ``alias[j]``.
    Exact to 2^-32 per column, and a draw reads two vocabulary-sized arrays (in cache), where word2vec.c's
    1e8-slot unigram table (and a 2^22-slot one) costs a cache miss per noise word."""
    size = len(weights)
    share = (weights.double() * size / weights.double().sum()).tolist()
    threshold, alias = [2**32] * size, list(range(size))
    small = [i for i, value in enumerate(share) if value < 1.0]
    large = [i for i, value in enumerate(share) if value >= 1.0]
    while small and large:
        low, high = small.pop(), large.pop()
        threshold[low], alias[low] = min(round(share[low] * 2**32), 2**32), high
        share[high] -= 1.0 - share[low]
        (small if share[high] < 1.0 else large).append(high)
    return torch.tensor(threshold, dtype=torch.long), torch.tensor(alias, dtype=torch.long)


class _Node(NamedTuple):
    count: int
    index: int

    def __lt__(self, other: tuple) -> bool:  # by count only, as gensim's Heapitem (ties break alike)
        return self.count < other.count


def huffman_tree(counts: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """word2vec.c's ``CreateBinaryTree`` (built as gensim builds it, so the codes are gensim's): each
    word's path of inner nodes (``points``, ids in ``[0, V-1)``) from the root and its binary ``codes``,
    padded to the longest path; and the lengths."""
    vocab = len(counts)
    heap = [_Node(int(count), i) for i, count in enumerate(counts)]
    heapq.heapify(heap)
    parent, branch = [0] * (2 * vocab - 1), [0] * (2 * vocab - 1)
    for node in range(vocab, 2 * vocab - 1):
        first, second = heapq.heappop(heap), heapq.heappop(heap)
        parent[first.index], parent[second.index], branch[second.index] = node, node, 1
        heapq.heappush(heap, _Node(first.count + second.count, node))
    paths: list[tuple[list[int], list[int]]] = []
    for word in range(vocab):
        points, codes, node = [], [], word
        while node < 2 * vocab - 2:  # up to the root (the last node made)
            codes.append(branch[node])
            node = parent[node]
            points.append(node - vocab)
        paths.append((points[::-1], codes[::-1]))
    depth = max(1, max(len(points) for points, _ in paths))
    point_table = torch.zeros(vocab, depth, dtype=torch.long)
    code_table = torch.zeros(vocab, depth)
    lengths = torch.zeros(vocab, dtype=torch.long)
    for word, (points, codes) in enumerate(paths):
        lengths[word] = len(points)
        point_table[word, : len(points)] = torch.tensor(points, dtype=torch.long)
        code_table[word, : len(codes)] = torch.tensor(codes, dtype=torch.float)
    return point_table, code_table, lengths


class Word2Vec(nn.Module):
    """Input vectors (the word vectors) and output vectors for negative sampling and/or hierarchical softmax.

    Args:
        vocab_size: words, sorted by descending count.
        counts: each word's corpus count (the noise distribution and the Huffman tree come from them).
        embedding_size: vector size (``vector_size`` in gensim).
        architecture: ``skipgram`` or ``cbow``.
        negative: noise words per example, drawn afresh for each (skip-gram: each (centre, context) pair; CBOW: each centre); 0: none.
        hs: hierarchical softmax.
        cbow_mean: CBOW averages the context vectors (else sums them).
        ns_exponent: the noise distribution's exponent (0.75).
        init_range: input vectors start uniform in ``(-init_range / D, init_range / D)``: 1.0 as gensim 4
            (``prep_vectors``), 0.5 as word2vec.c. gensim's wider start scored 0.9 points more analogies
            on Grimm (benchmarks/word2vec_vs_gensim.py, 5 runs each).
    """

    def __init__(
        self,
        vocab_size: int,
        counts: list[int],
        embedding_size: int = 100,
        architecture: str = "skipgram",
        negative: int = 5,
        hs: bool = False,
        cbow_mean: bool = True,
        ns_exponent: float = 0.75,
        init_range: float = 1.0,
    ) -> None:
        super().__init__()
        if architecture not in ARCHITECTURES:
            raise ValueError(f"model.architecture must be one of {', '.join(ARCHITECTURES)}, not {architecture!r}")
        if negative < 0 or (negative == 0 and not hs):
            raise ValueError("word2vec needs model.negative > 0 or model.hs=true (or both)")
        if len(counts) != vocab_size:
            raise ValueError(f"{len(counts)} counts for a vocabulary of {vocab_size} words")
        if not init_range > 0:
            raise ValueError(f"model.init_range must be above 0 (1.0: gensim's start, 0.5: word2vec.c's), not {init_range}")
        self.vocab_size, self.embedding_size, self.architecture = vocab_size, embedding_size, architecture
        self.negative, self.hs, self.cbow_mean, self.init_range = negative, hs, cbow_mean, init_range
        self.input = nn.Parameter(torch.empty(vocab_size, embedding_size), requires_grad=False)
        counts_t = torch.as_tensor(counts, dtype=torch.float64)
        if negative:
            self.output_negative = nn.Parameter(torch.zeros(vocab_size, embedding_size), requires_grad=False)
            threshold, alias = alias_table(counts_t**ns_exponent)  # the noise distribution: unigram^0.75
            self.register_buffer("noise_threshold", threshold, persistent=False)
            self.register_buffer("noise_alias", alias, persistent=False)
        if hs:
            self.output_hs = nn.Parameter(torch.zeros(max(vocab_size - 1, 1), embedding_size), requires_grad=False)
            points, codes, lengths = huffman_tree([int(c) for c in counts])
            self.register_buffer("points", points, persistent=False)
            self.register_buffer("codes", codes, persistent=False)
            self.register_buffer("path_mask", torch.arange(points.shape[1]) < lengths[:, None], persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Input vectors U(-init_range/D, init_range/D) (gensim 4: 1.0, word2vec.c: 0.5), output vectors zero."""
        nn.init.uniform_(self.input, -self.init_range / self.embedding_size, self.init_range / self.embedding_size)
        for name in ("output_negative", "output_hs"):
            if hasattr(self, name):
                nn.init.zeros_(getattr(self, name))

    def forward(self, words: torch.Tensor) -> torch.Tensor:
        """The word vectors of ids ``words``."""
        return self.input[words]

    def noise_rows(self, seed: int, index: torch.Tensor) -> torch.Tensor:
        """Noise words ~ unigram^0.75: draw ``index`` of the run seeded ``seed``, from the alias table with a
        hash of ``seed + index`` as the column (its top bits) and that hash hashed again as the coin
        (word2vec.c draws from a 1e8-slot table with a 48-bit LCG); the kernel draws the same words."""
        first = noise_hash(index + seed)
        column = (first * len(self.noise_alias)) >> 32
        keep = noise_hash(first + COIN_SALT) < self.noise_threshold.index_select(0, column)
        return torch.where(keep, column, self.noise_alias.index_select(0, column))

    def _outputs(self, centres: torch.Tensor) -> dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """Per output matrix: the rows each centre is scored against ``(N, G)``, their labels and
        weights (0: padding): itself (its noise words come per chunk, ``chunk_heads``), or its Huffman path."""
        heads = {}
        if self.negative:
            ones = torch.ones(len(centres), 1, device=centres.device)
            heads["negative"] = (centres[:, None], ones, ones)
        if self.hs:
            heads["hs"] = (self.points.index_select(0, centres), 1 - self.codes.index_select(0, centres), self.path_mask.index_select(0, centres).float())
        return heads

    def windows(self, words: torch.Tensor, valid: torch.Tensor) -> CentreWindows:
        """Prepare a run of ``words`` ``(N,)`` whose context pattern is ``valid`` ``(N, 2W)`` (``valid[i, k]``:
        word ``i + offset_k`` is in word ``i``'s shrunk window, for the offsets ``-W..-1, 1..W``): the
        padded ids, the context mask, every centre's output rows and the seed of the run's noise words
        (from torch's generator: a seeded run draws the same ones)."""
        half, n = valid.shape[1] // 2, len(words)
        padded = torch.cat([words[:1].expand(half if n else 0), words, words[-1:].expand(half if n else 0)])
        mask = torch.cat([valid[:, :half], valid.new_zeros(n, 1), valid[:, half:]], 1).float()
        heads = {name: (rows, 2 * labels - 1, weights) for name, (rows, labels, weights) in self._outputs(words).items()}
        seed = int(torch.randint(2**32, ())) if self.negative else 0
        return CentreWindows(padded, mask, heads, seed, mask.shape[1] if self.architecture == "skipgram" else 1)

    def chunk_heads(self, run: CentreWindows, start: int, end: int) -> dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """The output rows, signs and weights ``(n, P, G)`` of the centres ``start:end``: with negative sampling
        the target and its ``negative`` noise words for each of the ``P = run.pairs`` examples of a centre
        (a noise word equal to the target weighs 0, as gensim skips it); the Huffman path, ``P = 1``."""
        heads = {name: (rows[start:end, None], signs[start:end, None], weights[start:end, None]) for name, (rows, signs, weights) in run.heads.items()}
        if "negative" in heads:
            targets, n, per = heads["negative"][0], end - start, run.pairs * self.negative
            index = torch.arange(start * per, end * per, device=targets.device)
            noise = self.noise_rows(run.noise_seed, index).view(n, run.pairs, self.negative)
            targets = targets.expand(n, run.pairs, 1)
            weights = torch.cat([torch.ones_like(targets, dtype=torch.float), (noise != targets).float()], 2)
            signs = torch.cat([torch.ones_like(weights[:, :, :1]), -torch.ones_like(weights[:, :, 1:])], 2)
            heads["negative"] = (torch.cat([targets, noise], 2), signs, weights)
        return heads

    def gradients(self, run: CentreWindows, lr: float, start: int = 0, end: int | None = None) -> RowUpdates:
        """Row updates at rate ``lr`` for the centres ``start:end`` of a prepared run (``windows``). The
        task takes a run in chunks of a few hundred centres: all updates of a chunk are computed from
        the same vectors, and larger chunks drift from word2vec's one-pair-at-a-time updates.

        Every word is a centre and its context words are its neighbours in the run, so the input
        vectors are gathered once (``N + 2W`` rows, not ``N * 2W``) and each centre's window is a
        sliding view of them (``unfold``, no copy); slots outside the context have weight 0.
        Skip-gram predicts each centre from each context word's input vector (gensim's pair order), with
        noise words drawn for that pair (one dot product per pair and row); CBOW from the mean (or sum) of
        its context vectors, and the Huffman path is the same for all of a centre's pairs (one batched
        matrix product). With ``s`` the score and ``sign`` +1 for the target (-1 for noise words, or the
        Huffman code's sign), gensim's ``g = (label - sigmoid(s)) * lr`` is ``sign * (1 - sigmoid(sign * s)) * lr``.
        Hierarchical softmax skips the nodes whose ``|s| >= HS_MAX_SCORE``, as word2vec.c and gensim do.
        The kernel (``zoo/word2vec_kernel.py``) makes CBOW's updates a centre at a time, skip-gram's a pair at a time."""
        width = run.mask.shape[1]
        end = len(run.mask) if end is None else end
        n, dim = end - start, self.embedding_size
        ids = run.padded[start : end + width - 1]
        windows = self.input.index_select(0, ids).unfold(0, width, 1).transpose(1, 2)  # (n, 2W+1, D): word i's window
        mask = run.mask[start:end]
        if self.architecture == "cbow":
            count = mask.sum(1, keepdim=True)
            hidden = torch.bmm(mask[:, None, :], windows)  # (n, 1, D): the sum of the context vectors
            if self.cbow_mean:
                hidden = hidden / count.clamp(min=1)[..., None]
            inputs, pair_mask = hidden, (count > 0).to(hidden.dtype)  # one example per centre with a context
        else:
            inputs, pair_mask = windows, mask  # one example per (centre, context word)
        input_delta: torch.Tensor | None = None
        output_rows, output_delta = {}, {}
        loss, terms = windows.new_zeros(()), windows.new_zeros(())
        for name, (rows, signs, weights) in self.chunk_heads(run, start, end).items():
            signs, weights = signs.transpose(1, 2), weights.transpose(1, 2)  # (n, G, P)
            out = getattr(self, f"output_{name}").index_select(0, rows.reshape(-1)).view(*rows.shape, dim)  # (n, P, G, D)
            shared = rows.shape[1] == 1  # all of a centre's examples against the same rows
            signed = torch.bmm(out[:, 0], inputs.transpose(1, 2)) if shared else torch.einsum("npgd,npd->ngp", out, inputs)
            signed = signed.mul_(signs)  # (n, G, examples): sign * score
            weight = weights * pair_mask[:, None, :]
            if name == "hs":  # a saturated node is skipped: no update, no loss term (word2vec.c, gensim)
                weight = weight * (signed.abs() < HS_MAX_SCORE)
            loss = loss - torch.dot(torch.nn.functional.logsigmoid(signed).flatten(), weight.flatten())
            terms = terms + weight.sum()
            step = torch.sigmoid(signed).sub_(1).mul_(weight).mul_(signs).mul_(-lr)  # sign * (1 - sigmoid) * weight * lr
            if shared:
                delta = torch.bmm(step.transpose(1, 2), out[:, 0])  # (n, examples, D)
                output_delta[name] = torch.bmm(step, inputs).view(-1, dim)
            else:
                delta = torch.einsum("ngp,npgd->npd", step, out)
                output_delta[name] = (step.transpose(1, 2)[..., None] * inputs[:, :, None, :]).view(-1, dim)  # (n, P, G, D)
            input_delta = delta if input_delta is None else input_delta + delta
            output_rows[name] = rows.reshape(-1)
        assert input_delta is not None
        if self.architecture == "cbow":
            # gensim: the mean's error goes whole to every context word, the sum's is divided among them
            if not self.cbow_mean:
                input_delta = input_delta / count.clamp(min=1)[..., None]
            input_delta = mask[:, :, None] * input_delta  # (n, 2W+1, D)
        # slot k of word i's window is padded id i + k; slots outside the context carry zeros
        return RowUpdates(ids.unfold(0, width, 1).reshape(-1), input_delta.reshape(-1, dim), output_rows, output_delta, loss, terms)


# the class is its own builder: ``zoo.create_model("word2vec", vocab_size=3, counts=[5, 3, 1])``
register_model("word2vec", task="word_embedding")(Word2Vec)
