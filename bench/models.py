"""Training steps of the zoo models, for ``ember bench --models``: the same architecture built by
the zoo's builders from ``ember.nn`` and from ``torch.nn``, the same batch, forward + backward +
optimizer step. Sizes are the issue's reference points: MLP 784-256-128-10, LeNet-5 and the CIFAR CNN
at batch 64 with SGD (momentum 0.9); the char-LSTM (vocab 65, embedding 64, hidden 128, 64 steps,
batch 32) with Adam. The model is built on the cpu from the seed, then moved to the batch's device.
On cuda, ember also times each step replayed from a CUDA graph ("graphed"), against PyTorch's eager step.
"""
import numpy as np

from ember.models.cnn import cifar_cnn_layers, lenet_layers
from ember.models.mlp import mlp_layers
from ember.models.sequence import char_rnn_forward, char_rnn_modules

from .cases import Case

VOCAB, EMBEDDING, HIDDEN, SEQUENCE = 65, 64, 128, 64


def _char_lstm(lib):
    class CharLSTM(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding, self.rnn, self.head = char_rnn_modules(lib.nn, VOCAB, EMBEDDING, HIDDEN, 1, 0.0)

        def forward(self, ids):
            return char_rnn_forward(self, ids)[0]
    return CharLSTM()


def _train_step(build_model, optimizer, graphed=False):
    """build(lib, inputs, targets) for a Case: the model's training step, returning the loss; with
    ``graphed``, ember's step replayed from a CUDA graph (``ember.cuda.make_graphed_step``)."""
    def build(lib, inputs, targets):
        lib.manual_seed(0)
        model = build_model(lib).to(inputs.device)
        opt = optimizer(lib, model.parameters(), graphed)
        inputs, targets = inputs.detach(), targets.detach()

        def step(inputs, targets):
            logits = model(inputs)
            loss = lib.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss
        run = lib.cuda.make_graphed_step(step) if graphed else step
        return lambda: run(inputs, targets)
    return build


def _sgd(lib, parameters, graphed):
    return lib.optim.SGD(parameters, lr=0.01, momentum=0.9)


def _adam(lib, parameters, graphed):
    return lib.optim.Adam(parameters, lr=2e-3, capturable=graphed)


def _images(*shape):
    return lambda rng: [rng.standard_normal(shape).astype(np.float32), rng.integers(0, 10, shape[0])]


def _text(rng):
    ids = rng.integers(0, VOCAB, (32, SEQUENCE + 1))
    return [ids[:, :-1], ids[:, 1:]]


def model_cases():
    """Cases timed in mode 'train' (one step); ``shape`` names the batch."""
    def case(name, build_model, make, batch, optimizer):
        return Case(name, f"batch {batch}", make, _train_step(build_model, optimizer), modes=("train",),
                    cuda_variants={"graphed": _train_step(build_model, optimizer, graphed=True)})
    return [
        case("mlp", lambda lib: mlp_layers(lib.nn), _images(64, 1, 28, 28), 64, _sgd),
        case("lenet", lambda lib: lenet_layers(lib.nn), _images(64, 1, 28, 28), 64, _sgd),
        case("cifar-cnn", lambda lib: cifar_cnn_layers(lib.nn), _images(64, 3, 32, 32), 64, _sgd),
        case("char-lstm", _char_lstm, _text, 32, _adam),
    ]
