"""What every data module here shares: a train, a val and a test split, each served by ``_loader``."""

from __future__ import annotations

import lightning as L
from torch.utils.data import DataLoader


class SplitDataModule(L.LightningDataModule):
    """Subclasses set ``batch_size`` and ``eval_batch_size`` and implement ``_loader``."""

    batch_size: int
    eval_batch_size: int

    def _loader(self, split: str, batch_size: int, shuffle: bool) -> DataLoader:
        raise NotImplementedError

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", self.eval_batch_size, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", self.eval_batch_size, shuffle=False)
