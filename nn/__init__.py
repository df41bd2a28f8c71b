"""``ember.nn``: modules, layers, losses and their functional forms (``ember.nn.functional``)."""
from . import functional
from .containers import ModuleDict, ModuleList, ParameterDict, ParameterList, Sequential
from .module import Module, Parameter
from .summary import summary

__all__ = ["functional", "Module", "Parameter", "Sequential", "ModuleList", "ModuleDict",
           "ParameterList", "ParameterDict", "summary"]
