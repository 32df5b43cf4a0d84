from __future__ import annotations

import numpy as np
import pytest
import torch

from optuna_hypera import DEFAULT_AGENTS
from optuna_hypera import SACConfig
from optuna_hypera._sac import MaskedAdam
from optuna_hypera._sac import MultiAgentSAC
from optuna_hypera._schema import N_CAND
from optuna_hypera._schema import N_GLOBAL
from optuna_hypera._schema import N_TOKEN


def _batch(a: int, b: int, p: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
    return {
        "tokens": torch.rand(a, b, p, N_TOKEN, generator=gen),
        "mask": torch.ones(a, b, p),
        "glob": torch.rand(a, b, N_GLOBAL, generator=gen),
        "cand": torch.rand(a, b, N_CAND, generator=gen),
        "action": torch.rand(a, b, p, generator=gen) * 2 - 1,
        "reward": torch.rand(a, b, generator=gen),
        "next_tokens": torch.rand(a, b, p, N_TOKEN, generator=gen),
        "next_mask": torch.ones(a, b, p),
        "next_glob": torch.rand(a, b, N_GLOBAL, generator=gen),
        "next_cand": torch.rand(a, b, N_CAND, generator=gen),
        "done": torch.zeros(a, b),
    }


def test_shapes_and_padding_invariance() -> None:
    sac = MultiAgentSAC(DEFAULT_AGENTS, SACConfig(), seed=0)
    gen = torch.Generator().manual_seed(0)
    b = _batch(5, 7, 3, gen)
    action = sac.act(b["tokens"], b["mask"], b["glob"], gen)
    value = sac.value(b["tokens"], b["mask"], b["glob"], action, b["cand"])
    assert action.shape == (5, 7, 3) and value.shape == (5, 7)
    assert torch.all(action.abs() < 1)
    q = sac.critic(b["tokens"], b["mask"], b["glob"], b["action"], b["cand"])
    assert q.shape == (5, 2, 7)

    # Padding a parameter slot (mask 0) changes neither the actor's outputs on real slots nor Q.
    pad_tok = torch.cat([b["tokens"], torch.rand(5, 7, 2, N_TOKEN, generator=gen)], dim=2)
    pad_mask = torch.cat([b["mask"], torch.zeros(5, 7, 2)], dim=2)
    pad_act = torch.cat([b["action"], torch.rand(5, 7, 2, generator=gen)], dim=2)
    mean, log_std = sac.actor(b["tokens"], b["mask"], b["glob"])
    mean_p, log_std_p = sac.actor(pad_tok, pad_mask, b["glob"])
    torch.testing.assert_close(mean_p[..., :3], mean)
    torch.testing.assert_close(log_std_p[..., :3], log_std)
    q_p = sac.critic(pad_tok, pad_mask, b["glob"], pad_act, b["cand"])
    torch.testing.assert_close(q_p, q)


def test_networks_serve_any_number_of_parameters_and_are_permutation_invariant() -> None:
    sac = MultiAgentSAC(DEFAULT_AGENTS, SACConfig(), seed=1)
    gen = torch.Generator().manual_seed(1)
    for p in (1, 4, 13):
        b = _batch(5, 2, p, gen)
        perm = torch.randperm(p, generator=gen)
        q = sac.critic(b["tokens"], b["mask"], b["glob"], b["action"], b["cand"])
        q_perm = sac.critic(b["tokens"][:, :, perm], b["mask"][:, :, perm], b["glob"],
                            b["action"][:, :, perm], b["cand"])
        torch.testing.assert_close(q, q_perm)
        mean, _ = sac.actor(b["tokens"], b["mask"], b["glob"])
        mean_perm, _ = sac.actor(b["tokens"][:, :, perm], b["mask"][:, :, perm], b["glob"])
        torch.testing.assert_close(mean[:, :, perm], mean_perm)


def test_log_probability_is_finite_at_the_action_bounds() -> None:
    sac = MultiAgentSAC(DEFAULT_AGENTS, SACConfig(), seed=0)
    with torch.no_grad():
        # A huge mean saturates tanh: actions are +-1 to float precision.
        sac.actor.head2.bias[..., 0] = 40.0
    gen = torch.Generator().manual_seed(0)
    b = _batch(5, 16, 3, gen)
    action, logp = sac.actor.sample(b["tokens"], b["mask"], b["glob"], gen)
    assert torch.all(action == 1.0)
    assert torch.all(torch.isfinite(logp))
    # Saturated actions have concentrated density: log-prob is large, not -inf or nan.
    assert torch.all(logp > 0)


def test_soft_update_with_tau_one_copies_the_critic_and_respects_the_agent_mask() -> None:
    sac = MultiAgentSAC(DEFAULT_AGENTS, SACConfig(), seed=0)
    with torch.no_grad():
        for p in sac.critic.parameters():
            p.add_(1.0)
    before = [t.clone() for t in sac.target.parameters()]
    mask = torch.tensor([1.0, 0.0, 1.0, 0.0, 0.0])
    sac.soft_update(1.0, mask)
    for p, t, old in zip(sac.critic.parameters(), sac.target.parameters(), before, strict=True):
        torch.testing.assert_close(t[mask.bool()], p[mask.bool()])
        torch.testing.assert_close(t[~mask.bool()], old[~mask.bool()])


def test_masked_adam_moves_only_masked_agents() -> None:
    w = torch.zeros(3, 4, requires_grad=True)
    opt = MaskedAdam([w], lr=0.1, n_agents=3)
    opt.step([torch.ones(3, 4)], torch.tensor([1.0, 0.0, 1.0]))
    assert torch.all(w[0] < 0) and torch.all(w[2] < 0)
    assert torch.all(w[1] == 0)
    assert opt.t.tolist() == [1.0, 0.0, 1.0]


def test_an_update_of_some_agents_computes_only_theirs_and_equals_their_own_update() -> None:
    """Agents 1 and 3 due: the five-agent stack moves them exactly as a stack of those two
    would, and leaves the other three (weights, temperatures, moments) as they were."""
    gen = torch.Generator().manual_seed(0)
    five = MultiAgentSAC(DEFAULT_AGENTS, SACConfig(), seed=1)
    due = [1, 3]
    two = MultiAgentSAC([DEFAULT_AGENTS[i] for i in due], SACConfig(), seed=2)
    two.load_state_dict({k: v[due] for k, v in five.state_dict().items()})
    batch = _batch(5, 16, 3, gen)
    before = five.state_dict()
    mask = torch.zeros(5)
    mask[due] = 1.0
    lost5 = five.update(batch, mask, torch.Generator().manual_seed(7))
    lost2 = two.update({k: v[due] for k, v in batch.items()}, torch.ones(2),
                       torch.Generator().manual_seed(7))
    after5, after2 = five.state_dict(), two.state_dict()
    for k in before:
        torch.testing.assert_close(after5[k][due], after2[k], rtol=1e-5, atol=1e-6, msg=k)
        others = [0, 2, 4]
        assert torch.equal(after5[k][others], before[k][others]), k
    assert not torch.equal(after5["actor.enc1.weight"][due], before["actor.enc1.weight"][due])
    torch.testing.assert_close(lost5["critic"][due], lost2["critic"])
    assert lost5["critic"][[0, 2, 4]].abs().sum() == 0


def test_policy_mean_moves_towards_the_optimum_of_a_continuous_bandit() -> None:
    """One-step bandit: reward = -(a - 0.6)^2 for every parameter; the policy starts near 0."""
    cfg = SACConfig(lr=3e-3, batch_size=128, gamma=0.0, bc_weight=0.0)
    sac = MultiAgentSAC(DEFAULT_AGENTS, cfg, seed=0)
    gen = torch.Generator().manual_seed(0)
    rng = np.random.default_rng(0)
    a, p = 5, 2
    tokens = torch.full((a, 1, p, N_TOKEN), 0.5)
    glob = torch.full((a, 1, N_GLOBAL), 0.1)
    mask = torch.ones(a, 1, p)

    def mean_action() -> float:
        mean, _ = sac.actor(tokens, mask, glob)
        return float(torch.tanh(mean.detach()).mean())

    start = mean_action()
    target = 0.6
    for _ in range(300):
        act = torch.from_numpy(rng.uniform(-1, 1, (a, cfg.batch_size, p)).astype(np.float32))
        batch = {
            "tokens": tokens.expand(a, cfg.batch_size, p, N_TOKEN),
            "mask": mask.expand(a, cfg.batch_size, p),
            "glob": glob.expand(a, cfg.batch_size, N_GLOBAL),
            "cand": torch.zeros(a, cfg.batch_size, N_CAND),
            "next_cand": torch.zeros(a, cfg.batch_size, N_CAND),
            "action": act,
            "reward": -((act - target) ** 2).mean(-1),
            "next_tokens": tokens.expand(a, cfg.batch_size, p, N_TOKEN),
            "next_mask": mask.expand(a, cfg.batch_size, p),
            "next_glob": glob.expand(a, cfg.batch_size, N_GLOBAL),
            "done": torch.ones(a, cfg.batch_size),
        }
        sac.update(batch, torch.ones(a), gen)
    end = mean_action()
    assert abs(start) < 0.05
    assert abs(end - target) < abs(start - target) - 0.3, (start, end)


def test_weights_round_trip_through_a_safe_file(tmp_path: pytest.TempPathFactory) -> None:
    sac = MultiAgentSAC(DEFAULT_AGENTS, SACConfig(), seed=0)
    path = tmp_path / "w.pt"  # type: ignore[operator]
    sac.save(path)
    other = MultiAgentSAC(DEFAULT_AGENTS, SACConfig(), seed=1)
    other.load(path)
    for (k, v), (k2, v2) in zip(sac.state_dict().items(), other.state_dict().items(), strict=True):
        assert k == k2
        torch.testing.assert_close(v, v2)
    # The file holds tensors only: it loads with weights_only=True.
    state = torch.load(path, weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())


def test_masked_adam_with_a_full_mask_matches_torch_adam_step_for_step() -> None:
    gen = torch.Generator().manual_seed(0)
    w0 = torch.randn(3, 4, 5, generator=gen)
    mine = w0.clone()
    ref = torch.nn.Parameter(w0.clone())
    opt = MaskedAdam([mine], lr=0.01, n_agents=3)
    torch_opt = torch.optim.Adam([ref], lr=0.01)
    for _ in range(25):
        g = torch.randn(3, 4, 5, generator=gen)
        opt.step([g], torch.ones(3))
        ref.grad = g.clone()
        torch_opt.step()
        torch.testing.assert_close(mine, ref.detach(), rtol=1e-5, atol=1e-6)


def test_a_pickle_payload_is_refused_without_running_it(tmp_path: pytest.TempPathFactory) -> None:
    import pickle

    marker = tmp_path / "ran"  # type: ignore[operator]

    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            import os

            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.pt"  # type: ignore[operator]
    with open(path, "wb") as f:
        pickle.dump({"actor.enc1.weight": Evil()}, f)
    sac = MultiAgentSAC(DEFAULT_AGENTS, SACConfig(), seed=0)
    with pytest.raises(Exception):  # noqa: B017 - torch's UnpicklingError, whatever its type
        sac.load(path)
    assert not marker.exists()


def test_weights_of_other_networks_are_a_clear_error(tmp_path: pytest.TempPathFactory) -> None:
    path = tmp_path / "small.pt"  # type: ignore[operator]
    MultiAgentSAC(DEFAULT_AGENTS, SACConfig(hidden=8), seed=0).save(path)
    with pytest.raises(ValueError, match="does not fit"):
        MultiAgentSAC(DEFAULT_AGENTS, SACConfig(), seed=0).load(path)


def test_cloning_reads_only_the_transitions_marked_for_it() -> None:
    """``clone`` 0 (global jumps, unexecuted hindsight candidates) takes a transition out of
    the cloning loss; without the key every transition is cloned, as before."""
    gen = torch.Generator().manual_seed(3)
    b = _batch(5, 8, 3, gen)
    losses = {}
    for name, clone in (("all", None), ("ones", torch.ones(5, 8)), ("none", torch.zeros(5, 8)),
                        ("half", torch.cat([torch.ones(5, 4), torch.zeros(5, 4)], dim=1))):
        sac = MultiAgentSAC(DEFAULT_AGENTS, SACConfig(bc_weight=1.0), seed=0)
        batch = dict(b) if clone is None else {**b, "clone": clone}
        losses[name] = sac.update(batch, torch.ones(5), torch.Generator().manual_seed(0))["bc"]
    torch.testing.assert_close(losses["ones"], losses["all"])
    assert torch.all(losses["none"] == 0)
    sac = MultiAgentSAC(DEFAULT_AGENTS, SACConfig(bc_weight=1.0), seed=0)
    first = {k: v[:, :4] for k, v in b.items()}
    mean, log_std = sac.actor(first["tokens"], first["mask"], first["glob"])
    from optuna_hypera._sac import Actor

    nll = -(Actor.density(mean, log_std, first["mask"], first["action"]) / 3).mean(dim=1)
    torch.testing.assert_close(losses["half"], nll.detach())
