"""CUDA graphs (engine/cuda_graphs.py): a training step captured once and replayed must train exactly as
the same step run op by op, and what a graph cannot hold (host reads, random numbers, state created in
the capture, host-side step counts, options changed after the capture) must raise, not train
wrongly. On a GPU these run on CuPy; tests/test_emulated_device.py runs them on the CUDA host emulator,
whose capture records and replays like CuPy's and refuses what CuPy refuses (cuBLAS, host copies,
synchronisation)."""
import numpy as np
import pytest

import ember
from ember import nn
from ember.kernels.cuda import runtime

GPU_REASON = runtime.unusable_reason()
pytestmark = [pytest.mark.cuda, pytest.mark.skipif(GPU_REASON is not None, reason=f"needs a CUDA GPU: {GPU_REASON}")]


def _small_cnn():
    """Convolution, batch norm, pooling and linear layers: the kinds of op a CNN's step runs. No bias
    before the batch norm: its gradient is rounding noise, which Adam would scale up to steps of lr."""
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(4 * 4 * 4, 10))


def _twin_models():
    ember.manual_seed(0)
    model = _small_cnn()
    twin = _small_cnn()
    twin.load_state_dict(model.state_dict())
    return model.to("cuda"), twin.to("cuda")


def _batches(count, batch=6, ignore_some=False):
    rng = np.random.default_rng(1)
    for _ in range(count):
        images = ember.tensor(rng.standard_normal((batch, 1, 8, 8)).astype(np.float32), device="cuda")
        labels = rng.integers(0, 10, batch)
        if ignore_some:  # a different number of ignored rows in each batch: the mean's divisor changes
            labels[: rng.integers(0, batch)] = -100
        yield images, ember.tensor(labels, device="cuda")


def _train_step(model, optimizer):
    def step(images, labels):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        return loss
    return step


# name -> (params, capturable) -> optimizer; the eager twin counts Adam's steps on the host, as usual
OPTIMIZERS = {
    "sgd-momentum": lambda params, capturable: ember.optim.SGD(params, lr=0.05, momentum=0.9, weight_decay=1e-3,
                                                               nesterov=True),
    "adam": lambda params, capturable: ember.optim.Adam(params, lr=1e-2, capturable=capturable),
    "adamw-amsgrad": lambda params, capturable: ember.optim.AdamW(params, lr=1e-2, amsgrad=True,
                                                                  capturable=capturable),
}


@pytest.mark.parametrize("ignore_some", [False, True], ids=["all-rows", "ignored-rows"])
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_graphed_training_step_trains_as_the_eager_one(name, ignore_some):
    eager_model, graphed_model = _twin_models()
    eager = _train_step(eager_model, OPTIMIZERS[name](eager_model.parameters(), False))
    graphed = ember.cuda.make_graphed_step(
        _train_step(graphed_model, OPTIMIZERS[name](graphed_model.parameters(), True)), warmup=2)
    for step, (images, labels) in enumerate(_batches(6, ignore_some=ignore_some)):  # 2 eager, capture, replays
        expected = eager(images, labels).item()
        got = graphed(images, labels).item()
        np.testing.assert_allclose(got, expected, rtol=1e-5, err_msg=f"loss at step {step}")
    for (key, a), (_, b) in zip(eager_model.state_dict().items(), graphed_model.state_dict().items()):
        np.testing.assert_allclose(b.cpu().numpy(), a.cpu().numpy(), rtol=1e-4, atol=1e-6, err_msg=key)
    assert len(graphed._graphs) == 1


def test_a_graph_replays_on_new_contents_of_its_static_inputs():
    x = ember.zeros(5, device="cuda")
    graph = ember.cuda.CUDAGraph()
    with ember.cuda.graph(graph):
        y = x * 2 + 1
    assert not ember.cuda.is_current_stream_capturing()
    for values in (np.arange(5.0), np.full(5, -3.0)):
        x.copy_(ember.tensor(values, dtype=ember.float32))
        graph.replay()
        np.testing.assert_array_equal(y.cpu().numpy(), values * 2 + 1)


def test_replay_refuses_an_option_changed_after_the_capture():
    model, _ = _twin_models()
    optimizer = ember.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    step = _train_step(model, optimizer)
    batches = _batches(3)
    step(*next(batches))  # the momentum buffers exist
    graph = ember.cuda.CUDAGraph()
    static = next(batches)
    with ember.cuda.graph(graph):
        step(*static)
    graph.replay()
    optimizer.param_groups[0]["lr"] = 0.01  # lr and momentum are read from the device: a replay takes them
    optimizer.param_groups[0]["momentum"] = 0.5
    graph.replay()
    optimizer.param_groups[0]["dampening"] = 0.5  # baked into the graph
    with pytest.raises(RuntimeError, match=r"SGD's 'dampening' was 0 when the graph was captured and is 0.5 now"):
        graph.replay()


@pytest.mark.parametrize("name", ["sgd-momentum", "adamw-amsgrad"])
def test_a_graphed_step_follows_a_learning_rate_schedule_without_capturing_again(name):
    eager_model, graphed_model = _twin_models()
    eager_optimizer = OPTIMIZERS[name](eager_model.parameters(), False)
    graphed_optimizer = OPTIMIZERS[name](graphed_model.parameters(), True)
    schedulers = [ember.optim.lr_scheduler.OneCycleLR(o, max_lr=0.05, total_steps=8) for o in (eager_optimizer,
                                                                                              graphed_optimizer)]
    eager = _train_step(eager_model, eager_optimizer)
    graphed = ember.cuda.make_graphed_step(_train_step(graphed_model, graphed_optimizer), warmup=1)
    graphs = []
    for images, labels in _batches(7):
        np.testing.assert_allclose(graphed(images, labels).item(), eager(images, labels).item(), rtol=1e-5)
        graphs.append(next(iter(graphed._graphs.values()), (None,))[0])
        for scheduler in schedulers:
            scheduler.step()  # a new learning rate every step
    assert graphs[0] is None and len(set(map(id, graphs[1:]))) == 1, "captured more than once"
    for (key, a), (_, b) in zip(eager_model.state_dict().items(), graphed_model.state_dict().items()):
        np.testing.assert_allclose(b.cpu().numpy(), a.cpu().numpy(), rtol=1e-4, atol=1e-6, err_msg=key)


def _capture(function, *args):
    graph = ember.cuda.CUDAGraph()
    with ember.cuda.graph(graph):
        function(*args)


def test_what_a_capture_cannot_hold_raises_and_leaves_no_capture_behind():
    model, _ = _twin_models()
    images, labels = next(_batches(1))
    before = model.eval()(images).detach().cpu().numpy()
    model.train()
    cases = {
        "a host read": (lambda: model(images).sum().item(), "capturing"),
        "normal random numbers": (lambda: model(images) + ember.randn(6, 10, device="cuda"),
                                  "random numbers from standard_normal cannot be drawn"),
        "state made in the capture": (
            _train_step(model, ember.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)),
            "has no optimizer state yet"),
        "a step count on the host": (_train_step(model, ember.optim.RMSprop(model.parameters())),
                                     "counts its steps on the host"),
    }
    for what, (function, message) in cases.items():
        args = (images, labels) if what.startswith(("state", "a step")) else ()
        if what == "a step count on the host":
            function(images, labels)  # its state exists: the refusal is the count's
            after_rmsprop = model.eval()(images).detach().cpu().numpy()
            model.train()
            assert not np.array_equal(after_rmsprop, before)
        with pytest.raises(RuntimeError, match=message):
            _capture(function, *args)
        assert not ember.cuda.is_current_stream_capturing(), what
    # the refused captures ran nothing (but RMSprop's eager step): the parameters are those of before it
    np.testing.assert_array_equal(model.eval()(images).detach().cpu().numpy(), after_rmsprop)


def test_adam_without_capturable_is_refused_in_a_capture():
    model, _ = _twin_models()
    step = _train_step(model, ember.optim.Adam(model.parameters(), lr=1e-3))
    images, labels = next(_batches(1))
    step(images, labels)
    with pytest.raises(RuntimeError, match="capturable=True"):
        _capture(step, images, labels)


def test_make_graphed_step_takes_cuda_tensors_only():
    graphed = ember.cuda.make_graphed_step(lambda x: x * 2)
    with pytest.raises(TypeError, match="must be cuda tensors"):
        graphed(ember.ones(3))
    with pytest.raises(ValueError, match="warmup must be at least 1"):
        ember.cuda.make_graphed_step(lambda x: x, warmup=0)


def test_trainer_with_cuda_graphs_trains_as_without():
    """``Trainer(cuda_graphs=True)``, a per-batch OneCycle schedule and a smaller last batch (its own graph)."""
    from ember.data import DataLoader, TensorDataset
    from ember.training import Trainer
    rng = np.random.default_rng(2)
    dataset = TensorDataset(ember.tensor(rng.standard_normal((30, 1, 8, 8)).astype(np.float32)),
                            ember.tensor(rng.integers(0, 10, 30)))
    histories, models = [], _twin_models()
    for model, graphs in zip(models, (False, True)):
        optimizer = ember.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        scheduler = ember.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.05, total_steps=32)
        trainer = Trainer(model, optimizer, scheduler, progress=False, step_scheduler_per_batch=True,
                          cuda_graphs=graphs)
        histories.append([trainer.train_epoch(DataLoader(dataset, batch_size=4)) for _ in range(4)])
    assert len(trainer._graphed_step._graphs) == 2  # batches of 4, and the last one of 2 from epoch 4
    for eager, graphed in zip(*histories):
        np.testing.assert_allclose(graphed["loss"], eager["loss"], rtol=1e-5)
        assert graphed["accuracy"] == eager["accuracy"]
    for (key, a), (_, b) in zip(models[0].state_dict().items(), models[1].state_dict().items()):
        np.testing.assert_allclose(b.cpu().numpy(), a.cpu().numpy(), rtol=1e-4, atol=1e-6, err_msg=key)


def test_dropout_in_a_graph_draws_new_masks_at_each_replay_as_eager_calls_do():
    x = ember.ones(2000, device="cuda")
    ember.manual_seed(3)
    eager = [nn.functional.dropout(x, 0.5).cpu().numpy() for _ in range(3)]
    ember.manual_seed(3)
    graph = ember.cuda.CUDAGraph()
    with ember.cuda.graph(graph):
        y = nn.functional.dropout(x, 0.5)
    graphed = []
    for _ in range(3):
        graph.replay()
        graphed.append(y.cpu().numpy())
    for step, (a, b) in enumerate(zip(eager, graphed)):
        np.testing.assert_array_equal(b, a, err_msg=f"draw {step}")
        assert set(np.unique(b)) == {0.0, 2.0} and 0.45 < np.mean(b == 0) < 0.55
    assert not np.array_equal(graphed[0], graphed[1])


ZOO = {  # small versions of the zoo's other models, dropout included: (constructor arguments, input, target)
    "resnet": (dict(in_channels=3, num_classes=10, widths=(4, 8, 8), blocks_per_stage=1),
               lambda rng: rng.standard_normal((4, 3, 8, 8)).astype(np.float32), lambda rng: rng.integers(0, 10, 4)),
    "char-rnn": (dict(vocab_size=12, embedding_dim=8, hidden_size=8, num_layers=2, dropout=0.2),
                 lambda rng: rng.integers(0, 12, (2, 5)), lambda rng: rng.integers(0, 12, (2, 5))),
    "char-rnn-gru": (dict(vocab_size=12, embedding_dim=8, hidden_size=8, num_layers=2, dropout=0.2, cell="gru"),
                     lambda rng: rng.integers(0, 12, (2, 5)), lambda rng: rng.integers(0, 12, (2, 5))),
    "gpt": (dict(vocab_size=12, context=8, d_model=8, nhead=2, num_layers=1, dropout=0.2),
            lambda rng: rng.integers(0, 12, (2, 5)), lambda rng: rng.integers(0, 12, (2, 5))),
}


@pytest.mark.parametrize("name", ZOO)
def test_zoo_models_train_from_a_graph_as_eagerly_dropout_included(name):
    kwargs, make_input, make_target = ZOO[name]
    ember.manual_seed(0)
    models = [ember.models.create(name.replace("-gru", ""), **kwargs) for _ in range(2)]
    models[1].load_state_dict(models[0].state_dict())
    losses = []
    for model, graphed in zip(models, (False, True)):
        model.to("cuda")
        optimizer = ember.optim.AdamW(model.parameters(), lr=1e-2, capturable=graphed)

        def step(x, y, model=model, optimizer=optimizer):
            logits = model(x)[0] if name != "resnet" else model(x)
            loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            return loss
        run = ember.cuda.make_graphed_step(step, warmup=2) if graphed else step
        rng = np.random.default_rng(4)
        ember.manual_seed(1)  # the same dropout masks, drawn eagerly or by the replays
        losses.append([run(ember.tensor(make_input(rng), device="cuda"),
                           ember.tensor(make_target(rng), device="cuda")).item() for _ in range(5)])
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-5)


def test_replay_refuses_what_changed_the_captured_step():
    """Changes that pick other kernels or other memory than the capture saw: momentum turned off,
    eval mode, an optimizer state loaded (new groups) or replaced (new arrays)."""
    model, _ = _twin_models()
    optimizer = ember.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    step = _train_step(model, optimizer)
    images, labels = next(_batches(1))
    step(images, labels)
    changes = {
        "whether SGD's 'momentum' is 0": lambda: optimizer.param_groups[0].update(momentum=0.0),
        "Sequential.training": model.eval,
        "whether the group is one of SGD's": lambda: optimizer.load_state_dict(optimizer.state_dict()),
        "the arrays of SGD's parameters and state": lambda: optimizer.state[next(model.parameters())].update(
            momentum_buffer=ember.zeros_like(next(model.parameters()))),
    }
    for what, change in changes.items():
        optimizer.param_groups[0]["momentum"] = 0.9
        model.train()
        graph = ember.cuda.CUDAGraph()
        with ember.cuda.graph(graph):
            step(images, labels)
        graph.replay()
        change()
        with pytest.raises(RuntimeError, match=f"CUDAGraph.replay: {what}"):
            graph.replay()


def test_a_vector_times_a_matrix_in_a_capture():
    w = ember.tensor(np.arange(12.0).reshape(3, 4), dtype=ember.float32, device="cuda")
    v = ember.tensor([1.0, -2.0, 0.5], device="cuda")
    u = ember.tensor([2.0, 0.0, 1.0, -1.0], device="cuda")
    graph = ember.cuda.CUDAGraph()
    with ember.cuda.graph(graph):
        outputs = (v @ w, w @ u, v @ v, nn.functional.linear(u, w))
    graph.replay()
    host_w, host_v, host_u = w.cpu().numpy(), v.cpu().numpy(), u.cpu().numpy()
    for got, expected in zip(outputs, (host_v @ host_w, host_w @ host_u, host_v @ host_v, host_w @ host_u)):
        assert got.shape == expected.shape
        np.testing.assert_allclose(got.cpu().numpy(), expected, rtol=1e-6)
