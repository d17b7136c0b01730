"""A classifier p(y|x) = Categorical(y; softmax(NN(x))): a fully observed conditional model, trained by maximum
likelihood (`--objective likelihood`: minibatch SGD on -log p(y|x)).

The network is the body of a registered encoder (`vaekit.networks`: mlp or conv) with one output per class.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn
from torch.distributions import Categorical

from vaekit.config import check, option
from vaekit.models.registry import MODELS
from vaekit.networks import NETWORKS, build


@dataclass
class ClassifierConfig:
    """A classifier's architecture; saved in a run's config.json under "model"."""

    data_shape: tuple[int, ...] = option((1, 8, 8), cli=False)
    num_classes: int = option(10, cli=False, minimum=2)  # K, from the data's labels
    network: str = option("mlp", "encoder/decoder body next to x", choices=NETWORKS.names)
    hidden: tuple[int, ...] = option((512,), "hidden layer widths (encoder order)", minimum=1)

    def __post_init__(self) -> None:
        check(self)

    def describe(self) -> str:
        """One sentence, plain text: what this model is."""
        return (f"A classifier p(y|x) over {self.num_classes} classes, an {self.network} network (hidden "
                f"{' x '.join(map(str, self.hidden)) or 'none'}) computing the logits")


@MODELS.register("classifier")
class CategoricalClassifier(nn.Module):
    """p(y|x) = Categorical(logits = NN(x)) (the `Classifier` protocol).

    Example:
        >>> model = CategoricalClassifier(ClassifierConfig(data_shape=(1, 28, 28), num_classes=10))
        >>> model.classify(x).log_prob(y)     # [B], nats
    """

    Config = ClassifierConfig
    default_objective = "likelihood"

    def __init__(self, config: ClassifierConfig) -> None:
        super().__init__()
        self.config = config
        self.body, _ = build(config.network, config.data_shape, config.hidden, config.num_classes, 0, heads=1)

    @property
    def num_classes(self) -> int:
        return self.config.num_classes

    @property
    def data_shape(self) -> tuple[int, ...]:
        return self.config.data_shape

    def classify(self, x: Tensor) -> Categorical:
        """p(y|x) for x [B, *data_shape]: a Categorical with batch [B] over `num_classes` classes."""
        return Categorical(logits=self.body(x)[:, 0])
