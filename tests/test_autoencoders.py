"""Autoencoders: the models' interface and penalties, the reconstruction task on scikit-learn's digits
(loss falls, PCA baseline equals scikit-learn's, evaluate reproduces it, TensorBoard figures and
projector), zoo.load's encode/decode/sample, greedy layer-wise pretraining, and the bad inputs."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA as SklearnPCA

import zoo
from zoo.checkpoint import read_checkpoint
from zoo.config import compose_config
from zoo.errors import ModelDataMismatchError, UnsupportedOperationError
from zoo.models.autoencoder import sparsity_penalty
from zoo.tasks.pca import PCA
from zoo.tasks.reconstruction import corrupt
from zoo.training import build_datamodule, build_task, evaluate, train
from zoo.weights import WeightsError

# digits at their native 8x8 (64 pixels), without the shifts meant for 32x32 LeNet-5 inputs
DIGITS = ["data=digits", "data.image_size=8", "data.augment=none", "callbacks.weight_histograms=null",
          "callbacks.gradient_norm=null"]  # fmt: skip


@pytest.fixture(scope="module")
def ae_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A 64-32-16-32-64 ReLU autoencoder trained for 15 epochs on digits (MSE), with its config."""
    out = tmp_path_factory.mktemp("ae") / "run"
    cfg = compose_config("train", ["model=deep_autoencoder", "model.hidden_sizes=[32,16]", "task.loss=mse",
                                   "trainer.max_epochs=15", *DIGITS], out)  # fmt: skip
    metrics = train(cfg)
    return {"cfg": cfg, "metrics": metrics, "out": out, "best": out / "checkpoints" / "best.ckpt"}


def test_dense_autoencoders_recreate_the_image_shape_and_tie_weights():
    untied = zoo.create_model("deep_autoencoder")
    tied = zoo.create_model("deep_autoencoder", tied=True)
    x = torch.randn(3, 1, 28, 28)
    for model in (untied, tied):
        output = model(x)
        assert output.reconstruction.shape == x.shape and output.code.shape == (3, 30)
        assert 0 <= output.reconstruction.min() and output.reconstruction.max() <= 1 and output.penalty.item() == 0
    # tied: the decoder has only biases of its own, and changing an encoder weight changes the decoding
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(untied) - count(tied) == 784 * 1000 + 1000 * 500 + 500 * 250 + 250 * 30  # the decoder's weights
    code = torch.randn(2, 30)
    before = tied.decode(code)
    with torch.no_grad():
        tied.encoder[-2].weight.mul_(2)  # the code layer's weights: the decoder's first layer, transposed
    assert not torch.allclose(before, tied.decode(code))
    assert zoo.create_model("autoencoder").hidden_sizes == [500]  # the slides' 784-500-784


def test_sparsity_penalties_follow_their_formulas():
    code = torch.tensor([[0.1, 0.5], [0.3, 0.1]])
    assert sparsity_penalty(code, "l1", 2.0, 0.05) == pytest.approx(2.0 * (0.6 + 0.4) / 2)
    rho, rho_hat = 0.05, torch.tensor([0.2, 0.3])
    kl = (rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))).sum()
    assert sparsity_penalty(code, "kl", 3.0, rho) == pytest.approx(3.0 * kl.item(), rel=1e-5)
    assert sparsity_penalty(torch.full((4, 2), 0.05), "kl", 3.0, 0.05) == pytest.approx(0.0, abs=1e-6)
    sparse = zoo.create_model("autoencoder", sparsity="kl", sparsity_weight=0.1)
    assert sparse(torch.randn(2, 1, 28, 28)).penalty > 0
    with pytest.raises(ValueError, match="code_activation=sigmoid"):
        zoo.create_model("autoencoder", sparsity="kl", code_activation="relu")


def test_noise_corrupts_pixels_as_configured():
    pixels = torch.full((100, 1, 28, 28), 0.5)
    masked = corrupt(pixels, "masking", 0.25)
    assert set(masked.unique().tolist()) == {0.0, 0.5}
    assert (masked == 0).float().mean().item() == pytest.approx(0.25, abs=0.01)
    noisy = corrupt(pixels, "gaussian", 0.3)
    assert (noisy - pixels).std().item() == pytest.approx(0.3, abs=0.01)
    assert corrupt(pixels, "none", 0.3) is pixels


def test_conv_autoencoder_and_vae_shapes_kl_and_samples():
    conv = zoo.create_model("conv_autoencoder")
    x = torch.randn(2, 1, 28, 28)
    assert conv(x).reconstruction.shape == x.shape and conv.encode(x).shape == (2, 30)
    with pytest.raises(ValueError, match="divisible by 4"):
        zoo.create_model("conv_autoencoder", input_size=30)
    vae = zoo.create_model("vae").eval()
    assert vae(x).code.shape == (2, 20) and vae.sample(5).shape == (5, 1, 28, 28)
    with torch.no_grad():  # a posterior equal to the prior has zero KL divergence
        for layer in (vae.mu, vae.log_var):
            layer.weight.zero_(), layer.bias.zero_()
    assert vae(x).penalty.item() == pytest.approx(0.0, abs=1e-7)


def test_pca_is_the_best_linear_code_and_matches_scikit_learn():
    data = torch.from_numpy(np.random.default_rng(0).normal(size=(300, 10)) @ np.diag(np.arange(1, 11.0)))
    ours = PCA.fit(data, 3)
    theirs = SklearnPCA(3).fit(data.numpy())
    reconstruction = theirs.inverse_transform(theirs.transform(data.numpy()))
    assert np.allclose(ours.reconstruct(data.float()).numpy(), reconstruction, atol=1e-4)


def test_reconstruction_training_lowers_the_error_and_reports_pca(ae_run):
    metrics, cfg = ae_run["metrics"], ae_run["cfg"]
    assert metrics["test/mse"] < 0.05  # untrained sigmoid outputs of 0.5: about 0.18
    # the PCA baseline equals scikit-learn's PCA with 16 components fitted on the same training images
    datamodule = build_datamodule(cfg.data)
    to_pixels = lambda split: (datamodule.preprocess(datamodule.raw_split(split).images) * 0.3759 + 0.3053).clamp(0, 1)  # noqa: E731
    train_pixels, test_pixels = to_pixels("train").flatten(1).numpy(), to_pixels("test").flatten(1).numpy()
    pca = SklearnPCA(16).fit(train_pixels)
    expected = ((pca.inverse_transform(pca.transform(test_pixels)) - test_pixels) ** 2).mean()
    assert metrics["test/pca_mse"] == pytest.approx(expected, rel=1e-3)
    assert metrics["test/mse_vs_pca"] == pytest.approx(metrics["test/mse"] / metrics["test/pca_mse"], rel=1e-4)


def test_evaluate_reports_the_same_reconstruction_and_pca_errors(ae_run, tmp_path):
    eval_cfg = compose_config("eval", [f"ckpt_path={ae_run['best']}"], tmp_path / "eval")
    results = evaluate(eval_cfg)
    for key in ("test/mse", "test/pca_mse", "test/loss"):
        assert results[key] == pytest.approx(ae_run["metrics"][key], rel=1e-4)


def test_tensorboard_gets_reconstruction_grids_and_the_projector(ae_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tb = ae_run["out"] / "tensorboard"
    images = set()
    for events in tb.rglob("events.out.tfevents.*"):
        accumulator = EventAccumulator(str(events), size_guidance={"images": 0})
        accumulator.Reload()
        images |= set(accumulator.Tags()["images"])
    assert "val/reconstructions" in images
    assert list(tb.rglob("projector_config.pbtxt")) and list(tb.rglob("sprite.png")) and list(tb.rglob("metadata.tsv"))
    labels = next(tb.rglob("metadata.tsv")).read_text().split()
    assert len(labels) == 359 and set(labels) <= {str(d) for d in range(10)}


def test_zoo_load_encodes_decodes_and_refuses_to_sample_a_plain_autoencoder(ae_run, tmp_path):
    model = zoo.load(ae_run["best"])
    assert isinstance(model, zoo.AutoencoderModel) and model.code_size == 16
    images = torch.randint(0, 256, (4, 8, 8), dtype=torch.uint8)
    codes = model.encode(images)
    assert codes.shape == (4, 16) and model.decode(codes).shape == (4, 1, 8, 8)
    assert torch.allclose(model.reconstruct(images), model.decode(codes))
    with pytest.raises(UnsupportedOperationError, match="load a VAE checkpoint"):
        model.sample(4)
    with pytest.raises(ValueError, match="decodes 16-value codes"):
        model.decode(torch.zeros(2, 30))
    exported = zoo.export_safetensors(ae_run["best"], tmp_path / "ae.safetensors")
    assert torch.allclose(zoo.load(exported).encode(images), codes)


def test_vae_and_denoising_autoencoder_train_and_log_their_figures(make_cfg):
    vae_cfg = make_cfg("model=vae", "model.hidden_sizes=[32]", "model.latent_size=4", "trainer.max_epochs=2", *DIGITS)
    metrics = train(vae_cfg)
    assert metrics["test/penalty"] > 0 and metrics["test/loss"] > metrics["test/penalty"]
    vae = zoo.load(Path(vae_cfg.paths.output_dir) / "checkpoints" / "best.ckpt")
    samples = vae.sample(6, seed=1)
    assert samples.shape == (6, 1, 8, 8) and torch.equal(samples, vae.sample(6, seed=1))
    dae_cfg = make_cfg("model=denoising_autoencoder", "model.hidden_sizes=[32]", "trainer.max_epochs=1", *DIGITS)
    assert train(dae_cfg)["test/mse"] < 0.2
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags = set()
    for cfg in (vae_cfg, dae_cfg):
        for events in Path(cfg.paths.output_dir).rglob("events.out.tfevents.*"):
            accumulator = EventAccumulator(str(events), size_guidance={"images": 0})
            accumulator.Reload()
            tags |= set(accumulator.Tags()["images"])
    assert {"vae/samples", "vae/latent_traversal", "val/denoising"} <= tags


def test_layerwise_pretraining_trains_one_layer_at_a_time_then_fine_tunes(make_cfg):
    cfg = make_cfg("model=stacked_autoencoder", "model.hidden_sizes=[32,16]", "task.pretrain_epochs=1",
                   "trainer.max_epochs=2", "test=false", *DIGITS)  # fmt: skip
    datamodule = build_datamodule(cfg.data)
    torch.manual_seed(cfg.seed)
    initial = build_task(cfg, datamodule).model.state_dict()
    final: dict[str, torch.Tensor] = {}
    snapshot = L.Callback()
    snapshot.on_train_end = lambda trainer, module: final.update(module.model.state_dict())
    metrics = train(cfg, extra_callbacks=[snapshot])  # 2 epochs: layer 1's autoencoder, then layer 2's; no fine-tuning
    changed = {key for key, value in initial.items() if not torch.equal(value, final[key])}
    assert changed == {f"{part}.{i}.{p}" for part in ("layers", "decoders") for i in (0, 1) for p in ("weight", "bias")}
    assert {"pretrain/layer1_loss_epoch", "pretrain/layer2_loss_epoch"} <= metrics.keys()
    finetuned = make_cfg("model=stacked_autoencoder", "model.hidden_sizes=[32,16]", "task.pretrain_epochs=1",
                         "trainer.max_epochs=6", "optimizer.lr=0.01", *DIGITS)  # fmt: skip
    assert train(finetuned)["test/acc"] > 0.5


def test_a_trained_encoder_initialises_a_classifier_and_a_wrong_code_size_is_one_line(ae_run, make_cfg):
    cfg = make_cfg("model=ae_classifier", f"model.encoder_ckpt={ae_run['best']}",
                   "+model.autoencoder.hidden_sizes=[32,16]", "debug=fast", *DIGITS)  # fmt: skip
    task = build_task(cfg, build_datamodule(cfg.data))
    ae = read_checkpoint(ae_run["best"])["state_dict"]
    assert torch.equal(task.model.encoder[1].weight, ae["model.encoder.1.weight"])
    assert train(cfg)["test/acc"] >= 0
    wrong = make_cfg("model=ae_classifier", f"model.encoder_ckpt={ae_run['best']}",
                     "+model.autoencoder.hidden_sizes=[32,10]", *DIGITS)  # fmt: skip
    with pytest.raises(WeightsError, match="16-value code but this classifier's model.autoencoder .* 10-value code"):
        build_task(wrong, build_datamodule(wrong.data))


def test_an_image_size_the_encoder_was_not_built_for_is_one_line(make_cfg):
    cfg = make_cfg("model=deep_autoencoder", "+model.input_size=28", "data=digits", "data.image_size=16")  # a model built for 28x28
    with pytest.raises(ModelDataMismatchError, match="cannot take the 1x16x16 images of data set 'digits'.*data.image_size"):
        build_task(cfg, build_datamodule(cfg.data))
