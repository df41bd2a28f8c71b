"""``ember.nn``: modules, layers and losses (the Module API arrives with issue 3); ``functional``
holds the functional forms of every op."""
from . import functional

__all__ = ["functional"]
