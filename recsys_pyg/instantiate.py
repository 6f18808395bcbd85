"""Hydra's ``instantiate`` for the run's parts, with a bad value's error naming its config key."""

from __future__ import annotations

import inspect
from typing import Any

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig


def build(node: DictConfig, key: str, **run_args: Any) -> Any:
    """``instantiate(node)`` (then, for a ``_partial_`` node, called with ``run_args``), but a bad value
    surfaces as an error naming the config key.

    A constructor's ``ValueError``/``TypeError`` is re-raised as the same type with ``<key>.`` or
    ``<key>:`` before its message (``model.embedding_dim must be a positive integer, got 'abc'``);
    any other error (a data file's, say, which names its file and line) is re-raised unchanged.
    """
    try:
        built = instantiate(node)
        return built(**run_args) if run_args else built
    except InstantiationException as err:
        cause = err.__cause__
        if cause is None or type(cause) not in (ValueError, TypeError):
            raise (cause or err) from None
        raise named(cause, node, key) from cause
    except (ValueError, TypeError) as err:
        if type(err) not in (ValueError, TypeError):
            raise
        raise named(err, node, key) from err


def named(err: Exception, node: DictConfig, key: str) -> Exception:
    """``err`` with ``<key>.`` (when its message starts with one of the node's keys) or ``<key>:`` before it.

    A library's error that names no key (``torch.optim.Adam`` comparing ``lr='abc'``: ``'<=' not supported``)
    is blamed on the value that cannot be what the constructor's default is (a string where it takes a number):
    ``optimizer.lr must be a number, got 'abc'``."""
    message = str(err)
    first = message.split(" ", 1)[0].split("=", 1)[0]
    if first.startswith(f"{key}.") or message.startswith(f"{key}:"):
        return err  # already named
    if first in node:
        return type(err)(f"{key}.{message}")
    culprits = mistyped(node)
    if culprits:
        what = "; ".join(f"{key}.{name} must be {kind}, got {value!r}" for name, kind, value in culprits)
        return type(err)(f"{what} ({message})")
    return type(err)(f"{key}: {message}")


def mistyped(node: DictConfig) -> list[tuple[str, str, Any]]:
    """The node's values that are text where its ``_target_``'s parameter defaults to a number or a bool."""
    try:
        from hydra.utils import get_object

        params = inspect.signature(get_object(str(node.get("_target_")))).parameters
    except Exception:  # no target, or one that cannot be inspected: nothing to blame
        return []
    found = []
    for name, param in params.items():
        default, value = param.default, node.get(name) if name in node else None
        if not isinstance(value, str) or default is inspect.Parameter.empty:
            continue
        if isinstance(default, bool):
            found.append((name, "true or false", value))
        elif isinstance(default, (int, float)):
            found.append((name, "a number", value))
    return found
