"""``ember.nn``: modules, layers, losses and their functional forms (``ember.nn.functional``)."""
from . import functional, init, utils
from .activation import *      # noqa: F401,F403
from .containers import ModuleDict, ModuleList, ParameterDict, ParameterList, Sequential
from .ensemble import Ensemble
from .conv import *            # noqa: F401,F403
from .linear import *          # noqa: F401,F403
from .loss import *            # noqa: F401,F403
from .module import Module, Parameter
from .normalization import *   # noqa: F401,F403
from .pooling import *         # noqa: F401,F403
from .rnn import *             # noqa: F401,F403
from .sparse import *          # noqa: F401,F403
from .summary import summary
from .transfer import LoadReport, load_matching, replace_head
from .transformer import *     # noqa: F401,F403


def __getattr__(name):
    # SyncBatchNorm lives in ember.distributed (it needs the process group, which sits above nn)
    if name == "SyncBatchNorm":
        from ..distributed.sync_batchnorm import SyncBatchNorm
        return SyncBatchNorm
    raise AttributeError(f"module 'ember.nn' has no attribute '{name}'")
