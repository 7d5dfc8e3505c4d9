"""Fine-tuning from the zoo's own published weights (issue 13): ``model.weights=<model>.<tag>`` starts a
model (``zoo.create_model``, ``train.py``) from a weight of ``weights/``, with a fresh head for another
class count; float16 files and tied tensors load into a float32 model; the wrong model, an unknown tag,
a malformed name and a second weight source are refused in one line; ``zoo.list_models(pretrained=True)``."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch

import zoo
from tests.conftest import CONFIGS, run_script
from zoo import catalogue
from zoo.checkpoint import read_checkpoint, read_safetensors
from zoo.weights import WEIGHT_KEYS, without_weight_sources

# the catalogue's own listing of LeNet-5's tags, as its one-line errors give it
LENET5_TAGS = ", ".join(sorted(entry["tag"] for entry in catalogue.index().values() if entry["model"] == "lenet5"))

FAST = ["trainer.max_epochs=1", "trainer.limit_train_batches=2", "test=false", "logger=[]",
        "callbacks.prediction_grid=null", "callbacks.weight_histograms=null"]  # fmt: skip


@pytest.fixture(scope="module")
def published() -> dict[str, torch.Tensor]:
    return read_safetensors(catalogue.weights_file("lenet5", "mnist"))[1]


def test_another_class_count_keeps_the_published_features_and_a_fresh_head(published):
    model = zoo.create_model("lenet5", num_classes=5, weights="lenet5.mnist")
    state = model.state_dict()
    assert state["classifier.5.weight"].shape == (5, 84) and state["classifier.5.bias"].shape == (5,)
    body = [key for key in published if not key.startswith("classifier.5.")]
    assert len(body) == 8 and all(torch.equal(state[key], published[key]) for key in body)


def test_the_same_class_count_is_the_published_network(published):
    model = zoo.create_model("lenet5", weights="lenet5.mnist").eval()
    assert all(torch.equal(tensor, published[key]) for key, tensor in model.state_dict().items())
    reference = zoo.load("lenet5", weights="mnist").model
    x = torch.randn(3, 1, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), reference(x))


def write_catalogue(folder: Path, files: dict[str, tuple[str, str, bytes]]) -> None:
    """A catalogue (index.json and files) of ``{entry: (model, tag, safetensors bytes)}`` in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    entries = {}
    for name, (model, tag, blob) in files.items():
        (folder / f"{name}.safetensors").write_bytes(blob)
        entries[name] = {"model": model, "tag": tag, "file": f"{name}.safetensors", "bytes": len(blob),
                         "sha256": hashlib.sha256(blob).hexdigest()}  # fmt: skip
    (folder / "index.json").write_text(json.dumps(entries))


def test_float16_files_and_tied_tensors_load_into_a_float32_model(tmp_path, monkeypatch):
    from zoo.inference import safetensors_bytes

    settings, network = read_safetensors(catalogue.weights_file("lenet5", "mnist"))
    torch.manual_seed(0)
    lm_config = {"name": "rnn_lm", "vocab_size": 7, "embedding_size": 8, "hidden_size": 8, "tie_weights": True}
    lm = zoo.create_model(**lm_config)
    lm_blob = safetensors_bytes(lm, {"model": lm_config}, torch.float16)
    write_catalogue(tmp_path, {"lenet5.half": ("lenet5", "half", safetensors_bytes(network, settings, torch.float16)),
                               "rnn_lm.tied": ("rnn_lm", "tied", lm_blob)})  # fmt: skip
    monkeypatch.setattr(catalogue, "WEIGHTS_DIR", tmp_path)
    monkeypatch.setattr(catalogue, "INDEX", tmp_path / "index.json")

    half = read_safetensors(tmp_path / "lenet5.half.safetensors")[1]
    assert half["features.0.weight"].dtype == torch.float16
    model = zoo.create_model("lenet5", num_classes=3, weights="lenet5.half")
    state = model.state_dict()
    assert all(tensor.dtype == torch.float32 for tensor in state.values())
    assert torch.equal(state["features.3.weight"], half["features.3.weight"].float())

    stored = read_safetensors(tmp_path / "rnn_lm.tied.safetensors")  # the decoder's weight is stored once
    assert len(stored[1]) == len(lm.state_dict())
    from safetensors import safe_open

    with safe_open(str(tmp_path / "rnn_lm.tied.safetensors"), framework="pt") as handle:
        assert len(list(handle.keys())) == len(lm.state_dict()) - 1
    tied = zoo.create_model(**lm_config, weights="rnn_lm.tied")
    for key, tensor in tied.state_dict().items():
        assert tensor.dtype == torch.float32 and torch.equal(tensor, lm.state_dict()[key].half().float()), key
    assert zoo.list_models(pretrained=True) == ["lenet5", "rnn_lm"]


def test_weight_source_errors_are_one_line():
    cases = [
        (dict(name="mlp_500_300", weights="lenet5.mnist"),
         "model.weights=lenet5.mnist is a weight of 'lenet5', not of 'mlp_500_300' (published weights of 'mlp_500_300': "),
        (dict(name="lenet5", weights="lenet5.nope"), "no weights 'nope' for 'lenet5' (published tags of 'lenet5': " + LENET5_TAGS),
        (dict(name="lenet5", weights="lenet5"),
         "model.weights='lenet5' is not <model>.<tag> (published weights of 'lenet5': lenet5."),
        (dict(name="lenet5", weights="lenet5.mnist", weights_path="lenet5.pth"),
         "model.weights=lenet5.mnist cannot be combined with model.weights_path: give one weight source"),
        (dict(name="resnet18", weights="resnet18.imagenet", pretrained="torchvision"),
         "model.weights=resnet18.imagenet cannot be combined with model.pretrained"),
        # another architecture setting: the existing error, naming the settings the weight was trained with
        (dict(name="lenet5", input_size=28, weights="lenet5.mnist"),
         "the weights in the zoo's lenet5.mnist are for another architecture than LeNet5"),
    ]  # fmt: skip
    for arguments, expected in cases:
        with pytest.raises(zoo.ZooError) as error:
            zoo.create_model(**arguments)
        message = str(error.value)
        assert message.startswith(expected) and "\n" not in message, message
    assert message.endswith("; lenet5.mnist was trained with input_size=32 (this model: 28)")


def test_weights_is_a_weight_source_and_every_model_config_takes_it(make_cfg):
    assert "weights" in WEIGHT_KEYS
    assert without_weight_sources({"name": "lenet5", "weights": "lenet5.mnist", "variant": "modern"}) == {
        "name": "lenet5", "variant": "modern"}  # fmt: skip
    for path in sorted((CONFIGS / "model").glob("*.yaml")):  # no `+` needed, whatever the model
        cfg = make_cfg(f"model={path.stem}", "model.weights=some.tag")
        assert cfg.model.weights == "some.tag", path.stem
    assert make_cfg().model.weights is None


def test_list_models_pretrained_lists_the_models_with_a_published_weight():
    published = sorted({entry["model"] for entry in catalogue.index().values()})
    assert zoo.list_models(pretrained=True) == published and "lenet5" in published
    assert set(published) <= set(zoo.list_models()) and zoo.list_models() != published
    assert zoo.list_models("lenet5*", pretrained=True) == [m for m in published if m.startswith("lenet5")]
    assert zoo.list_models(task="classification", pretrained=True) == [
        m for m in published if zoo.get_model_entry(m).task == "classification"]  # fmt: skip


def test_train_starts_from_the_published_weight(make_cfg, published, tmp_path):
    from zoo.training import build_datamodule, build_task

    # the task train.py builds holds the published weights before its first step
    cfg = make_cfg("model.weights=lenet5.mnist", *FAST)
    task = build_task(cfg, build_datamodule(cfg.data))
    assert all(torch.equal(tensor, published[key]) for key, tensor in task.model.state_dict().items())
    assert task.hparams.model["weights"] == "lenet5.mnist"

    result = run_script("train.py", "model.weights=lenet5.mnist", *FAST, f"paths.log_dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    (last,) = tmp_path.glob("*/runs/*/checkpoints/last.ckpt")
    checkpoint = read_checkpoint(last)
    assert checkpoint["global_step"] == 2 and checkpoint["hyper_parameters"]["model"]["weights"] == "lenet5.mnist"
    # two Adam steps of 1e-3 from the published weights (a fresh initialisation is ~0.1 away)
    trained = zoo.load(last).model.state_dict()
    assert max((trained[key] - published[key]).abs().max().item() for key in published) < 0.01
    assert not all(torch.equal(trained[key], published[key]) for key in published)


@pytest.mark.parametrize("arguments, expected", [
    (["model=mlp_500_300", "data.image_size=28", "model.weights=lenet5.mnist"],
     "error: model.weights=lenet5.mnist is a weight of 'lenet5', not of 'mlp_500_300'"),
    (["model.weights=lenet5.nope"], "error: no weights 'nope' for 'lenet5' (published tags of 'lenet5': " + LENET5_TAGS),
    (["model.weights=lenet5"], "error: model.weights='lenet5' is not <model>.<tag>"),
    (["model.weights=lenet5.mnist", "+model.weights_path=lenet5.pth"],
     "error: model.weights=lenet5.mnist cannot be combined with model.weights_path"),
])  # fmt: skip
def test_train_cli_weight_errors_are_one_line(tmp_path, arguments, expected):
    result = run_script("train.py", *arguments, *FAST, f"paths.log_dir={tmp_path}")
    assert result.returncode == 1, result.stderr[-2000:]
    assert result.stderr.strip().splitlines()[-1].startswith(expected), result.stderr[-2000:]
    assert "Traceback" not in result.stderr
