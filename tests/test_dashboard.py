"""recsys-dashboard: its refusals, and (slow) a real sweep browsed in the MLflow UI by headless Chromium."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from recsys_pyg import dashboard
from recsys_pyg.records.mlflow_logger import RUN_FILE
from recsys_pyg.records.record import read_metrics_file


def test_no_store_says_how_to_make_one(tmp_path, capsys):
    pytest.importorskip("mlflow", reason="mlflow is not installed: pip install -e '.[mlflow]'")  # said first
    assert dashboard.main(["--store", str(tmp_path / "mlflow")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"recsys-dashboard: error: no MLflow store at {tmp_path / 'mlflow' / 'mlflow.db'}")
    assert "logger=mlflow" in err and err.count("\n") == 1


def test_an_empty_store_says_it_holds_no_run(tmp_path, capsys):
    pytest.importorskip("mlflow", reason="mlflow is not installed: pip install -e '.[mlflow]'")
    sqlite3.connect(tmp_path / "mlflow.db").close()  # a database without MLflow's tables
    assert dashboard.main(["--store", str(tmp_path)]) == 1
    assert "holds no run yet: train with logger=mlflow first" in capsys.readouterr().err


def test_without_mlflow_it_says_what_to_install(tmp_path, capsys, monkeypatch):
    real = dashboard.importlib.util.find_spec
    absent = lambda name, *args: None if name == "mlflow" else real(name, *args)  # noqa: E731
    monkeypatch.setattr(dashboard.importlib.util, "find_spec", absent)
    assert dashboard.main(["--store", str(tmp_path)]) == 1
    assert capsys.readouterr().err == "recsys-dashboard: error: mlflow is not installed: pip install -e '.[mlflow]'\n"


# --- slow: a 4-job sweep, the UI on a loopback port, the experiment page in a real browser -----------------------


def browser() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if found is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium): the UI is not checked in a browser")
    return found


def page_text(chromium: str, url: str) -> str:
    """The text of ``url`` after its scripts ran (the UI is a React app: the served HTML holds no run)."""
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=15000",
           "--window-size=1600,900", "--dump-dom", url]  # fmt: skip
    dom = subprocess.run(cmd, capture_output=True, text=True, timeout=180).stdout
    text = re.sub(r"<[^>]+>", " ", re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.S))
    return re.sub(r"\s+", " ", html.unescape(text))  # "<b>4</b> matching runs" reads "4 matching runs"


def wait_for(condition, seconds: float, what: str):
    deadline = time.time() + seconds
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"{what} not within {seconds:.0f} s")


def responds(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status == 200
    except OSError:
        return False


def last_value(run_dir: Path, key: str) -> float:
    rows, _ = read_metrics_file(run_dir / "metrics.jsonl")
    return [r[key] for r in rows if key in r][-1]


@pytest.mark.slow
def test_every_job_of_a_sweep_and_its_recall_are_on_the_experiment_page(tmp_path):
    chromium = browser()
    pytest.importorskip("mlflow", reason="mlflow is not installed: pip install -e '.[mlflow]'")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline"}
    sweep_dir, store = tmp_path / "sweep", tmp_path / "logs" / "mlflow"
    cmd = [sys.executable, "-m", "recsys_pyg.train", "-m", "debug=default", "logger=mlflow", "model=mf,lightgcn",
           "seed=0,1", "hydra/launcher=local_parallel", f"paths.log_dir={tmp_path / 'logs'}",
           f"hydra.sweep.dir={sweep_dir}"]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    jobs = sorted(p.parent for p in sweep_dir.glob(f"*/{RUN_FILE}"))
    assert len(jobs) == 4
    expected = {}  # run name (what the sweep varies in the job) -> its last validation recall@20
    for job in jobs:
        config = json.loads((job / "config.json").read_text())
        model = config["model"]["_target_"].rsplit(".", 1)[-1].lower()
        expected[f"model={model},seed={config['seed']}"] = last_value(job, "val/recall@20")

    log = tmp_path / "dashboard.log"
    with open(log, "w") as sink:
        server = subprocess.Popen([sys.executable, "-m", "recsys_pyg.dashboard", "--store", str(store), "--port", "0"],
                                  stdout=sink, stderr=subprocess.STDOUT, env=env, start_new_session=True)  # fmt: skip
    try:
        printed = wait_for(lambda: re.search(r"\(4 runs\): (http://127\.0\.0\.1:\d+)(/\S+)", log.read_text()), 60,
                           "the dashboard's address")  # fmt: skip
        address, page = printed.group(1), printed.group(1) + printed.group(2)
        assert log.read_text().startswith(f"MLflow UI at {address}  (store {store / 'mlflow.db'}")
        wait_for(lambda: responds(f"{address}/health"), 120, "the MLflow server")

        query = json.dumps({"experiment_ids": [re.search(r"experiments/(\d+)/", page).group(1)]}).encode()
        request = urllib.request.Request(f"{address}/api/2.0/mlflow/runs/search", data=query,
                                         headers={"Content-Type": "application/json"})  # fmt: skip
        runs = json.loads(urllib.request.urlopen(request, timeout=30).read())["runs"]
        by_name = {r["info"]["run_name"]: r for r in runs}
        assert sorted(by_name) == sorted(expected) and {r["info"]["status"] for r in runs} == {"FINISHED"}
        for name, value in expected.items():
            metrics = {m["key"]: m["value"] for m in by_name[name]["data"]["metrics"]}
            assert metrics["val/recall_at_20"] == value, name

        seen: list[str] = []

        def rendered() -> str | None:  # a first load on a busy machine may end before the runs arrive
            seen.append(page_text(chromium, page))
            return seen[-1] if "4 matching runs" in seen[-1] else None

        try:
            text = wait_for(rendered, 180, "the runs table in Chromium")
        except AssertionError as err:
            raise AssertionError(f"{err}; the page read: {seen[-1][:2000] if seen else None}") from None
        assert "val/recall_at_20" in text  # the column the experiment's view shows
        for name, value in expected.items():  # every job's run, with its recall as the table prints it
            assert name in text, name
            assert repr(value) in text, (name, value)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    assert not responds(f"{address}/health")  # stopped
