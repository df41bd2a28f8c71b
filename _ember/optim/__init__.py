"""ember.optim: optimizers and learning-rate schedulers, with torch.optim's names and semantics.

    optimizer = ember.optim.Adam(model.parameters(), lr=1e-3)
    scheduler = ember.optim.lr_scheduler.StepLR(optimizer, step_size=10)
    for x, y in loader:
        optimizer.zero_grad()
        loss_fn(model(x), y).backward()
        optimizer.step()
    scheduler.step()
"""
from . import lr_scheduler
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .optimizer import Optimizer, register_optimizer_step_post_hook, register_optimizer_step_pre_hook
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "lr_scheduler",
           "register_optimizer_step_pre_hook", "register_optimizer_step_post_hook"]
