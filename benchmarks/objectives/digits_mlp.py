"""A PyTorch MLP on scikit-learn's bundled digits data (offline, about half a second a trial).

The objective minimises the validation cross-entropy after a fixed number of epochs and stores
the test accuracy of the same network as the user attribute ``test_accuracy``. Its twelve
hyperparameters span the five HYPERA agent groups (as ``optuna_hypera``'s name rules assign
them):

- architecture: ``n_layers``, ``width``, ``activation``
- optimization: ``lr`` (log), ``momentum``, ``weight_decay`` (log), ``batch_size`` (log)
- regularization: ``dropout``, ``label_smoothing``
- data: ``input_noise``, ``normalize``
- loss: ``focal_gamma`` (the training loss is focal loss; 0 gives cross-entropy)

The split (60/20/20 train/validation/test) and all training randomness are fixed by ``seed``, so
the objective is a deterministic function of the parameters for a given seed.
"""

from __future__ import annotations

from dataclasses import dataclass
import math
from typing import Any

import numpy as np
import optuna
import torch
from torch import nn
import torch.nn.functional as F  # noqa: N812

from benchmarks.objectives._torch import SeededDropout
from benchmarks.objectives._torch import build_quietly
from benchmarks.objectives._torch import finite_or
from benchmarks.objectives._torch import grad_norm
from benchmarks.objectives._torch import pick_device
from benchmarks.objectives._torch import report_stats
from benchmarks.objectives._torch import reset_parameters_


ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}
MAX_LOSS = 10.0
"""Value returned for diverged training (chance level is ln 10 = 2.3)."""


@dataclass(frozen=True)
class DigitsData:
    """Train/validation/test tensors of one seeded split (features scaled to [0, 1])."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def load_digits_split(seed: int, n_samples: int | None = None) -> DigitsData:
    """A 60/20/20 split of ``sklearn.datasets.load_digits`` drawn by ``default_rng(seed)``."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    order = np.random.default_rng(seed).permutation(len(y))
    if n_samples is not None:
        order = order[:n_samples]
    x = torch.as_tensor(x[order] / 16.0, dtype=torch.float32)
    y = torch.as_tensor(y[order], dtype=torch.long)
    n_train, n_val = int(0.6 * len(order)), int(0.2 * len(order))
    a, b = n_train, n_train + n_val
    return DigitsData(x[:a], y[:a], x[a:b], y[a:b], x[b:], y[b:])


def focal_loss(
    logits: torch.Tensor, target: torch.Tensor, gamma: float, label_smoothing: float
) -> torch.Tensor:
    """Focal loss (Lin et al. 2017) on label-smoothed targets; ``gamma = 0`` is cross-entropy."""
    log_p = F.log_softmax(logits, dim=1)
    n_classes = logits.shape[1]
    soft = torch.full_like(log_p, label_smoothing / n_classes)
    soft.scatter_(1, target[:, None], 1.0 - label_smoothing + label_smoothing / n_classes)
    # Down-weight examples the model already gets right: (1 - p_y)^gamma.
    p_true = log_p.gather(1, target[:, None]).exp()
    weight = (1.0 - p_true).clamp_min(0.0) ** gamma
    return (-(weight * soft * log_p).sum(1)).mean()


def _normalizer(kind: str, x_train: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(shift, scale) so that ``(x - shift) / scale`` applies the ``normalize`` choice."""
    if kind == "standard":
        return x_train.mean(0), x_train.std(0).clamp_min(1e-3)
    if kind == "raw":  # the original 0..16 pixel counts
        return torch.zeros(1), torch.full((1,), 1.0 / 16.0)
    return torch.zeros(1), torch.ones(1)  # "unit": already in [0, 1]


class DigitsMLPObjective:
    """``objective(trial) -> validation loss`` for an MLP on the digits data.

    Args:
        seed: Fixes the data split, the weight init, the batch order, dropout and noise.
        epochs: Training epochs per trial (validation loss is reported after each one).
        n_samples: Use only the first ``n_samples`` digits of the shuffled data (tests).
        device: Torch device; CUDA when available by default.
    """

    direction = "minimize"
    loss_label = "validation loss"
    score_label: str | None = "test accuracy"

    def __init__(
        self,
        *,
        seed: int,
        epochs: int = 50,
        n_samples: int | None = None,
        device: str | None = None,
    ) -> None:
        if epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {epochs}.")
        self.seed = seed
        self.epochs = epochs
        self.device = pick_device(device)
        self.data = load_digits_split(seed, n_samples)

    def loss(self, value: float) -> float:
        return value

    def score(self, value: float, user_attrs: dict[str, Any]) -> float | None:
        accuracy = user_attrs.get("test_accuracy")
        return float(accuracy) if accuracy is not None else None

    def __call__(self, trial: optuna.trial.BaseTrial) -> float:
        n_layers = trial.suggest_int("n_layers", 1, 3)
        width = trial.suggest_int("width", 16, 256, log=True)
        activation = trial.suggest_categorical("activation", list(ACTIVATIONS))
        lr = trial.suggest_float("lr", 1e-4, 1.0, log=True)
        momentum = trial.suggest_float("momentum", 0.0, 0.99)
        weight_decay = trial.suggest_float("weight_decay", 1e-6, 1e-1, log=True)
        batch_size = trial.suggest_int("batch_size", 32, 512, log=True)
        dropout = trial.suggest_float("dropout", 0.0, 0.5)
        input_noise = trial.suggest_float("input_noise", 0.0, 0.5)
        normalize = trial.suggest_categorical("normalize", ["unit", "standard", "raw"])
        label_smoothing = trial.suggest_float("label_smoothing", 0.0, 0.2)
        focal_gamma = trial.suggest_float("focal_gamma", 0.0, 3.0)

        cpu_gen = torch.Generator().manual_seed(self.seed)
        dev_gen = torch.Generator(device=self.device).manual_seed(self.seed + 1)

        def build() -> nn.Sequential:
            layers: list[nn.Module] = []
            n_in = self.data.x_train.shape[1]
            for _ in range(n_layers):
                layers += [nn.Linear(n_in, width), ACTIVATIONS[str(activation)]()]
                layers.append(SeededDropout(dropout, dev_gen))
                n_in = width
            layers.append(nn.Linear(n_in, 10))
            return nn.Sequential(*layers)

        net = build_quietly(build)
        reset_parameters_(net, cpu_gen)
        net.to(self.device)
        optimizer = torch.optim.SGD(
            net.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay
        )

        shift, scale = _normalizer(str(normalize), self.data.x_train)
        shift, scale = shift.to(self.device), scale.to(self.device)
        d = self.data
        x_train, y_train = d.x_train.to(self.device), d.y_train.to(self.device)
        x_val, y_val = d.x_val.to(self.device), d.y_val.to(self.device)

        val_loss = MAX_LOSS
        train_loss = math.nan
        norm = math.nan
        for epoch in range(self.epochs):
            net.train()
            order = torch.randperm(len(y_train), generator=cpu_gen).to(self.device)
            losses = []
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                xb = (x_train[idx] - shift) / scale
                if input_noise > 0:
                    xb = xb + input_noise * torch.randn(
                        xb.shape, generator=dev_gen, device=self.device
                    )
                loss = focal_loss(net(xb), y_train[idx], focal_gamma, label_smoothing)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                norm = grad_norm(net)
                optimizer.step()
                losses.append(loss.item())
            train_loss = float(np.mean(losses))
            net.eval()
            with torch.no_grad():
                val_loss = finite_or(float(F.cross_entropy(net((x_val - shift) / scale), y_val)),
                                     MAX_LOSS)
            trial.report(val_loss, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()
            if val_loss >= MAX_LOSS:  # diverged: more epochs will not bring it back
                break

        with torch.no_grad():
            logits = net((d.x_test.to(self.device) - shift) / scale)
            accuracy = float((logits.argmax(1) == d.y_test.to(self.device)).float().mean())
        trial.set_user_attr("test_accuracy", accuracy)
        report_stats(trial, grad_norm=norm, train_loss=train_loss, val_loss=val_loss)
        return val_loss


def make_digits_objective(
    *, seed: int, epochs: int = 50, n_samples: int | None = None, device: str | None = None
) -> DigitsMLPObjective:
    """Factory: the digits MLP objective for ``seed`` at the given size."""
    return DigitsMLPObjective(seed=seed, epochs=epochs, n_samples=n_samples, device=device)
