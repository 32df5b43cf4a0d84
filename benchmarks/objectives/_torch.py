"""Seeded PyTorch helpers shared by the ML objectives.

Nothing here touches the global RNGs: weights are re-initialised and dropout masks drawn from a
local ``torch.Generator``, so an objective is a deterministic function of its parameters and seed
and never disturbs the random state of the process that hosts it.
"""

from __future__ import annotations

from collections.abc import Callable
import math
from typing import TypeVar

import optuna
import torch
from torch import nn


_M = TypeVar("_M", bound=nn.Module)
_WEIGHTED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.ConvTranspose3d)


def pick_device(device: str | None = None) -> torch.device:
    """``device`` if given, else CUDA when available, else CPU."""
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def build_quietly(factory: Callable[[], _M]) -> _M:
    """``factory()`` with the global CPU RNG restored afterwards.

    Module constructors draw their default init from the global RNG; that draw is thrown away
    (:func:`reset_parameters_` re-draws from a local generator) and must not shift the caller's
    random stream, so it runs inside ``fork_rng`` (which saves and restores, never seeds).
    """
    with torch.random.fork_rng(devices=[]):
        return factory()


def reset_parameters_(module: nn.Module, generator: torch.Generator) -> None:
    """Re-draw every linear/conv layer as PyTorch's default init does, from ``generator``."""
    for layer in module.modules():
        if not isinstance(layer, _WEIGHTED):
            continue
        weight = layer.weight
        with torch.no_grad():
            # PyTorch's default: kaiming_uniform(a=sqrt(5)), bias U(-1/sqrt(fan_in), ...).
            nn.init.kaiming_uniform_(weight, a=math.sqrt(5), generator=generator)
            if layer.bias is not None:
                fan_in = weight.shape[1] * math.prod(weight.shape[2:])
                bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
                nn.init.uniform_(layer.bias, -bound, bound, generator=generator)


class SeededDropout(nn.Module):
    """Element-wise dropout whose masks come from a local generator."""

    def __init__(self, p: float, generator: torch.Generator) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}.")
        self.p = p
        self.generator = generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = torch.rand(x.shape, generator=self.generator, device=x.device) >= self.p
        return x * keep / (1.0 - self.p)


def replace_dropout_(module: nn.Module, generator: torch.Generator) -> int:
    """Swaps every ``nn.Dropout`` in ``module`` for :class:`SeededDropout`; returns the count."""
    count = 0
    for name, child in module.named_children():
        if isinstance(child, nn.Dropout):
            setattr(module, name, SeededDropout(child.p, generator))
            count += 1
        else:
            count += replace_dropout_(child, generator)
    return count


def grad_norm(module: nn.Module) -> float:
    """Global L2 norm of the gradients currently stored on ``module``'s parameters."""
    total = 0.0
    for param in module.parameters():
        if param.grad is not None:
            total += float(param.grad.detach().pow(2).sum())
    return math.sqrt(total)


def report_stats(trial: optuna.trial.BaseTrial, **stats: float) -> None:
    """Forward training statistics to ``optuna_hypera.report_stats`` when it can be imported.

    The objectives must work with any sampler, and with the core package absent, so a missing
    ``optuna_hypera`` makes this a no-op.
    """
    try:
        from optuna_hypera import report_stats as hypera_report_stats
    except ImportError:
        return
    clean = {key: float(value) for key, value in stats.items() if math.isfinite(value)}
    hypera_report_stats(trial, **clean)


def finite_or(value: float, cap: float) -> float:
    """``value`` clipped to ``cap``; NaN and infinities (diverged training) become ``cap``."""
    return min(value, cap) if math.isfinite(value) else cap
