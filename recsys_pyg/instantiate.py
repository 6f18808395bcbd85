"""Hydra's ``instantiate`` for the run's parts, with a bad value's error naming its config key."""

from __future__ import annotations

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
    """``err`` with ``<key>.`` (when its message starts with one of the node's keys) or ``<key>:`` before it."""
    message = str(err)
    first = message.split(" ", 1)[0].split("=", 1)[0]
    if first.startswith(f"{key}.") or message.startswith(f"{key}:"):
        return err  # already named
    return type(err)((f"{key}." if first in node else f"{key}: ") + message)
