"""Merging the agents' proposals into one configuration (write-up, "Agent Coordination").

Strategies (x in normalized coordinates, A_i an agent acting on the parameters it owns):

- ``independent``: every agent acts on the same base, x = {x_1, ..., x_n};
- ``sequential``: x = A_n(A_{n-1}(... A_1(x_base))): each agent sees what the previous produced;
- ``cooperative``: the acquisition optimizer. Many joint candidates from one base (half drawn
  by the actors, the rest uniform in the trust region, as TuRBO draws them, and a share
  ``global_share`` from the whole space, ``_global``: the surrogate's global log-EI optima
  and uniform points) are scored by the critics, whose input holds what the surrogate
  model says about each candidate:
  x = argmax_c sum_i w_i Q_i(s_i, a_i^c, f(x^c)). With ``chooser="teacher"`` (pre-training's
  imitation stage) the candidate with the highest log expected improvement wins instead;
  ``"staged"`` is the teacher until the study has ``stage_trials`` trials that were not
  pruned and the critics from then on (``_rules``): the sampler's default with 50 in 0.5-0.13,
  with 150 since 0.16 (``scorer="auto"``; ``"teacher"`` was the default of 0.14-0.15).

Conflict rules and the scoring of candidates are in ``_rules``.

Pure: ``Coordinator`` holds only its settings; everything a decision depends on (the step size
included) is in the ``Context``. ``decide`` takes a batch of contexts (one per study), so the
simulator decides for many studies in one forward pass of the networks.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from optuna_hypera._config import AgentConfig
from optuna_hypera._decision import AgentMove
from optuna_hypera._decision import Base
from optuna_hypera._decision import Context
from optuna_hypera._decision import Decision
from optuna_hypera._decision import JointMoves
from optuna_hypera._decision import candidate_features
from optuna_hypera._decision import executed
from optuna_hypera._decision import explain
from optuna_hypera._decision import polish
from optuna_hypera._decision import widen
from optuna_hypera._features import moved_feature
from optuna_hypera._global import POOL
from optuna_hypera._global import n_global
from optuna_hypera._rules import BLEND_WEIGHT
from optuna_hypera._rules import CHOOSERS
from optuna_hypera._rules import SHORTLIST
from optuna_hypera._rules import STAGE_TRIALS
from optuna_hypera._rules import Claim
from optuna_hypera._rules import agent_weights
from optuna_hypera._rules import check_rules
from optuna_hypera._rules import resolve
from optuna_hypera._rules import scores
from optuna_hypera._sac import MultiAgentSAC
from optuna_hypera._schema import N_CAND
from optuna_hypera._schema import G
from optuna_hypera._states import by_assignment
from optuna_hypera._states import distinct_states
from optuna_hypera._states import states
from optuna_hypera._uniform_rows import candidate_rows
from optuna_hypera._uniform_rows import disjoint_rows
from optuna_hypera._uniform_rows import uniform_moves


N_CANDIDATES = 64
"""Joint candidates scored per cooperative decision (half from the actors)."""
GLOBAL_SHARE = 0.0
"""Share of a cooperative decision's candidates drawn from the whole space (``_global``) by
default: none. Measured on 96 tasks of the generated validation split, 8 of 64 candidates
from the whole space made the shipped critics worse (better on 31, worse on 55 tasks at 25
trials; 37/51 at 100) and the log-EI teacher worse (32/52, 30/58); weights pre-trained with
them and with dense hindsight were worse than the shipped ones too
(``docs/benchmarks/hindsight-validation.md``). ``GLOBAL_OPTION`` is the share to try."""
GLOBAL_OPTION = 0.125
"""The share those measurements used (8 of 64 candidates)."""
_MAX_RETRIES = 8


class Coordinator:
    def __init__(self, agents: Sequence[AgentConfig], strategy: str, conflict: str,
                 n_candidates: int = N_CANDIDATES, chooser: str = "critic",
                 explore: float = 0.0, global_share: float = GLOBAL_SHARE) -> None:
        check_rules(strategy, conflict)
        if chooser not in CHOOSERS:
            raise ValueError(f"chooser must be one of {CHOOSERS}, got {chooser!r}.")
        if n_candidates < 1:
            raise ValueError("n_candidates must be >= 1.")
        if not 0.0 <= global_share < 1.0:
            raise ValueError("global_share must be in [0, 1).")
        self.agents = tuple(agents)
        self.strategy = strategy
        self.conflict = conflict
        self.n_candidates = n_candidates
        self.chooser = chooser
        self.explore = explore
        """Share of cooperative decisions that execute a random candidate (pre-training: the
        critics must also see what they would not pick)."""
        self.global_share = global_share
        """Share of cooperative candidates from the whole space instead of the trust
        region (``_global``; 0, the default: trust region only)."""
        self.bracket_global = 0.0
        """Share of global candidates for a trial that ``HyperbandPruner`` first compares
        at or before ``bracket_rung`` of a training (a ninth: its two most aggressive of four
        brackets at 27 epochs; ``Context.compared_by``; 0: ``global_share`` for every trial)."""
        self.bracket_rung = 1.0 / 9.0
        self.exploit_rung = 0.0
        """``last_bracket``'s rule also for trials Hyperband first compares at or before this
        share of a training (0: the last bracket only)."""
        self.labels = 0
        """Unexecuted candidates per cooperative decision to return as ``alternatives``
        (pre-training's dense hindsight: the simulator knows their outcome)."""
        self.blend_weight = BLEND_WEIGHT
        self.shortlist = SHORTLIST
        """With ``chooser="shortlist"``: the critics choose among this many candidates."""
        """With ``chooser="blend"``: log-EI's weight against the critics' (``BLEND_WEIGHT``)."""
        self.stage_trials = STAGE_TRIALS
        """With ``chooser="staged"``: the critics pick from this trial number on."""
        self.stage_counts = "trainings"
        """With ``chooser="staged"``: what ``stage_trials`` counts, ``"trainings"`` (pruned
        trials left out, ``Context.n_trainings``; measured in
        ``docs/benchmarks/pruning-validation.md``) or ``"trials"`` (every trial, 0.6's rule)."""
        self.teacher_local = False
        """With ``chooser="teacher"``: pick among the trust-region candidates only (global
        ones are still drawn, for the hindsight labels). Pre-training's imitation stage: the
        log-EI rule jumps too often when it may go anywhere (measured on the validation
        split, ``docs/benchmarks/global-validation.md``)."""
        self.incumbent_share = 0.5
        """The chance that a decision's base is the incumbent; else a uniformly drawn elite."""
        self.incumbent_until = 0
        """Below this many trainings (``Context.n_trainings``) every base is the incumbent
        (0: ``incumbent_share`` throughout)."""
        self.polish = False
        """The teacher's pick moved to higher log-EI nearby (``_decision.polish``); off."""
        self.categorical_jumps = False
        """Uniform candidates redraw the categorical parameters they perturb from all their
        choices (a Hamming-type neighbourhood) instead of moving them within the trust
        radius, where the order of the choices means nothing; disjoint assignments only."""
        self.categorical_sweep = 0
        """Up to this many uniform candidates replaced by the base with one categorical
        parameter set to another of its choices (every choice of every categorical parameter
        when they fit; a random subset else): a coordinate search over the choices, which
        moves within the trust radius reach only next to the base's. Disjoint assignments
        only; 0 (the default): none."""
        self.stretch = False
        """Uniform candidates move each numeric parameter within the trust radius times its
        fitted lengthscale over the numeric lengthscales' geometric mean (clipped to
        [1/4, 4]), TuRBO's box, instead of one radius for every parameter (``stretched``),
        in studies without pruned trials (``stretch_pruned``); disjoint assignments with a
        model only. An option since 0.12, off by default: better on the generated validation
        split, worse on the ``standard`` and ``small`` suites' BBOB tasks and digits MLP
        (``docs/benchmarks/stretch-validation.md``)."""
        self.stretch_pruned = False
        """Stretch the box in studies with pruned trials too (``stretch``; off: measured worse
        under pruners, ``docs/benchmarks/stretch-validation.md``)."""
        self.global_pool = POOL
        """Uniform points scored per decision to find the global candidates' starts."""
        self.last_bracket = "off"
        """How the teacher scores candidates for a trial in Hyperband's last bracket
        (``Context.last_bracket``), where trials train furthest before they are compared:
        ``"off"`` (log EI, as every trial), ``"mean"`` (the lowest posterior mean: the long
        trainings exploit while the aggressive brackets explore) or ``"lcb"`` (the lowest
        mean minus one sd). An experiment switch."""
        self.branch_bases = 0.0
        """Share of decisions based at the best trial of another categorical choice than
        the incumbent's (``Context.branch_base``). An experiment switch (0.20)."""
        self.as_asked = True
        """Value and repeat-check candidates as their trials will ask (``Context.as_asked``;
        off: 0.20's first runs, ``docs/benchmarks/conditional-0.20.md``)."""
        self.scales = np.array([a.action_scale for a in self.agents])

    # -- conflict rules (``_rules``) ----------------------------------------------------
    def agent_weights(self, ctx: Context, theta: np.ndarray) -> np.ndarray:
        """w_i used to add up critic values in cooperative mode."""
        return agent_weights(self.conflict, len(self.agents), ctx, theta)

    def resolve(self, j: int, claims: list[Claim], ctx: Context, theta: np.ndarray) -> float:
        """Value of parameter ``j`` from the claims of the agents that own it."""
        return resolve(self.conflict, j, claims, ctx, theta)

    # -- decisions ------------------------------------------------------------------------
    def decide(self, sac: MultiAgentSAC, ctxs: Sequence[Context], rng: np.random.RandomState,
               gen: torch.Generator | None) -> list[Decision]:
        """One decision per context; proposals that repeat an existing trial or come close to
        an unfinished one are redrawn (all contexts that need it in one batch)."""
        thetas = ([rng.beta(1.0 + c.successes, 1.0 + c.failures) for c in ctxs]
                  if self.conflict == "thompson" else [np.zeros(len(self.agents))] * len(ctxs))
        out: list[Decision | None] = [None] * len(ctxs)
        todo = list(range(len(ctxs)))
        last: dict[int, Decision] = {}
        for attempt in range(_MAX_RETRIES):
            sub = [ctxs[i] for i in todo]
            th = [thetas[i] for i in todo]
            if self.strategy == "cooperative":
                got, accepted = self._cooperative(sac, sub, rng, gen, th)
            else:
                bases = [self._draw_base(c, rng) for c in sub]
                if self.strategy == "sequential":
                    got = self._sequential(sac, sub, bases, gen, th)
                else:
                    got = self._joint(sac, list(zip(sub, bases, th, strict=True)),
                                      gen).decisions()
                accepted = [bool(c.acceptable(d.x[None])[0]) for c, d in zip(sub, got,
                                                                             strict=True)]
            still = []
            for i, d, ok in zip(todo, got, accepted, strict=True):
                last[i] = d
                if ok:
                    d.retries = attempt
                    out[i] = d
                else:
                    still.append(i)
            todo = still
            if not todo:
                break
        for i in todo:  # every draw collided with an existing trial: widen until one does not
            out[i] = widen(last[i], ctxs[i], rng, _MAX_RETRIES)
        done = [d for d in out if d is not None]
        for d, c in zip(done, ctxs, strict=True):
            explain(d, c)
        return done

    def _chooser(self, ctx: Context) -> str:
        """The chooser of this decision: ``staged`` resolved by the study's size."""
        if self.chooser != "staged":
            return self.chooser
        n = ctx.n_trainings if self.stage_counts == "trainings" else ctx.n_trials
        return "teacher" if n < self.stage_trials else "critic"

    def _draw_base(self, ctx: Context, rng: np.random.RandomState) -> Base:
        if self.branch_bases and rng.rand() < self.branch_bases:
            row = ctx.branch_base(rng)
            if row is not None:
                return ctx.make_base(row)
        share = 1.0 if ctx.n_trainings < self.incumbent_until else self.incumbent_share
        if not ctx.elites or rng.rand() < share:
            return ctx.incumbent
        return ctx.make_base(ctx.elites[rng.randint(len(ctx.elites))])

    def states(self, items: Sequence[tuple[Context, np.ndarray, np.ndarray]],
               agents: Sequence[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Batched state ``[A, B, P, T]`` (``_states.states``)."""
        return states(items, agents, self.scales)

    def _joint(self, sac: MultiAgentSAC,
               items: Sequence[tuple[Context, Base, np.ndarray]],
               gen: torch.Generator | None,
               uniform: np.ndarray | None = None,
               rng: np.random.RandomState | None = None,
               fixed: dict[int, np.ndarray] | None = None,
               boxed: set[int] | None = None) -> JointMoves:
        """All agents act on each (context, base) at once; overlaps settled by the conflict
        rule. Items flagged in ``uniform`` take uniform moves in the trust region instead of
        the actors' (``uniform_moves``: a random subset of coordinates, as TuRBO perturbs).
        Items in ``fixed`` (disjoint assignments only) go to the given configuration, their
        actions the moves towards it clipped to the action range (``_global``); their
        source is ``"global"``, or ``"box"`` for the rows in ``boxed`` (``stretched``).
        Decisions are built on demand (``JointMoves.decision``): a cooperative decision needs
        only its pick's."""
        n_agents = len(self.agents)
        tok_u, mask_u, glob_u, where = distinct_states(
            [(c, b.x, b.glob) for c, b, _ in items], range(n_agents), self.scales)
        tok, mask, glob = tok_u[:, where], mask_u[:, where], glob_u[:, where]
        dev = sac.device
        tok_t, mask_t, glob_t = (torch.from_numpy(tok).to(dev), torch.from_numpy(mask).to(dev),
                                 torch.from_numpy(glob).to(dev))
        # Candidates from one base share its state: the actor runs once per distinct state.
        actions = sac.act(torch.from_numpy(tok_u).to(dev), torch.from_numpy(mask_u).to(dev),
                          torch.from_numpy(glob_u).to(dev), gen,
                          rows=torch.from_numpy(where).to(dev), mask_rows=mask_t)
        act_np = actions.cpu().numpy().astype(np.float64)
        sources = ["actor"] * len(items)
        jumps: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        if uniform is not None and uniform.any():
            assert rng is not None
            jumps = uniform_moves(items, uniform, rng, act_np, sources, n_agents,
                                  self.categorical_jumps)
            actions = torch.from_numpy(act_np.astype(np.float32)).to(dev)
        cand = np.zeros((n_agents, len(items), N_CAND), np.float32)
        out = JointMoves(items, tok, act_np, cand, sources)
        moved_actions = False
        for ks, group in by_assignment(items).items():
            asg = group[0][0].assignment
            kk = np.array(ks)
            agents = [a for a in range(n_agents) if len(asg.indices(a))]
            xb = np.stack([base.x for _, base, _ in group])
            step = np.stack([ctx.step for ctx, _, _ in group])
            if asg.disjoint:
                x, moved = disjoint_rows(ks, asg, agents, xb, step, act_np, jumps,
                                         fixed or {}, boxed or set(), sources)
                moved_actions |= moved
                cand[:, kk] = candidate_features(group, x)[None]
                out.plans.append((ks, agents, x, step))
            else:
                # Claims: each critic judges its own move from the base.
                for a in agents:
                    p = asg.indices(a)
                    xa = xb.copy()
                    xa[:, p] = np.clip(xb[:, p] + step[:, a, None] * act_np[a, kk, : len(p)],
                                       0, 1)
                    cand[a, kk] = candidate_features(group, xa)
                out.claims.append((ks, agents))
        if moved_actions:
            actions = torch.from_numpy(act_np.astype(np.float32)).to(dev)
        out.values = sac.value(tok_t, mask_t, glob_t, actions,
                               torch.from_numpy(cand).to(dev)).cpu().numpy().astype(np.float64)
        for ks, agents in out.claims:
            for k in ks:
                ctx, base, theta = items[k]
                made = self._claims(ctx, base, theta, agents, out.tok64(k), act_np[:, k],
                                    out.values[:, k])
                made.source = sources[k]
                out.built[k] = made
        for ks, agents, x, _ in out.plans:
            active = np.zeros(n_agents, bool)
            active[agents] = True
            for i, k in enumerate(ks):
                out.x[k] = x[i]
                out.active[k] = active
        for k, made in out.built.items():
            out.x[k] = made.x
            out.active[k] = np.isin(np.arange(n_agents), list(made.moves))
        return out

    def _claims(self, ctx: Context, base: Base, theta: np.ndarray, agents: Sequence[int],
                tok: np.ndarray, act: np.ndarray, values: np.ndarray) -> Decision:
        """One decision where agents may claim the same parameter (``groups=`` overlap)."""
        claims: dict[int, list[Claim]] = {}
        moves: dict[int, AgentMove] = {}
        for a in agents:
            params = ctx.assignment.params_of(a)
            q = float(values[a])
            moves[a] = AgentMove(params, tok[a, : len(params)], act[a, : len(params)], q, 0.0,
                                 float(ctx.step[a]))
            step = float(ctx.step[a])
            for j, aj in zip(params, act[a, : len(params)].tolist(), strict=True):
                value = min(max(float(base.x[j]) + step * aj, 0.0), 1.0)
                claims.setdefault(j, []).append(Claim(a, value, q))
        return self._finish(ctx, base, claims, moves, theta)

    def _sequential(self, sac: MultiAgentSAC, ctxs: Sequence[Context], bases: Sequence[Base],
                    gen: torch.Generator | None, thetas: Sequence[np.ndarray]) -> list[Decision]:
        """Agents act in order, each on the configuration the previous one produced."""
        xs = [b.x.copy() for b in bases]
        claims: list[dict[int, list[Claim]]] = [{} for _ in ctxs]
        moves: list[dict[int, AgentMove]] = [{} for _ in ctxs]
        dev = sac.device
        for a in range(len(self.agents)):
            active = [k for k, c in enumerate(ctxs) if c.assignment.params_of(a)]
            if not active:
                continue
            # Earlier agents' changes reach this agent's state through the "moved" feature
            # (its tokens describe only its own parameters).
            items = []
            for k in active:
                g = bases[k].glob.copy()
                g[G["moved"]] = moved_feature(xs[k], bases[k].x)
                items.append((ctxs[k], xs[k], g))
            tok, mask, glob = self.states(items, [a])
            one = slice(a, a + 1)  # run only this agent's slice of the stacked networks
            tok_t, mask_t, glob_t = (torch.from_numpy(tok[one]).to(dev),
                                     torch.from_numpy(mask[one]).to(dev),
                                     torch.from_numpy(glob[one]).to(dev))
            actions = sac.act(tok_t, mask_t, glob_t, gen, one)
            acts = actions[0].cpu().numpy().astype(np.float64)
            after = []
            for i, k in enumerate(active):
                params = ctxs[k].assignment.params_of(a)
                x = xs[k].copy()
                x[params] = np.clip(x[params] + float(ctxs[k].step[a]) * acts[i, : len(params)],
                                    0, 1)
                after.append(ctxs[k].candidates(x[None], bases[k].x)[0])
            cand = torch.from_numpy(np.stack(after).astype(np.float32)[None]).to(dev)
            values = sac.value(tok_t, mask_t, glob_t, actions, cand, one)
            for i, k in enumerate(active):
                params = ctxs[k].assignment.params_of(a)
                act = acts[i, : len(params)]
                q = float(values[0, i])
                step = float(ctxs[k].step[a])
                moves[k][a] = AgentMove(params, tok[a, i, : len(params)].astype(np.float64),
                                        act, q, moved=float(items[i][2][G["moved"]]), step=step)
                for j, aj in zip(params, act.tolist(), strict=True):
                    xs[k][j] = min(max(float(xs[k][j]) + step * aj, 0.0), 1.0)
                    claims[k].setdefault(j, []).append(Claim(a, xs[k][j], q))
        return [self._finish(c, b, cl, mv, th)
                for c, b, cl, mv, th in zip(ctxs, bases, claims, moves, thetas, strict=True)]

    def _cooperative(self, sac: MultiAgentSAC, ctxs: Sequence[Context],
                     rng: np.random.RandomState, gen: torch.Generator | None,
                     thetas: Sequence[np.ndarray]) -> tuple[list[Decision], list[bool]]:
        """The best acceptable candidate of each context, and whether there was one."""
        # All candidates share one base: rewards are relative to the base, so critics would
        # otherwise (rightly) value poor bases higher and steer the study towards them.
        m = self.n_candidates
        share = self.global_share
        if self.bracket_global and all(c.compared_by(self.bracket_rung) for c in ctxs):
            share = self.bracket_global  # a cheap probe: Hyperband compares it early
        n_far = n_global(m, share)
        far_rows = np.arange(m) >= m - n_far
        items, fixed, boxed = candidate_rows(
            ctxs, thetas, lambda c: self._draw_base(c, rng), m, n_far, rng,
            pool=self.global_pool, stretch=self.stretch, stretch_pruned=self.stretch_pruned,
            sweep=self.categorical_sweep)
        uniform = np.tile(np.arange(m) >= (m + 1) // 2, len(ctxs))
        joint = self._joint(sac, items, gen, uniform, rng, fixed, boxed)
        out, found = [], []
        for k, (c, th) in enumerate(zip(ctxs, thetas, strict=True)):
            rows = range(k * m, (k + 1) * m)
            x = np.stack([joint.x[r] for r in rows])
            active = np.stack([joint.active[r] for r in rows])  # [m, A]
            w = self.agent_weights(c, th)
            value = ((joint.values[:, rows.start:rows.stop].T * w) * active).sum(axis=1)
            xa = c.as_asked(x) if self.as_asked else x
            ok = c.acceptable(xa)
            chooser = self._chooser(c)
            local = (far_rows if self.teacher_local and n_far and c.assignment.disjoint
                     else None)
            score = scores(chooser, value, c.surrogate, xa, ok, self.blend_weight, local,
                           self.shortlist, self.last_bracket
                           if c.last_bracket or c.compared_by(self.exploit_rung) else "off")
            pick = int(np.argmax(np.where(ok, score, -np.inf))) if ok.any() else 0
            if self.explore and rng.rand() < self.explore and ok.any():
                pick = int(rng.choice(np.flatnonzero(ok)))
            d = joint.decision(rows.start + pick)
            if self.polish and chooser == "teacher" and c.surrogate is not None:
                polish(d, c, rng)
            d.value = float(value[pick])
            d.picked_by = ("critics" if c.surrogate is None or chooser == "critic" else
                           "log-ei" if chooser == "teacher" else chooser)
            if self.labels and c.assignment.disjoint:
                d.alternatives = joint.others(rows.start, x, ok, pick, self.labels, rng)
            out.append(d)
            found.append(bool(ok.any()))
        return out, found

    def _finish(self, ctx: Context, base: Base, claims: dict[int, list[Claim]],
                moves: dict[int, AgentMove], theta: np.ndarray) -> Decision:
        x = base.x.copy()
        for j, cl in claims.items():
            x[j] = self.resolve(j, cl, ctx, theta)
        for a, move in moves.items():
            move.action = executed(move, x, float(ctx.step[a]))
        value = float(sum(m.value for m in moves.values()))
        return Decision(x=x, base=base, moves=moves, value=value)
