"""The PANNs CNN family (Cnn6, Cnn10, Cnn14) as one parametrised model, and the transfer model.

Submodule names follow Kong et al.'s PANNs (``bn0``, ``conv_block1.conv1``, ``fc1``), so at
``width=1.0`` the backbone's parameter names and shapes are those of the released checkpoints
(see :mod:`audiointerp.models.checkpoints`). Unlike PANNs, the frontend lives outside the model
(attributions are taken on the spectrogram), the input is ``(B, 1, F, T)`` with frequency first,
``forward`` returns logits, and every ReLU is an ``nn.ReLU`` module so hook-based methods and
SHAP see it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from audiointerp.models.base import AudioClassifier, ModelConfig
from audiointerp.validation import check_choice, check_positive, check_tensor

Arch = Literal["cnn6", "cnn10", "cnn14"]
BlockType = Literal["conv3x3", "conv5x5"]


@dataclass(frozen=True)
class ArchSpec:
    """Layout of one member of the family at width 1.0.

    Attributes
    ----------
    block : {"conv3x3", "conv5x5"}
        ``"conv3x3"``: PANNs ``ConvBlock`` (two 3x3 convs); ``"conv5x5"``: ``ConvBlock5x5`` (one).
    channels : tuple of int
        Output channels of each conv block.
    pools : tuple of int
        Average-pooling size (square) after each block; 1 = no pooling.
    embedding : int
        Width of ``fc1``.
    """

    block: BlockType
    channels: tuple[int, ...]
    pools: tuple[int, ...]
    embedding: int


ARCHS: dict[str, ArchSpec] = {
    "cnn6": ArchSpec("conv5x5", (64, 128, 256, 512), (2, 2, 2, 2), 512),
    "cnn10": ArchSpec("conv3x3", (64, 128, 256, 512), (2, 2, 2, 2), 512),
    "cnn14": ArchSpec("conv3x3", (64, 128, 256, 512, 1024, 2048), (2, 2, 2, 2, 2, 1), 2048),
}


def _scaled(n: int, width: float) -> int:
    return max(1, round(n * width))


class ConvBlock(nn.Module):
    """Conv -> BN -> ReLU (twice for 3x3 blocks, once for 5x5), then average pooling.

    Parameters
    ----------
    in_channels, out_channels : int
        Channel counts.
    block : {"conv3x3", "conv5x5"}
        Block type (PANNs ``ConvBlock`` or ``ConvBlock5x5``).
    pool : int
        Square average-pooling size; 1 disables pooling.
    """

    def __init__(self, in_channels: int, out_channels: int, *, block: BlockType, pool: int):
        super().__init__()
        check_choice("block", block, ("conv3x3", "conv5x5"))
        k = 3 if block == "conv3x3" else 5
        # Conv bias is redundant before batch norm (and absent from the PANNs checkpoints).
        self.conv1 = nn.Conv2d(in_channels, out_channels, k, padding=k // 2, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu1 = nn.ReLU()
        self.double = block == "conv3x3"
        if self.double:
            self.conv2 = nn.Conv2d(out_channels, out_channels, k, padding=k // 2, bias=False)
            self.bn2 = nn.BatchNorm2d(out_channels)
            self.relu2 = nn.ReLU()
        self.pool = nn.AvgPool2d(pool) if pool > 1 else nn.Identity()
        self.last_conv = "conv2" if self.double else "conv1"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu1(self.bn1(self.conv1(x)))
        if self.double:
            x = self.relu2(self.bn2(self.conv2(x)))
        return self.pool(x)


@dataclass
class CnnConfig(ModelConfig):
    """The ``model`` section for the PANNs CNN family (``cnn6``, ``cnn10``, ``cnn14``,
    ``transfer_cnn14``).

    Attributes
    ----------
    width : float
        Channel multiplier (1.0 = PANNs sizes).
    dropout : float
        Dropout after each conv block.
    fc_dropout : float
        Dropout around ``fc1`` (unused by ``transfer_cnn14``).
    input_pool : int
        Average pooling over frequency before the first block (1 = none; ``transfer_cnn14``
        needs 1). Each step of pooling coarsens gradient maps over frequency by that factor.
    pretrained : str or None
        A PANNs checkpoint (``pretrained/Cnn14_mAP=0.431.pth``) to initialise the backbone from;
        ``None`` trains from scratch. Never downloaded.
    """

    width: float = 1.0
    dropout: float = 0.2
    fc_dropout: float = 0.5
    input_pool: int = 1

    def __post_init__(self) -> None:
        check_positive("model.width", self.width)
        check_positive("model.input_pool", self.input_pool)


class PannsCnn(AudioClassifier):
    """A PANNs-style CNN classifier on dB spectrogram features.

    Parameters
    ----------
    arch : {"cnn6", "cnn10", "cnn14"}
        Family member (block type and depth).
    num_classes : int
        Number of output logits.
    num_bins : int
        Number of frequency bins ``F`` of the input (64 for the PANNs log-mel frontend).
    width : float
        Channel multiplier; 1.0 reproduces PANNs (and its checkpoint shapes), 0.25 gives a
        CPU-sized model with 16/32/64/128 channels for ``cnn6``.
    dropout : float
        Dropout after each conv block (PANNs: 0.2).
    fc_dropout : float
        Dropout before and after ``fc1`` (PANNs: 0.5).
    input_pool : int
        Average pooling over frequency of the normalised input before the first block; 1 = none.
        Lets the 257-bin STFT model cost about what the 64-bin mel model costs.

    Notes
    -----
    Kong et al., "PANNs: Large-Scale Pretrained Audio Neural Networks for Audio Pattern
    Recognition", IEEE/ACM TASLP 28, 2020. Pipeline: batch norm over frequency bins (``bn0``),
    conv blocks with 2x2 average pooling, mean over frequency, max + mean over time, ``fc1`` +
    ReLU, linear head ``fc_out``.
    """

    def __init__(
        self,
        arch: Arch,
        *,
        num_classes: int,
        num_bins: int,
        width: float = 1.0,
        dropout: float = 0.2,
        fc_dropout: float = 0.5,
        input_pool: int = 1,
    ):
        super().__init__()
        check_choice("arch", arch, ARCHS)
        check_positive("num_classes", num_classes)
        check_positive("num_bins", num_bins)
        check_positive("width", width)
        check_positive("input_pool", input_pool)
        spec = ARCHS[arch]
        self.arch, self.num_classes, self.num_bins, self.width = arch, num_classes, num_bins, width
        self.bn0 = nn.BatchNorm2d(num_bins)
        self.input_pool = nn.AvgPool2d((input_pool, 1)) if input_pool > 1 else nn.Identity()
        in_ch = 1
        for i, (ch, pool) in enumerate(zip(spec.channels, spec.pools, strict=True), start=1):
            out_ch = _scaled(ch, width)
            self.add_module(f"conv_block{i}", ConvBlock(in_ch, out_ch, block=spec.block, pool=pool))
            in_ch = out_ch
        self.n_blocks = len(spec.channels)
        self.block_dropout = nn.Dropout(dropout)
        self.fc_dropout = nn.Dropout(fc_dropout)
        self.embedding_dim = _scaled(spec.embedding, width)
        self.fc1 = nn.Linear(in_ch, self.embedding_dim)
        self.fc1_relu = nn.ReLU()
        self.fc_out = nn.Linear(self.embedding_dim, num_classes)
        last = getattr(self, f"conv_block{self.n_blocks}")
        self.gradcam_layer = f"conv_block{self.n_blocks}.{last.last_conv}"
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PANNs initialisation: Xavier-uniform weights, zero biases, unit batch norms."""
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def input_grid(self, n_bins: int, n_frames: int) -> tuple[int, int]:
        """``(n_bins // input_pool, n_frames)``: the input pooling averages ``input_pool`` bins
        before any convolution, so input gradients are constant over each group."""
        pool = self.input_pool.kernel_size[0] if isinstance(self.input_pool, nn.AvgPool2d) else 1
        return int(n_bins) // int(pool), int(n_frames)

    def _blocks(self, features: torch.Tensor) -> list[torch.Tensor]:
        """Outputs of every conv block, shallow to deep, ``(B, C_i, F_i, T_i)``."""
        check_tensor("features", features, shape=(None, 1, self.num_bins, None), finite=False)
        x = features.transpose(1, 2)  # (B, F, 1, T): bins as channels, as PANNs normalises
        x = self.bn0(x).transpose(1, 2)  # (B, 1, F, T)
        x = self.input_pool(x)  # (B, 1, F / input_pool, T)
        outs = []
        for i in range(1, self.n_blocks + 1):
            x = self.block_dropout(getattr(self, f"conv_block{i}")(x))  # (B, C_i, F_i, T_i)
            outs.append(x)
        return outs

    def hidden(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each conv block's output ``{"conv_block1": (B, C_1, F_1, T_1), ...}``, shallow to deep."""
        return {f"conv_block{i}": x for i, x in enumerate(self._blocks(features), start=1)}

    def embed(self, features: torch.Tensor) -> torch.Tensor:
        """Return the ``fc1`` embedding.

        Parameters
        ----------
        features : torch.Tensor (B, 1, F, T)
            dB spectrogram features with ``F == num_bins``.

        Returns
        -------
        torch.Tensor (B, embedding_dim)
        """
        x = self._blocks(features)[-1]
        x = x.mean(dim=2)  # (B, C, T'): mean over frequency
        x = x.amax(dim=2) + x.mean(dim=2)  # (B, C): max + mean over time
        x = self.fc_dropout(x)
        x = self.fc1_relu(self.fc1(x))  # (B, embedding_dim)
        return self.fc_dropout(x)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Return logits ``(B, num_classes)`` for features ``(B, 1, F, T)``."""
        return self.fc_out(self.embed(features))


class TransferCnn14(AudioClassifier):
    """Cnn14 backbone (PANNs-initialisable) with a new linear head, as in the paper.

    Parameters
    ----------
    num_classes : int
        Number of target classes.
    num_bins : int
        Number of input frequency bins (64 to reuse the PANNs ``bn0`` statistics).
    width : float
        Channel multiplier (1.0 to load PANNs weights; smaller only for tests).
    dropout : float
        Dropout after each conv block.

    Notes
    -----
    Mirrors PANNs' ``Transfer_Cnn14`` (``base`` + ``fc_transfer``); the backbone's own head
    ``base.fc_out`` is unused. Load pretrained weights with
    :func:`audiointerp.models.checkpoints.load_panns_weights` on ``model.base``.
    """

    def __init__(
        self, num_classes: int, num_bins: int, *, width: float = 1.0, dropout: float = 0.2
    ):
        super().__init__()
        self.base = PannsCnn(
            "cnn14", num_classes=1, num_bins=num_bins, width=width, dropout=dropout
        )
        # The backbone's own head is never used; drop it so it has no dangling parameters.
        self.base.fc_out = nn.Identity()
        self.fc_transfer = nn.Linear(self.base.embedding_dim, num_classes)
        nn.init.xavier_uniform_(self.fc_transfer.weight)
        nn.init.zeros_(self.fc_transfer.bias)
        self.arch, self.num_classes, self.num_bins, self.width = (
            "transfer_cnn14",
            num_classes,
            num_bins,
            width,
        )
        self.gradcam_layer = f"base.{self.base.gradcam_layer}"

    def hidden(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        """The backbone's conv block outputs (see :meth:`PannsCnn.hidden`)."""
        return self.base.hidden(features)

    def input_grid(self, n_bins: int, n_frames: int) -> tuple[int, int]:
        """The backbone's (see :meth:`PannsCnn.input_grid`)."""
        return self.base.input_grid(n_bins, n_frames)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Return logits ``(B, num_classes)`` for features ``(B, 1, F, T)``."""
        return self.fc_transfer(self.base.embed(features))


def build_panns(cfg: CnnConfig, *, num_classes: int, num_bins: int) -> AudioClassifier:
    """Build a member of the PANNs family from its config (``cfg.arch`` picks the member)."""
    if cfg.arch == "transfer_cnn14":
        check_choice("model.input_pool (transfer_cnn14)", cfg.input_pool, (1,))
        return TransferCnn14(num_classes, num_bins, width=cfg.width, dropout=cfg.dropout)
    return PannsCnn(
        cfg.arch,  # type: ignore[arg-type]
        num_classes=num_classes,
        num_bins=num_bins,
        width=cfg.width,
        dropout=cfg.dropout,
        fc_dropout=cfg.fc_dropout,
        input_pool=cfg.input_pool,
    )
