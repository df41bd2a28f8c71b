"""Training loops: ``Trainer`` fits a model with progress bars, metric history, a checkpoint per
epoch (and resume), and a training-curve plot.

    trainer = Trainer(model, ember.optim.Adam(model.parameters(), lr=1e-3))
    history = trainer.fit(train_loader, epochs=3, val_loader=test_loader)

Two tasks: ``"classification"`` (logits (N, C) against labels (N,); reports accuracy) and
``"language-model"`` (the model returns ``(logits (N, L, V), state)`` for inputs (N, L); reports
loss per character and perplexity).
"""
import functools
import math
import os
import time

import ember

from . import nn
from .distributed import DistributedDataParallel
from .engine import no_grad
from .engine.cuda_graphs import bake, make_graphed_step
from .serialization import load, save

TASKS = ("classification", "language-model")


class Trainer:
    """Fits ``model`` with ``optimizer`` (and an optional per-epoch ``scheduler``).

    ``checkpoint_dir``: where ``checkpoint.safetensors`` (the latest epoch) and ``curves.png`` go;
    ``grad_clip``: max global gradient norm, or None; ``progress``: show tqdm bars;
    ``step_scheduler_per_batch``: step the scheduler after every batch (OneCycleLR) rather than
    after every epoch. ``loss_fn(logits, targets, inputs) -> loss`` replaces the cross entropy of
    training batches (evaluation keeps the cross entropy), e.g. a distillation loss. ``main_process=False`` (the ranks other than 0 of a distributed run) trains
    silently: no progress bars, log lines, validation, checkpoints or plots. A
    ``DistributedDataParallel`` model is checkpointed as the model it wraps, and a training loader
    whose sampler has ``set_epoch`` (``DistributedSampler``) gets it before each epoch, and its
    training loss, accuracy and samples/s are those of all ranks together. ``cuda_graphs=True``
    replays each training step (forward, loss, backward, clipping, optimizer step) from a CUDA graph
    (``ember.cuda.make_graphed_step``) when the model is on a GPU: for small models, whose steps the
    host's cost per kernel bounds. It needs an optimizer that a graph can hold (SGD, or Adam/AdamW
    with ``capturable=True``); dropout is fine.
    """

    def __init__(self, model, optimizer, scheduler=None, task="classification", checkpoint_dir=None,
                 grad_clip=None, progress=True, config=None, step_scheduler_per_batch=False, main_process=True,
                 loss_fn=None, cuda_graphs=False):
        if task not in TASKS:
            raise ValueError(f"Trainer: task must be one of {TASKS}, got '{task}'")
        if cuda_graphs and isinstance(model, DistributedDataParallel):
            raise ValueError("Trainer: cuda_graphs=True cannot capture a DistributedDataParallel step (its "
                             "gradient all-reduce runs outside the graph's stream); train without it")
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler
        self.task, self.checkpoint_dir = task, checkpoint_dir
        self.grad_clip, self.progress = grad_clip, progress and main_process
        self.main_process = main_process
        self.loss_fn = loss_fn
        self.step_scheduler_per_batch = step_scheduler_per_batch  # e.g. OneCycleLR
        self._graphed_step = make_graphed_step(self._train_batch) if cuda_graphs else None
        self.config = dict(config or {})
        self.history = []
        self.epoch = 0

    # ---- one batch ------------------------------------------------------------------------------

    def _on_model_device(self, inputs, targets):
        """The batch on the model's device (loaders yield cpu tensors)."""
        param = next(self.model.parameters(), None)  # an int8 model has buffers only
        device = param.device if param is not None else inputs.device
        return inputs.to(device), targets.to(device)

    def _loss_and_correct(self, inputs, targets):
        """Loss (mean over predictions) and the number of correct predictions (a 0-d tensor, on the
        model's device: read on the host only after the step) of a batch on the model's device."""
        output = self.model(inputs)
        if self.task == "language-model":
            logits = output[0] if isinstance(output, tuple) else output
            logits = logits.reshape(-1, logits.shape[-1])
            targets = targets.reshape(-1)
        else:
            logits = output
        if self.loss_fn is not None and self.model.training:
            loss = self.loss_fn(logits, targets, inputs)
        else:
            loss = nn.functional.cross_entropy(logits, targets)
        with no_grad():
            correct = (logits.argmax(dim=-1) == targets).sum()
        return loss, correct

    def _predictions(self, targets):
        """How many predictions a batch's loss averages: one per token for a language model."""
        return targets.numel() if self.task == "language-model" else targets.shape[0]

    def _train_batch(self, inputs, targets):
        """One optimisation step on a batch on the model's device: (loss, number correct), 0-d tensors.
        Nothing here reads the device from the host, so that a CUDA graph can hold it."""
        for option in ("grad_clip", "loss_fn", "task"):  # what a graph holds as it was at the capture
            bake(f"Trainer.{option}", functools.partial(getattr, self, option), getattr(self, option))
        loss, correct = self._loss_and_correct(inputs, targets)
        self.optimizer.zero_grad()
        loss.backward()
        if self.grad_clip is not None:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.optimizer.step()
        return loss.detach(), correct

    def train_epoch(self, loader):
        """One pass over ``loader`` in training mode; returns the epoch's mean loss and accuracy."""
        self.model.train()
        total_loss = total_correct = total_count = samples = 0
        start = time.perf_counter()
        bar = _progress(loader, f"epoch {self.epoch + 1}", self.progress)
        for inputs, targets in bar:
            inputs, targets = self._on_model_device(inputs, targets)
            graphed = self._graphed_step is not None and inputs.device.type == "cuda"
            loss, correct = (self._graphed_step if graphed else self._train_batch)(inputs, targets)
            if self.scheduler is not None and self.step_scheduler_per_batch:
                self.scheduler.step()
            count = self._predictions(targets)
            samples += inputs.shape[0]
            total_loss += loss.item() * count
            total_correct += int(correct.item())
            total_count += count
            if hasattr(bar, "set_postfix"):
                elapsed = time.perf_counter() - start
                bar.set_postfix(loss=f"{total_loss / total_count:.4f}",
                                acc=f"{total_correct / total_count:.3f}",
                                samples_s=f"{samples / elapsed:.0f}")
        seconds = time.perf_counter() - start
        if isinstance(self.model, DistributedDataParallel):
            total_loss, total_correct, total_count, samples, seconds = _over_ranks(
                total_loss, total_correct, total_count, samples, seconds)
        return {"loss": total_loss / max(total_count, 1), "accuracy": total_correct / max(total_count, 1),
                "seconds": seconds, "samples_per_s": samples / seconds}

    def evaluate(self, loader):
        """Mean loss and accuracy (and perplexity for language models) over ``loader``, in eval mode
        and without recording a graph."""
        self.model.eval()
        total_loss = total_correct = total_count = 0
        with no_grad():
            for inputs, targets in loader:
                inputs, targets = self._on_model_device(inputs, targets)
                loss, correct = self._loss_and_correct(inputs, targets)
                count = self._predictions(targets)
                total_loss += loss.item() * count
                total_correct += int(correct.item())
                total_count += count
        result = {"loss": total_loss / max(total_count, 1), "accuracy": total_correct / max(total_count, 1)}
        if self.task == "language-model":
            result["perplexity"] = math.exp(min(result["loss"], 50.0))
        return result

    # ---- the loop -------------------------------------------------------------------------------

    def fit(self, train_loader, epochs, val_loader=None, resume=False, log=print):
        """Train until ``epochs`` epochs are done (counting those of a resumed checkpoint), evaluate
        on ``val_loader`` after each, checkpoint and plot. Returns the history (one dict per epoch)."""
        if resume:
            self.load_checkpoint()
        if not self.main_process:
            val_loader, log = None, _quiet
        while self.epoch < epochs:
            sampler = getattr(train_loader, "sampler", None)
            if hasattr(sampler, "set_epoch"):
                sampler.set_epoch(self.epoch)
            train = self.train_epoch(train_loader)
            record = {"epoch": self.epoch + 1, "lr": self.optimizer.param_groups[0]["lr"]}
            record.update({f"train_{k}": v for k, v in train.items()})
            if val_loader is not None:
                record.update({f"val_{k}": v for k, v in self.evaluate(val_loader).items()})
            if self.scheduler is not None and not self.step_scheduler_per_batch:
                if isinstance(self.scheduler, ember.optim.lr_scheduler.ReduceLROnPlateau):
                    self.scheduler.step(record.get("val_loss", record["train_loss"]))
                else:
                    self.scheduler.step()
            self.epoch += 1
            self.history.append(record)
            log(_describe(record))
            if self.checkpoint_dir is not None and self.main_process:
                self.save_checkpoint()
                self.plot()
        return self.history

    # ---- checkpoints and plots ------------------------------------------------------------------

    @property
    def checkpoint_path(self):
        return os.path.join(self.checkpoint_dir, "checkpoint.safetensors")

    def save_checkpoint(self, path=None):
        """Model, optimizer, scheduler, epoch, history and config in one safetensors file."""
        path = path or self.checkpoint_path
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        state = {"model": _unwrapped(self.model).state_dict(), "optimizer": self.optimizer.state_dict(),
                 "epoch": self.epoch, "history": self.history, "config": self.config, "task": self.task}
        if self.scheduler is not None:
            state["scheduler"] = self.scheduler.state_dict()
        save(state, path)
        return path

    def load_checkpoint(self, path=None):
        """Restore everything ``save_checkpoint`` wrote; training continues after its epoch."""
        path = path or self.checkpoint_path
        if not os.path.exists(path):
            return False
        state = load(path)
        _unwrapped(self.model).load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and "scheduler" in state:
            self.scheduler.load_state_dict(state["scheduler"])
        self.epoch, self.history = int(state["epoch"]), list(state["history"])
        return True

    def plot(self, path=None):
        """Loss and accuracy per epoch (train and validation) as a PNG; None without matplotlib."""
        try:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
            from matplotlib.ticker import MaxNLocator
        except ImportError:
            return None
        path = path or os.path.join(self.checkpoint_dir, "curves.png")
        epochs = [r["epoch"] for r in self.history]
        figure, axes = plt.subplots(1, 2, figsize=(10, 4))
        for axis, metric in zip(axes, ("loss", "accuracy")):
            for split in ("train", "val"):
                key = f"{split}_{metric}"
                if all(key in r for r in self.history):
                    axis.plot(epochs, [r[key] for r in self.history], marker="o", label=split)
            axis.set_xlabel("epoch")
            axis.xaxis.set_major_locator(MaxNLocator(integer=True))
            axis.set_ylabel(metric)
            axis.grid(alpha=0.3)
            axis.legend()
        figure.suptitle(self.config.get("title", type(self.model).__name__))
        figure.tight_layout()
        figure.savefig(path, dpi=100)
        plt.close(figure)
        return path


def _over_ranks(total_loss, total_correct, total_count, samples, seconds):
    """An epoch's totals summed over the ranks of a distributed run, so every rank (and rank 0's log)
    reports the whole global batch's loss, accuracy and throughput; the epoch lasts as long as the
    slowest rank. Every rank must call it."""
    from .distributed.process_group import all_gather_object
    ranks = all_gather_object((total_loss, total_correct, total_count, samples, seconds))
    return tuple(sum(r[i] for r in ranks) for i in range(4)) + (max(r[4] for r in ranks),)


def _unwrapped(model):
    return model.module if isinstance(model, DistributedDataParallel) else model


def _quiet(line):
    pass


def _progress(loader, description, enabled):
    if not enabled:
        return loader
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return loader
    return tqdm(loader, desc=description, leave=False, dynamic_ncols=True)


def _describe(record):
    parts = [f"epoch {record['epoch']:3d}", f"train loss {record['train_loss']:.4f}"]
    if "val_perplexity" in record:
        parts.append(f"val loss {record['val_loss']:.4f} (perplexity {record['val_perplexity']:.2f})")
    elif "val_accuracy" in record:
        parts.append(f"train acc {record['train_accuracy']:.3f}  val loss {record['val_loss']:.4f}  "
                     f"val acc {record['val_accuracy']:.3f}")
    parts.append(f"{record['train_seconds']:.1f} s ({record['train_samples_per_s']:.0f} samples/s)")
    return "  ".join(parts)
