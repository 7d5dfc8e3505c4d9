"""word2vec: windows, subsampling and the Huffman tree against gensim's; the closed-form updates
against autograd; analogy scoring and the word2vec file formats against gensim; a short run through
the Hydra/Lightning stack with its TensorBoard output read by TensorBoard; one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from gensim.models import KeyedVectors
from gensim.models import Word2Vec as GensimWord2Vec

import zoo
from datamodules import WordCorpusDataModule
from datamodules.word_windows import context_windows, keep_probabilities
from tests.conftest import real_data_dir, run_script
from zoo.checkpoint import read_checkpoint
from zoo.errors import DatasetNotFoundError, SettingError, TextEncodingError, VocabularyError
from zoo.models.word2vec import COIN_SALT, Word2Vec, huffman_tree
from zoo.training import evaluate, train
from zoo.word2vec_compiled import _noise_row
from zoo.word2vec_kernel import noise_probabilities
from zoo.word_vectors import WordVectors

QUESTIONS = ": capital-common-countries\nathens greece paris france\nathens greece zzz france\n: family\nboy girl brother sister\n"


def small_corpus(folder: Path, lines: int = 400) -> Path:
    """A corpus with a little structure (country/capital and family words) and its analogy file."""
    generator = torch.Generator().manual_seed(0)
    pairs = [("athens", "greece"), ("paris", "france"), ("berlin", "germany"), ("boy", "girl"), ("brother", "sister")]
    filler = [f"w{i}" for i in range(40)]
    text = []
    for _ in range(lines):
        a, b = pairs[int(torch.randint(len(pairs), (1,), generator=generator))]
        words = [filler[int(i)] for i in torch.randint(len(filler), (8,), generator=generator)]
        text.append(" ".join(words[:3] + [a, "of", b] + words[3:]))
    (folder / "analogy").mkdir(parents=True, exist_ok=True)
    (folder / "analogy" / "questions-words.txt").write_text(QUESTIONS)
    path = folder / "corpus.txt"
    path.write_text("\n".join(text) + "\n")
    return path


def test_windows_stay_in_their_sentence_and_shrink_to_at_most_the_window():
    ids = torch.arange(10)
    sentences = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1, 1, 1])
    words, valid = context_windows(ids, sentences, torch.ones(10), window=2, shrink=False)
    expected = torch.zeros(10, 4, dtype=torch.bool)
    for i in range(10):
        for k, offset in enumerate((-2, -1, 1, 2)):
            j = i + offset
            expected[i, k] = 0 <= j < 10 and sentences[j] == sentences[i]
    assert torch.equal(words, ids) and torch.equal(valid, expected)
    _, shrunk = context_windows(torch.arange(2000), torch.zeros(2000, dtype=torch.long), torch.ones(2000), window=5)
    reach = shrunk[5:-5, 5:].sum(1)  # right-hand context sizes: uniform over 1..5
    assert set(reach.tolist()) == {1, 2, 3, 4, 5} and torch.equal(shrunk[5:-5, :5].flip(1).sum(1), reach)


@pytest.fixture(scope="module")
def gensim_vocab():
    sentences = [["the"] * 50 + ["cat"] * 9 + ["dog"] * 7 + ["a", "b", "c", "d", "e"] * 3 + ["f"]]
    model = GensimWord2Vec(vector_size=8, min_count=1, sample=1e-2, hs=1, negative=0, workers=1)
    model.build_vocab(sentences)
    return model.wv


def test_subsampling_and_huffman_tree_are_gensims(gensim_vocab):
    words = list(gensim_vocab.index_to_key)
    counts = [gensim_vocab.get_vecattr(w, "count") for w in words]
    keep = keep_probabilities(torch.tensor(counts), 1e-2)
    theirs = torch.tensor([gensim_vocab.get_vecattr(w, "sample_int") / 2**32 for w in words])
    assert torch.allclose(keep.double(), theirs.double(), atol=1e-6)
    points, codes, lengths = huffman_tree(counts)
    for i, word in enumerate(words):
        assert codes[i, : lengths[i]].int().tolist() == gensim_vocab.get_vecattr(word, "code").tolist()
        assert points[i, : lengths[i]].tolist() == gensim_vocab.get_vecattr(word, "point").tolist()


def test_input_vectors_start_as_gensims_or_word2vec_cs():
    """gensim 4 (``prep_vectors``) starts the word vectors uniform in (-1/D, 1/D), word2vec.c in (-0.5/D, 0.5/D)
    (``model.init_range=0.5``); the output vectors start at zero."""
    gensim = GensimWord2Vec(vector_size=50, min_count=1, negative=5, workers=1)
    gensim.build_vocab([[str(i) for i in range(400)]])
    for init_range, theirs in ((1.0, gensim.wv.vectors), (0.5, None)):
        model = Word2Vec(400, [1] * 400, 50, init_range=init_range)
        ours = model.input.detach().numpy()
        bound = init_range / 50
        assert abs(ours).max() < bound and abs(ours).max() > 0.99 * bound and abs(ours.std() - bound / 3**0.5) < 0.02 * bound
        if theirs is not None:
            assert abs(abs(theirs).max() - abs(ours).max()) < 0.01 * bound and abs(theirs.std() - ours.std()) < 0.02 * bound
        assert not model.output_negative.any()


def test_a_bad_init_range_is_one_line(make_cfg, tmp_path):
    corpus = small_corpus(tmp_path / "data")
    cfg = make_cfg("experiment=word2vec_grimm", f"data.path={corpus}", f"data.root={tmp_path / 'data'}", "data.min_count=2", "model.init_range=0")
    with pytest.raises(SettingError, match=r"model.init_range must be above 0 \(1.0: gensim's start, 0.5: word2vec.c's\), not 0") as caught:
        train(cfg)
    assert "\n" not in str(caught.value)


def test_noise_words_follow_the_unigram_distribution_to_the_three_quarters():
    """The alias table gives each word exactly its share of count^0.75; 2M hashed draws land on each word
    within 5 standard deviations of that share; the kernel's compiled draw gives the same words."""
    counts = [1000 // (i + 1) + 1 for i in range(200)]
    model = Word2Vec(200, counts, 4, negative=5)
    expected = torch.tensor(counts, dtype=torch.float64) ** 0.75
    expected /= expected.sum()
    assert np.allclose(noise_probabilities(model), expected.numpy(), rtol=0, atol=1e-9)
    draws = 2_000_000
    share = torch.bincount(model.noise_rows(12345, torch.arange(draws)), minlength=200).double() / draws
    assert ((share - expected).abs() <= 5 * (expected * (1 - expected) / draws).sqrt()).all()
    tables, index = (model.noise_threshold.numpy(), model.noise_alias.numpy()), torch.arange(0, 10**9, 997_003)
    compiled = [_noise_row(tables, (np.int64(12345), np.int64(COIN_SALT)), int(i)) for i in index]
    assert compiled == model.noise_rows(12345, index).tolist()


@pytest.mark.parametrize("architecture,hs,cbow_mean", [("skipgram", False, True), ("cbow", False, True), ("cbow", False, False),
                                                     ("skipgram", True, True), ("cbow", True, True), ("cbow", True, False)])
def test_updates_are_the_log_likelihood_gradient(architecture, hs, cbow_mean):
    """Updates are lr * the gradient of the log-likelihood (same noise words), except that CBOW gives
    each context word the hidden vector's whole update for the mean and a 1/count share for the sum, as gensim."""
    torch.manual_seed(0)
    vocab, dim, lr = 12, 6, 0.1
    model = Word2Vec(vocab, [30 - 2 * i for i in range(vocab)], dim, architecture, negative=0 if hs else 3, hs=hs, cbow_mean=cbow_mean)
    torch.nn.init.normal_(model.input, std=0.5)  # small enough that no Huffman node saturates (|score| < 6: not skipped)
    for name in ("output_negative", "output_hs"):
        if hasattr(model, name):
            torch.nn.init.normal_(getattr(model, name), std=0.5)
    words = torch.tensor([3, 1, 4, 1, 5, 9, 2, 6])
    _, valid = context_windows(words, torch.tensor([0, 0, 0, 0, 0, 1, 1, 1]), torch.ones(vocab), window=2, shrink=False)
    run = model.windows(words, valid)
    updates = model.gradients(run, lr)

    params = {name: p.detach().clone().requires_grad_() for name, p in model.named_parameters()}
    heads = model.chunk_heads(run, 0, len(words))  # the same noise words (skip-gram: drawn for each window slot)
    loglik = 0.0
    offsets = [-2, -1, 1, 2]
    for i in range(len(words)):
        contexts = [int(words[i + o]) for k, o in enumerate(offsets) if valid[i, k]]
        if not contexts:
            continue
        stacked = params["input"][contexts]
        inputs = [stacked.mean(0) if cbow_mean else stacked.sum(0)] if architecture == "cbow" else list(stacked)
        slots = [k if k < 2 else k + 1 for k in range(4) if valid[i, k]]  # the context words' window slots (slot 2: the centre)
        for name, (rows, signs, weights) in heads.items():
            for x, slot in zip(inputs, slots):
                example = slot if rows.shape[1] > 1 else 0  # skip-gram's noise words are the pair's; the rest is the centre's
                out = params[f"output_{name}"][rows[i, example]]
                loglik = loglik + (torch.nn.functional.logsigmoid(signs[i, example] * (out @ x)) * weights[i, example]).sum()
    loglik.backward()
    dense = torch.zeros(vocab, dim).index_add_(0, updates.input_rows, updates.input_delta)
    if architecture == "cbow":  # gensim: the mean's gradient goes whole to each context word, the sum's divided
        expected = torch.zeros(vocab, dim)
        for i in range(len(words)):
            contexts = [int(words[i + o]) for k, o in enumerate(offsets) if valid[i, k]]
            stacked = params["input"][contexts].detach()
            x = (stacked.mean(0) if cbow_mean else stacked.sum(0)).requires_grad_()
            ll = 0.0
            for name, (rows, signs, weights) in heads.items():
                out = params[f"output_{name}"][rows[i, 0]].detach()
                ll = ll + (torch.nn.functional.logsigmoid(signs[i, 0] * (out @ x)) * weights[i, 0]).sum()
            share = 1.0 if cbow_mean else 1.0 / len(contexts)
            for c in contexts:
                expected[c] += lr * share * torch.autograd.grad(ll, x, retain_graph=True)[0]
        assert torch.allclose(dense, expected, atol=1e-5)
    else:
        assert torch.allclose(dense, lr * params["input"].grad, atol=1e-5)
    for name in updates.output_rows:
        out_dense = torch.zeros_like(params[f"output_{name}"]).index_add_(0, updates.output_rows[name], updates.output_delta[name])
        assert torch.allclose(out_dense, lr * params[f"output_{name}"].grad, atol=1e-5)
    assert torch.allclose(updates.loss, -loglik.detach(), atol=1e-4)


def test_word2vec_files_are_read_by_gensim_and_gensims_by_us(tmp_path):
    words = ["the", "König", "cat"]
    vectors = WordVectors(words, torch.randn(3, 5))
    for binary, name in ((False, "v.txt"), (True, "v.bin")):
        vectors.save_word2vec_format(tmp_path / name, binary=binary)
        theirs = KeyedVectors.load_word2vec_format(str(tmp_path / name), binary=binary)
        assert theirs.index_to_key == words
        assert torch.allclose(torch.from_numpy(theirs.vectors), vectors.vectors)
        theirs.save_word2vec_format(str(tmp_path / f"g{name}"), binary=binary)
        back = zoo.load(tmp_path / f"g{name}")
        assert back.words == words and torch.allclose(back.vectors, vectors.vectors)
    (tmp_path / "bad.bin").write_bytes(b"3 5\nnot vectors")
    with pytest.raises(zoo.CheckpointError, match="not a word2vec binary file"):
        zoo.load(tmp_path / "bad.bin")


def test_analogy_scores_match_gensims_protocol(tmp_path):
    """The same vectors scored by us and by gensim: the same counts, out-of-vocabulary questions skipped."""
    corpus = small_corpus(tmp_path)
    model = GensimWord2Vec([line.split() for line in corpus.read_text().splitlines()], vector_size=10, min_count=1, workers=1, seed=1, epochs=3)
    questions = tmp_path / "analogy" / "questions-words.txt"
    score, sections = model.wv.evaluate_word_analogies(str(questions))
    ours = WordVectors(list(model.wv.index_to_key), torch.from_numpy(model.wv.vectors)).evaluate_word_analogies(questions)
    assert ours["accuracy"] == pytest.approx(score)
    assert [(s["correct"], s["incorrect"]) for s in ours["sections"]] == [(len(s["correct"]), len(s["incorrect"])) for s in sections[:-1]]
    assert ours["skipped"] == 1  # "zzz" is not a word of the corpus


def test_a_short_run_trains_logs_and_exports_vectors_gensim_reads(make_cfg, tmp_path):
    corpus = small_corpus(tmp_path / "data")
    cfg = make_cfg("experiment=word2vec_grimm", f"data.path={corpus}", f"data.root={tmp_path / 'data'}", "data.min_count=2",
                   "data.batch_words=500", "trainer.max_epochs=3", "model.embedding_size=16")  # fmt: skip
    metrics = train(cfg)
    out = Path(cfg.paths.output_dir)
    assert 0.0 <= metrics["test/analogy_acc"] <= 1.0 and metrics["train/loss"] < 0.6931  # log 2 per term at the start
    assert json.loads((out / "vocabulary.json").read_text())["words"][0] in ("of", "athens", "paris", "boy", "brother", "berlin")
    theirs = KeyedVectors.load_word2vec_format(str(out / "vectors.bin"), binary=True)
    vectors = zoo.load(next(out.glob("checkpoints/*.ckpt")))
    assert isinstance(vectors, WordVectors) and theirs.index_to_key == vectors.words
    assert vectors.most_similar("paris", topn=3)[0][0] in vectors.words and -1 <= vectors.similarity("boy", "girl") <= 1
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(next(out.glob("tensorboard/**/events.out.tfevents.*")).parent)).Reload()
    assert "val/analogy_acc" in events.Tags()["scalars"] and "words/s" in events.Tags()["scalars"]
    assert any("neighbours" in tag for tag in events.Tags()["tensors"])
    assert list(out.glob("tensorboard/**/projector_config.pbtxt"))


def test_no_epoch_is_chosen_on_the_test_questions(make_cfg, tmp_path):
    """Validation asks the test's analogy questions: best.ckpt is the last epoch's, and the test scores
    the final vectors (those exported), as gensim scores its final vectors; nothing stops early on them."""
    corpus = small_corpus(tmp_path / "data")
    cfg = make_cfg("experiment=word2vec_grimm", f"data.path={corpus}", f"data.root={tmp_path / 'data'}", "data.min_count=2",
                   "data.batch_words=500", "trainer.max_epochs=3", "model.embedding_size=16")  # fmt: skip
    metrics = train(cfg)
    out = Path(cfg.paths.output_dir)
    best = json.loads((out / "metrics.json").read_text())["best_checkpoint"]
    assert read_checkpoint(best)["epoch"] == 2  # the last of 3 epochs
    final = KeyedVectors.load_word2vec_format(str(out / "vectors.bin"), binary=True)
    questions = tmp_path / "data" / "analogy" / "questions-words.txt"
    assert metrics["test/analogy_acc"] == pytest.approx(final.evaluate_word_analogies(str(questions), restrict_vocab=30000)[0])
    assert metrics["test/analogy_acc"] == pytest.approx(metrics["val/analogy_acc"])  # the last validation's


@pytest.mark.parametrize("validation_is_test", [True, False])
def test_a_task_validated_on_its_test_gets_no_selecting_callbacks(validation_is_test, tmp_path):
    from lightning.pytorch.callbacks import ModelCheckpoint

    from zoo.callbacks.checkpointing import EarlyStopping
    from zoo.training import serving

    task = type("Task", (), {"validation_is_test": validation_is_test})()
    checkpoint = ModelCheckpoint(dirpath=tmp_path, monitor="val/analogy_acc", mode="max", save_top_k=1)
    kept = serving([checkpoint, EarlyStopping(monitor="val/analogy_acc", mode="max")], task)
    assert [type(c).__name__ for c in kept] == (["ModelCheckpoint"] if validation_is_test else ["ModelCheckpoint", "EarlyStopping"])
    assert checkpoint.monitor == (None if validation_is_test else "val/analogy_acc")


def test_evaluate_rescores_a_checkpoint_without_reading_the_corpus(make_cfg, tmp_path):
    """evaluate.py takes the vocabulary and counts from the checkpoint: the corpus may be gone."""
    corpus = small_corpus(tmp_path / "data")
    cfg = make_cfg("experiment=word2vec_grimm", f"data.path={corpus}", f"data.root={tmp_path / 'data'}", "data.min_count=2",
                   "data.batch_words=500", "trainer.max_epochs=2", "model.embedding_size=16", "model.hs=true")  # fmt: skip
    metrics = train(cfg)
    best = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())["best_checkpoint"]
    corpus.unlink()
    results = evaluate(make_cfg(f"ckpt_path={best}", f"data_root={tmp_path / 'data'}", name="eval"))
    assert results["test/analogy_acc"] == pytest.approx(metrics["test/analogy_acc"])
    assert {"test/analogy/capital-common-countries", "test/analogy/family"} <= set(results)


def test_several_processes_are_refused_in_one_line(tmp_path):
    """DDP could not average word2vec's in-place updates: the run stops before training, saying what to use."""
    corpus = small_corpus(tmp_path / "data")
    result = run_script("train.py", "experiment=word2vec_grimm", "trainer=ddp_cpu", f"data.path={corpus}", f"data.root={tmp_path / 'data'}",
                        "data.min_count=2", f"paths.log_dir={tmp_path / 'logs'}", timeout=300)  # fmt: skip
    assert result.returncode == 1, result.stderr[-2000:]
    assert "error: word2vec trains in one process, not 2: use trainer=cpu or trainer=gpu" in result.stderr


def corpus_module(tmp_path: Path, text: bytes, **kwargs) -> WordCorpusDataModule:
    small_corpus(tmp_path)
    (tmp_path / "bad.txt").write_bytes(text)
    return WordCorpusDataModule(tmp_path / "bad.txt", root=tmp_path, **kwargs)


@pytest.mark.parametrize("text,kwargs,error,message", [
    (b"", {}, VocabularyError, "holds no words"),
    (b"a a a a a b\n", {"window": 10, "min_count": 1}, VocabularyError, "not more than the window"),
    (b"a b c d e f g\n", {}, VocabularyError, "lower data.min_count"),
    (b"caf\xe9 au lait\n", {}, TextEncodingError, "not utf-8: byte 3"),
])  # fmt: skip
def test_bad_corpora_end_in_one_line(tmp_path, text, kwargs, error, message):
    with pytest.raises(error, match=message) as caught:
        corpus_module(tmp_path, text, **kwargs).setup()
    assert "\n" not in str(caught.value)


def test_missing_corpus_and_unknown_word_are_one_line(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="set data.path"):
        WordCorpusDataModule(tmp_path / "none.txt", root=tmp_path).setup()
    with pytest.raises(VocabularyError, match="not among the 2 words"):
        WordVectors(["a", "b"], torch.randn(2, 3)).most_similar("c")


@pytest.mark.real_data
def test_the_real_analogy_file_is_read_from_the_data_root():
    data = real_data_dir()
    if data is None or not (data / "analogy" / "questions-words.txt").is_file():
        pytest.skip("no real data")
    module = WordCorpusDataModule("grimm", root=data)
    info = module.info
    assert len(info.analogy_sections) == 14 and info.total_words > 100_000
    asked, skipped = len(module.analogies.questions), sum(module.analogies.skipped)
    assert asked + skipped == 19544 and skipped > asked  # a small corpus misses most analogy words


def test_dense_updates_with_a_fused_sgd_step_equal_the_sparse_ones(make_cfg, tmp_path):
    """The GPU path (dense gradients, one SGD step), run here on the CPU, moves the vectors as the sparse path."""
    corpus = small_corpus(tmp_path / "data")
    runs = []
    for dense in ("false", "true"):
        cfg = make_cfg("experiment=word2vec_grimm", f"data.path={corpus}", f"data.root={tmp_path / 'data'}", "data.min_count=2",
                       "trainer.max_epochs=1", "model.embedding_size=8", f"task.dense_updates={dense}", "task.kernel=false", "test=false")  # fmt: skip
        train(cfg)
        runs.append(zoo.load(Path(cfg.paths.output_dir) / "vectors.txt").vectors)
    assert torch.allclose(runs[0], runs[1], atol=1e-6)
