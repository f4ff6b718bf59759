"""Model configuration and the builder registry: one name per family member."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from torch import nn

from audiointerp.models.cnn import ARCHS, PannsCnn, TransferCnn14
from audiointerp.validation import check_choice

ModelName = Literal["cnn6", "cnn10", "cnn14", "transfer_cnn14"]
MODEL_NAMES: tuple[str, ...] = (*ARCHS, "transfer_cnn14")


@dataclass
class ModelConfig:
    """The ``model`` section of a training config.

    Attributes
    ----------
    arch : {"cnn6", "cnn10", "cnn14", "transfer_cnn14"}
        Family member; ``transfer_cnn14`` is the paper's PANNs Cnn14 with a new head.
    width : float
        Channel multiplier (1.0 = PANNs sizes).
    dropout : float
        Dropout after each conv block.
    fc_dropout : float
        Dropout around ``fc1``.
    input_pool : int
        Average pooling over frequency before the first block (1 = none).
    pretrained : str or None
        Path of a PANNs checkpoint (``pretrained/Cnn14_mAP=0.431.pth``) to initialise the
        backbone from; ``None`` trains from scratch. Never downloaded.
    """

    arch: ModelName = "cnn6"
    width: float = 1.0
    dropout: float = 0.2
    fc_dropout: float = 0.5
    input_pool: int = 1
    pretrained: str | None = None


def build_model(
    arch: str,
    *,
    num_classes: int,
    num_bins: int,
    width: float = 1.0,
    dropout: float = 0.2,
    fc_dropout: float = 0.5,
    input_pool: int = 1,
) -> nn.Module:
    """Build a classifier by name.

    Parameters
    ----------
    arch : {"cnn6", "cnn10", "cnn14", "transfer_cnn14"}
        Model name.
    num_classes : int
        Number of output logits.
    num_bins : int
        Number of input frequency bins ``F``.
    width, dropout, fc_dropout, input_pool
        See :class:`~audiointerp.models.cnn.PannsCnn` (``input_pool`` must be 1 for
        ``transfer_cnn14``).

    Returns
    -------
    torch.nn.Module
        ``forward((B, 1, F, T)) -> logits (B, num_classes)``, with ``gradcam_layer`` set.
    """
    check_choice("arch", arch, MODEL_NAMES)
    if arch == "transfer_cnn14":
        check_choice("input_pool (transfer_cnn14)", input_pool, (1,))
        return TransferCnn14(num_classes, num_bins, width=width, dropout=dropout)
    return PannsCnn(
        arch,  # type: ignore[arg-type]
        num_classes=num_classes,
        num_bins=num_bins,
        width=width,
        dropout=dropout,
        fc_dropout=fc_dropout,
        input_pool=input_pool,
    )


def model_from_config(cfg: ModelConfig, *, num_classes: int, num_bins: int) -> nn.Module:
    """Build the model a :class:`ModelConfig` describes (without loading ``pretrained``)."""
    return build_model(
        cfg.arch,
        num_classes=num_classes,
        num_bins=num_bins,
        width=cfg.width,
        dropout=cfg.dropout,
        fc_dropout=cfg.fc_dropout,
        input_pool=cfg.input_pool,
    )
