"""Shared test helpers: Hydra composition of shrunk configs."""

from __future__ import annotations

import functools
import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, open_dict

from recsys_pyg.models import propagation

CONF = str(Path(__file__).resolve().parents[1] / "conf")
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def make_cfg(overrides: list[str], output_dir: Path) -> DictConfig:
    """Compose ``conf/config.yaml`` with overrides; W&B off unless overridden, output in ``output_dir``
    (a test that trains twice there replaces the first record: ``train.overwrite=true``)."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose("config", overrides=["logger=none", "train.progress=false", "train.overwrite=true", *overrides])
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)
    return cfg


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (``make test`` runs ``-n auto``), one torch thread per worker: workers x threads
    stay within the cores instead of oversubscribing them (results never depend on the thread count)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def isolate_process_state() -> Iterator[None]:
    """Restore what a test may change for the whole process, so no result depends on test order:
    torch's thread count (``train.num_threads``), the spmm backend a run selected, torch's global
    random state and the determinism flag. Every test starts from the same seed: what ran before it in its worker
    (module fixtures, other tests under pytest-xdist's scheduling) cannot change an unseeded draw of its own."""
    threads, backend = torch.get_num_threads(), propagation.get_backend()
    rng, deterministic = torch.get_rng_state(), torch.are_deterministic_algorithms_enabled()
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)
    propagation.set_backend(backend)
    torch.set_rng_state(rng)
    torch.use_deterministic_algorithms(deterministic)


@pytest.fixture
def cfg_factory(tmp_path: Path):
    return lambda *overrides: make_cfg(list(overrides), tmp_path)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A loopback HTTP server on a free port serving ``tmp_path/www``; yields ``(base url, folder)``."""
    root = tmp_path / "www"
    root.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=root))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
