"""Soft Actor-Critic for all agents at once (Haarnoja et al. 2018, "SAC: Algorithms and
Applications"), written out in the open in the manner of CleanRL's ``sac_continuous_action.py``.

Every agent has its own weights, but they are stacked along a leading agent axis so the five
agents run one forward and one backward pass. The networks do not depend on how many parameters
an agent owns:

- actor: a per-parameter MLP with shared weights reads (parameter features, study features),
  a mean over the agent's parameters gives a group context, and a head reads (token, context)
  to output a tanh-squashed Gaussian per parameter;
- critics: twin Deep-Sets Q functions: phi(token, action) averaged over parameters, then
  rho(mean, study features, candidate features) -> Q, where the candidate features are what
  the surrogate model says about the configuration the action leads to (``CAND_LAYOUT``).
  Both are permutation invariant.

Shapes: tokens ``[A, B, P, T]``, mask ``[A, B, P]``, study features ``[A, B, G]``, actions
``[A, B, P]``, candidate features ``[A, B, C]`` for A agents, B samples, P parameters
(padded), T token, G study and C candidate features.

The actor's loss adds behaviour cloning of the executed action (``bc_weight``; only where the
batch's ``clone`` is 1: not global jumps, not pre-training's unexecuted hindsight candidates):
when the coordinator picks among many candidates with the critics (cooperative) or a teacher
picks (pre-training), the executed action is better than the actor's own draw, and cloning it
is the policy-improvement step of expert iteration; the critics' candidate features come from the
surrogate, which is not differentiable through the replay, so the reparameterized SAC term
sees them as they were stored.
"""

from __future__ import annotations

from collections.abc import Sequence
import math
import os
import pickle

import torch
from torch import nn
import torch.nn.functional as F

from optuna_hypera._config import AgentConfig
from optuna_hypera._config import SACConfig
from optuna_hypera._schema import ACTION_LIMIT
from optuna_hypera._schema import N_CAND
from optuna_hypera._schema import N_GLOBAL
from optuna_hypera._schema import N_TOKEN


LOG_STD_MIN = -5.0
LOG_STD_MAX = 2.0
_LOG2 = math.log(2.0)
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


Agents = slice | torch.Tensor | None
"""A selection of the stacked agents: a slice, an index tensor, or ``None`` for all."""


class StackedLinear(nn.Module):
    """Independent linear layers for each index of ``lead`` (agents, twins), one matmul."""

    def __init__(
        self, lead: tuple[int, ...], n_in: int, n_out: int, gen: torch.Generator,
        scale: float = 1.0,
    ) -> None:
        super().__init__()
        bound = scale / math.sqrt(n_in)  # PyTorch's default uniform init, own generator
        self.weight = nn.Parameter((torch.rand(*lead, n_in, n_out, generator=gen) * 2 - 1) * bound)
        self.bias = nn.Parameter((torch.rand(*lead, 1, n_out, generator=gen) * 2 - 1) * bound)

    def forward(self, x: torch.Tensor, agents: Agents = None) -> torch.Tensor:
        if agents is None:
            return torch.matmul(x, self.weight) + self.bias
        return torch.matmul(x, self.weight[agents]) + self.bias[agents]


def _masked_mean(h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over the parameter axis (-2) counting only real parameters."""
    m = mask.unsqueeze(-1)
    return (h * m).sum(-2) / m.sum(-2).clamp(min=1.0)


class Actor(nn.Module):
    def __init__(self, n_agents: int, hidden: int, gen: torch.Generator) -> None:
        super().__init__()
        lead = (n_agents,)
        self.enc1 = StackedLinear(lead, N_TOKEN + N_GLOBAL, hidden, gen)
        self.enc2 = StackedLinear(lead, hidden, hidden, gen)
        self.head1 = StackedLinear(lead, 2 * hidden, hidden, gen)
        # Small last layer: the first proposals have mean ~0 and log-std ~0 whatever the input.
        self.head2 = StackedLinear(lead, hidden, 2, gen, scale=0.01)
        with torch.no_grad():
            mid = 0.5 * (LOG_STD_MAX + LOG_STD_MIN)
            half = 0.5 * (LOG_STD_MAX - LOG_STD_MIN)
            self.head2.bias[..., 1] = math.atanh((0.0 - mid) / half)

    def forward(
        self, tokens: torch.Tensor, mask: torch.Tensor, glob: torch.Tensor,
        agents: Agents = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``agents`` selects a slice of the stacked agents (inputs then hold only those)."""
        a, b, p, _ = tokens.shape
        g = glob.unsqueeze(2).expand(a, b, p, glob.shape[-1])
        x = torch.cat([tokens, g], dim=-1).reshape(a, b * p, -1)
        h = F.relu(self.enc2(F.relu(self.enc1(x, agents)), agents)).reshape(a, b, p, -1)
        ctx = _masked_mean(h, mask).unsqueeze(2).expand_as(h)
        h2 = F.relu(self.head1(torch.cat([h, ctx], -1).reshape(a, b * p, -1), agents))
        y = self.head2(h2, agents)
        y = y.reshape(a, b, p, 2)
        mean = y[..., 0]
        # CleanRL's bounded log-std.
        log_std = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (torch.tanh(y[..., 1]) + 1)
        return mean, log_std

    def sample(
        self,
        tokens: torch.Tensor,
        mask: torch.Tensor,
        glob: torch.Tensor,
        gen: torch.Generator | None,
        agents: Agents = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Actions in (-1, 1) and their log-probability summed over parameters ``[A, B]``."""
        mean, log_std = self(tokens, mask, glob, agents)
        return self.draw(mean, log_std, mask, gen)

    @staticmethod
    def draw(mean: torch.Tensor, log_std: torch.Tensor, mask: torch.Tensor,
             gen: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
        """``sample`` from the actor's outputs."""
        eps = torch.randn(mean.shape, generator=gen, device=mean.device)
        u = mean + log_std.exp() * eps
        action = torch.tanh(u)
        # log N(u) - log(1 - tanh(u)^2), the latter in its stable form (SAC paper, eq. 21).
        log_prob = -0.5 * eps.pow(2) - log_std - _HALF_LOG_2PI
        log_prob = log_prob - 2.0 * (_LOG2 - u - F.softplus(-2.0 * u))
        return action, (log_prob * mask).sum(-1)

    def log_prob(self, tokens: torch.Tensor, mask: torch.Tensor, glob: torch.Tensor,
                 action: torch.Tensor) -> torch.Tensor:
        """log-probability ``[A, B]`` of given actions in (-1, 1)."""
        mean, log_std = self(tokens, mask, glob)
        return self.density(mean, log_std, mask, action)

    @staticmethod
    def density(mean: torch.Tensor, log_std: torch.Tensor, mask: torch.Tensor,
                action: torch.Tensor) -> torch.Tensor:
        """``log_prob`` from the actor's outputs."""
        a = action.clamp(-ACTION_LIMIT, ACTION_LIMIT)
        u = torch.atanh(a)
        eps = (u - mean) / log_std.exp()
        lp = -0.5 * eps.pow(2) - log_std - _HALF_LOG_2PI - torch.log1p(-a.pow(2))
        return (lp * mask).sum(-1)


class TwinCritic(nn.Module):
    def __init__(self, n_agents: int, hidden: int, gen: torch.Generator) -> None:
        super().__init__()
        lead = (n_agents, 2)
        self.phi1 = StackedLinear(lead, N_TOKEN + 1, hidden, gen)
        self.phi2 = StackedLinear(lead, hidden, hidden, gen)
        self.rho1 = StackedLinear(lead, hidden + N_GLOBAL + N_CAND, hidden, gen)
        self.rho2 = StackedLinear(lead, hidden, 1, gen)

    def forward(
        self, tokens: torch.Tensor, mask: torch.Tensor, glob: torch.Tensor, action: torch.Tensor,
        cand: torch.Tensor, agents: Agents = None,
    ) -> torch.Tensor:
        """Q values ``[A, 2, B]``."""
        a, b, p, _ = tokens.shape
        # [A, 1, N, in] @ [A, 2, in, out] broadcasts over the twins without a copy.
        x = torch.cat([tokens, action.unsqueeze(-1)], -1).reshape(a, 1, b * p, -1)
        h = F.relu(self.phi2(F.relu(self.phi1(x, agents)), agents))
        pooled = _masked_mean(h.reshape(a, 2, b, p, -1), mask.unsqueeze(1))
        z = torch.cat([pooled, glob.unsqueeze(1).expand(a, 2, b, glob.shape[-1]),
                       cand.unsqueeze(1).expand(a, 2, b, cand.shape[-1])], -1)
        return self.rho2(F.relu(self.rho1(z, agents)), agents).squeeze(-1)


class MaskedAdam:
    """Adam over parameters whose first axis is the agent; only agents in ``mask`` move, so
    each agent keeps its own update schedule although all share one backward pass."""

    def __init__(self, params: Sequence[torch.Tensor], lr: float, n_agents: int,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        self.params = list(params)
        self.lr, self.betas, self.eps = lr, betas, eps
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        device = self.params[0].device
        self.t = torch.zeros(n_agents, device=device)

    @torch.no_grad()
    def step(self, grads: Sequence[torch.Tensor | None], mask: torch.Tensor) -> None:
        b1, b2 = self.betas
        self.t += mask
        bc1 = 1 - b1 ** self.t.clamp(min=1)
        bc2 = 1 - b2 ** self.t.clamp(min=1)
        live = [(p, g, m, v) for p, g, m, v in zip(self.params, grads, self.m, self.v,
                                                    strict=True) if g is not None]
        if not live:
            return
        # The per-agent factors, once per parameter rank (there are two or three), then the
        # update in a handful of fused multi-tensor ops instead of a dozen per parameter.
        per_rank: dict[int, tuple[torch.Tensor, ...]] = {}
        for p, *_ in live:
            if p.dim() not in per_rank:
                shape = (-1,) + (1,) * (p.dim() - 1)
                mk = mask.view(shape)
                per_rank[p.dim()] = (1 - (1 - b1) * mk, (1 - b1) * mk, 1 - (1 - b2) * mk,
                                     (1 - b2) * mk, bc1.view(shape), bc2.view(shape),
                                     self.lr * mk)
        f = [per_rank[p.dim()] for p, *_ in live]
        ps, gs, ms, vs = ([item[k] for item in live] for k in range(4))
        torch._foreach_mul_(ms, [x[0] for x in f])
        torch._foreach_add_(ms, torch._foreach_mul(gs, [x[1] for x in f]))
        torch._foreach_mul_(vs, [x[2] for x in f])
        torch._foreach_add_(vs, torch._foreach_mul(torch._foreach_mul(gs, [x[3] for x in f]),
                                                   gs))
        denom = torch._foreach_div(vs, [x[5] for x in f])
        torch._foreach_sqrt_(denom)
        torch._foreach_add_(denom, self.eps)
        step = torch._foreach_div(torch._foreach_div(ms, [x[4] for x in f]), denom)
        torch._foreach_sub_(ps, torch._foreach_mul(step, [x[6] for x in f]))

    def moments(self) -> list[torch.Tensor]:
        """The optimizer's state (step counts, first and second moments), for snapshots."""
        return [self.t, *self.m, *self.v]


class MultiAgentSAC:
    """Actors, twin critics, target critics and temperatures of all agents."""

    def __init__(
        self,
        agents: Sequence[AgentConfig],
        config: SACConfig,
        seed: int,
        device: torch.device | str = "cpu",
    ) -> None:
        self.config = config
        self.n_agents = len(agents)
        self.device = torch.device(device)
        gen = torch.Generator().manual_seed(seed)
        self.actor = Actor(self.n_agents, config.hidden, gen).to(self.device)
        self.critic = TwinCritic(self.n_agents, config.hidden, gen).to(self.device)
        self.target = TwinCritic(self.n_agents, config.hidden, gen).to(self.device)
        self.target.load_state_dict(self.critic.state_dict())
        for p in self.target.parameters():
            p.requires_grad_(False)
        temps = [a.exploration_temperature for a in agents]
        self.log_alpha = torch.tensor(temps, device=self.device).log().requires_grad_(True)
        self.actor_opt = MaskedAdam(list(self.actor.parameters()), config.lr, self.n_agents)
        self.critic_opt = MaskedAdam(list(self.critic.parameters()), config.lr, self.n_agents)
        self.alpha_opt = MaskedAdam([self.log_alpha], config.lr, self.n_agents)
        self.updates = torch.zeros(self.n_agents, dtype=torch.long)

    @torch.no_grad()
    def act(
        self,
        tokens: torch.Tensor,
        mask: torch.Tensor,
        glob: torch.Tensor,
        gen: torch.Generator | None,
        agents: Agents = None,
        rows: torch.Tensor | None = None,
        mask_rows: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Sampled actions ``[A, B, P]``; with ``agents``, only that slice of agents (and of
        the inputs' first axis). With ``rows``, the inputs are distinct states and row b of
        the output samples from state ``rows[b]`` (``mask_rows``: the mask per output row)."""
        if rows is None:
            return self.actor.sample(tokens, mask, glob, gen, agents)[0]
        mean, log_std = self.actor(tokens, mask, glob, agents)
        assert mask_rows is not None
        return Actor.draw(mean[:, rows], log_std[:, rows], mask_rows, gen)[0]

    @torch.no_grad()
    def value(
        self, tokens: torch.Tensor, mask: torch.Tensor, glob: torch.Tensor,
        action: torch.Tensor, cand: torch.Tensor, agents: Agents = None,
    ) -> torch.Tensor:
        """The critics' value (min of the twins) ``[A, B]`` of actions with their candidate
        features."""
        return self.critic(tokens, mask, glob, action, cand, agents).min(dim=1).values

    def update(self, batch: dict[str, torch.Tensor], agent_mask: torch.Tensor,
               gen: torch.Generator | None, actors: bool = True) -> dict[str, torch.Tensor]:
        """One gradient step for the agents in ``agent_mask`` (float ``[A]``); returns losses
        ``[A]`` (0 for the others). Only the due agents' slices of the stacked networks are
        computed: an update costs what its due agents cost. ``actors=False`` steps the
        critics alone (actors and temperatures unchanged; pre-training's critic fine-tune)."""
        cfg = self.config
        due = torch.nonzero(agent_mask > 0).flatten()
        sel: torch.Tensor | None = None if len(due) == self.n_agents else due
        if sel is not None:
            batch = {k: v[sel] for k, v in batch.items()}
        tok, mask, glob, act = batch["tokens"], batch["mask"], batch["glob"], batch["action"]
        log_alpha = self.log_alpha if sel is None else self.log_alpha[sel]
        alpha = log_alpha.detach().exp()
        with torch.no_grad():
            y = batch["reward"]
            if cfg.gamma > 0:  # a bandit (gamma 0, the default) needs no bootstrap
                next_action, next_logp = self.actor.sample(
                    batch["next_tokens"], batch["next_mask"], batch["next_glob"], gen, sel)
                # The next state's candidate is unknown until it is decided: the stored one
                # stands in.
                q_next = self.target(
                    batch["next_tokens"], batch["next_mask"], batch["next_glob"], next_action,
                    batch["next_cand"], sel).min(dim=1).values
                # Soft Bellman target (SAC paper, eq. 3 with the soft value of eq. 3's V).
                y = y + cfg.gamma * (1 - batch["done"]) * (q_next - alpha[:, None] * next_logp)
        cand = batch["cand"]
        q = self.critic(tok, mask, glob, act, cand, sel)
        critic_loss = (q - y.unsqueeze(1)).pow(2).mean(dim=(1, 2))
        critic_params = list(self.critic.parameters())
        grads = torch.autograd.grad(critic_loss.sum(), critic_params)
        self.critic_opt.step(grads, agent_mask)
        losses = {"critic": critic_loss}
        if actors:
            # One actor pass serves the reparameterized sample and the cloning term.
            mean, log_std = self.actor(tok, mask, glob, sel)
            new_action, logp = Actor.draw(mean, log_std, mask, gen)
            q_pi = self.critic(tok, mask, glob, new_action, cand, sel).min(dim=1).values
            actor_loss = (alpha[:, None] * logp - q_pi).mean(dim=1)  # eq. 7
            bc = torch.zeros_like(actor_loss)
            if cfg.bc_weight > 0:
                n = mask.sum(-1).clamp(min=1.0)
                nll = -(Actor.density(mean, log_std, mask, act) / n)
                clone = batch.get("clone")
                if clone is None:
                    bc = nll.mean(dim=1)
                else:  # only executed moves that stayed in the trust region are cloned
                    bc = (nll * clone).sum(dim=1) / clone.sum(dim=1).clamp(min=1.0)
                actor_loss = actor_loss + cfg.bc_weight * bc
            actor_params = list(self.actor.parameters())
            grads = torch.autograd.grad(actor_loss.sum(), actor_params)
            self.actor_opt.step(grads, agent_mask)

            # Automatic temperature (eq. 18): target entropy counted per parameter.
            n_params = mask.sum(-1)
            alpha_loss = -(log_alpha[:, None] * (logp.detach() + cfg.target_entropy * n_params))
            alpha_loss = alpha_loss.mean(dim=1)
            (grad,) = torch.autograd.grad(alpha_loss.sum(), [self.log_alpha])
            self.alpha_opt.step([grad], agent_mask)
            losses.update(actor=actor_loss, alpha=alpha, log_prob=logp.mean(dim=1), bc=bc)

        self.soft_update(cfg.tau, agent_mask)
        self.updates += agent_mask.to(torch.long).cpu()
        return {k: self._full(v.detach(), sel) for k, v in losses.items()}

    def _full(self, values: torch.Tensor, sel: torch.Tensor | None) -> torch.Tensor:
        """Per-agent values ``[A]`` from those of the selected agents (0 elsewhere)."""
        if sel is None:
            return values
        out = torch.zeros(self.n_agents, dtype=values.dtype, device=values.device)
        out[sel] = values
        return out

    @torch.no_grad()
    def soft_update(self, tau: float, agent_mask: torch.Tensor) -> None:
        """Polyak averaging of the target critics, per agent."""
        ps: list[torch.Tensor] = list(self.critic.parameters())
        tps: list[torch.Tensor] = list(self.target.parameters())
        w: list[torch.Tensor] = [(tau * agent_mask).view((-1,) + (1,) * (p.dim() - 1))
                                 for p in ps]
        keep: list[torch.Tensor] = [1 - wi for wi in w]
        torch._foreach_mul_(tps, keep)
        torch._foreach_add_(tps, torch._foreach_mul(ps, w))

    def state_dict(self) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        for prefix, module in (("actor", self.actor), ("critic", self.critic),
                               ("target", self.target)):
            for k, v in module.state_dict().items():
                out[f"{prefix}.{k}"] = v.detach().cpu().clone()
        out["log_alpha"] = self.log_alpha.detach().cpu().clone()
        return out

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        for prefix, module in (("actor", self.actor), ("critic", self.critic),
                               ("target", self.target)):
            sub = {k[len(prefix) + 1:]: v for k, v in state.items() if k.startswith(prefix + ".")}
            module.load_state_dict(sub)
        with torch.no_grad():
            self.log_alpha.copy_(state["log_alpha"])

    def snapshot(self) -> list[torch.Tensor]:
        """Copies of everything an update changes: networks, temperatures, optimizer moments
        and update counts (``restore`` puts them back exactly)."""
        tensors = [*self.actor.state_dict().values(), *self.critic.state_dict().values(),
                   *self.target.state_dict().values(), self.log_alpha, self.updates]
        for opt in (self.actor_opt, self.critic_opt, self.alpha_opt):
            tensors.extend(opt.moments())
        return [t.detach().clone() for t in tensors]

    @torch.no_grad()
    def restore(self, snapshot: Sequence[torch.Tensor]) -> None:
        live = [*self.actor.state_dict(keep_vars=True).values(),
                *self.critic.state_dict(keep_vars=True).values(),
                *self.target.state_dict(keep_vars=True).values(), self.log_alpha, self.updates]
        for opt in (self.actor_opt, self.critic_opt, self.alpha_opt):
            live.extend(opt.moments())
        if len(live) != len(snapshot):
            raise ValueError("snapshot of other networks")
        for dst, src in zip(live, snapshot, strict=True):
            dst.copy_(src)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Safe format: a flat dict of tensors, loadable with ``weights_only=True``."""
        torch.save(self.state_dict(), path)

    def load(self, path: str | os.PathLike[str]) -> None:
        """``FileNotFoundError`` for a missing file, ``ValueError`` for one that is not
        HyperaSampler weights or not for these networks (a pickle payload is refused unrun)."""
        if not os.path.isfile(path):
            raise FileNotFoundError(f"HyperaSampler weights file not found: {path}")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as e:
            raise ValueError(f"{path} is not a readable HyperaSampler weights file (tensors "
                             f"only; nothing in it was run): {e}") from None
        if not isinstance(state, dict):
            raise ValueError(f"{path} does not hold HyperaSampler weights.")
        try:
            self.load_state_dict({k: v.to(self.device) for k, v in state.items()})
        except (KeyError, RuntimeError) as e:
            raise ValueError(f"{path} does not fit these agents' networks: {e}") from None
