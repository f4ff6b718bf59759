"""Grad-CAM at a named layer, signed, upsampled bilinearly to the input's size."""

from __future__ import annotations

import torch
from captum.attr import LayerAttribution, LayerGradCam
from torch import nn

from audiointerp.errors import ParameterError
from audiointerp.interpretation.base import AttributionMethod, iter_chunks


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
    Selvaraju et al., "Grad-CAM", ICCV 2017. The reproduced paper keeps negative values
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
        explainer = LayerGradCam(model, resolve_layer(model, self.layer))
        size = tuple(features.shape[-2:])
        maps = []
        for s in iter_chunks(features.shape[0], self.batch_size):
            cam = explainer.attribute(features[s], target=target[s], relu_attributions=False)
            maps.append(LayerAttribution.interpolate(cam, size, interpolate_mode="bilinear"))
        return torch.cat(maps)
