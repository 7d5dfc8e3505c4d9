"""Published weights kept off the repository (index entries with a ``url``): downloaded once into the
torch hub cache, checked there, and refused in one line when unreachable or not matching. Offline:
the URLs are file:// ones into tmp_path, a local HTTP server, or a closed port on 127.0.0.1."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch

import zoo
from zoo import catalogue, weights_download
from zoo.catalogue import CatalogueError
from zoo.weights_download import cache_dir, offload

NAME = "lenet5.mnist"
IMAGES = torch.rand(6, 1, 28, 28, generator=torch.Generator().manual_seed(0))


@pytest.fixture
def published(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """A weights folder whose only entry, lenet5.mnist, is published at a file:// URL; the hub cache in tmp_path."""
    real = catalogue.index()[NAME]
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    source = uploads / real["file"]
    shutil.copyfile(catalogue.WEIGHTS_DIR / real["file"], source)
    weights = tmp_path / "weights"
    weights.mkdir()
    monkeypatch.setattr(catalogue, "WEIGHTS_DIR", weights)
    monkeypatch.setattr(catalogue, "INDEX", weights / "index.json")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    for variable in ("no_proxy", "NO_PROXY"):  # urllib must never send 127.0.0.1 to a proxy
        monkeypatch.setenv(variable, "*")
    assert torch.hub.get_dir() == str(tmp_path / "torch" / "hub")  # TORCH_HOME is read at call time
    assert cache_dir() == tmp_path / "torch" / "hub" / "checkpoints" / "zoo"

    def publish(**changes) -> dict:
        entry = {**real, "url": source.as_uri(), **changes}
        catalogue.INDEX.write_text(json.dumps({NAME: entry}, indent=2, sort_keys=True) + "\n")
        return entry

    publish()
    return {"real": real, "source": source, "publish": publish, "cached": cache_dir() / real["file"]}


def one_line_error(match: str) -> str:
    with pytest.raises(CatalogueError, match=match) as caught:
        zoo.load("lenet5", weights="mnist")
    message = str(caught.value)
    assert "\n" not in message and "\r" not in message
    return message


def test_first_load_downloads_into_the_cache_and_later_loads_use_it(published, monkeypatch, capsys):
    local = zoo.load(catalogue.ROOT / "weights" / published["real"]["file"])
    downloaded = zoo.load("lenet5", weights="mnist")
    assert f"Downloading {published['source'].as_uri()} to {published['cached']}" in capsys.readouterr().err
    assert published["cached"].read_bytes() == published["source"].read_bytes()
    assert sorted(os.listdir(cache_dir())) == [published["real"]["file"]]  # no temporary file left
    assert torch.equal(downloaded.predict_proba(IMAGES), local.predict_proba(IMAGES))
    assert catalogue.weights_file("lenet5", "mnist") == published["cached"]

    published["source"].unlink()  # the URL is gone: the cached copy is enough

    def no_download(*args, **kwargs):
        raise AssertionError("downloaded again")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    again = zoo.load("lenet5", weights="mnist")
    assert torch.equal(again.predict_proba(IMAGES), local.predict_proba(IMAGES))
    assert "Downloading" not in capsys.readouterr().err


def test_a_download_that_does_not_match_the_catalogue_leaves_nothing_in_the_cache(published):
    published["publish"](sha256="0" * 64)
    message = one_line_error(f"^the download of {published['source'].as_uri()} does not match the catalogue")
    assert f"recorded {published['real']['bytes']} bytes, 000000000000..." in message and str(published["cached"]) in message
    assert os.listdir(cache_dir()) == []

    published["publish"]()
    data = published["source"].read_bytes()
    published["source"].write_bytes(data[: len(data) // 2])  # truncated upload
    message = one_line_error("does not match the catalogue")
    assert f"{len(data) // 2} bytes" in message and f"recorded {len(data)} bytes" in message
    assert os.listdir(cache_dir()) == []


def test_an_unreachable_url_names_it_and_the_path_to_put_the_file_by_hand(published, tmp_path):
    cached, sha = published["cached"], published["real"]["sha256"]
    missing = (tmp_path / "nowhere" / published["real"]["file"]).as_uri()
    closed_port = "http://127.0.0.1:9/lenet5.mnist.safetensors"
    for url, why in ((missing, "No such file or directory"), (closed_port, "")):
        published["publish"](url=url)
        message = one_line_error("^cannot download ")
        assert message.startswith(f"cannot download {url} (") and why in message
        assert message.endswith(f"): download it by hand to {cached} (sha256 {sha}) or check the network")
        assert os.listdir(cache_dir()) == []

    # a file put there by hand is then used
    shutil.copyfile(published["source"], cached)
    assert zoo.load("lenet5", weights="mnist").predict(IMAGES).shape == (6,)


def test_an_http_error_is_one_line_and_an_http_url_downloads(published):
    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(published["source"].parent)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        published["publish"](url=f"{base}/missing.safetensors")
        assert "(HTTP 404 File not found): download it by hand to" in one_line_error("^cannot download http://127")
        assert os.listdir(cache_dir()) == []
        published["publish"](url=f"{base}/{published['real']['file']}")
        zoo.load("lenet5", weights="mnist")
        assert published["cached"].read_bytes() == published["source"].read_bytes()
    finally:
        server.shutdown()
        server.server_close()


def test_a_tampered_or_truncated_cached_file_is_refused_in_one_line(published):
    zoo.load("lenet5", weights="mnist")
    cached = published["cached"]
    data = bytearray(cached.read_bytes())
    data[-1] ^= 0xFF
    cached.write_bytes(bytes(data))
    message = one_line_error(f"^{cached} does not match the catalogue .*changed or truncated; delete it")
    assert published["source"].as_uri() in message
    cached.write_bytes(bytes(data[:100]))
    one_line_error("100 bytes, .*delete it and load lenet5.mnist again")
    cached.unlink()  # as the message says: the next load downloads it again
    zoo.load("lenet5", weights="mnist")
    assert cached.read_bytes() == published["source"].read_bytes()


def test_temporary_files_of_killed_downloads_are_removed(published):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    folder = cache_dir()
    folder.mkdir(parents=True)
    ours = folder / f".lenet5.mnist.safetensors.1.{dead.pid}.tmp"
    torchs = folder / f".lenet5.mnist.safetensors.1.{dead.pid}.tmp.0123abcd.partial"
    alive = folder / f".lenet5.mnist.safetensors.1.{os.getpid()}.tmp.0123abcd.partial"
    for path in (ours, torchs, alive):
        path.write_bytes(b"half")
    weights_download.remove_stale_downloads(folder)
    assert sorted(os.listdir(folder)) == [alive.name]


def test_offload_records_the_url_in_the_index(published, tmp_path):
    real = published["real"]
    other = {**real, "tag": "other", "file": "lenet5.other.safetensors"}
    entries = {NAME: real, "lenet5.other": other}  # published in the repository, no url yet
    catalogue.INDEX.write_text(json.dumps(entries, indent=2, sort_keys=True) + "\n")
    shutil.copyfile(published["source"], catalogue.WEIGHTS_DIR / real["file"])

    url = published["source"].as_uri()  # "uploaded" there
    entry = offload(NAME, url)
    assert entry == {**real, "url": url}
    expected = {NAME: {**real, "url": url}, "lenet5.other": other}
    assert catalogue.INDEX.read_text() == json.dumps(expected, indent=2, sort_keys=True) + "\n"
    assert sorted(p.name for p in catalogue.WEIGHTS_DIR.iterdir()) == ["index.json", real["file"]]  # no temp file

    (catalogue.WEIGHTS_DIR / real["file"]).unlink()  # the repository copy deleted: loads download it
    zoo.load("lenet5", weights="mnist")
    assert published["cached"].is_file()

    for name, bad_url, match in ((("lenet5.nope", url, "no published weights 'lenet5.nope' to offload")),
                                 (NAME, "http://example.org/x", "is not an https:// or absolute file:// URL"),
                                 (NAME, "weights.safetensors", "is not an https://")):  # fmt: skip
        with pytest.raises(CatalogueError, match=match) as caught:
            offload(name, bad_url)
        assert "\n" not in str(caught.value)
    assert json.loads(catalogue.INDEX.read_text()) == expected
