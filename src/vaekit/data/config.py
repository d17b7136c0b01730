"""Which data a run trains on, split how, with which labels: enough to load the same splits again (saved under
"data")."""

from __future__ import annotations

from dataclasses import dataclass

from vaekit.config import check, option


@dataclass
class DataConfig:
    """Which data, split how, with which labels; enough to load the same splits again (`vaekit.data.load_data`)."""

    data: str = option("digits", "dataset name (see `vaekit datasets`) or a file/folder path", group="data")
    # Fixed apart from the training seed, so that runs with different seeds see the same splits.
    split_seed: int = option(0, "seed of the train/validation/test split", minimum=0, group="data")
    image_size: tuple[int, ...] | None = option(None, "resize images in a folder to H W", minimum=1, group="data")
    label_column: str | None = option(None, "CSV data: the column (by its header name) holding each row's class "
                                      "label, 0..K-1", group="data")
    # Semi-supervised runs: the other training rows keep their x but lose their label (validation and test keep all).
    labelled: int | None = option(None, "keep N training labels, balanced across classes; the other training rows "
                                  "become unlabelled (default: keep every label)", minimum=1, group="data")
    label_seed: int = option(0, "seed of the choice of the --labelled rows", minimum=0, group="data")

    def __post_init__(self) -> None:
        check(self)
        if self.image_size is not None and len(self.image_size) != 2:
            raise ValueError(f"image_size takes two sizes, H W; got {len(self.image_size)}")
