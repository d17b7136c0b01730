"""Which data a run trains on, split how: enough to load the same splits again (saved under "data")."""

from __future__ import annotations

from dataclasses import dataclass

from vaekit.config import check, option


@dataclass
class DataConfig:
    """Which data, split how; enough to load the same splits again."""

    data: str = option("digits", "dataset name (see `vaekit datasets`) or a file/folder path", group="data")
    # Fixed apart from the training seed, so that runs with different seeds see the same splits.
    split_seed: int = option(0, "seed of the train/validation/test split", minimum=0, group="data")
    image_size: tuple[int, ...] | None = option(None, "resize images in a folder to H W", minimum=1, group="data")

    def __post_init__(self) -> None:
        check(self)
        if self.image_size is not None and len(self.image_size) != 2:
            raise ValueError(f"image_size takes two sizes, H W; got {len(self.image_size)}")
