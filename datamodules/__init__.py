"""Data modules: each knows one data set's files and splits, and nothing about models."""

# name -> the module that defines it: imported on first use (PEP 562), so that `import datamodules.info`
# (what zoo.load reads) does not import Lightning, torchvision and every data set
_WHERE = {
    "AudioInfo": "datamodules.info",
    "CIFAR100DataModule": "datamodules.cifar",
    "CIFAR10DataModule": "datamodules.cifar",
    "DataInfo": "datamodules.info",
    "DigitsDataModule": "datamodules.digits",
    "FashionMNISTDataModule": "datamodules.mnist",
    "FSDDDataModule": "datamodules.fsdd",
    "ImageArrays": "datamodules.in_memory",
    "ImageFolderDataModule": "datamodules.image_folder",
    "ImageInfo": "datamodules.info",
    "ImageNetDataModule": "datamodules.image_folder",
    "info_from_dict": "datamodules.info",
    "InMemoryImageDataModule": "datamodules.in_memory",
    "MNISTDataModule": "datamodules.mnist",
    "TextDataModule": "datamodules.text",
    "TextInfo": "datamodules.info",
    "Vocabulary": "datamodules.vocabulary",
    "WordCorpusDataModule": "datamodules.word_corpus",
    "WordCorpusInfo": "datamodules.info",
}

__all__ = [
    "AudioInfo",
    "CIFAR10DataModule",
    "CIFAR100DataModule",
    "DataInfo",
    "DigitsDataModule",
    "FashionMNISTDataModule",
    "FSDDDataModule",
    "ImageFolderDataModule",
    "ImageInfo",
    "ImageNetDataModule",
    "ImageArrays",
    "InMemoryImageDataModule",
    "MNISTDataModule",
    "TextDataModule",
    "TextInfo",
    "Vocabulary",
    "WordCorpusDataModule",
    "WordCorpusInfo",
    "info_from_dict",
]


def __getattr__(name: str) -> object:
    if name not in _WHERE:
        raise AttributeError(f"module 'datamodules' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
