"""Registries: one place where each kind of component (observation model, prior, network, model, objective)
is named, so that adding one is one class and one `register` line, never a switch edited in several modules.

    OBSERVATIONS = Registry("likelihood")

    @OBSERVATIONS.register("bernoulli")
    class BernoulliObservation: ...

    OBSERVATIONS["bernoulli"]        # the class
    OBSERVATIONS.names()             # ("bernoulli", ...), in registration order
    OBSERVATIONS.name_of(obj)        # "bernoulli" for an instance (or the class) registered under that name
    OBSERVATIONS.unregister("bernoulli")   # remove it again (a test's own component, after the test)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Names -> classes for one kind of component. `what` names the kind in error messages."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Class decorator: register the class under `name` (and set its `name` attribute)."""

        def decorate(item: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.what} {name!r} is registered twice")
            self._items[name] = item
            item.name = name  # type: ignore[attr-defined]
            return item

        return decorate

    def unregister(self, name: str) -> T:
        """Remove the item registered under `name` and return it (for components registered for a while, such as
        a test's own prior); `ValueError` naming the registered ones if there is none."""
        item = self[name]
        del self._items[name]
        return item

    def __getitem__(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise ValueError(f"unknown {self.what} {name!r}; choose one of {', '.join(self._items)}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def items(self) -> list[tuple[str, T]]:
        return list(self._items.items())

    def values(self) -> list[T]:
        return list(self._items.values())

    def names(self) -> tuple[str, ...]:
        return tuple(self._items)

    def names_where(self, predicate: Callable[[T], bool]) -> tuple[str, ...]:
        """The names of the items for which `predicate` holds, in registration order (e.g. the priors that have
        components): what a config option's `when` condition lists, read from the components themselves."""
        return tuple(name for name, item in self._items.items() if predicate(item))

    def name_of(self, obj: object) -> str | None:
        """The name `obj` (an instance or a class) is registered under, or None: exact types only, so that a
        user's subclass is never mistaken for the registered class."""
        cls = obj if isinstance(obj, type) else type(obj)
        for name, item in self._items.items():
            if item is cls:
                return name
        return None
