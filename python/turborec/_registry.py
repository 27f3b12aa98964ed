"""Model classes by name, so a saved model can be loaded without persistence importing the models:
every public :class:`turborec.models.base.Recommender` subclass registers itself when defined."""

from __future__ import annotations

_MODELS: dict[str, type] = {}


def register(cls: type) -> type:
    """Register cls under its name. The first class of a name keeps it (a user's subclass that
    happens to share a built-in's name does not shadow it), except that a class redefined by the
    same module (a reload) replaces itself."""
    known = _MODELS.get(cls.__name__)
    if known is None or (known.__module__, known.__qualname__) == (cls.__module__, cls.__qualname__):
        _MODELS[cls.__name__] = cls
    return cls


def model_class(name: str):
    """The registered class called ``name``, or None."""
    return _MODELS.get(name)


def model_names() -> list[str]:
    return sorted(_MODELS)
