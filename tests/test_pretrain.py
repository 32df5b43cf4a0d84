"""Pre-training on a tiny budget: it must learn, not only run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from optuna_hypera import DEFAULT_AGENTS
from optuna_hypera import SACConfig
from optuna_hypera._core import HyperaCore
from optuna_hypera._simulate import SyntheticTask
from optuna_hypera._simulate import simulate
from optuna_hypera.pretrain import PretrainConfig
from optuna_hypera.pretrain import main
from optuna_hypera.pretrain import make_core
from optuna_hypera.pretrain import regret_share
from optuna_hypera.pretrain import tasks_for
from optuna_hypera.pretrain import train_steps


def _cloning_loss(core: HyperaCore, seed: int) -> float:
    batch, _ = core.learner.draw(np.ones(len(core.agents), bool), np.random.RandomState(seed))
    with torch.no_grad():
        lp = core.sac.actor.log_prob(batch["tokens"], batch["mask"], batch["glob"],
                                     batch["action"])
    return float((-lp / batch["mask"].sum(-1).clamp(min=1)).mean())


def test_imitation_lowers_the_cloning_loss_and_beats_the_initial_policy() -> None:
    cfg = PretrainConfig(rounds=4, studies=8, candidates=16, batch_size=128)
    core = make_core(cfg)
    core.coordinator.chooser = "teacher"
    tasks, _ = tasks_for(0, cfg)
    simulate(core, tasks, 24, n_startup=6, seed=0)
    before = _cloning_loss(core, 1)
    init = {k: v.clone() for k, v in core.sac.state_dict().items()}
    gen = torch.Generator().manual_seed(0)
    train_steps(core, 100, np.random.RandomState(0), gen)
    after = _cloning_loss(core, 1)
    assert after < before - 0.1, (before, after)

    # The trained actors alone (no candidate search) against their initialisation, on toy
    # quadratics they never saw, same tasks and seeds.
    rng = np.random.RandomState(123)
    toy = [SyntheticTask.sample("quadratic", 3, rng) for _ in range(10)]
    shares = {}
    for name, state in (("init", init), ("trained", core.sac.state_dict())):
        actor = HyperaCore(agents=DEFAULT_AGENTS, sac=SACConfig(gradient_steps=0),
                           strategy="independent", conflict="value", seed=5)
        actor.sac.load_state_dict(state)
        sim = simulate(actor, toy, 20, n_startup=6, seed=7)
        shares[name] = regret_share(toy, sim.y, 0)
    assert shares["trained"] < shares["init"], shares


def test_the_command_writes_weights_a_record_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "w.pt"
    args = ["--out", str(out), "--rounds", "2", "--studies", "4", "--imitation-rounds", "1",
            "--steps", "3", "--candidates", "8", "--no-progress", "--no-validation"]
    assert main(args[:3] + ["1"] + args[4:]) == 0  # one round, then resume for the second
    assert json.loads((tmp_path / "w.ckpt.json").read_text())["rounds_done"] == 1
    assert main(args + ["--resume"]) == 0
    record = json.loads(out.with_suffix(".json").read_text())
    assert [r["round"] for r in record["log"]] == [0, 1]
    assert record["command"].startswith("python -m optuna_hypera.pretrain --out")
    assert record["families"] == ["gp", "quadratic", "multimodal"]
    assert {"torch", "optuna", "numpy", "python"} <= set(record["versions"])
    state = torch.load(out, weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
