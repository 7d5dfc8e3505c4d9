"""Language models: the model carries its state across windows exactly; the corpus is cut into
continuing TBPTT windows; training, TensorBoard (perplexity, bpc, text samples, hidden states),
``zoo.load(...).generate``, generate.py and evaluate.py on small generated text files."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import lightning as L
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import zoo
from datamodules import TextDataModule, Vocabulary
from datamodules.vocabulary import tokenize
from tests.conftest import real_data_dir, run_script
from zoo.errors import DatasetNotFoundError, VocabularyError
from zoo.models.language_model import RNNLanguageModel, detach_state
from zoo.tasks.language_modeling import LanguageModel
from zoo.training import evaluate, train

# a text whose next character is always determined by the previous two: learnable in seconds
PATTERN = "the cat sat on a mat.\nthe dog ate a log.\n"


def write_text(path: Path, repeats: int = 120) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(PATTERN * repeats)
    return path


def write_word_corpus(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = "the cat sat on the mat\nthe dog ate the log\n"
    (folder / "train.txt").write_text(lines * 80)
    (folder / "valid.txt").write_text(lines * 10)
    (folder / "test.txt").write_text(lines * 9 + "the cow sat on the moon\n")  # two words never seen
    return folder


# --- model ---------------------------------------------------------------------------------
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh", "rnn_relu"])
def test_state_carried_across_windows_equals_reading_the_whole_sequence(cell):
    torch.manual_seed(0)
    model = RNNLanguageModel(30, hidden_size=16, num_layers=2, cell=cell).eval()
    tokens = torch.randint(0, 30, (3, 24))
    whole, _ = model(tokens)
    first, state = model(tokens[:, :10])
    second, _ = model(tokens[:, 10:], detach_state(state))
    assert torch.allclose(torch.cat([first, second], dim=1), whole, atol=1e-5)
    assert whole.shape == (3, 24, 30)


def test_weight_tying_shares_the_embedding_with_the_decoder():
    untied = RNNLanguageModel(1000, hidden_size=32, num_layers=2)
    tied = RNNLanguageModel(1000, hidden_size=32, num_layers=2, tie_weights=True)
    assert tied.decoder.weight is tied.encoder.weight
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(untied) - count(tied) == 1000 * 32
    with pytest.raises(ValueError, match="tie_weights needs embedding_size == hidden_size"):
        RNNLanguageModel(1000, embedding_size=16, hidden_size=32, tie_weights=True)
    with pytest.raises(ValueError, match=r"expected token ids \(N, T\)"):
        tied(torch.zeros(5, dtype=torch.long))


# --- vocabulary ----------------------------------------------------------------------------
def test_words_close_every_line_with_eos_and_decode_back():
    assert tokenize("a b\n\nc\n", "word") == ["a", "b", "<eos>", "<eos>", "c", "<eos>"]
    vocabulary = Vocabulary.build(tokenize("a b\nc\n", "word"), "word", unknown="<unk>")
    assert vocabulary.tokens == ["a", "b", "<eos>", "c", "<unk>"]
    assert vocabulary.encode(["a", "zebra"], on_unknown="unknown").tolist() == [0, 4]
    assert vocabulary.decode([0, 1, 2, 3]) == "a b\nc"


def test_characters_outside_the_vocabulary_are_named_in_one_line():
    vocabulary = Vocabulary.build("hello world", "char")
    assert vocabulary.tokens == sorted(set("hello world"))
    with pytest.raises(VocabularyError, match=r"2 chars are not in the model's vocabulary \('Z', '!'\)") as error:
        vocabulary.encode(list("hello Zorld!"))
    assert "\n" not in str(error.value) and "on_unknown='skip'" in str(error.value)
    assert vocabulary.decode(vocabulary.encode(list("hello Zorld!"), on_unknown="skip").tolist()) == "hello orld"


# --- data ----------------------------------------------------------------------------------
def test_windows_continue_each_other_and_targets_are_shifted_by_one(tmp_path):
    text = "".join(chr(ord("a") + i % 26) for i in range(1000))
    (tmp_path / "abc.txt").write_text(text)
    data = TextDataModule(path=tmp_path / "abc.txt", seq_len=7, batch_size=4, val_fraction=0.1)
    data.setup()
    assert data.info.vocab_size == 26 and data.info.level == "char"
    assert len(data.ids["train"]) == 900 and len(data.ids["val"]) == 100
    assert torch.equal(data.ids["test"], data.ids["val"])  # no test fraction: "test" reports the validation text
    batches = list(data.train_dataloader())
    inputs, targets = batches[0]
    assert inputs.shape == (4, 7) and torch.equal(targets[:, :-1], inputs[:, 1:])
    stream = torch.cat([x for x, _ in batches], dim=1)  # each row reads one contiguous quarter of the text
    assert stream.shape == (4, 224) and torch.equal(stream[1], data.ids["train"][225:449])
    assert torch.equal(batches[-1][1][:, -1], data.ids["train"].view(4, 225)[:, -1])  # up to each stream's end


def test_processes_of_a_ddp_run_read_disjoint_streams(tmp_path):
    generator = torch.Generator().manual_seed(0)
    (tmp_path / "t.txt").write_text("".join(chr(97 + int(i)) for i in torch.randint(0, 26, (3000,), generator=generator)))
    data = TextDataModule(path=tmp_path / "t.txt", seq_len=5, batch_size=2)
    ranks = []
    for rank in (0, 1):
        data.trainer = SimpleNamespace(global_rank=rank, world_size=2)
        ranks.append(torch.cat([x for x, _ in data.train_dataloader()], dim=1))
    assert ranks[0].shape == ranks[1].shape and ranks[0].shape[0] == 2
    assert not any(torch.equal(a, b) for a in ranks[0] for b in ranks[1])


def test_word_corpus_in_the_wikitext_layout_reads_unseen_words_as_unk(tmp_path):
    data = TextDataModule(path=write_word_corpus(tmp_path / "tales"), level="word", batch_size=2, seq_len=5)
    data.setup()
    assert set(data.info.vocabulary) == {"the", "cat", "sat", "on", "mat", "dog", "ate", "log", "<eos>", "<unk>"}
    unk = data.info.vocabulary.index("<unk>")
    assert (data.ids["test"] == unk).sum() == 2 and (data.ids["train"] == unk).sum() == 0


def test_missing_empty_and_too_short_corpora_fail_in_one_line(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="not found: put the text there") as error:
        TextDataModule(path=tmp_path / "nothing.txt").setup()
    assert "\n" not in str(error.value)
    with pytest.raises(DatasetNotFoundError, match="valid.txt"):
        TextDataModule(path=tmp_path / "folder_without_files", level="word").setup()
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(VocabularyError, match="has no chars in its train/val/test split"):
        TextDataModule(path=tmp_path / "empty.txt").setup()
    (tmp_path / "short.txt").write_text("a short text, about fifty characters long, no more")
    with pytest.raises(VocabularyError, match="lower data.batch_size"):
        next(iter(TextDataModule(path=tmp_path / "short.txt", batch_size=64).val_dataloader()))


def test_offline_download_fails_in_one_line(tmp_path):
    data = TextDataModule(path=tmp_path / "input.txt", url="http://127.0.0.1:9/input.txt")
    with pytest.raises(DatasetNotFoundError, match="could not be downloaded from http://127.0.0.1:9/input.txt"):
        data.prepare_data()


def test_tiny_shakespeare_is_read_with_the_usual_split():
    root = real_data_dir()
    if root is None or not (root / "tinyshakespeare" / "input.txt").is_file():
        pytest.skip("real Tiny Shakespeare not found (set ZOO_DATA_DIR)")
    data = TextDataModule(path="tinyshakespeare/input.txt", root=root)
    data.setup()
    assert data.info.vocab_size == 65 and len(data.ids["train"]) + len(data.ids["val"]) == 1_115_394
    assert len(data.ids["val"]) == 111_539


def test_grimm_is_read_in_the_wikitext_layout():
    root = real_data_dir()
    if root is None or not (root / "grimm" / "train.txt").is_file():
        pytest.skip("real Grimm corpus not found (set ZOO_DATA_DIR)")
    data = TextDataModule(path="grimm", root=root, level="word")
    data.setup()
    assert data.info.vocab_size == 3871 and "<unk>" in data.info.vocabulary  # the corpus marks rare words <unk> itself
    assert [len(data.ids[split]) for split in ("train", "val", "test")] == [87_679, 12_365, 12_589]


# --- task ----------------------------------------------------------------------------------
def test_the_task_carries_the_state_from_batch_to_batch(tmp_path):
    data = TextDataModule(path=write_text(tmp_path / "t.txt"), seq_len=6, batch_size=3)
    task = LanguageModel(model={"name": "rnn_lm", "vocab_size": data.info.vocab_size, "hidden_size": 8,
                                "num_layers": 1}, data_info=data.info.to_dict(), optimizer={})  # fmt: skip
    task.eval()
    (x1, y1), (x2, y2) = list(data.val_dataloader())[:2]
    task.shared_step((x1, y1), "val")
    assert task.state is not None and not task.state[0].requires_grad
    carried, _ = task.model(x2, task.state)
    fresh, _ = task.model(x2)
    whole, _ = task.model(torch.cat([x1, x2], dim=1))
    assert torch.allclose(carried, whole[:, 6:], atol=1e-5) and not torch.allclose(fresh, whole[:, 6:], atol=1e-3)


@pytest.fixture(scope="module")
def char_run(tmp_path_factory) -> dict:
    """A small LSTM trained on PATTERN through train.py's code path."""
    from zoo.config import compose_config

    folder = tmp_path_factory.mktemp("char_run")
    corpus = write_text(folder / "pattern.txt")
    cfg = compose_config("train", ["model=rnn_lm", "data=text_file", f"data.path={corpus}", "model.hidden_size=48",
                                   "model.num_layers=1", "model.dropout=0", "model.tie_weights=true",
                                   "data.seq_len=20", "data.batch_size=8", "optimizer.lr=0.01",
                                   "trainer.max_epochs=6", "callbacks.text_samples.prompt=the",
                                   "callbacks.text_samples.length=40"], folder / "run")  # fmt: skip
    metrics = train(cfg)
    summary = json.loads((folder / "run" / "metrics.json").read_text())
    return {"metrics": metrics, "summary": summary, "dir": folder / "run", "corpus": corpus}


@pytest.mark.slow
def test_a_small_lstm_learns_the_text_and_reports_nats_perplexity_and_bits(char_run):
    metrics = char_run["metrics"]
    assert metrics["val/loss"] < 0.3  # from ln(20) = 3.0 nats for a uniform guess
    assert metrics["test/ppl"] == pytest.approx(math.exp(metrics["test/loss"]), rel=1e-4)
    assert metrics["test/bpc"] == pytest.approx(metrics["test/loss"] / math.log(2), rel=1e-4)
    assert Path(char_run["summary"]["best_checkpoint"]).name == "best.ckpt"


@pytest.mark.slow
def test_tensorboard_shows_perplexity_gradients_text_samples_and_hidden_states(char_run):
    events = EventAccumulator(str(char_run["dir"] / "tensorboard"), size_guidance={"scalars": 0, "histograms": 0,
                                                                                "tensors": 0})  # fmt: skip
    events.Reload()
    tags = events.Tags()
    for scalar in ("train/loss", "val/loss", "val/ppl", "val/bpc", "test/ppl", "grad_norm/total",
                   "grad_norm/model.rnn.weight_hh_l0"):  # fmt: skip
        assert scalar in tags["scalars"], scalar
    assert {"hidden/model.rnn/outputs", "hidden/model.rnn/h_layer0", "hidden/model.rnn/c_layer0"} <= set(tags["histograms"])
    samples = events.Tensors("samples/text/text_summary")
    assert len(samples) == 6  # one per epoch
    last = samples[-1].tensor_proto.string_val[0].decode()
    assert last.startswith("    the") and "cat" in last


@pytest.mark.slow
def test_load_generates_the_learned_text_and_names_unknown_characters(char_run):
    model = zoo.load(char_run["summary"]["best_checkpoint"])
    assert isinstance(model, zoo.TextGenerator) and not model.training
    greedy = model.generate("the d", 30, temperature=0)
    assert greedy.startswith("the dog ate a log.\nthe cat sat")
    sampled = model.generate("the", 50, temperature=0.8, top_k=3, seed=1)
    assert sampled == model.generate("the", 50, temperature=0.8, top_k=3, seed=1) and len(sampled) == 53
    assert len(model.generate(length=10)) == 10  # no prompt: starts as after a line break
    with pytest.raises(VocabularyError, match=r"not in the model's vocabulary \('R', 'O', 'M', 'E', ':'\)"):
        model.generate("ROMEO:", 10)
    assert model.generate("ROMEO: the", 5, temperature=0, on_unknown="skip").startswith("ROMEO: the")
    assert model.score(PATTERN * 3)["loss"] < 0.3


@pytest.mark.slow
def test_generate_cli_prints_text_or_one_line_errors(char_run):
    best = char_run["summary"]["best_checkpoint"]
    result = run_script("generate.py", best, "--prompt", "the c", "--length", "20", "--temperature", "0")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("the cat sat on a mat.")
    result = run_script("generate.py", best, "--prompt", "ROMEO:")
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: 5 chars are not in the model's vocabulary")


@pytest.mark.slow
def test_evaluate_rescores_the_checkpoint_and_tied_weights_export(char_run, make_cfg, tmp_path):
    best = char_run["summary"]["best_checkpoint"]
    results = evaluate(make_cfg(f"ckpt_path={best}", name="eval"))
    assert results["test/loss"] == pytest.approx(char_run["metrics"]["test/loss"], rel=1e-5)
    exported = zoo.export_safetensors(best, tmp_path / "lm.safetensors")
    again = zoo.load(exported)
    assert again.model.decoder.weight is again.model.encoder.weight
    assert again.generate("the", 40, seed=3) == zoo.load(best).generate("the", 40, seed=3)


@pytest.mark.slow
def test_word_level_model_trains_and_generates_words(make_cfg, tmp_path):
    corpus = write_word_corpus(tmp_path / "tales")
    metrics = train(make_cfg("model=rnn_lm", "data=text_file", f"data.path={corpus}", "data.level=word",
                             "data.seq_len=6", "data.batch_size=4", "data.eval_batch_size=2", "model.hidden_size=32",
                             "model.num_layers=1", "optimizer.lr=0.01", "trainer.max_epochs=5",
                             "trainer.gradient_clip_val=0.5"))  # fmt: skip
    assert metrics["test/ppl"] < 3 and "test/bpc" not in metrics
    (best,) = tmp_path.glob("run*/checkpoints/best.ckpt")
    model = zoo.load(best)
    assert model.generate("the dog", 4, temperature=0) == "the dog ate the log\n"
    assert model.generate("the zebra ate", 1, temperature=0).startswith("the zebra ate")  # <unk> stands in


def test_language_models_and_image_data_do_not_mix(make_cfg, tmp_path):
    from zoo.errors import ModelDataMismatchError
    from zoo.training import build_datamodule, build_task

    corpus = write_text(tmp_path / "t.txt")
    for model, data in (("rnn_lm", "data=digits"), ("lenet5", f"data=text_file data.path={corpus}")):
        cfg = make_cfg(f"model={model}", *data.split())
        with pytest.raises(ModelDataMismatchError, match=f"model '{model}' is a .* model for") as error:
            build_task(cfg, build_datamodule(cfg.data))
        assert "\n" not in str(error.value)


def test_tensorboard_train_loss_is_the_loss_of_the_step_it_is_drawn_at(make_cfg, tmp_path):
    """Loss and gradient norms are logged only on the batches the logger writes: each point is that batch's, not an older one's."""

    class Record(L.Callback):
        def __init__(self) -> None:
            self.losses: list[float] = []
            self.grad_norms: list[float] = []

        def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
            self.grad_norms.append(float(torch.linalg.vector_norm(pl_module.model.decoder.weight.grad)))

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            self.losses.append(float(outputs["loss"]))

    corpus = write_text(tmp_path / "t.txt")
    record = Record()
    cfg = make_cfg("model=rnn_lm", "data=text_file", f"data.path={corpus}", "data.seq_len=8", "data.batch_size=4",
                   "model.hidden_size=16", "model.num_layers=1", "trainer.max_epochs=2", "trainer.log_every_n_steps=3",
                   "test=false")  # fmt: skip
    train(cfg, extra_callbacks=[record])
    folder = next(Path(cfg.paths.output_dir).glob("tensorboard/**/events.out.tfevents.*")).parent
    events = EventAccumulator(str(folder)).Reload()
    per_epoch = len(record.losses) // 2
    epoch_ends = {per_epoch - 1, 2 * per_epoch - 1}  # where the epoch's mean train/loss is drawn, under the same tag
    losses = {e.step: e.value for e in events.Scalars("train/loss") if e.step % 3 == 2 or e.step not in epoch_ends}
    norms = {e.step: e.value for e in events.Scalars("grad_norm/model.decoder.weight")}
    assert len(losses) >= 4 and set(losses) == set(norms) == {step for step in range(len(record.losses)) if step % 3 == 2}
    assert all(value == pytest.approx(record.losses[step], rel=1e-6) for step, value in losses.items())
    assert all(value == pytest.approx(record.grad_norms[step], rel=1e-5) for step, value in norms.items())
