"""MONAI UNet segmentation of synthetic blobs (``monai.data.create_test_image_2d`` / ``_3d``).

The study maximises the validation Dice (``monai.metrics.DiceMetric``) after a fixed number of
epochs; the benchmark's loss for this task is ``1 - Dice``. Validation Dice is reported after
every epoch so pruners work. Seventeen hyperparameters span the five HYPERA agent groups:

- architecture: ``base_channels``, ``depth``, ``num_res_units``, ``activation``
- optimization: ``lr`` (log), ``beta1``, ``weight_decay`` (log), ``batch_size``
- regularization: ``dropout``, ``norm``
- data: ``flip_prob``, ``rotate_prob``, ``intensity_scale``, ``normalize``
- loss (``DiceFocalLoss``): ``lambda_dice``, ``lambda_focal``, ``focal_gamma``, ``smooth_nr``

Images are generated once per seed by a local ``np.random.RandomState(seed)``; weights, batch
order, dropout and augmentation come from local ``torch.Generator``s. Runs on CUDA when available.
"""

from __future__ import annotations

from dataclasses import dataclass
import math
from typing import Any

import numpy as np
import optuna
import torch

from benchmarks.objectives._torch import build_quietly
from benchmarks.objectives._torch import grad_norm
from benchmarks.objectives._torch import pick_device
from benchmarks.objectives._torch import replace_dropout_
from benchmarks.objectives._torch import report_stats
from benchmarks.objectives._torch import reset_parameters_


ACTIVATIONS = ("prelu", "relu", "leakyrelu", "elu")
NORMS = ("instance", "batch", "none")


@dataclass(frozen=True)
class SegData:
    """Images ``(n, 1, *shape)`` in [0, 1] and binary masks of the same shape."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor


def make_seg_data(
    *, seed: int, n_train: int, n_val: int, size: int, spatial_dims: int = 2, noise: float = 2.5
) -> SegData:
    """Synthetic noisy blobs and their masks, deterministic for ``seed``."""
    from monai.data import create_test_image_2d
    from monai.data import create_test_image_3d

    if spatial_dims not in (2, 3):
        raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}.")
    state = np.random.RandomState(seed)  # a local stream: create_test_image_* takes one
    images, masks = [], []
    for _ in range(n_train + n_val):
        kwargs: dict[str, Any] = dict(
            num_objs=5, rad_max=max(3, size // 6), rad_min=max(2, size // 16), noise_max=noise,
            num_seg_classes=1, random_state=state,
        )
        if spatial_dims == 2:
            image, mask = create_test_image_2d(size, size, **kwargs)
        else:
            image, mask = create_test_image_3d(size, size, size, **kwargs)
        images.append(image)
        masks.append(mask)
    x = torch.as_tensor(np.stack(images)[:, None], dtype=torch.float32)
    y = torch.as_tensor(np.stack(masks)[:, None] > 0, dtype=torch.float32)
    return SegData(x[:n_train], y[:n_train], x[n_train:], y[n_train:])


def _augment(
    x: torch.Tensor, y: torch.Tensor, flip_prob: float, rotate_prob: float, scale: float,
    gen: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random flips, 90-degree rotations (in-plane) and intensity scaling, per sample."""
    draws = torch.rand((len(x), 4), generator=gen, device=x.device)
    xs, ys = [], []
    for i in range(len(x)):
        xi, yi = x[i], y[i]
        if draws[i, 0] < flip_prob:
            xi, yi = xi.flip(-1), yi.flip(-1)
        if draws[i, 1] < rotate_prob:
            k = 1 + int(draws[i, 2] * 3) % 3
            xi, yi = xi.rot90(k, (-2, -1)), yi.rot90(k, (-2, -1))
        xs.append(xi * (1.0 + scale * (2.0 * float(draws[i, 3]) - 1.0)))
        ys.append(yi)
    return torch.stack(xs), torch.stack(ys)


def _normalize(x: torch.Tensor, kind: str) -> torch.Tensor:
    """Per-image intensity normalisation."""
    dims = tuple(range(1, x.ndim))
    if kind == "zscore":
        return (x - x.mean(dims, keepdim=True)) / x.std(dims, keepdim=True).clamp_min(1e-6)
    if kind == "minmax":
        low, high = x.amin(dims, keepdim=True), x.amax(dims, keepdim=True)
        return (x - low) / (high - low).clamp_min(1e-6)
    return x


class MonaiSegObjective:
    """``objective(trial) -> validation Dice`` (maximise) for a MONAI UNet on synthetic blobs.

    Args:
        seed: Fixes the images, the weight init, batch order, dropout and augmentation.
        n_train / n_val: Number of training / validation images.
        size: Image side in pixels (voxels for 3D).
        epochs: Training epochs per trial.
        spatial_dims: 2 (default) or 3.
        noise: Maximum of the uniform noise added before rescaling to [0, 1] (difficulty).
        device: Torch device; CUDA when available by default.
    """

    direction = "maximize"
    loss_label = "1 - validation Dice"
    score_label: str | None = "validation Dice"

    def __init__(
        self, *, seed: int, n_train: int = 96, n_val: int = 32, size: int = 64, epochs: int = 12,
        spatial_dims: int = 2, noise: float = 2.5, device: str | None = None,
    ) -> None:
        if epochs < 1 or n_train < 1 or n_val < 1:
            raise ValueError("epochs, n_train and n_val must be >= 1.")
        self.seed = seed
        self.epochs = epochs
        self.spatial_dims = spatial_dims
        self.device = pick_device(device)
        self.data = make_seg_data(
            seed=seed, n_train=n_train, n_val=n_val, size=size, spatial_dims=spatial_dims,
            noise=noise,
        )

    def loss(self, value: float) -> float:
        return 1.0 - value

    def score(self, value: float, user_attrs: dict[str, Any]) -> float | None:
        return value

    def __call__(self, trial: optuna.trial.BaseTrial) -> float:
        from monai.losses import DiceFocalLoss
        from monai.metrics import DiceMetric
        from monai.networks.nets import UNet

        base_channels = trial.suggest_int("base_channels", 4, 16, log=True)
        depth = trial.suggest_int("depth", 2, 4)
        num_res_units = trial.suggest_int("num_res_units", 0, 2)
        activation = str(trial.suggest_categorical("activation", list(ACTIVATIONS)))
        lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        beta1 = trial.suggest_float("beta1", 0.5, 0.99)
        weight_decay = trial.suggest_float("weight_decay", 1e-6, 1e-2, log=True)
        batch_size = trial.suggest_int("batch_size", 2, 16, log=True)
        dropout = trial.suggest_float("dropout", 0.0, 0.5)
        norm = str(trial.suggest_categorical("norm", list(NORMS)))
        flip_prob = trial.suggest_float("flip_prob", 0.0, 0.5)
        rotate_prob = trial.suggest_float("rotate_prob", 0.0, 0.5)
        intensity_scale = trial.suggest_float("intensity_scale", 0.0, 0.3)
        normalize = str(trial.suggest_categorical("normalize", ["none", "zscore", "minmax"]))
        lambda_dice = trial.suggest_float("lambda_dice", 0.1, 1.0)
        lambda_focal = trial.suggest_float("lambda_focal", 0.1, 1.0)
        focal_gamma = trial.suggest_float("focal_gamma", 0.0, 4.0)
        smooth_nr = trial.suggest_float("smooth_nr", 1e-6, 1.0, log=True)

        cpu_gen = torch.Generator().manual_seed(self.seed)
        dev_gen = torch.Generator(device=self.device).manual_seed(self.seed + 1)
        norm_layer: Any = norm.upper() if norm != "none" else None  # None: no norm layer
        net = build_quietly(lambda: UNet(
            spatial_dims=self.spatial_dims, in_channels=1, out_channels=1,
            channels=tuple(base_channels * 2**i for i in range(depth)),
            strides=(2,) * (depth - 1), num_res_units=num_res_units, act=activation.upper(),
            norm=norm_layer, dropout=dropout,
        ))
        reset_parameters_(net, cpu_gen)
        replace_dropout_(net, dev_gen)
        net.to(self.device)
        optimizer = torch.optim.AdamW(
            net.parameters(), lr=lr, betas=(beta1, 0.999), weight_decay=weight_decay
        )
        loss_fn = DiceFocalLoss(
            sigmoid=True, lambda_dice=lambda_dice, lambda_focal=lambda_focal, gamma=focal_gamma,
            smooth_nr=smooth_nr, smooth_dr=smooth_nr,
        )
        metric = DiceMetric(include_background=True, reduction="mean")
        d = self.data
        x_train, y_train = d.x_train.to(self.device), d.y_train.to(self.device)
        x_val, y_val = _normalize(d.x_val.to(self.device), normalize), d.y_val.to(self.device)
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)

        dice, train_loss, val_loss, norm_value = 0.0, math.nan, math.nan, math.nan
        for epoch in range(self.epochs):
            net.train()
            order = torch.randperm(len(x_train), generator=cpu_gen).to(self.device)
            losses = []
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                xb, yb = _augment(
                    x_train[idx], y_train[idx], flip_prob, rotate_prob, intensity_scale, dev_gen
                )
                loss = loss_fn(net(_normalize(xb, normalize)), yb)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                norm_value = grad_norm(net)
                optimizer.step()
                losses.append(loss.item())
            train_loss = float(np.mean(losses))
            net.eval()
            with torch.no_grad():
                logits = net(x_val)
                val_loss = float(loss_fn(logits, y_val))
                metric.reset()
                metric(y_pred=(logits > 0).float(), y=y_val)
                aggregate = metric.aggregate()
                assert isinstance(aggregate, torch.Tensor)
                dice = float(aggregate)
            dice = dice if math.isfinite(dice) else 0.0
            trial.report(dice, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()

        gpu_mem = (
            float(torch.cuda.max_memory_allocated(self.device))  # bytes
            if self.device.type == "cuda" else 0.0
        )
        report_stats(
            trial, grad_norm=norm_value, train_loss=train_loss, val_loss=val_loss, gpu_mem=gpu_mem
        )
        return dice


def make_monai_objective(
    *, seed: int, n_train: int = 96, n_val: int = 32, size: int = 64, epochs: int = 12,
    spatial_dims: int = 2, noise: float = 2.5, device: str | None = None,
) -> MonaiSegObjective:
    """Factory: the MONAI UNet objective for ``seed`` at the given size."""
    return MonaiSegObjective(
        seed=seed, n_train=n_train, n_val=n_val, size=size, epochs=epochs,
        spatial_dims=spatial_dims, noise=noise, device=device,
    )
