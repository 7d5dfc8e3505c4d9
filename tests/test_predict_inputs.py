"""What ``zoo.load``'s models take as inputs (issue 11): integer images are pixel values 0-255,
float images values in [0, 1]; colour and grey are converted; sizes the training transform was not
made for, non-finite values and odd dtypes are refused in one ``InputError`` line, as are sampling
settings ``generate`` cannot honour and bad waveforms or sample rates. Models are built untrained
(the rules do not depend on the weights), so this file runs in seconds."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
import torchvision.transforms.v2.functional as TF
from PIL import Image
from torch import nn

import zoo
from datamodules import AudioInfo, CIFAR10DataModule, DigitsDataModule, MNISTDataModule, TextInfo
from datamodules.audio import AudioPreprocess
from zoo.autoencoding import AutoencoderModel
from zoo.errors import InputError, ZooError
from zoo.generation import MAX_LENGTH, TextGenerator
from zoo.inference import Classifier


def classifier(model_name: str, info: dict, **model_kwargs) -> Classifier:
    torch.manual_seed(0)
    model = zoo.create_model(model_name, num_classes=10, **model_kwargs)
    return Classifier(model, {"model": {"name": model_name}, "data_info": info})


@pytest.fixture(scope="module")
def mnist_lenet() -> Classifier:
    """LeNet-5 as trained on MNIST: 28x28 digits padded to 32x32."""
    return classifier("lenet5", MNISTDataModule(image_size=32).info.to_dict())


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return torch.randint(0, 256, (6, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))


def refused(call, *args, **kwargs) -> str:
    """The message of the one-line ``InputError`` (a ZooError and a ValueError) ``call`` raises."""
    with pytest.raises(InputError) as caught:
        call(*args, **kwargs)
    message = str(caught.value)
    assert isinstance(caught.value, ZooError) and isinstance(caught.value, ValueError)
    assert "\n" not in message and message
    return message


# --- values and dtypes ---------------------------------------------------------------------
def test_integers_are_pixels_0_255_and_floats_values_in_0_1_whatever_the_container(mnist_lenet, images):
    expected = mnist_lenet.predict_proba(images)
    same = [
        images.numpy(),  # numpy uint8
        images.long(),  # any integer dtype
        images.numpy().astype(np.int32),
        images.tolist(),  # a list of Python ints: numpy's int64
        images.double().numpy() / 255,  # float64 in [0, 1]
        images.float() / 255,
        (images.float() / 255).half(),
        images[:, None],  # (N, 1, H, W)
        images[..., None].numpy(),  # channels last (N, H, W, 1)
    ]
    for given in same:
        assert torch.allclose(mnist_lenet.predict_proba(given), expected, atol=2e-3)
    assert torch.equal(mnist_lenet.predict(Image.fromarray(images[0].numpy())), mnist_lenet.predict(images[:1]))
    assert torch.equal(mnist_lenet.predict([Image.fromarray(i.numpy()) for i in images]), expected.argmax(1))


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (lambda x: x.double(), r"float images must hold values in \[0, 1\] .*from 0 to 255: pass 0-255 pixel values as "
                               r"uint8, or divide them by 255"),  # fmt: skip
        (lambda x: x.tolist() + [[[0.5] * 28] * 28], "float images must hold values in .*divide them by 255"),
        (lambda x: (x.float() / 255 - 0.1307) / 0.3081, "float images .*not normalised ones"),
        (lambda x: x.float() / 255 * 1.01, r"clamp them to \[0, 1\]"),
        (lambda x: x.long() - 1, "integer images must hold pixel values 0-255, got values from -1 to 254"),
        (lambda x: x.numpy().astype(np.uint16) * 256, "integer images must hold pixel values 0-255, got values from 0"),
        (lambda x: torch.where(x > 128, math.nan, x / 255), "images hold [0-9]+ NaN or infinite values"),
        (lambda x: torch.where(x > 128, math.inf, x / 255), "images hold [0-9]+ NaN or infinite values"),
        (lambda x: x > 128, "images of dtype bool are not taken: give uint8"),
        (lambda x: x.numpy() > 128, "images of dtype bool are not taken"),
        (lambda x: x.to(torch.complex64), "images of dtype complex64 are not taken"),
        (lambda x: np.array([x[0].numpy(), None], dtype=object), "images of dtype object are not taken"),
        (lambda x: [["a", "b"], ["c", "d"]], "images of dtype <U1 are not taken"),
        (lambda x: [x[0].numpy(), x[1, :20].numpy()], "the listed images have different shapes"),
        (lambda x: [x[0], x[1, :20]], "the listed images have 2 different shapes"),
        (lambda x: x[:0], r"got no images \(an empty array of shape \(0, 28, 28\)\)"),
        (lambda x: x.flatten(), r"expected images shaped .* got \(4704,\)"),
        (lambda x: x[:, None, None], r"expected images shaped .* got \(6, 1, 1, 28, 28\)"),
        (lambda x: x.view(6, 7, 4, 28), r"no channel dimension of 1 \(grey\) or 3 \(colour\)"),
        (lambda x: x[..., None].expand(6, 28, 28, 4), "got 4-channel ones: drop the alpha channel"),
    ],
)
def test_bad_values_and_dtypes_are_refused_in_one_line(mnist_lenet, images, given, message):
    text = refused(mnist_lenet.predict, given(images))
    assert re.search(message, text), text


def test_a_sample_rate_for_an_image_model_is_one_line(mnist_lenet, images):
    assert "sample_rate is for audio models" in refused(mnist_lenet.predict, images, sample_rate=8000)


# --- channels --------------------------------------------------------------------------------
def test_colour_images_given_to_a_grey_model_are_converted_with_rgb_to_grayscale(mnist_lenet, images):
    colour = torch.randint(0, 256, (6, 3, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    grey = TF.rgb_to_grayscale(colour.float() / 255)
    expected = mnist_lenet.predict_proba(grey)
    assert torch.allclose(mnist_lenet.predict_proba(colour), expected, atol=1e-6)
    assert torch.allclose(mnist_lenet.predict_proba(colour.permute(0, 2, 3, 1).numpy()), expected, atol=1e-6)
    one = Image.fromarray(colour[0].permute(1, 2, 0).numpy())  # a PIL RGB image: (H, W, 3)
    assert torch.allclose(mnist_lenet.predict_proba(one), expected[:1], atol=1e-6)
    # the same grey in R, G and B: (nearly) the grey image's own prediction
    assert torch.allclose(mnist_lenet.predict_proba(images[:, None].expand(6, 3, 28, 28)),
                          mnist_lenet.predict_proba(images), atol=1e-3)  # fmt: skip


def test_grey_images_given_to_a_colour_model_are_repeated_to_rgb_and_chw_is_ambiguous():
    model = classifier("resnet20", CIFAR10DataModule().info.to_dict())
    grey = torch.randint(0, 256, (4, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(2))
    assert torch.allclose(model.predict_proba(grey), model.predict_proba(grey[:, None].expand(4, 3, 32, 32)))
    colour = torch.randint(0, 256, (32, 32, 3), dtype=torch.uint8)
    assert torch.allclose(model.predict_proba(colour.numpy()), model.predict_proba(colour.permute(2, 0, 1)[None]))
    message = refused(model.predict, colour.permute(2, 0, 1))
    assert message.startswith("images shaped (3, 32, 32) are ambiguous for a colour model: give one colour image")


# --- sizes -----------------------------------------------------------------------------------
def test_a_padded_model_takes_its_training_size_or_its_own_and_names_the_size_otherwise(mnist_lenet, images):
    digits = torch.randint(0, 256, (6, 8, 8), dtype=torch.uint8)  # scikit-learn's 8x8 digits
    message = refused(mnist_lenet.predict, digits)
    assert message == (
        "this model takes 28x28 images (or 32x32, taken as already padded), got 8x8: resize them first, e.g."
        " torchvision.transforms.v2.functional.resize(images, [28, 28], antialias=True)"
    )
    resized = TF.resize(digits, [28, 28], antialias=True)  # what the message says
    assert mnist_lenet.predict(resized).shape == (6,)
    assert "got 64x64" in refused(mnist_lenet.predict, torch.zeros(2, 64, 64, dtype=torch.uint8))
    assert "got 28x30" in refused(mnist_lenet.predict, torch.zeros(2, 28, 30, dtype=torch.uint8))
    padded = nn.functional.pad(images, (2, 2, 2, 2))  # 32x32: already padded as in training
    assert torch.allclose(mnist_lenet.predict_proba(padded), mnist_lenet.predict_proba(images), atol=1e-6)


def test_checkpoints_without_raw_size_take_their_data_modules_native_size(images):
    info = MNISTDataModule(image_size=32).info.to_dict()
    del info["raw_size"]  # a checkpoint older than the field
    old = classifier("lenet5", info)
    assert old.predict(images).shape == (6,)
    assert "takes 28x28 images" in refused(old.predict, torch.zeros(1, 8, 8, dtype=torch.uint8))


def test_a_resizing_model_resizes_square_images_of_any_size_as_its_training_images_were():
    model = classifier("lenet5", DigitsDataModule(image_size=32).info.to_dict())  # 8x8 digits resized to 32x32
    assert model.preprocess.raw_size == 8
    big = torch.randint(0, 256, (5, 16, 16), dtype=torch.uint8)
    explicit = TF.resize(big.float() / 255, [32, 32], antialias=True)  # the training transform, by hand
    assert torch.allclose(model.predict_proba(big), model.predict_proba(explicit), atol=1e-6)
    message = refused(model.predict, torch.zeros(2, 16, 12, dtype=torch.uint8))
    assert message.startswith("this model takes square images (resized to 32x32 as its training images were), got 16x12")


# --- autoencoders ----------------------------------------------------------------------------
def test_autoencoders_take_the_same_inputs_and_refuse_bad_codes(images):
    torch.manual_seed(0)
    info = MNISTDataModule().info.to_dict()
    model = AutoencoderModel(zoo.create_model("deep_autoencoder"), {"model": {"name": "deep_autoencoder"},
                                                                      "data_info": info})  # fmt: skip
    codes = model.encode(images)
    assert torch.allclose(model.encode(images.double().numpy() / 255), codes, atol=1e-5)
    assert torch.allclose(model.encode(images.tolist()), codes, atol=1e-5)
    assert "divide them by 255" in refused(model.encode, images.double())
    assert "takes 28x28 images, got 8x8" in refused(model.reconstruct, torch.zeros(1, 8, 8, dtype=torch.uint8))
    assert "NaN or infinite" in refused(model.encode, torch.full((1, 28, 28), math.nan))
    assert "NaN or infinite" in refused(model.decode, torch.full((1, 30), math.nan))
    assert "decodes 30-value codes, got shape (2, 3, 30)" in refused(model.decode, torch.zeros(2, 3, 30))
    assert "codes of dtype bool are not taken" in refused(model.decode, torch.zeros(2, 30, dtype=torch.bool))
    vae = AutoencoderModel(zoo.create_model("vae"), {"model": {"name": "vae"}, "data_info": info})
    assert vae.sample(2, seed=0).shape == (2, 1, 28, 28)
    for count in (0, -1, 2.5):
        assert "count must be a whole number of images >= 1" in refused(vae.sample, count)


# --- text generation -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def generator() -> TextGenerator:
    torch.manual_seed(0)
    vocabulary = list("\n abc")
    model = zoo.create_model("rnn_lm", vocab_size=len(vocabulary), hidden_size=8, num_layers=1)
    info = TextInfo(name="abc", level="char", vocabulary=vocabulary)
    return TextGenerator(model, {"model": {"name": "rnn_lm"}, "data_info": info.to_dict()})


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"top_k": -1}, r"top_k must be a whole number of tokens from 1 to the vocabulary's 5 \(or None: all\), got -1"),
        ({"top_k": 0}, "top_k must be a whole number of tokens from 1 to the vocabulary's 5 .*got 0"),
        ({"top_k": 6}, "top_k must be .*got 6"),
        ({"top_k": 2.5}, "top_k must be .*got 2.5"),
        ({"temperature": math.nan}, r"temperature must be a finite number >= 0 \(0: always the likeliest token\), got nan"),
        ({"temperature": math.inf}, "temperature must be a finite number >= 0 .*got inf"),
        ({"temperature": -0.5}, "temperature must be .*got -0.5"),
        ({"length": -1}, f"length must be a whole number of tokens from 0 to {MAX_LENGTH:,}, got -1"),
        ({"length": 2.5}, "length must be a whole number of tokens .*got 2.5"),
        ({"length": MAX_LENGTH + 1}, f"length {MAX_LENGTH + 1:,} is over the {MAX_LENGTH:,} tokens one call draws"),
        ({"prompt": 3}, "prompt must be a string, got int"),
    ],
)
def test_sampling_settings_generate_cannot_honour_are_one_line(generator, settings, message):
    arguments = {"prompt": "ab", "length": 5, **settings}
    assert re.fullmatch(message + ".*", refused(generator.generate, **arguments))


def test_the_edges_of_the_sampling_settings_are_taken(generator):
    assert generator.generate("ab", 0) == "ab"
    assert len(generator.generate("ab", 7, top_k=5, seed=0)) == 9
    assert len(generator.generate("ab", 7, top_k=1, temperature=0.5, seed=0)) == 9
    assert generator.generate("ab", 7, top_k=1, seed=0) == generator.generate("ab", 7, temperature=0)
    assert len(generator.generate("ab", np.int64(3), temperature=np.float32(1.0), top_k=np.int64(2))) == 5


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--top-k", "0"], "error: top_k must be a whole number of tokens from 1 (or None: all), got 0"),
        (["--temperature", "nan"], "error: temperature must be a finite number >= 0"),
        (["--temperature", "-1"], "error: temperature must be a finite number >= 0"),
        (["--length", "-5"], "error: length must be a whole number of tokens from 0 to 100,000, got -5"),
        (["--length", "100001"], "error: length 100,001 is over the 100,000 tokens one call draws"),
    ],
)
def test_generate_cli_refuses_bad_settings_in_one_line_before_loading(arguments, message, capsys, tmp_path):
    import generate

    with pytest.raises(SystemExit) as exit_info:
        generate.main([str(tmp_path / "missing.ckpt"), *arguments])
    assert exit_info.value.code == 1
    error = capsys.readouterr().err
    assert error.startswith(message) and error.count("\n") == 1


# --- audio -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def audio_classifier() -> Classifier:
    preprocess = AudioPreprocess(sample_rate=8000, max_samples=4000, n_features=20, n_mels=20)
    info = AudioInfo(name="fsdd", num_classes=10, class_names=[str(d) for d in range(10)], mean=[0.0] * 20,
                     std=[1.0] * 20, **preprocess.settings())  # fmt: skip
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(preprocess.num_frames * 20, 10))
    return Classifier(model, {"model": {"name": "audio_rnn"}, "data_info": info.to_dict()})


def test_waveforms_with_nan_or_inf_and_bad_sample_rates_are_one_line(audio_classifier):
    waves = torch.randint(-3000, 3000, (3, 4000), dtype=torch.int16, generator=torch.Generator().manual_seed(0))
    predicted = audio_classifier.predict(waves)
    assert torch.equal(audio_classifier.predict(waves, sample_rate=8000), predicted)
    assert torch.equal(audio_classifier.predict(waves.float() / 32768), predicted)
    broken = waves.float() / 32768
    broken[1, 10] = math.nan
    assert refused(audio_classifier.predict, broken) == "waveforms hold 1 NaN or infinite samples: replace them " \
                                                        "(e.g. torch.nan_to_num)"  # fmt: skip
    broken[1, 10] = math.inf
    assert "NaN or infinite samples" in refused(audio_classifier.predict, [w.numpy() for w in broken])
    for rate in (0, -8000, math.nan, math.inf, 8000.5, "fast", True):
        message = refused(audio_classifier.predict, waves, sample_rate=rate)
        assert message == f"sample_rate must be a positive whole number of samples per second, got {rate!r}"
    assert "waveforms of dtype bool are not taken" in refused(audio_classifier.predict, waves.numpy() > 0)
    assert "waveforms of dtype complex64 are not taken" in refused(audio_classifier.predict, waves.to(torch.complex64))
    assert "got no waveforms" in refused(audio_classifier.predict, [])
    assert "a list of waveforms must hold 1-D arrays" in refused(audio_classifier.predict, [waves.numpy()])
    assert "expected waveforms (N, samples)" in refused(audio_classifier.predict, waves[None])
