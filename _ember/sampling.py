"""Generating text from a character model, one character at a time."""
import numpy as np

from .engine import no_grad, tensor
from .engine.random import generator_numpy


def sample_text(model, vocab, prompt="\n", length=500, temperature=0.8):
    """``prompt`` followed by ``length`` characters drawn from ``model``'s predictions, each at
    ``temperature`` (lower: more conservative). Recurrent models carry their state; others (GPT)
    re-read the last ``model.context`` characters."""
    stoi = {ch: i for i, ch in enumerate(vocab)}
    unknown = sorted(set(prompt) - set(stoi))
    if unknown:
        raise ValueError(f"sample: the prompt has characters the model never saw: {unknown}")
    ids = [stoi[ch] for ch in prompt]
    context = getattr(model, "context", None)
    rng = generator_numpy()
    model.eval()
    with no_grad():
        state, feed = None, ids
        for _ in range(length):
            window = feed if context is None else ids[-context:]
            logits, state = model(tensor([window]), state if context is None else None)
            scores = logits[0, -1].numpy().astype(np.float64) / max(temperature, 1e-6)
            probabilities = np.exp(scores - scores.max())
            probabilities /= probabilities.sum()
            ids.append(int(rng.choice(len(vocab), p=probabilities)))
            feed = ids[-1:]
    return "".join(vocab[i] for i in ids)
