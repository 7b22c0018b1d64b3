"""The tutorials' networks, and a LightningModule that trains any classifier."""

from __future__ import annotations

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "CifarNet",
    "Classifier",
    "ConvNet",
    "Regressor",
    "TabularNet",
    "TextTransformer",
    "TinyViT",
    "resnet18",
]


class ConvNet(nn.Module):
    """Seed 000's MNIST ConvNet: two 3x3 convs (16, 32 filters), dropout, 4608 -> 64 -> 10.

    Differences from the tutorial, for correct attributions: each ReLU is its own
    ``nn.ReLU`` module (DeepLift and GuidedBackprop only rewrite ReLU *modules*; functional
    ``F.relu`` makes them silently wrong), and the second dropout is ``nn.Dropout`` (it acts on
    a flat vector, where ``Dropout2d`` warns).

    A third: it returns logits, not ``log_softmax`` (``Classifier``'s cross-entropy gives the
    same loss), so DeepLift's rules apply to every layer (Captum warns on a softmax-like
    output).

    Input ``[N, 1, 28, 28]``; output logits ``[N, 10]``.
    """

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.cn1 = nn.Conv2d(1, 16, 3, 1)
        self.relu1 = nn.ReLU()
        self.cn2 = nn.Conv2d(16, 32, 3, 1)
        self.relu2 = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.dp1 = nn.Dropout2d(0.10)
        self.fc1 = nn.Linear(4608, 64)
        self.relu3 = nn.ReLU()
        self.dp2 = nn.Dropout(0.25)
        self.fc2 = nn.Linear(64, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.pool(self.relu2(self.cn2(self.relu1(self.cn1(x)))))
        x = self.dp2(self.relu3(self.fc1(torch.flatten(self.dp1(x), 1))))
        return self.fc2(x)


class CifarNet(nn.Module):
    """Seed 002's CIFAR-10 Net: conv 3->6 (5x5), pool, conv 6->16 (5x5), pool, 400 -> 120 -> 84
    -> 10, each ReLU its own ``nn.ReLU`` module (as in the tutorial, so DeepLift is exact).

    Input ``[N, 3, 32, 32]``; output logits ``[N, 10]``.
    """

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2, 2)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.relu3 = nn.ReLU()
        self.fc2 = nn.Linear(120, 84)
        self.relu4 = nn.ReLU()
        self.fc3 = nn.Linear(84, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool2(self.relu2(self.conv2(x)))
        x = self.relu4(self.fc2(self.relu3(self.fc1(torch.flatten(x, 1)))))
        return self.fc3(x)


def resnet18(num_classes: int = 10, weights: str | None = None) -> nn.Module:
    """torchvision's ResNet-18 for ``num_classes`` classes (seeds 001 and 003).

    Without ``weights`` (random init) the stem is the usual one for 32x32 images: a 3x3
    stride-1 first convolution and no max-pool, so ``layer4`` keeps a 4x4 map for Grad-CAM on
    CIFAR-10-sized inputs. With ``weights`` (a ``ResNet18_Weights`` member name such as
    ``"IMAGENET1K_V1"`` or ``"DEFAULT"``; torchvision downloads them) the ImageNet stem is kept,
    so feed 224x224 inputs, and the classifier is replaced by a fresh ``num_classes`` head.
    """
    from torchvision.models import ResNet18_Weights
    from torchvision.models import resnet18 as tv_resnet18

    if weights is None:
        net = tv_resnet18(weights=None, num_classes=num_classes)
        net.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        net.maxpool = nn.Identity()
        return net
    net = tv_resnet18(weights=ResNet18_Weights[weights])
    net.fc = nn.Linear(net.fc.in_features, num_classes)
    return net


class TabularNet(nn.Module):
    """Seed 004's networks: ``in_features -> 5 -> 10 -> 15 -> out_features``, a ReLU module
    after each of the first three layers (``lin1``..``lin4``; ``lin2`` is the tutorial's layer
    for layer and neuron attributions).

    Input ``[N, in_features]``; output ``[N, out_features]`` (logits, or ``[N, 1]`` values).
    """

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.lin1 = nn.Linear(in_features, 5)
        self.relu1 = nn.ReLU()
        self.lin2 = nn.Linear(5, 10)
        self.relu2 = nn.ReLU()
        self.lin3 = nn.Linear(10, 15)
        self.relu3 = nn.ReLU()
        self.lin4 = nn.Linear(15, out_features)

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu2(self.lin2(self.relu1(self.lin1(x))))
        return self.lin4(self.relu3(self.lin3(x)))


class TinyViT(nn.Module):
    """A tiny vision transformer: 7x7 patches of a ``[N, C, 28, 28]`` image (a 4x4 grid), a CLS
    token, learned positions, ``nn.TransformerEncoder`` layers, a linear head on the CLS token.

    Its attention layers are ``encoder.layers.<i>.self_attn`` (17 tokens: CLS, then patches in
    row-major order). Output logits ``[N, num_classes]``.
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        image_size: int = 28,
        patch: int = 7,
        dim: int = 32,
        depth: int = 2,
        heads: int = 4,
    ) -> None:
        super().__init__()
        self.patches = nn.Conv2d(in_channels, dim, patch, stride=patch)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.position = nn.Parameter(torch.randn(1, (image_size // patch) ** 2 + 1, dim) * 0.02)
        layer = nn.TransformerEncoderLayer(dim, heads, 2 * dim, dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        tokens = self.patches(x).flatten(2).transpose(1, 2)  # [N, patches, dim]
        tokens = torch.cat([self.cls.expand(len(x), -1, -1), tokens], dim=1) + self.position
        return self.head(self.norm(self.encoder(tokens)[:, 0]))


class TextTransformer(nn.Module):
    """Seed 003's text classifier, small: token embedding + learned positions,
    ``nn.TransformerEncoder`` layers, a linear head on the first token (``[CLS]``).

    Input token ids ``[N, L]`` whose first token is ``[CLS]``; id ``pad_id`` is padding (masked
    out of attention). ``embedding`` is the layer for LayerIntegratedGradients. Output logits
    ``[N, num_classes]``.
    """

    def __init__(
        self,
        vocab_size: int,
        num_classes: int = 2,
        max_len: int = 32,
        dim: int = 32,
        depth: int = 2,
        heads: int = 4,
        pad_id: int = 0,
    ) -> None:
        super().__init__()
        self.pad_id = pad_id
        self.embedding = nn.Embedding(vocab_size, dim, padding_idx=pad_id)
        self.position = nn.Embedding(max_len, dim)
        layer = nn.TransformerEncoderLayer(dim, heads, 2 * dim, dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, ids: Tensor) -> Tensor:
        positions = torch.arange(ids.shape[1], device=ids.device)
        x = self.embedding(ids) + self.position(positions)
        x = self.encoder(x, src_key_padding_mask=ids == self.pad_id)
        return self.head(x[:, 0])


class _Supervised(pl.LightningModule):
    """Trains ``net`` with Adam; subclasses give the loss and one quality figure per batch."""

    def __init__(self, net: nn.Module, lr: float) -> None:
        super().__init__()
        self.net = net
        self.lr = lr

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

    def _loss(self, batch: tuple[Tensor, Tensor]) -> tuple[Tensor, str, Tensor]:
        """``(loss, name of the quality figure, its value)`` for one batch."""
        raise NotImplementedError

    def _step(self, batch: tuple[Tensor, Tensor], stage: str) -> Tensor:
        loss, name, value = self._loss(batch)
        self.log(f"{stage}_loss", loss, prog_bar=stage == "val")
        self.log(f"{stage}_{name}", value, prog_bar=stage == "val")
        return loss

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._step(batch, "test")

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.lr)


class Classifier(_Supervised):
    """Trains ``net`` with cross-entropy (works for logits and log-probabilities alike);
    logs ``<stage>_acc``.

    Layers are reached as ``net.<name>`` (e.g. ``layer="net.cn2"``).
    """

    def __init__(self, net: nn.Module, lr: float = 1e-3) -> None:
        super().__init__(net, lr)

    def _loss(self, batch: tuple[Tensor, Tensor]) -> tuple[Tensor, str, Tensor]:
        x, y = batch
        logits = self(x)
        return F.cross_entropy(logits, y), "acc", (logits.argmax(1) == y).float().mean()


class Regressor(_Supervised):
    """Trains ``net`` (output ``[N, 1]``) with the mean squared error; logs ``<stage>_mae``."""

    def __init__(self, net: nn.Module, lr: float = 1e-2) -> None:
        super().__init__(net, lr)

    def _loss(self, batch: tuple[Tensor, Tensor]) -> tuple[Tensor, str, Tensor]:
        x, y = batch
        prediction = self(x).squeeze(1)
        return F.mse_loss(prediction, y), "mae", (prediction - y).abs().mean()
