"""ember.optim.lr_scheduler against torch.optim.lr_scheduler: every scheduler's learning rates (and
cycled momentum) over 30 steps equal PyTorch's exactly, for two param groups; state dicts hold the
same keys and resume a schedule identically; errors and warnings are PyTorch's."""
import copy
import warnings

import pytest
import torch

import ember

STEPS = 30


class Scale:
    """A callable object with state, which the lambda schedulers save in their state dicts."""

    def __init__(self, factor):
        self.factor = factor

    def __call__(self, epoch):
        return self.factor ** epoch


def sequential(lib, opt):
    s = lib.optim.lr_scheduler
    return s.SequentialLR(opt, [s.LinearLR(opt, start_factor=0.1, total_iters=4), s.ExponentialLR(opt, 0.9),
                                s.CosineAnnealingLR(opt, T_max=6)], milestones=[5, 12])


def chained(lib, opt):
    s = lib.optim.lr_scheduler
    return s.ChainedScheduler([s.ExponentialLR(opt, 0.95), s.StepLR(opt, step_size=4, gamma=0.5),
                               s.ConstantLR(opt, factor=0.5, total_iters=3)])


# (id, optimizer name and options, scheduler factory(lib, optimizer))
SCHEDULERS = [
    ("StepLR", ("SGD", {}), lambda lib, o: lib.optim.lr_scheduler.StepLR(o, step_size=7, gamma=0.5)),
    ("MultiStepLR", ("SGD", {}), lambda lib, o: lib.optim.lr_scheduler.MultiStepLR(o, [3, 8, 8, 20], gamma=0.3)),
    ("ExponentialLR", ("SGD", {}), lambda lib, o: lib.optim.lr_scheduler.ExponentialLR(o, gamma=0.9)),
    ("CosineAnnealingLR", ("SGD", {}), lambda lib, o: lib.optim.lr_scheduler.CosineAnnealingLR(o, T_max=10)),
    ("CosineAnnealingLR-eta_min", ("Adam", {}),
     lambda lib, o: lib.optim.lr_scheduler.CosineAnnealingLR(o, T_max=7, eta_min=1e-3)),
    ("LinearLR", ("SGD", {}),
     lambda lib, o: lib.optim.lr_scheduler.LinearLR(o, start_factor=0.25, end_factor=0.9, total_iters=12)),
    ("LinearLR-default", ("SGD", {}), lambda lib, o: lib.optim.lr_scheduler.LinearLR(o)),
    ("ConstantLR", ("SGD", {}), lambda lib, o: lib.optim.lr_scheduler.ConstantLR(o, factor=0.5, total_iters=4)),
    ("PolynomialLR", ("SGD", {}), lambda lib, o: lib.optim.lr_scheduler.PolynomialLR(o, total_iters=20, power=2.0)),
    ("LambdaLR", ("SGD", {}), lambda lib, o: lib.optim.lr_scheduler.LambdaLR(o, lambda e: 0.95 ** e)),
    ("LambdaLR-per-group", ("SGD", {}),
     lambda lib, o: lib.optim.lr_scheduler.LambdaLR(o, [Scale(0.9), lambda e: 1 / (1 + e)])),
    ("MultiplicativeLR", ("SGD", {}), lambda lib, o: lib.optim.lr_scheduler.MultiplicativeLR(o, lambda e: 0.93)),
    ("OneCycleLR-cos", ("SGD", {"momentum": 0.9}),
     lambda lib, o: lib.optim.lr_scheduler.OneCycleLR(o, max_lr=[1.0, 0.5], total_steps=STEPS)),
    ("OneCycleLR-linear-adam", ("Adam", {}),
     lambda lib, o: lib.optim.lr_scheduler.OneCycleLR(o, max_lr=0.1, epochs=3, steps_per_epoch=10,
                                                      anneal_strategy="linear", pct_start=0.4)),
    ("OneCycleLR-three-phase", ("SGD", {"momentum": 0.9}),
     lambda lib, o: lib.optim.lr_scheduler.OneCycleLR(o, max_lr=0.3, total_steps=STEPS + 3, three_phase=True,
                                                      base_momentum=[0.8, 0.7], div_factor=10.0)),
    ("OneCycleLR-no-momentum", ("Adagrad", {}),
     lambda lib, o: lib.optim.lr_scheduler.OneCycleLR(o, max_lr=0.2, total_steps=STEPS, cycle_momentum=False)),
    ("CyclicLR", ("SGD", {"momentum": 0.9}),
     lambda lib, o: lib.optim.lr_scheduler.CyclicLR(o, base_lr=0.01, max_lr=[0.1, 0.05], step_size_up=4)),
    ("CyclicLR-triangular2-adam", ("Adam", {}),
     lambda lib, o: lib.optim.lr_scheduler.CyclicLR(o, 0.001, 0.01, step_size_up=3, step_size_down=5,
                                                    mode="triangular2")),
    ("CyclicLR-exp_range", ("RMSprop", {"momentum": 0.5}),
     lambda lib, o: lib.optim.lr_scheduler.CyclicLR(o, 0.001, 0.01, step_size_up=5, mode="exp_range", gamma=0.9)),
    ("CyclicLR-scale_fn", ("SGD", {}),
     lambda lib, o: lib.optim.lr_scheduler.CyclicLR(o, 0.001, 0.01, step_size_up=5, scale_fn=lambda x: 0.5 ** x,
                                                    scale_mode="iterations", cycle_momentum=False)),
    ("CosineAnnealingWarmRestarts", ("SGD", {}),
     lambda lib, o: lib.optim.lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=2, eta_min=0.01)),
    ("CosineAnnealingWarmRestarts-mult1", ("SGD", {}),
     lambda lib, o: lib.optim.lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=7)),
    ("SequentialLR", ("SGD", {}), sequential),
    ("ChainedScheduler", ("SGD", {}), chained),
]


def make_optimizer(lib, name, options):
    params = [lib.zeros(3, requires_grad=True), lib.zeros(2, requires_grad=True)]
    return getattr(lib.optim, name)([{"params": params[:1], "lr": 0.1}, {"params": params[1:], "lr": 0.01}],
                                    **options)


def momenta(opt):
    return [g["betas"][0] if "betas" in g else g.get("momentum") for g in opt.param_groups]


def trace(opt, scheduler, steps):
    """Per step: the scheduler's last rates, the groups' rates and their momentum (or beta1)."""
    out = [(list(scheduler.get_last_lr()), [g["lr"] for g in opt.param_groups], momenta(opt))]
    for _ in range(steps):
        opt.step()
        scheduler.step()
        out.append((list(scheduler.get_last_lr()), [g["lr"] for g in opt.param_groups], momenta(opt)))
    return out


def build(lib, entry):
    _, (name, options), factory = entry
    opt = make_optimizer(lib, name, options)
    return opt, factory(lib, opt)


@pytest.mark.parametrize("entry", SCHEDULERS, ids=[s[0] for s in SCHEDULERS])
def test_sequence_matches_torch(entry):
    ember_opt, ember_sched = build(ember, entry)
    torch_opt, torch_sched = build(torch, entry)
    assert trace(ember_opt, ember_sched, STEPS) == trace(torch_opt, torch_sched, STEPS)
    assert sorted(ember_sched.state_dict()) == sorted(torch_sched.state_dict())
    assert [sorted(g) for g in ember_opt.param_groups] == [sorted(g) for g in torch_opt.param_groups]


@pytest.mark.parametrize("entry", SCHEDULERS, ids=[s[0] for s in SCHEDULERS])
def test_state_dict_round_trip(entry):
    """Save optimizer and scheduler after 11 steps, load both into fresh ones: the rest of the
    schedule is the same as the uninterrupted one's."""
    opt, sched = build(ember, entry)
    trace(opt, sched, 11)
    saved_opt, saved_sched = copy.deepcopy(opt.state_dict()), copy.deepcopy(sched.state_dict())
    expected = trace(opt, sched, STEPS - 11)
    resumed_opt, resumed_sched = build(ember, entry)
    resumed_opt.load_state_dict(saved_opt)
    resumed_sched.load_state_dict(saved_sched)
    assert trace(resumed_opt, resumed_sched, STEPS - 11) == expected


METRICS = [1.0, 0.9, 0.95, 0.9, 0.91, 0.92, 0.85, 0.86, 0.86, 0.86, 0.86, 0.7, 0.7, 0.7, 0.71, 0.72, 0.69,
           0.69, 0.7, 0.7, 0.7, 0.7, 0.5, 0.5, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6]


@pytest.mark.parametrize("options", [
    {"patience": 2},
    {"patience": 1, "cooldown": 2, "factor": 0.5},
    {"patience": 0, "threshold": 0.05, "min_lr": [0.02, 0.001]},
    {"patience": 1, "threshold_mode": "abs", "threshold": 0.015, "min_lr": 0.005},
    {"mode": "max", "patience": 1, "factor": 0.3},
    {"mode": "max", "threshold_mode": "abs", "patience": 0, "threshold": 0.0},
    {"patience": 0, "eps": 0.005},
    {"patience": 0, "threshold_mode": "abs", "threshold": 0.0, "cooldown": 1},
], ids=str)
def test_reduce_on_plateau_matches_torch(options):
    traces, keys = [], []
    for lib in (ember, torch):
        opt = make_optimizer(lib, "SGD", {})
        sched = lib.optim.lr_scheduler.ReduceLROnPlateau(opt, **options)
        out = []
        for metric in METRICS:
            opt.step()
            sched.step(lib.tensor(metric) if len(out) % 2 else metric)  # a number or a 0-d tensor
            out.append((sched.get_last_lr(), sched.num_bad_epochs, sched.cooldown_counter, sched.best))
        traces.append(out)
        keys.append(sorted(sched.state_dict()))
    assert traces[0] == traces[1]
    assert keys[0] == keys[1]


def test_reduce_on_plateau_with_a_group_added_later():
    """A scalar min_lr extends to the new group; a per-group list cannot, as in torch."""
    for min_lr, outcome in [(0.001, None), ([0.001, 0.0], RuntimeError)]:
        results = []
        for lib in (ember, torch):
            opt = make_optimizer(lib, "SGD", {})
            sched = lib.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0, min_lr=min_lr)
            opt.add_param_group({"params": [lib.zeros(1, requires_grad=True)], "lr": 0.5})
            sched.step(1.0)
            if outcome is None:
                sched.step(2.0)
                results.append(sched.get_last_lr())
            else:
                with pytest.raises(outcome) as error:
                    sched.step(2.0)
                results.append(str(error.value))
        assert results[0] == results[1]


def test_reduce_on_plateau_round_trip():
    def fresh():
        opt = make_optimizer(ember, "SGD", {})
        return opt, ember.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=1, cooldown=1)

    opt, sched = fresh()
    for metric in METRICS[:12]:
        sched.step(metric)
    saved_opt, saved = copy.deepcopy(opt.state_dict()), copy.deepcopy(sched.state_dict())
    resumed_opt, resumed = fresh()
    resumed_opt.load_state_dict(saved_opt)
    resumed.load_state_dict(saved)
    for metric in METRICS[12:]:
        sched.step(metric)
        resumed.step(metric)
        assert resumed.get_last_lr() == sched.get_last_lr()


def test_checkpoint_through_ember_save(tmp_path):
    """Optimizer and scheduler state dicts survive ember.save / ember.load and resume the schedule."""
    def fresh():
        opt = make_optimizer(ember, "Adam", {})
        s = ember.optim.lr_scheduler
        return opt, s.OneCycleLR(opt, max_lr=0.1, total_steps=STEPS), s.ReduceLROnPlateau(opt, patience=1)

    opt, one_cycle, plateau = fresh()
    trace(opt, one_cycle, 9)
    for metric in METRICS[:9]:
        plateau.step(metric)
    ember.save({"opt": opt.state_dict(), "one_cycle": one_cycle.state_dict(), "plateau": plateau.state_dict()},
               tmp_path / "checkpoint.safetensors")
    saved = ember.load(tmp_path / "checkpoint.safetensors")
    resumed_opt, resumed_one_cycle, resumed_plateau = fresh()
    resumed_opt.load_state_dict(saved["opt"])
    resumed_one_cycle.load_state_dict(saved["one_cycle"])
    resumed_plateau.load_state_dict(saved["plateau"])
    assert trace(resumed_opt, resumed_one_cycle, 12) == trace(opt, one_cycle, 12)
    for metric in METRICS[9:]:
        plateau.step(metric)
        resumed_plateau.step(metric)
        assert resumed_plateau.get_last_lr() == plateau.get_last_lr()


def test_initial_lr_and_resuming_with_last_epoch():
    for lib in (ember, torch):
        opt = make_optimizer(lib, "SGD", {})
        lib.optim.lr_scheduler.StepLR(opt, step_size=2)
        assert [g["initial_lr"] for g in opt.param_groups] == [0.1, 0.01]
    # A scheduler created with last_epoch resumes; CosineAnnealingLR starts from its closed form.
    rates = []
    for lib in (ember, torch):
        opt = make_optimizer(lib, "SGD", {})
        for g in opt.param_groups:
            g["initial_lr"] = g["lr"]
        sched = lib.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10, last_epoch=3)
        rates.append(trace(opt, sched, 5))
    assert rates[0] == rates[1]


def test_closed_form_with_epoch_argument():
    rates = []
    for lib in (ember, torch):
        opt = make_optimizer(lib, "SGD", {})
        sched = lib.optim.lr_scheduler.MultiStepLR(opt, [2, 5], gamma=0.5)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for epoch in (4, 1, 7):
                opt.step()
                sched.step(epoch)
                rates.append(sched.get_last_lr())
    assert rates[:3] == rates[3:]
    with pytest.warns(UserWarning, match="The epoch parameter in `scheduler.step\\(\\)` was not necessary"):
        sched_e = ember.optim.lr_scheduler.StepLR(make_optimizer(ember, "SGD", {}), 2)
        sched_e.optimizer.step()
        sched_e.step(3)


def test_warnings():
    opt = make_optimizer(ember, "SGD", {})
    sched = ember.optim.lr_scheduler.StepLR(opt, 2)
    with pytest.warns(UserWarning, match="Detected call of `lr_scheduler.step\\(\\)` before `optimizer.step\\(\\)`"):
        sched.step()
    with pytest.warns(UserWarning, match="please use `get_last_lr\\(\\)`"):
        sched.get_lr()
    opt = make_optimizer(ember, "SGD", {})
    sched = ember.optim.lr_scheduler.StepLR(opt, 2)
    opt.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sched.step()


def test_lambda_state_dict_keeps_callable_objects_state():
    opt = make_optimizer(ember, "SGD", {})
    scale = Scale(0.9)
    sched = ember.optim.lr_scheduler.LambdaLR(opt, [scale, lambda e: 1.0])
    state = sched.state_dict()
    assert state["lr_lambdas"] == [{"factor": 0.9}, None]
    state["lr_lambdas"][0]["factor"] = 0.5
    sched.load_state_dict(state)
    assert scale.factor == 0.5


def same_error(ember_call, torch_call, exception):
    with pytest.raises(exception) as theirs:
        torch_call()
    with pytest.raises(exception) as mine:
        ember_call()
    assert str(mine.value) == str(theirs.value)


ERRORS = [
    (ValueError, lambda lib, o: lib.optim.lr_scheduler.LinearLR(o, start_factor=0)),
    (ValueError, lambda lib, o: lib.optim.lr_scheduler.LinearLR(o, end_factor=1.5)),
    (ValueError, lambda lib, o: lib.optim.lr_scheduler.ConstantLR(o, factor=2.0)),
    (ValueError, lambda lib, o: lib.optim.lr_scheduler.LambdaLR(o, [lambda e: 1.0])),
    (TypeError, lambda lib, o: lib.optim.lr_scheduler.MultiplicativeLR(o, [1.0, lambda e: 1.0])),
    (ValueError, lambda lib, o: lib.optim.lr_scheduler.ReduceLROnPlateau(o, factor=1.0)),
    (ValueError, lambda lib, o: lib.optim.lr_scheduler.ReduceLROnPlateau(o, mode="lowest")),
    (ValueError, lambda lib, o: lib.optim.lr_scheduler.ReduceLROnPlateau(o, threshold_mode="relative")),
    (ValueError, lambda lib, o: lib.optim.lr_scheduler.ReduceLROnPlateau(o, min_lr=[0.1])),
    (ValueError, lambda lib, o: lib.optim.lr_scheduler.OneCycleLR(o, max_lr=0.1)),
    (ValueError, lambda lib, o: lib.optim.lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=0)),
    (ValueError, lambda lib, o: lib.optim.lr_scheduler.OneCycleLR(o, max_lr=0.1, epochs=2, steps_per_epoch=-1)),
    (ValueError, lambda lib, o: lib.optim.lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=9, pct_start=1.5)),
    (ValueError, lambda lib, o: lib.optim.lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=9, anneal_strategy="x")),
    (ValueError, lambda lib, o: lib.optim.lr_scheduler.OneCycleLR(o, max_lr=[0.1], total_steps=9)),
    (ValueError, lambda lib, o: lib.optim.lr_scheduler.OneCycleLR(
        lib.optim.Adagrad([lib.zeros(1, requires_grad=True)]), max_lr=0.1, total_steps=9)),
    (ValueError, lambda lib, o: lib.optim.lr_scheduler.CyclicLR(o, 0.01, 0.1, mode="square")),
    (ValueError, lambda lib, o: lib.optim.lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=0)),
    (ValueError, lambda lib, o: lib.optim.lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=0)),
    (ValueError, lambda lib, o: lib.optim.lr_scheduler.SequentialLR(
        o, [lib.optim.lr_scheduler.StepLR(o, 2), lib.optim.lr_scheduler.StepLR(o, 3)], milestones=[])),
    (ValueError, lambda lib, o: lib.optim.lr_scheduler.SequentialLR(o, [], milestones=[])),
    (ValueError, lambda lib, o: lib.optim.lr_scheduler.SequentialLR(
        o, [lib.optim.lr_scheduler.ReduceLROnPlateau(o)], milestones=[])),
    (ValueError, lambda lib, o: lib.optim.lr_scheduler.ChainedScheduler([])),
    (TypeError, lambda lib, o: lib.optim.lr_scheduler.StepLR(object(), 2)),
    (KeyError, lambda lib, o: lib.optim.lr_scheduler.StepLR(o, 2, last_epoch=4)),
]


@pytest.mark.parametrize("case", range(len(ERRORS)))
def test_errors_match_torch(case):
    exception, call = ERRORS[case]
    same_error(lambda: call(ember, make_optimizer(ember, "SGD", {"momentum": 0.9})),
               lambda: call(torch, make_optimizer(torch, "SGD", {"momentum": 0.9})), exception)


def test_one_cycle_past_its_end_raises_like_torch():
    def run(lib):
        opt = make_optimizer(lib, "SGD", {"momentum": 0.9})
        sched = lib.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=3)
        for _ in range(4):
            opt.step()
            sched.step()

    same_error(lambda: run(ember), lambda: run(torch), ValueError)
