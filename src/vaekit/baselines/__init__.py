"""Classic density estimators as reference points for a VAE's test log-likelihood.

Each estimator is fitted on the train split, its hyperparameter is chosen by mean log-likelihood on the
validation split, and it is scored on the test split, in nats per datapoint, the units of
`vaekit.runs.evaluate`:

- binary data, values in {0, 1}: factorised Bernoulli, mixture of Bernoullis (EM), binary kernel density
  (Aitchison-Aitken kernel);
- real data: factorised Gaussian, full-covariance Gaussian (ridge chosen on validation), Gaussian mixture
  (scikit-learn), Gaussian kernel density;
- discrete data with L levels (8-bit: L = 256) under the continuous estimators: every split is dequantised,
  y = (x + u) / L with u ~ U[0, 1)^D, and the figure is log p(y) - D log L. Its expectation over u is a lower
  bound on the discrete log-probability log P(x) (Theis et al. 2016), so it is comparable with the binary
  and discrete models.

`fit_binary_baselines` / `fit_continuous_baselines` return the selected models with a per-point `log_prob`;
`binary_baselines` / `continuous_baselines` / `baselines` fit, select and score in one call.

Modules: `common` (result types, input checks, selection and scoring shared by both families), `binary`
(the binary estimators), `continuous` (the continuous estimators and `dequantise`); this package re-exports
their public names and holds `baselines`, which picks the family that suits the data.

References:
    [1] J. Aitchison, C. G. G. Aitken, "Multivariate binary discrimination by the kernel method",
        Biometrika 1976.
    [2] L. Theis, A. van den Oord, M. Bethge, "A note on the evaluation of generative models", ICLR 2016.
    [3] H. Larochelle, I. Murray, "The Neural Autoregressive Distribution Estimator", AISTATS 2011
        (mixture-of-Bernoullis baseline on binarised MNIST).
"""

from __future__ import annotations

from vaekit.baselines.binary import (
    BERNOULLI_PSEUDOCOUNTS as BERNOULLI_PSEUDOCOUNTS,
)
from vaekit.baselines.binary import (
    KDE_LAMBDAS as KDE_LAMBDAS,
)
from vaekit.baselines.binary import (
    MIXTURE_COMPONENTS as MIXTURE_COMPONENTS,
)
from vaekit.baselines.binary import (
    bernoulli_mixture_log_prob,
    binary_baselines,
    binary_kde_log_prob,
    fit_bernoulli_mixture,
    fit_binary_baselines,
)
from vaekit.baselines.common import ArrayLike, BaselineResult, FittedBaseline
from vaekit.baselines.continuous import (
    GMM_COMPONENTS as GMM_COMPONENTS,
)
from vaekit.baselines.continuous import (
    KDE_RELATIVE_BANDWIDTHS as KDE_RELATIVE_BANDWIDTHS,
)
from vaekit.baselines.continuous import (
    RIDGES as RIDGES,
)
from vaekit.baselines.continuous import (
    continuous_baselines,
    dequantise,
    fit_continuous_baselines,
    gaussian_kde_log_prob,
)

__all__ = [
    "BaselineResult",
    "FittedBaseline",
    "baselines",
    "bernoulli_mixture_log_prob",
    "binary_baselines",
    "binary_kde_log_prob",
    "continuous_baselines",
    "dequantise",
    "fit_bernoulli_mixture",
    "fit_binary_baselines",
    "fit_continuous_baselines",
    "gaussian_kde_log_prob",
]


def baselines(
    x_train: ArrayLike,
    x_valid: ArrayLike,
    x_test: ArrayLike,
    *,
    levels: int | None,
    seed: int = 0,
    max_kde_test: int | None = None,
    **options,
) -> list[BaselineResult]:
    """Test log-likelihoods of the baselines that suit the data: binary if levels == 2, else continuous.

    Args:
        x_train, x_valid, x_test: splits [N, D].
        levels: 2 for binary data, L for integer data with L levels (dequantised), None for real data.
        seed: seeds every random choice.
        max_kde_test: score kernel densities on at most this many test points.
        **options: passed to `binary_baselines` or `continuous_baselines`.

    Returns:
        One `BaselineResult` per estimator, nats per datapoint.
    """
    if levels == 2:
        return binary_baselines(x_train, x_valid, x_test, seed=seed, max_kde_test=max_kde_test, **options)
    return continuous_baselines(
        x_train, x_valid, x_test, levels=levels, seed=seed, max_kde_test=max_kde_test, **options
    )
