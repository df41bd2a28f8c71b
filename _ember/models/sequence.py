"""Sequence models for character-level language modelling: an LSTM/GRU and a small GPT."""
import ember

from .. import nn


def char_rnn_modules(nn, vocab_size, embedding_dim=64, hidden_size=256, num_layers=2, dropout=0.1,
                     cell="lstm"):
    """(embedding, recurrent layer, head) of a character model; ``nn`` is ``ember.nn`` or
    ``torch.nn`` (the same architecture in both, for the benchmark)."""
    recurrent = {"lstm": nn.LSTM, "gru": nn.GRU}[cell]
    return (nn.Embedding(vocab_size, embedding_dim),
            recurrent(embedding_dim, hidden_size, num_layers, batch_first=True,
                      dropout=dropout if num_layers > 1 else 0.0),
            nn.Linear(hidden_size, vocab_size))


def char_rnn_forward(model, ids, state=None):
    """Logits (N, L, vocab) and the recurrent state for ids (N, L)."""
    output, state = model.rnn(model.embedding(ids), state)
    return model.head(output), state


class CharRNN(nn.Module):
    """Embedding -> LSTM (or GRU) -> Linear over the vocabulary. Input (N, L) int64 ids -> logits
    (N, L, vocab_size) and the state, so sampling can feed one character at a time."""

    def __init__(self, vocab_size, embedding_dim=64, hidden_size=256, num_layers=2, dropout=0.1,
                 cell="lstm"):
        super().__init__()
        self.embedding, self.rnn, self.head = char_rnn_modules(nn, vocab_size, embedding_dim,
                                                               hidden_size, num_layers, dropout, cell)

    forward = char_rnn_forward


class GPT(nn.Module):
    """A small decoder-only transformer: token and learned position embeddings, pre-norm causal
    self-attention blocks (TransformerEncoderLayer with a causal mask), a final LayerNorm and a
    linear head. Input (N, L) ids with L <= context -> logits (N, L, vocab_size)."""

    def __init__(self, vocab_size, context=128, d_model=128, nhead=4, num_layers=4, dropout=0.1):
        super().__init__()
        self.context = context
        self.token = nn.Embedding(vocab_size, d_model)
        self.position = nn.Embedding(context, d_model)
        layer = nn.TransformerEncoderLayer(d_model, nhead, 4 * d_model, dropout, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, num_layers)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size)

    def forward(self, ids, state=None):
        length = ids.shape[1]
        if length > self.context:
            raise ValueError(f"GPT: sequence length {length} exceeds the context of {self.context}")
        x = self.token(ids) + self.position(ember.arange(length, device=ids.device))
        causal = ember.ones(length, length, dtype=ember.bool, device=ids.device).triu(1)  # True: may not attend
        return self.head(self.norm(self.blocks(x, mask=causal, is_causal=True))), None
