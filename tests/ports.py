"""One check that an adapter implements a core port: the same coroutine methods with the same
parameters (names, kinds, defaults). mypy checks the types; this catches, at test time, a method the
port gained that an implementation lacks or spells differently."""

from __future__ import annotations

import inspect


def port_methods(port: type) -> list[str]:
    return [name for name, value in vars(port).items() if inspect.iscoroutinefunction(value)]


def assert_implements(port: type, impl: type) -> None:
    methods = port_methods(port)
    assert methods, f"{port.__name__} declares no coroutine methods"
    for name in methods:
        implementation = getattr(impl, name, None)
        assert implementation is not None and inspect.iscoroutinefunction(implementation), f"{impl.__name__}.{name}"
        wanted = list(inspect.signature(getattr(port, name)).parameters.values())
        got = list(inspect.signature(implementation).parameters.values())
        shape = [(p.name, p.kind, p.default) for p in wanted]
        # an implementation may add optional keyword-only parameters at the end, nothing else
        extra = got[len(wanted) :]
        assert [(p.name, p.kind, p.default) for p in got[: len(wanted)]] == shape, f"{impl.__name__}.{name}"
        assert all(
            p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is not inspect.Parameter.empty for p in extra
        ), f"{impl.__name__}.{name}"
