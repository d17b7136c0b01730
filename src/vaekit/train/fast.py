"""Hand-derived gradients of the ELBO (and of the IWAE bound) for MLP VAEs and the two-layer hierarchy: one
training step without the autograd graph.

For the common model (MLP encoder and decoder with ReLU, diagonal-Gaussian q(z|x), one reparameterised sample,
analytic KL, a Bernoulli or Gaussian likelihood) the gradient of the loss -mean ELBO is a short chain of matrix
products. Computing it directly, with the parameters' gradient buffers reused from step to step, skips the
autograd graph and the distribution objects of the backward pass: training steps take 0.89-0.93 of autograd's
time on a 2-core CPU at batch 128 (BENCHMARKS.md), where `torch.compile` measured no gain. The ELBO terms
themselves are computed by the same `torch.distributions` calls as `vaekit.elbo`; only the derivatives are
written out here, and tests/test_gradients.py checks them against autograd in float64.

The same holds for Burda et al.'s two-layer hierarchy (`HVAE`: four MLPs, Gaussian conditionals, and a
Monte-Carlo KL from the one draw of z1 and z2), whose 35 small products per step left it to per-operator overhead
under autograd: its derived step makes 690 calls into torch's operators per step against autograd's 1,150
(torch.profiler, the optimiser's included). Its Gaussian log-densities at the draw are written from the noise,
log N(m + s e; m, s) = -e^2 / 2 - log s - log(2 pi) / 2 (the likelihood stays torch.distributions'); the same
float64 test checks them.

The IWAE bound (`IWAE`, K draws) of the one-layer VAE has its derived step too: its derivative in each log-weight
is the normalised weight, so the step is the ELBO's with the K draws through the decoder as one product, weighted,
and the Monte-Carlo log p(z) - log q(z|x) in place of the analytic KL.

`vaekit.fit` uses this path where `applies` says it can (`TrainConfig.gradients`), autograd otherwise. It applies
only to the exact configurations it was derived for: a `VAE` with the standard-normal prior (the plain ELBO or the
IWAE bound), or an `HVAE` (the plain ELBO), with MLP encoder and decoder, a likelihood in `LIKELIHOODS`, fp32 and
no frozen parameters; the plain ELBO is beta 1, no warm-up, no free bits, one draw, the analytic KL where one
exists. Every other prior, objective and model kind trains through autograd, so a new component can never be
silently trained with the wrong gradient.
"""

from __future__ import annotations

from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributions import Bernoulli, Distribution, Independent, Normal, kl_divergence

from vaekit.distributions.priors import StandardNormalPrior
from vaekit.estimate.logmeanexp import log_mean_exp
from vaekit.models.hierarchical import HVAE
from vaekit.models.vae import VAE
from vaekit.networks import MLPDecoder, MLPEncoder
from vaekit.objectives import ELBO, Objective
from vaekit.objectives.iwae import IWAE

#: Likelihoods whose log-density derivative is written out below.
LIKELIHOODS = ("bernoulli", "gaussian", "gaussian-fixed")


def applies(model: object, objective: Objective, precision: str) -> str | None:
    """None where `step_gradients` can train this model with this objective, else the reason it cannot."""
    if type(model) is VAE:
        if model.encoder is None:
            return "the model has no encoder network (--encoder none)"
        if type(model.prior_module) is not StandardNormalPrior:
            return f"the {model.config.prior} prior has no derived gradient"
    elif type(model) is not HVAE:
        return "the model is neither vaekit's one-layer VAE nor its two-layer hierarchy"
    if not (type(model.encoder) is MLPEncoder and type(model.decoder) is MLPDecoder):
        return "the network is not an MLP"
    if model.config.likelihood not in LIKELIHOODS:
        return f"the {model.config.likelihood} likelihood has no derived gradient"
    if type(objective) is IWAE:
        if type(model) is not VAE:
            return "the IWAE bound has derived gradients for the one-layer VAE only"
    elif type(objective) is not ELBO or not objective.is_plain_elbo():
        return ("it needs the plain ELBO (beta 1, no warm-up or free bits, one sample of z, the analytic KL) or the "
                "IWAE bound")
    if precision != "fp32":
        return "bf16 autocast needs autograd"
    if not all(p.requires_grad for p in model.parameters()):
        return "some parameters are frozen (requires_grad=False)"
    return None


def terms(objective: Objective) -> tuple[str, ...]:
    """The names of the terms `step_gradients` returns for `objective` (the objective's own, in its order)."""
    return ("iwae_bound", "mc_elbo", "reconstruction", "mc_kl") if type(objective) is IWAE else (
        "elbo", "reconstruction", "kl")


def step_gradients(model: VAE | HVAE, x: Tensor, objective: Objective | None = None) -> Tensor:
    """Set every parameter's `.grad` to the gradient of the objective's loss on the batch: -mean ELBO (z ~ q(z|x)
    drawn once; the default) or -mean IWAE bound (K draws).

    Equivalent to `objective(model, Batch(x), 0).loss.backward()` (the same draws of the global RNG, the same
    values) for a model and objective that `applies` accepts; the gradients are written into the existing `.grad`
    buffers.

    Args:
        model: an MLP VAE or HVAE with a likelihood in `LIKELIHOODS`.
        x: a batch [B, *data_shape], already checked against the likelihood's support.
        objective: the plain ELBO (None: the same) or, for a VAE, the IWAE bound.

    Returns:
        The batch's sums of the objective's terms (`terms(objective)`), shape [3] or [4], nats, detached.
    """
    if isinstance(model, HVAE):
        return _hierarchy_gradients(model, x)
    if isinstance(objective, IWAE):
        return _iwae_gradients(model, x, objective.config.iw_samples)
    with torch.no_grad():
        batch = x.shape[0]
        x_flat = x.reshape(batch, -1)
        mlp_encoder, mlp_decoder = cast(MLPEncoder, model.encoder), cast(MLPDecoder, model.decoder)  # `applies` checked
        encoder = _linears(mlp_encoder.net)
        decoder = _linears(mlp_decoder.net)
        _gradient_buffers(*encoder, *decoder)

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
        _gaussian_head_backward(encoder, enc_inputs, head[:, model.latent_dim:], d_loc, d_scale)
        return torch.stack([elbo.sum(), reconstruction.sum(), kl.sum()])


def _iwae_gradients(model: VAE, x: Tensor, samples: int) -> Tensor:
    """`step_gradients` for the IWAE bound of a one-layer VAE; the loss is -mean over the batch of

        log (1/K) sum_k w_k,   log w_k = log p(x|z_k) + log p(z_k) - log q(z_k|x),   z_k = m + s e_k,

    at K draws e_k ~ N(0, I) (those of `q.rsample((K,))`). Its derivative in log w_kb is -v_kb / B, with v the
    normalised weights softmax_k(log w); with the noise fixed, log q(z|x) = sum(-e^2 / 2 - log s) + const, so its
    whole derivative is -1/s through s, and sum_k v_kb = 1. The K*B draws go through the decoder as one product.
    """
    with torch.no_grad():
        batch = x.shape[0]
        x_flat = x.reshape(batch, -1)
        mlp_decoder = cast(MLPDecoder, model.decoder)
        encoder, decoder = _linears(cast(MLPEncoder, model.encoder).net), _linears(mlp_decoder.net)
        _gradient_buffers(*encoder, *decoder)

        enc_inputs, head = _forward(encoder, x_flat)
        qz_x = model.posterior(head.unflatten(-1, (2, model.latent_dim)))
        q_normal = _normal(qz_x)
        loc, scale = q_normal.loc, q_normal.scale  # each (B, d)
        eps = loc.new_empty((samples, *loc.shape)).normal_()  # the draw Normal.rsample((K,)) makes
        z = loc + eps * scale  # (K, B, d)
        dec_inputs, raw = _forward(decoder, z.flatten(0, 1))  # raw (K*B, P*D), draw-major
        px_z = model.observation(raw.unflatten(0, (samples, batch)).unflatten(-1, mlp_decoder.out_shape))
        prior = model.prior()
        log_px_z = px_z.log_prob(x)  # (K, B)
        log_w = log_px_z + prior.log_prob(z) - qz_x.log_prob(z)
        bound, mc_elbo, reconstruction = log_mean_exp(log_w), log_w.mean(0), log_px_z.mean(0)

        # Backward of loss = -mean_b bound_b; v = -d loss / d log w.
        v = torch.softmax(log_w, 0).div_(batch)  # (K, B)
        d_raw = _neg_log_prob_grad(px_z, raw, x_flat).mul_(v.reshape(-1, 1))
        d_z = _backward(decoder, dec_inputs, d_raw, input_grad=True)
        assert d_z is not None  # input_grad=True returns it
        prior_normal = _normal(prior)  # -log p(z): d/dz = (z - m0) / s0^2
        d_z = d_z.view_as(z).addcmul_((z - prior_normal.loc) / prior_normal.scale.square(), v.unsqueeze(-1))
        d_loc = d_z.sum(0)
        d_scale = (d_z * eps).sum(0).sub_(scale.reciprocal(), alpha=1 / batch)
        _gaussian_head_backward(encoder, enc_inputs, head[:, model.latent_dim:], d_loc, d_scale)
        return torch.stack([bound.sum(), mc_elbo.sum(), reconstruction.sum(), (reconstruction - mc_elbo).sum()])


def _hierarchy_gradients(model: HVAE, x: Tensor) -> Tensor:
    """`step_gradients` for the two-layer hierarchy; the loss is -mean over the batch of

        log p(x|z1) + log p(z1|z2) + log p(z2) - log q(z1|x) - log q(z2|z1),   z1 = m1 + s1 e1,  z2 = m2 + s2 e2,

    at one draw e1, e2 ~ N(0, I) (the draws `HVAE.encode(x).rsample_and_log_prob((1,))` makes). With the noise
    fixed, log q(z1|x) = sum(-e1^2 / 2 - log s1) + const, so its whole derivative is -1/s1 through s1 (and the same
    for z2); every scale is softplus(raw) + min_scale, so ds/draw = sigmoid(raw).
    """
    with torch.no_grad():
        batch, (d1, d2), floor = x.shape[0], (model.config.latent_dim, model.config.latent_dim2), model.config.min_scale
        x_flat = x.reshape(batch, -1)
        mlp_decoder = cast(MLPDecoder, model.decoder)
        encoder, decoder = _linears(cast(MLPEncoder, model.encoder).net), _linears(mlp_decoder.net)
        encoder2, decoder2 = _linears(model.encoder2.net), _linears(model.decoder2.net)
        _gradient_buffers(*encoder, *decoder, *encoder2, *decoder2)

        def gaussian(head: Tensor, d: int) -> tuple[Tensor, Tensor, Tensor]:
            """Location, scale and unconstrained scale of a head [B, 2d]."""
            raw = head[:, d:]
            return head[:, :d], F.softplus(raw).add_(floor), raw

        # Forward: q(z1|x), z1; q(z2|z1), z2; p(z1|z2); p(x|z1). Noise drawn in the order Chain draws it.
        enc_inputs, head1 = _forward(encoder, x_flat)
        loc1, scale1, raw1 = gaussian(head1, d1)
        e1 = torch.empty(1, batch, d1, dtype=x.dtype, device=x.device).normal_()[0]
        z1 = torch.addcmul(loc1, scale1, e1)
        enc2_inputs, head2 = _forward(encoder2, z1)
        loc2, scale2, raw2 = gaussian(head2, d2)
        e2 = torch.empty(1, batch, d2, dtype=x.dtype, device=x.device).normal_()[0]
        z2 = torch.addcmul(loc2, scale2, e2)
        dec2_inputs, head3 = _forward(decoder2, z2)
        loc3, scale3, raw3 = gaussian(head3, d1)
        dec_inputs, raw = _forward(decoder, z1)
        px_z = model.observation(raw.unflatten(-1, mlp_decoder.out_shape))
        reconstruction = px_z.log_prob(x)  # (B,)
        u = (z1 - loc3) / scale3  # z1 standardised under p(z1|z2)
        # log q(z1|x) + log q(z2|z1) - log p(z1|z2) - log p(z2) per datapoint (the log 2 pi terms cancel)
        kl = ((e2.square().sub_(z2.square())).sum(-1).mul_(-0.5) - e1.square().sum(-1).mul_(0.5)
              - scale1.log().sum(-1) - scale2.log().sum(-1) + u.square().sum(-1).mul_(0.5) + scale3.log().sum(-1))
        elbo = reconstruction - kl

        # Backward of loss = -mean_b ELBO_b, layer by layer from the top.
        d_z1 = _backward(decoder, dec_inputs, _neg_log_prob_grad(px_z, raw, x_flat).div_(batch), input_grad=True)
        assert d_z1 is not None  # input_grad=True returns it
        u_over_s = u / scale3
        d_z1.add_(u_over_s, alpha=1 / batch)  # -log p(z1|z2) through z1
        d_head3 = torch.cat([-u_over_s, (1 - u.square()).div_(scale3).mul_(torch.sigmoid(raw3))], dim=-1).div_(batch)
        d_z2 = _backward(decoder2, dec2_inputs, d_head3, input_grad=True)  # -log p(z1|z2) through z2
        assert d_z2 is not None
        d_z2.add_(z2, alpha=1 / batch)  # -log p(z2)
        d_scale2 = torch.addcmul(scale2.reciprocal().div_(-batch), d_z2, e2)  # log q(z2|z1), and z2 = m2 + s2 e2
        d_z1_above = _backward(encoder2, enc2_inputs, torch.cat([d_z2, d_scale2.mul_(torch.sigmoid(raw2))], -1), True)
        assert d_z1_above is not None
        d_z1.add_(d_z1_above)  # z1 through q(z2|z1)
        d_scale1 = torch.addcmul(scale1.reciprocal().div_(-batch), d_z1, e1)
        _gaussian_head_backward(encoder, enc_inputs, raw1, d_z1, d_scale1)
        return torch.stack([elbo.sum(), reconstruction.sum(), kl.sum()])


def _gradient_buffers(*layers: nn.Linear) -> None:
    """Give the layers' weights and biases a `.grad` buffer where they have none (a derived step writes every one
    of them; no other parameter gets a buffer, so none can be stepped with an unwritten gradient)."""
    for layer in layers:
        for p in (layer.weight, layer.bias):
            if p.grad is None:
                p.grad = torch.empty_like(p)


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
            grad = torch.mm(grad, layer.weight).masked_fill_(inputs[i] <= 0, 0)  # ReLU: inputs[i] = relu(...)
        elif input_grad:
            return torch.mm(grad, layer.weight)
    return None


def _gaussian_head_backward(layers: list[nn.Linear], inputs: list[Tensor], raw_scale: Tensor, d_loc: Tensor,
                            d_scale: Tensor) -> None:
    """Back-propagate d loss / d location and d loss / d scale [B, d] of a Gaussian head [B, 2d] through the MLP
    that made it (the network's input needs no gradient); scale = softplus(raw_scale) + floor, so ds/draw =
    sigmoid(raw_scale). `d_scale` is overwritten."""
    _backward(layers, inputs, torch.cat([d_loc, d_scale.mul_(torch.sigmoid(raw_scale))], -1), input_grad=False)


def _neg_log_prob_grad(px_z: Distribution, raw: Tensor, x: Tensor) -> Tensor:
    """-d log p(x|z) / d raw for p(x|z) built from the decoder output raw [K*B, P*D] (K draws per datapoint,
    draw-major; K = 1 for the ELBO), data x [B, D]; a new [K*B, P*D]."""
    base = cast("Bernoulli | Normal", cast(Independent, px_z).base_dist)  # the likelihoods in LIKELIHOODS
    batch, dims = x.shape
    rows = (-1, batch, dims)  # (K, B, D): x broadcasts over the draws
    if isinstance(base, Bernoulli):  # log p = x l - softplus(l)
        return (base.probs.reshape(rows) - x).view(-1, dims)
    # Normal: log p = -(x - m)^2 / (2 s^2) - log s + const, with m = raw[:, :D]
    scale = base.scale.reshape(rows)
    residual = (x - base.loc.reshape(rows)) / scale
    d_loc = -residual / scale
    if raw.shape[-1] == dims:  # gaussian-fixed: the scale is not a decoder output
        return d_loc.view(-1, dims)
    # gaussian: s = softplus(raw[:, D:]) + floor
    d_scale = (1 - residual.square()) / scale
    return torch.cat([d_loc, d_scale.mul_(torch.sigmoid(raw[:, dims:]).view(rows))], dim=-1).view(-1, 2 * dims)
