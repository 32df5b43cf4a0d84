from __future__ import annotations

import numpy as np
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution
import pytest
import torch

from optuna_hypera import DEFAULT_AGENTS
from optuna_hypera import SACConfig
from optuna_hypera._coordinator import GLOBAL_OPTION
from optuna_hypera._coordinator import Coordinator
from optuna_hypera._decision import Base
from optuna_hypera._decision import Context
from optuna_hypera._decision import Decision
from optuna_hypera._encoding import SpaceEncoder
from optuna_hypera._features import Evidence
from optuna_hypera._groups import assign_groups
from optuna_hypera._groups import validate_groups
from optuna_hypera._rules import CONFLICTS
from optuna_hypera._rules import STRATEGIES
from optuna_hypera._rules import Claim as _Claim
from optuna_hypera._rules import blend
from optuna_hypera._rules import scores
from optuna_hypera._sac import MultiAgentSAC
from optuna_hypera._schema import N_GLOBAL
from optuna_hypera._surrogate import ModelView


SPACE = {
    "lr": FloatDistribution(1e-5, 1e-1, log=True),
    "n_layers": IntDistribution(1, 8),
    "dropout": FloatDistribution(0.0, 0.5),
    "aug_prob": FloatDistribution(0.0, 1.0, step=0.1),
    "focal_gamma": FloatDistribution(0.0, 5.0),
    "activation": CategoricalDistribution(["relu", "gelu", None, True, 3]),
}


ENC = SpaceEncoder(SPACE)


def context(groups: dict[str, list[str]] | None = None, radius: float = 1.0) -> Context:
    enc = SpaceEncoder(SPACE)
    rng = np.random.default_rng(0)
    xs = rng.uniform(size=(6, len(enc)))
    bases = [Base(number=i, x=enc.snap(x), glob=np.full(N_GLOBAL, 0.1)) for i, x in enumerate(xs)]
    scales = np.array([a.action_scale for a in DEFAULT_AGENTS])
    return Context(
        space=enc.space,
        evidence=Evidence.build(xs, rng.uniform(size=6)),
        assignment=assign_groups(enc.names, DEFAULT_AGENTS,
                                 validate_groups(groups, DEFAULT_AGENTS)),
        incumbent=bases[0],
        elites=[1, 2, 3],
        make_base=lambda k: bases[k],
        successes=np.array([5.0, 0, 0, 0, 0]),
        failures=np.array([0.0, 5, 5, 5, 5]),
        step=np.minimum(scales * radius, 1.0),
    )


class FakeSAC:
    """Deterministic stand-in: agent a always acts +-1 and is valued ``values[a]``."""

    device = torch.device("cpu")

    def __init__(self, values: list[float], sign: float = 1.0) -> None:
        self.values = torch.tensor(values)
        self.sign = sign
        self.calls = 0

    def act(
        self, tokens: torch.Tensor, mask: torch.Tensor, glob: torch.Tensor,
        gen: torch.Generator, agents: slice | None = None, rows: torch.Tensor | None = None,
        mask_rows: torch.Tensor | None = None,
    ) -> torch.Tensor:
        self.calls += 1
        a, b, p, _ = tokens.shape
        return torch.full((a, b if rows is None else len(rows), p), self.sign * 0.999)

    def value(
        self, tokens: torch.Tensor, mask: torch.Tensor, glob: torch.Tensor,
        action: torch.Tensor, cand: torch.Tensor, agents: slice | None = None,
    ) -> torch.Tensor:
        b = tokens.shape[1]
        values = self.values if agents is None else self.values[agents]
        # Candidate k of a cooperative batch gets value values[a] + k (so the last is best).
        return values[:, None] + torch.arange(b, dtype=torch.float32)[None, :]


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("conflict", CONFLICTS)
def test_every_strategy_and_conflict_gives_valid_parameters(strategy: str, conflict: str) -> None:
    sac = MultiAgentSAC(DEFAULT_AGENTS, SACConfig(), seed=0)
    ctx = context(groups={"loss": ["dropout", "focal_gamma"], "regularization": ["dropout"]})
    coord = Coordinator(DEFAULT_AGENTS, strategy, conflict)
    rng = np.random.RandomState(0)
    for _ in range(5):
        d = coord.decide(sac, [ctx], rng, torch.Generator().manual_seed(0))[0]
        params = ENC.decode(d.x)
        for name, dist in SPACE.items():
            assert dist._contains(dist.to_internal_repr(params[name]))
        assert set(d.moves) == {0, 1, 2, 3, 4}
        for a, move in d.moves.items():
            assert np.all(np.abs(move.action) < 1)
            # The stored action reproduces the executed step.
            step = ctx.step[a]
            if not any(len(ctx.assignment.owners[j]) > 1 for j in move.params):
                np.testing.assert_allclose(move.tokens[:, 0] + step * move.action,
                                           d.x[move.params], atol=1e-6)


def test_value_arbitration_picks_the_claim_with_the_higher_critic_value() -> None:
    ctx = context()
    coord = Coordinator(DEFAULT_AGENTS, "independent", "value")
    claims = [_Claim(agent=0, value=0.2, q=1.0), _Claim(agent=3, value=0.8, q=2.0)]
    assert coord.resolve(0, claims, ctx, np.zeros(5)) == 0.8
    claims[0].q = 3.0
    assert coord.resolve(0, claims, ctx, np.zeros(5)) == 0.2


def test_specialization_averages_with_domain_weights() -> None:
    ctx = context(groups={"loss": ["dropout"]})
    coord = Coordinator(DEFAULT_AGENTS, "independent", "specialization")
    j = ENC.names.index("lr")
    # 'lr' is owned by optimization only; a claim by architecture (not an owner) weighs 0.
    claims = [_Claim(agent=1, value=0.2, q=0.0), _Claim(agent=0, value=0.8, q=9.0)]
    assert coord.resolve(j, claims, ctx, np.zeros(5)) == pytest.approx(0.2)
    # Two domain owners (weight 1 each) average evenly.
    j = ENC.names.index("dropout")
    ctx2 = context(groups={"loss": ["dropout"], "regularization": ["dropout"]})
    claims = [_Claim(agent=2, value=0.2, q=0.0), _Claim(agent=4, value=0.6, q=0.0)]
    assert coord.resolve(j, claims, ctx2, np.zeros(5)) == pytest.approx(0.4)


def test_thompson_follows_the_sampled_agent() -> None:
    ctx = context()
    coord = Coordinator(DEFAULT_AGENTS, "independent", "thompson")
    claims = [_Claim(agent=0, value=0.2, q=0.0), _Claim(agent=1, value=0.9, q=5.0)]
    assert coord.resolve(0, claims, ctx, np.array([0.9, 0.1, 0, 0, 0])) == 0.2
    assert coord.resolve(0, claims, ctx, np.array([0.1, 0.9, 0, 0, 0])) == 0.9
    # Draws follow each agent's record: agent 0 (5 wins, 0 losses) wins most draws.
    rng = np.random.RandomState(0)
    theta = rng.beta(1 + ctx.successes[:, None], 1 + ctx.failures[:, None], size=(5, 2000))
    assert (theta.argmax(axis=0) == 0).mean() > 0.8


def test_cooperative_picks_the_candidate_with_the_highest_weighted_value() -> None:
    ctx = context()
    fake = FakeSAC([0.0, 0.1, 0.2, 0.3, 0.4])
    coord = Coordinator(DEFAULT_AGENTS, "cooperative", "value")
    d = coord.decide(fake, [ctx], np.random.RandomState(0), torch.Generator())[0]  # type: ignore[arg-type]
    # FakeSAC values candidate k at sum_a (values[a] + k): the last candidate wins.
    last = coord.n_candidates - 1
    assert d.value == pytest.approx(sum(0.1 * a + last for a in range(5)))
    assert d.source == "uniform"  # the second half of the candidates are trust-region draws
    far = Coordinator(DEFAULT_AGENTS, "cooperative", "value", global_share=GLOBAL_OPTION)
    d = far.decide(fake, [ctx], np.random.RandomState(0), torch.Generator())[0]  # type: ignore[arg-type]
    assert d.source == "global"  # with the option, the last candidates span the whole space
    # ``bracket_global``: only for a trial Hyperband compares early (``Context.first_rung``).
    probe = Coordinator(DEFAULT_AGENTS, "cooperative", "value")
    probe.bracket_global = 0.25
    for rung, source in ((None, "uniform"), (1.0, "uniform"), (1 / 3, "uniform"),
                         (1 / 9, "global")):
        ctx.first_rung = rung
        d = probe.decide(fake, [ctx], np.random.RandomState(0), torch.Generator())[0]  # type: ignore[arg-type]
        assert d.source == source, rung


def test_a_global_candidate_reaches_the_models_optimum_outside_the_trust_region() -> None:
    """The bowl's optimum (0.9 everywhere) lies outside a small trust region around the
    base: only a global candidate gets there, and the teacher takes it. Its stored actions are
    the clipped moves towards it, and the actors are not asked to clone them."""
    ctx = context(radius=0.01)
    ctx.surrogate = _Bowl(len(ENC))
    coord = Coordinator(DEFAULT_AGENTS, "cooperative", "value", chooser="teacher",
                        global_share=GLOBAL_OPTION)
    d = coord.decide(FakeSAC([0.0] * 5), [ctx], np.random.RandomState(0),  # type: ignore[arg-type]
                     torch.Generator())[0]
    assert d.source == "global"
    far = float(np.sqrt(((d.x - d.base.x) ** 2).mean()))
    assert far > 10 * float(ctx.step.max())
    for move in d.moves.values():
        assert np.abs(move.action).max() <= 0.999
    local = Coordinator(DEFAULT_AGENTS, "cooperative", "value", chooser="teacher",
                        global_share=0.0)
    d0 = local.decide(FakeSAC([0.0] * 5), [ctx], np.random.RandomState(0),  # type: ignore[arg-type]
                      torch.Generator())[0]
    assert float(np.sqrt(((d0.x - d0.base.x) ** 2).mean())) <= float(ctx.step.max()) + 1e-9
    bowl = _Bowl(len(ENC))
    assert float(bowl.predict(d.x[None])[0][0]) < 0.5 * float(bowl.predict(d0.x[None])[0][0])


def test_global_points_start_with_the_best_log_ei_and_are_snapped() -> None:
    from optuna_hypera._global import global_points
    from optuna_hypera._global import n_global
    from optuna_hypera._surrogate import log_ei

    assert n_global(64, 0.125) == 8 and n_global(16, 0.125) == 2 and n_global(64, 0.0) == 0
    assert n_global(2, 0.9) == 1
    space = ENC.space
    model = _Bowl(len(ENC))
    rng = np.random.RandomState(3)
    pts = global_points(model, space, 8, rng)
    assert pts.shape == (8, len(ENC))
    np.testing.assert_array_equal(pts, space.snap(pts))
    mu, sd = model.predict(pts)
    score = log_ei((model.best - mu) / sd, sd)
    pool = space.snap(np.random.RandomState(4).uniform(size=(256, len(ENC))))
    mu_p, sd_p = model.predict(pool)
    assert score[0] >= log_ei((model.best - mu_p) / sd_p, sd_p).max()  # refined past a pool
    assert np.all(np.diff(score[:6]) <= 1e-12)  # the optima, best first
    blind = global_points(None, space, 4, rng)  # no model: uniform points
    assert blind.shape == (4, len(ENC))


def test_labels_return_other_acceptable_candidates_of_the_same_base() -> None:
    ctx = context()
    coord = Coordinator(DEFAULT_AGENTS, "cooperative", "value")
    coord.labels = 5
    d = coord.decide(FakeSAC([0.0, 0.1, 0.2, 0.3, 0.4]), [ctx], np.random.RandomState(0),  # type: ignore[arg-type]
                     torch.Generator())[0]
    assert len(d.alternatives) == 5
    xs = {tuple(a.x) for a in d.alternatives}
    assert len(xs) == 5 and tuple(d.x) not in xs
    assert all(a.base is d.base for a in d.alternatives)
    assert ctx.acceptable(np.stack([a.x for a in d.alternatives])).all()


class _Bowl(ModelView):
    """A model whose mean is lowest at 0.9 in every coordinate, with a constant sd."""

    best = 0.0

    def __init__(self, d: int) -> None:
        self.log_ls = np.zeros(d)

    def predict(self, xq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return ((xq - 0.9) ** 2).sum(axis=1), np.full(len(xq), 0.1)

    def slope(self, x0: np.ndarray) -> np.ndarray:
        return 2.0 * (x0 - 0.9)


def _bowl_pick(chooser: str, n_trials: int = 0, stage: int = 20, n_trainings: int | None = None,
               counts: str = "trials") -> Decision:
    """The cooperative pick of ``chooser`` on ``_Bowl``'s model, critics valuing agents
    unequally, in a study of ``n_trials`` trials (``n_trainings`` of them not pruned)."""
    ctx = context()
    ctx.surrogate = _Bowl(len(ENC))
    ctx.n_trials = n_trials
    ctx.n_trainings = n_trials if n_trainings is None else n_trainings
    coord = Coordinator(DEFAULT_AGENTS, "cooperative", "value", chooser=chooser)
    coord.stage_trials = stage
    coord.stage_counts = counts
    coord.stretch_pruned = True  # the same candidates whatever the count of pruned trials
    fake = FakeSAC([0.0, 0.1, 0.2, 0.3, 0.4])
    return coord.decide(fake, [ctx], np.random.RandomState(0),  # type: ignore[arg-type]
                        torch.Generator())[0]


def test_the_teacher_picks_the_candidate_of_highest_log_ei_not_of_highest_value() -> None:
    picks = {chooser: _bowl_pick(chooser) for chooser in ("critic", "teacher")}
    mean = {k: float(_Bowl(len(ENC)).predict(d.x[None])[0][0]) for k, d in picks.items()}
    assert mean["teacher"] < mean["critic"]
    assert picks["teacher"].value < picks["critic"].value  # the critics preferred another


def test_sequential_agents_act_on_what_the_previous_produced() -> None:
    # With two owners of 'dropout' (regularization then loss, both +step), the later agent's
    # state starts where the earlier one stopped.
    ctx = context(groups={"loss": ["dropout"], "regularization": ["dropout"]})
    coord = Coordinator(DEFAULT_AGENTS, "sequential", "value")
    fake = FakeSAC([0.0, 0.0, 0.0, 0.0, 1.0])
    d = coord.decide(fake, [ctx], np.random.RandomState(0), torch.Generator())[0]  # type: ignore[arg-type]
    assert fake.calls == 5  # one decision per agent, in order
    j = ENC.names.index("dropout")
    reg, loss = d.moves[2], d.moves[4]
    k_reg, k_loss = reg.params.index(j), loss.params.index(j)
    assert loss.tokens[k_loss, 0] > reg.tokens[k_reg, 0]
    # Value arbitration picked the loss agent's (higher-valued) result.
    expected = min(1.0, d.base.x[j] + 0.999 * ctx.step[2] + 0.999 * ctx.step[4])
    assert d.x[j] == pytest.approx(expected)


def test_proposals_avoid_existing_and_running_points() -> None:
    ctx = context()
    coord = Coordinator(DEFAULT_AGENTS, "independent", "value")
    fake = FakeSAC([0.0] * 5, sign=0.0)  # zero action: would repeat the base exactly
    ctx.taken = np.array([ENC.snap(ctx.incumbent.x)]
                         + [ENC.snap(ctx.make_base(k).x) for k in ctx.elites])
    d = coord.decide(fake, [ctx], np.random.RandomState(0), torch.Generator())[0]  # type: ignore[arg-type]
    assert np.abs(ctx.taken - ENC.snap(d.x)).max(axis=1).min() > 1e-9
    assert d.retries > 0


def test_unknown_strategy_or_conflict_is_rejected() -> None:
    with pytest.raises(ValueError, match="strategy"):
        Coordinator(DEFAULT_AGENTS, "greedy", "value")
    with pytest.raises(ValueError, match="conflict"):
        Coordinator(DEFAULT_AGENTS, "sequential", "vote")


def test_sequential_agents_see_earlier_moves_independent_agents_do_not() -> None:
    ctx = context()  # disjoint groups: tokens alone could not tell the strategies apart
    fake = FakeSAC([0.0] * 5)
    seq = Coordinator(DEFAULT_AGENTS, "sequential", "value").decide(
        fake, [ctx], np.random.RandomState(0), torch.Generator())[0]  # type: ignore[arg-type]
    ind = Coordinator(DEFAULT_AGENTS, "independent", "value").decide(
        fake, [ctx], np.random.RandomState(0), torch.Generator())[0]  # type: ignore[arg-type]
    assert seq.moves[0].moved == 0.0  # the first agent acts on the base itself
    moved = [seq.moves[a].moved for a in range(5)]
    assert all(b > a for a, b in zip(moved, moved[1:], strict=False))  # grows agent by agent
    assert all(m.moved == 0.0 for m in ind.moves.values())


def test_the_blend_follows_the_critics_at_weight_zero_and_the_teacher_at_a_large_weight() -> None:
    rng = np.random.RandomState(3)
    value, teacher = rng.normal(size=40), rng.normal(size=40) * 5.0 - 20.0
    ok = np.ones(40, bool)
    for ranks in (True, False):
        assert np.argmax(blend(value, teacher, ok, 0.0, ranks)) == np.argmax(value)
        assert np.argmax(blend(value, teacher, ok, 1e6, ranks)) == np.argmax(teacher)
    # Standardized: scaling or shifting either score changes nothing.
    s = blend(value, teacher, ok, 1.0, ranks=False)
    np.testing.assert_allclose(blend(3.0 * value + 7.0, 0.1 * teacher - 2.0, ok, 1.0, False), s)
    # Each score's spread is taken over the acceptable candidates only.
    ok[:10] = False
    z = blend(value, np.zeros(40), ok, 1.0, ranks=False)
    assert z[ok].mean() == pytest.approx(0.0) and z[ok].std() == pytest.approx(1.0)
    r = blend(value, np.zeros(40), ok, 0.0, ranks=True)
    assert r[ok].max() == pytest.approx(29.5 / 30)  # the top mid-rank among 30


def test_the_blend_chooser_picks_a_candidate_both_scores_like() -> None:
    picks = {chooser: _bowl_pick(chooser) for chooser in ("critic", "teacher", "blend-z")}
    mean = {k: float(_Bowl(len(ENC)).predict(d.x[None])[0][0]) for k, d in picks.items()}
    # Between the two: better by the model than the critics' pick, valued more than the
    # teacher's.
    assert mean["teacher"] <= mean["blend-z"] <= mean["critic"]
    assert picks["teacher"].value <= picks["blend-z"].value <= picks["critic"].value


def test_the_staged_chooser_is_the_teacher_before_its_stage_and_the_critics_from_it() -> None:
    def pick(chooser: str, n_trials: int) -> np.ndarray:
        return _bowl_pick(chooser, n_trials, stage=20).x
    assert not np.array_equal(pick("teacher", 0), pick("critic", 0))
    np.testing.assert_array_equal(pick("staged", 19), pick("teacher", 19))
    np.testing.assert_array_equal(pick("staged", 20), pick("critic", 20))


def test_a_stage_counted_in_trainings_leaves_the_pruned_trials_out() -> None:
    # 30 trials, 12 of them pruned: past a 20-trial stage in trials, not in trainings.
    def pick(counts: str, n_trainings: int) -> np.ndarray:
        return _bowl_pick("staged", 30, stage=20, n_trainings=n_trainings, counts=counts).x
    teacher, critic = _bowl_pick("teacher", 30).x, _bowl_pick("critic", 30).x
    np.testing.assert_array_equal(pick("trials", 18), critic)
    np.testing.assert_array_equal(pick("trainings", 18), teacher)
    np.testing.assert_array_equal(pick("trainings", 20), critic)


def test_polish_moves_the_teachers_pick_to_higher_log_ei_and_the_actions_follow() -> None:
    from optuna_hypera._decision import executed
    from optuna_hypera._decision import polish
    from optuna_hypera._surrogate import log_ei

    ctx = context()
    ctx.surrogate = model = _Bowl(len(ENC))
    d = _bowl_pick("teacher")
    before = d.x.copy()

    def score(x: np.ndarray) -> float:
        mu, sd = model.predict(x[None])
        return float(log_ei((model.best - mu) / sd, sd)[0])

    moved = polish(d, ctx, np.random.RandomState(0))
    assert moved and not np.array_equal(d.x, before)
    assert score(d.x) >= score(before) and ctx.acceptable(d.x[None])[0]
    for a, move in d.moves.items():
        np.testing.assert_allclose(move.action, executed(move, d.x, float(ctx.step[a])))
    ctx.surrogate = None
    assert not polish(d, ctx, np.random.RandomState(0))


def test_categorical_jumps_redraw_categorical_choices_beyond_the_trust_radius() -> None:
    """In a tiny trust region no candidate changes the categorical choice of the base (its
    bins are wider than the radius); with jumps some uniform candidates take another
    choice, while every other coordinate stays within the radius."""
    cat = list(SPACE).index("activation")

    def candidates(jumps: bool) -> list[Decision]:
        ctx = context(radius=0.01)
        coord = Coordinator(DEFAULT_AGENTS, "cooperative", "value")
        coord.categorical_jumps = jumps
        coord.labels = coord.n_candidates
        d = coord.decide(FakeSAC([0.0] * 5), [ctx], np.random.RandomState(0),  # type: ignore[arg-type]
                         torch.Generator())[0]
        return [d, *d.alternatives]

    for jumps in (False, True):
        made = candidates(jumps)
        step = float(context(radius=0.01).step.max())
        changed = [c for c in made if ENC.snap(c.x)[cat] != ENC.snap(c.base.x)[cat]]
        assert bool(changed) == jumps
        assert all(c.source == "uniform" for c in changed)
        for c in made:
            rest = np.delete(c.x - c.base.x, cat)
            assert np.abs(rest).max() <= step + 1e-9
            assert all(np.abs(m.action).max() <= 0.999 for m in c.moves.values())


def test_the_categorical_sweep_offers_every_other_choice_of_the_base() -> None:
    """The sweep moves one categorical parameter of the base to each of its other choices
    and nothing else; through the coordinator, a tiny trust region then still has
    candidates with every choice of the base's categorical parameter."""
    from optuna_hypera._uniform_rows import categorical_sweep

    cat = list(SPACE).index("activation")
    ctx = context(radius=0.01)
    base = ctx.incumbent.x
    sweep = categorical_sweep(base, ENC.space)
    assert sweep.shape == (4, len(ENC))  # 5 choices, the base's own left out
    assert np.allclose(np.delete(sweep, cat, axis=1), np.delete(base, cat)[None])
    bins = sorted(int(v * 5) for v in sweep[:, cat])
    assert bins == sorted(set(range(5)) - {int(base[cat] * 5)})

    coord = Coordinator(DEFAULT_AGENTS, "cooperative", "value")
    coord.categorical_sweep = 16
    coord.labels = coord.n_candidates
    d = coord.decide(FakeSAC([0.0] * 5), [ctx], np.random.RandomState(0),  # type: ignore[arg-type]
                     torch.Generator())[0]
    made = [d, *d.alternatives]
    choices = {int(ENC.snap(c.x)[cat] * 5) for c in made if c.base.number == d.base.number}
    assert choices == set(range(5))
    assert all(np.abs(m.action).max() <= 0.999 for c in made for m in c.moves.values())


def test_the_stretched_box_follows_the_lengthscales_of_numeric_parameters() -> None:
    """Uniform moves in TuRBO's box: along a parameter with a long lengthscale (relative to
    the others) they reach further than the owning agent's step, along one with a short
    lengthscale less far, by at most a factor of 4; a categorical parameter keeps its step;
    every point stays in the unit cube."""
    from optuna_hypera._uniform_rows import stretched

    ctx = context(radius=1.0)
    model = _Bowl(len(ENC))
    names = list(SPACE)
    model.log_ls[names.index("dropout")] = 3.0      # insensitive: a long lengthscale
    model.log_ls[names.index("n_layers")] = -3.0    # sensitive: a short one
    model.log_ls[names.index("activation")] = -3.0  # categorical: left out of the box
    ctx.surrogate = model
    base = np.full(len(ENC), 0.5)
    pts = stretched(ctx, base, 4000, np.random.RandomState(0))
    assert pts.min() >= 0.0 and pts.max() <= 1.0
    step = np.zeros(len(ENC))
    for a in range(len(ctx.step)):
        step[ctx.assignment.indices(a)] = ctx.step[a]
    reach = np.abs(pts - base).max(axis=0) / np.maximum(step, 1e-12)
    long, short = names.index("dropout"), names.index("n_layers")
    assert reach[short] < 0.3  # clipped at a quarter of the step
    assert reach[long] > min(1.5, 0.49 / step[long])  # beyond the step (or to the edge)
    cat = names.index("activation")
    assert reach[cat] <= 1.0 + 1e-9
    same = stretched(ctx, base, 50, np.random.RandomState(1))
    assert np.array_equal(same, stretched(ctx, base, 50, np.random.RandomState(1)))


def test_the_box_is_stretched_only_in_studies_without_pruned_trials() -> None:
    """With ``stretch`` the uniform candidates come from the stretched box (origin
    ``"box"``, not cloned by the actors) while no trial was pruned, and from the trust
    region (``"uniform"``) once one was; by default always from the trust region."""
    from optuna_hypera._schema import CLONED

    def sources(n_trainings: int, stretch: bool = True) -> set[str]:
        ctx = context()
        ctx.surrogate = _Bowl(len(ENC))
        ctx.n_trials, ctx.n_trainings = 30, n_trainings
        coord = Coordinator(DEFAULT_AGENTS, "cooperative", "value", chooser="teacher")
        if stretch:
            coord.stretch = True
        coord.labels = coord.n_candidates
        d = coord.decide(FakeSAC([0.0] * 5), [ctx], np.random.RandomState(0),  # type: ignore[arg-type]
                         torch.Generator())[0]
        return {c.source for c in [d, *d.alternatives]}

    assert sources(30) == {"actor", "box"}
    assert sources(25) == {"actor", "uniform"}
    assert sources(30, stretch=False) == {"actor", "uniform"}
    assert "box" not in CLONED and "uniform" in CLONED


def test_shortlist_lets_the_critics_choose_only_among_log_eis_best() -> None:
    class Model:
        def acquisition(self, x: np.ndarray) -> np.ndarray:
            return np.array([3.0, 2.0, 1.0, 0.0, 5.0])

    value = np.array([0.0, 1.0, 9.0, 8.0, 0.5])
    ok = np.array([True, True, True, True, False])  # the best log-EI is not acceptable
    x = np.zeros((5, 2))
    score = scores("shortlist", value, Model(), x, ok, 1.0, shortlist=2)  # type: ignore[arg-type]
    assert np.isneginf(score[[2, 3]]).all()  # the critics' favourites are off the list
    assert int(np.argmax(np.where(ok, score, -np.inf))) == 1
    wide = scores("shortlist", value, Model(), x, ok, 1.0, shortlist=64)  # type: ignore[arg-type]
    assert int(np.argmax(np.where(ok, wide, -np.inf))) == 2  # all of them: the critics pick


def test_the_teacher_exploits_by_the_posterior_mean_when_asked() -> None:
    """``Coordinator.last_bracket``: in Hyperband's last bracket the teacher may rank by the
    lowest posterior mean (``"mean"``) or mean minus one sd (``"lcb"``) instead of log-EI;
    far candidates stay out either way."""
    class Model:
        def acquisition(self, x: np.ndarray) -> np.ndarray:
            return np.array([0.0, 5.0, 1.0])

        def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return np.array([1.0, 2.0, 0.5]), np.array([0.1, 3.0, 0.1])

    value, x, ok = np.zeros(3), np.zeros((3, 2)), np.ones(3, bool)
    pick = {e: int(np.argmax(scores("teacher", value, Model(), x, ok, 1.0,  # type: ignore[arg-type]
                                    exploit=e)))
            for e in ("off", "mean", "lcb")}
    assert pick == {"off": 1, "mean": 2, "lcb": 1}
    far = np.array([False, True, False])
    lcb = scores("teacher", value, Model(), x, ok, 1.0, far, exploit="lcb")  # type: ignore[arg-type]
    assert np.isneginf(lcb[1]) and int(np.argmax(lcb)) == 2
