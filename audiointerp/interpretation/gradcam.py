"""Grad-CAM at a named layer, signed, upsampled bilinearly to the input's size.

On a CNN the layer's output is a ``(B, C, F', T')`` map (captum's ``LayerGradCam``). On a
transformer it is a token sequence ``(B, N, D)``: the patch tokens are reshaped to the token
grid through the model's :class:`~audiointerp.models.tokens.TokenLayout` and the width plays
the role of the channels (captum would average over the width instead, treating tokens as
channels, so that path is computed here).
"""

from __future__ import annotations

import torch
from captum.attr import LayerAttribution, LayerGradCam
from torch import nn

from audiointerp.errors import ParameterError
from audiointerp.interpretation.base import AttributionMethod, iter_chunks
from audiointerp.models.base import model_kind
from audiointerp.models.tokens import token_layout


def resolve_layer(model: nn.Module, layer: str | None) -> nn.Module:
    """Return the submodule named ``layer`` (default: ``model.gradcam_layer``)."""
    name = layer if layer is not None else getattr(model, "gradcam_layer", None)
    if name is None:
        raise ParameterError(
            "gradcam needs a layer: pass layer='dotted.module.name' or give the model a "
            "`gradcam_layer` attribute"
        )
    try:
        return model.get_submodule(name)
    except AttributeError as exc:
        raise ParameterError(
            f"layer={name!r} is not a submodule of {type(model).__name__}"
        ) from exc


@torch.no_grad()
def layer_grid(model: nn.Module, layer: nn.Module, n_bins: int, n_frames: int) -> tuple[int, int]:
    """The last two sizes of ``layer``'s output for one ``(1, 1, n_bins, n_frames)`` input
    (one forward pass at the silence floor, with a hook on the layer)."""
    shapes: list[tuple[int, ...]] = []
    device = next(model.parameters()).device
    was_training = model.training
    handle = layer.register_forward_hook(lambda _m, _i, out: shapes.append(tuple(out.shape)))
    try:
        model.eval()  # batch norm on one clip needs running statistics
        model(torch.full((1, 1, int(n_bins), int(n_frames)), -100.0, device=device))
    finally:
        handle.remove()
        model.train(was_training)
    if not shapes or len(shapes[0]) < 2:
        raise ParameterError(f"layer {type(layer).__name__} gave no 2-D output for its grid")
    return int(shapes[0][-2]), int(shapes[0][-1])


class GradCam(AttributionMethod):
    """Channel-weighted activation map of a conv layer, without the final ReLU.

    The map is ``sum_k mean_{f,t}(d logit_c / d A_k) * A_k`` at the layer's output, then
    interpolated bilinearly (``align_corners=False``) to ``(F, T)``.

    Parameters
    ----------
    layer : str, optional
        Dotted submodule name; default ``model.gradcam_layer`` (the last conv layer).
    batch_size : int
        Clips per backward pass.

    Notes
    -----
    Selvaraju et al., "Grad-CAM", ICCV 2017. On a transformer the default layer is the last
    block's ``norm1`` (the tokens its attention reads, as pytorch-grad-cam does for ViTs): the
    last block's own patch outputs never reach the pooled special tokens. The reproduced paper keeps negative values
    (captum's ``relu_attributions=False``) so that the map is signed like the others.
    """

    name = "gradcam"

    def __init__(self, *, layer: str | None = None, batch_size: int = 16) -> None:
        super().__init__(batch_size=batch_size)
        self.layer = layer

    def resolution(self, model: nn.Module, n_bins: int, n_frames: int) -> tuple[int, int]:
        """The layer's output grid ``(F', T')`` for an ``n_bins x n_frames`` input: the map is
        that grid upsampled, so it cannot resolve more than ``F' x T'`` cells."""
        return layer_grid(model, resolve_layer(model, self.layer), n_bins, n_frames)

    def _attribute(
        self, model: nn.Module, features: torch.Tensor, target: torch.Tensor
    ) -> torch.Tensor:
        if model_kind(model) == "transformer":
            return self._attribute_tokens(model, features, target)
        explainer = LayerGradCam(model, resolve_layer(model, self.layer))
        size = tuple(features.shape[-2:])
        maps = []
        for s in iter_chunks(features.shape[0], self.batch_size):
            cam = explainer.attribute(features[s], target=target[s], relu_attributions=False)
            maps.append(LayerAttribution.interpolate(cam, size, interpolate_mode="bilinear"))
        return torch.cat(maps)

    def _attribute_tokens(
        self, model: nn.Module, features: torch.Tensor, target: torch.Tensor
    ) -> torch.Tensor:
        """Grad-CAM on a token layer: patch tokens on the token grid, width as channels."""
        layer = resolve_layer(model, self.layer)
        layout = token_layout(model, features.shape[-2], features.shape[-1])
        seen: list[torch.Tensor] = []
        handle = layer.register_forward_hook(lambda _m, _i, out: seen.append(out))
        maps = []
        try:
            for s in iter_chunks(features.shape[0], self.batch_size):
                seen.clear()
                logits = model(features[s])
                tokens = seen[-1]  # (B, N, D)
                if tokens.ndim != 3:
                    raise ParameterError(
                        f"layer {self.layer or model.gradcam_layer!r} gives shape "
                        f"{tuple(tokens.shape)}, not tokens (B, N, D); pick a block's norm1"
                    )
                score = logits.gather(1, target[s][:, None]).sum()  # clips are independent
                (grad,) = torch.autograd.grad(score, tokens)
                acts = layout.patch_grid(tokens.transpose(1, 2))  # (B, D, n_freq, n_time)
                grads = layout.patch_grid(grad.transpose(1, 2))
                weights = grads.mean(dim=(2, 3), keepdim=True)  # (B, D, 1, 1)
                cam = (weights * acts).sum(dim=1, keepdim=True)  # (B, 1, n_freq, n_time)
                maps.append(layout.to_features(cam.detach(), mode="bilinear"))
        finally:
            handle.remove()
        return torch.cat(maps)
