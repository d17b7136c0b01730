"""Hand-derived ELBO gradients for MLP VAEs: one training step without the autograd graph.

For the common model (MLP encoder and decoder with ReLU, diagonal-Gaussian q(z|x), one reparameterised sample,
analytic KL, a Bernoulli or Gaussian likelihood) the gradient of the loss -mean ELBO is a short chain of matrix
products. Computing it directly, with the parameters' gradient buffers reused from step to step, skips the
autograd graph and the distribution objects of the backward pass: training steps take 0.89-0.93 of autograd's
time on a 2-core CPU at batch 128 (BENCHMARKS.md), where `torch.compile` measured no gain. The ELBO terms
themselves are computed by the same `torch.distributions` calls as `vaekit.elbo`; only the derivatives are
written out here, and tests/test_gradients.py checks them against autograd in float64.

`vaekit.fit` uses this path where `applies` says it can (`TrainConfig.gradients`), autograd otherwise. It applies
only to the exact configuration it was derived for: a `VAE` with the standard-normal prior, MLP encoder and
decoder, a likelihood in `LIKELIHOODS`, the plain ELBO (beta 1, no warm-up, no free bits, one draw, analytic KL),
fp32 and no frozen parameters. Every other prior, objective and model kind trains through autograd, so a new
component can never be silently trained with the wrong gradient.
"""

from __future__ import annotations

from typing import cast

import torch
from torch import Tensor, nn
from torch.distributions import Bernoulli, Distribution, Independent, Normal, kl_divergence

from vaekit.distributions.priors import StandardNormalPrior
from vaekit.models.vae import VAE
from vaekit.networks import MLPDecoder, MLPEncoder
from vaekit.objectives import ELBO, Objective

#: Likelihoods whose log-density derivative is written out below.
LIKELIHOODS = ("bernoulli", "gaussian", "gaussian-fixed")


def applies(model: object, objective: Objective, precision: str) -> str | None:
    """None where `step_gradients` can train this model with this objective, else the reason it cannot."""
    if type(model) is not VAE:
        return "the model is not vaekit's one-layer VAE"
    if model.encoder is None:
        return "the model has no encoder network (--encoder none)"
    if type(model.prior_module) is not StandardNormalPrior:
        return f"the {model.config.prior} prior has no derived gradient"
    if not (type(model.encoder) is MLPEncoder and type(model.decoder) is MLPDecoder):
        return "the network is not an MLP"
    if model.config.likelihood not in LIKELIHOODS:
        return f"the {model.config.likelihood} likelihood has no derived gradient"
    if type(objective) is not ELBO or not objective.is_plain_elbo():
        return "it needs the plain ELBO (beta 1, no warm-up or free bits, one sample of z, the analytic KL)"
    if precision != "fp32":
        return "bf16 autocast needs autograd"
    if not all(p.requires_grad for p in model.parameters()):
        return "some parameters are frozen (requires_grad=False)"
    return None


def step_gradients(model: VAE, x: Tensor) -> Tensor:
    """Set every parameter's `.grad` to the gradient of -mean ELBO over the batch, drawing z ~ q(z|x) once.

    Equivalent to `ELBO(ELBOConfig())(model, Batch(x), 0).loss.backward()` (the same draw of the global RNG, the
    same values) for a model that `applies` accepts; the gradients are written into the existing `.grad` buffers.

    Args:
        model: an MLP VAE with a likelihood in `LIKELIHOODS`.
        x: a batch [B, *data_shape], already checked against the likelihood's support.

    Returns:
        The batch's sums of (ELBO, reconstruction, KL), shape [3], nats, detached.
    """
    with torch.no_grad():
        batch = x.shape[0]
        x_flat = x.reshape(batch, -1)
        mlp_encoder, mlp_decoder = cast(MLPEncoder, model.encoder), cast(MLPDecoder, model.decoder)  # `applies` checked
        encoder = _linears(mlp_encoder.net)
        decoder = _linears(mlp_decoder.net)
        for layer in (*encoder, *decoder):
            for p in (layer.weight, layer.bias):
                if p.grad is None:
                    p.grad = torch.empty_like(p)

        # Forward, keeping each layer's input; the distributions are the model's own.
        enc_inputs, head = _forward(encoder, x_flat)
        qz_x = model.posterior(head.unflatten(-1, (2, model.latent_dim)))
        q_normal = _normal(qz_x)
        loc, scale = q_normal.loc, q_normal.scale  # each (B, d)
        eps = torch.empty_like(loc).normal_()  # the draw Normal.rsample makes
        z = loc + eps * scale
        dec_inputs, raw = _forward(decoder, z)
        px_z = model.observation(raw.unflatten(-1, mlp_decoder.out_shape))
        prior = model.prior()
        reconstruction = px_z.log_prob(x)  # (B,)
        kl = kl_divergence(qz_x, prior)  # (B,)
        elbo = reconstruction - kl

        # Backward of loss = -mean_b ELBO_b.
        d_raw = _neg_log_prob_grad(px_z, raw, x_flat).div_(batch)
        d_z = _backward(decoder, dec_inputs, d_raw, input_grad=True)
        assert d_z is not None  # input_grad=True returns it
        # KL(N(m, s) || N(m0, s0)) per dimension: d/dm = (m - m0) / s0^2, d/ds = s / s0^2 - 1 / s;
        # s = softplus(raw) + floor, so ds/draw = sigmoid(raw).
        prior_normal = _normal(prior)
        prior_loc, prior_var = prior_normal.loc, prior_normal.scale.square()
        d_loc = d_z + (loc - prior_loc) / prior_var / batch
        d_scale = d_z * eps + (scale / prior_var - scale.reciprocal()) / batch
        raw_scale = head[:, model.latent_dim:]
        d_head = torch.cat([d_loc, d_scale * torch.sigmoid(raw_scale)], dim=-1)
        _backward(encoder, enc_inputs, d_head, input_grad=False)
        return torch.stack([elbo.sum(), reconstruction.sum(), kl.sum()])


def _normal(d: Distribution) -> Normal:
    """The Normal inside a diagonal Gaussian, Independent(Normal(loc, scale), 1): q(z|x) and the prior here."""
    return cast(Normal, cast(Independent, d).base_dist)


def _linears(net: nn.Sequential) -> list[nn.Linear]:
    """The Linear layers of `vaekit.networks.mlp` (ReLU between consecutive ones)."""
    return [m for m in net if isinstance(m, nn.Linear)]


def _forward(layers: list[nn.Linear], h: Tensor) -> tuple[list[Tensor], Tensor]:
    """Run the MLP; return the input of every layer and the output [B, out]."""
    inputs = []
    for i, layer in enumerate(layers):
        inputs.append(h)
        h = torch.addmm(layer.bias, h, layer.weight.t())
        if i < len(layers) - 1:
            h = h.relu_()
    return inputs, h


def _backward(layers: list[nn.Linear], inputs: list[Tensor], grad: Tensor, input_grad: bool) -> Tensor | None:
    """Back-propagate d loss / d output [B, out] through the MLP into the layers' `.grad`; return d loss / d input."""
    for i in reversed(range(len(layers))):
        layer = layers[i]
        torch.mm(grad.t(), inputs[i], out=layer.weight.grad)
        torch.sum(grad, 0, out=layer.bias.grad)
        if i > 0:
            grad = torch.mm(grad, layer.weight).mul_(inputs[i] > 0)  # ReLU: inputs[i] = relu(...)
        elif input_grad:
            return torch.mm(grad, layer.weight)
    return None


def _neg_log_prob_grad(px_z: Distribution, raw: Tensor, x: Tensor) -> Tensor:
    """-d log p(x|z) / d raw for p(x|z) built from the decoder output raw [B, P*D], data x [B, D]; a new [B, P*D]."""
    base = cast("Bernoulli | Normal", cast(Independent, px_z).base_dist)  # the likelihoods in LIKELIHOODS
    batch, dims = x.shape
    if isinstance(base, Bernoulli):  # log p = x l - softplus(l)
        return base.probs.reshape(batch, dims) - x
    # Normal: log p = -(x - m)^2 / (2 s^2) - log s + const, with m = raw[:, :D]
    scale = base.scale.reshape(batch, dims)
    residual = (x - base.loc.reshape(batch, dims)) / scale
    d_loc = -residual / scale
    if raw.shape[-1] == dims:  # gaussian-fixed: the scale is not a decoder output
        return d_loc
    # gaussian: s = softplus(raw[:, D:]) + floor
    d_scale = (1 - residual.square()) / scale
    return torch.cat([d_loc, d_scale.mul_(torch.sigmoid(raw[:, dims:]))], dim=-1)
