"""The training progress bar: rich, on stderr, only when asked for (a terminal)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager


class ProgressBar:
    """Epochs, and steps of the current epoch with the running training figures (nats) and speed."""

    def __init__(self, epochs: int, steps: int) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
            TextColumn("{task.fields[info]}"), console=Console(file=sys.stderr), transient=False,
        )
        self.epochs = self.progress.add_task("epochs", total=epochs, info="")
        self.steps = self.progress.add_task("steps ", total=steps, info="")
        self.progress.start()

    def step(self, epoch: int, done: int, means: dict[str, float], images_per_second: float) -> None:
        shown = "  ".join(f"{name.replace('_', ' ')} {value:.2f} nats" for name, value in list(means.items())[:1])
        if "kl" in means:
            shown += f"  KL {means['kl']:.2f} nats"
        self.progress.update(self.steps, completed=done, description=f"epoch {epoch}",
                             info=f"{shown}  {images_per_second:,.0f} images/s")

    def epoch_done(self, epoch: int, best_by: str, row: dict) -> None:
        name = best_by.removeprefix("valid_").removesuffix("_nats").replace("_", " ")
        self.progress.update(self.epochs, completed=epoch, info=(
            f"valid {name} {row[best_by]:.2f} nats  {row['images_per_second']:,.0f} images/s"
        ))

    def close(self) -> None:
        self.progress.stop()


@contextmanager
def progress_bar(wanted: bool, epochs: int, steps: int) -> Iterator[ProgressBar | None]:
    """A `ProgressBar` for the block, or None when not `wanted`."""
    bar = ProgressBar(epochs, steps) if wanted else None
    try:
        yield bar
    finally:
        if bar is not None:
            bar.close()
