"""torchrun --nproc_per_node=2 on the CPU (gloo): one record, the one-process result, exact sharded evaluation."""

import contextlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from recsys_pyg.distributed import Dist
from recsys_pyg.evaluation import Evaluator
from recsys_pyg.serving import load_export

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["dataset.source.num_users=300", "dataset.source.num_items=200", "dataset.source.num_interactions=8000",
         "train.epochs=6", "train.eval_every=2", "train.batch_size=512", "optimizer.lr=0.01",
         "train.num_threads=1", "train.progress=false"]  # fmt: skip
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]


def run(cmd: list[str], tmp_path: Path, **extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline", "WANDB_SILENT": "true", **extra}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT, env=env)


def lines(folder: Path) -> list[dict]:
    return [json.loads(x) for x in (folder / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same run on two processes and on one, same seed and effective batch size (512)."""
    tmp = tmp_path_factory.mktemp("ddp")
    two, one = tmp / "two", tmp / "one"
    out2 = run([*TORCHRUN, "-m", "recsys_pyg.train", *SMALL, f"hydra.run.dir={two}"], tmp)
    out1 = run([sys.executable, "-m", "recsys_pyg.train", *SMALL, f"hydra.run.dir={one}"], tmp)
    assert out2.returncode == 0, out2.stderr[-3000:]
    assert out1.returncode == 0, out1.stderr[-3000:]
    yield two, one
    shutil.rmtree(tmp, ignore_errors=True)


def test_both_ranks_ran_and_the_record_is_written_once(runs):
    two, _ = runs
    rank1 = (two / "train.rank1.log").read_text()
    assert "epoch 6" in rank1 and "epoch 6" in (two / "train.log").read_text()  # both trained every epoch
    assert "running on cpu, torch threads: 1, rank 1 of world size 2 (gloo backend)" in rank1  # each log says so
    assert "running on cpu, torch threads: 1, rank 0 of world size 2 (gloo backend)" in (two / "train.log").read_text()
    steps = [x["step"] for x in lines(two)]
    assert steps == [0, 1, 2, 3, 4, 5, 6, 6]  # one writer: no line twice
    assert json.loads((two / "status.json").read_text())["status"] == "finished"
    assert len(list((two / "wandb").glob("offline-run-*"))) == 1  # one W&B run
    assert (two / "export" / "embeddings.safetensors").exists() and (two / "checkpoints" / "best.pt").exists()
    config = json.loads((two / "config.json").read_text())
    assert config["train"]["batch_size"] == 512
    summary = json.loads((two / "summary.json").read_text())
    peaks = summary["peak_rss_mib_per_rank"]
    assert len(peaks) == 2 and all(p > 50 for p in peaks) and peaks[0] == summary["peak_rss_mib"]


def test_two_processes_give_the_one_process_result(runs):
    """Same permutation and negatives on every rank, each global batch split in two, gradients averaged:
    the one-process run up to the order of floating-point sums (1e-5 on every epoch loss here)."""
    two, one = runs
    loss2 = [x["train/loss"] for x in lines(two) if "train/loss" in x]
    loss1 = [x["train/loss"] for x in lines(one) if "train/loss" in x]
    assert len(loss2) == len(loss1) == 6
    assert loss2 == pytest.approx(loss1, rel=1e-5, abs=1e-6)
    s2, s1 = (json.loads((d / "summary.json").read_text()) for d in runs)
    for key in ("val/recall@20", "test/recall@20", "test/ndcg@20"):
        assert s2[key] == pytest.approx(s1[key], abs=1e-4), key
    assert s2["best_epoch"] == s1["best_epoch"]


def test_sharded_evaluation_equals_the_single_process_evaluator(runs):
    """The two-rank run's test metrics (each rank half the users, sums all-reduced) against one process
    evaluating the same weights (the export of the tested weights)."""
    two, _ = runs
    summary = json.loads((two / "summary.json").read_text())
    config = json.loads((two / "config.json").read_text())
    config.pop("protocol")
    data = instantiate(OmegaConf.create(config).dataset)
    exported = load_export(two)
    metrics = Evaluator(ks=config["eval"]["ks"]).evaluate(exported.user, exported.item, data.test_items,
                                                          [data.graph.user_items, data.val_items])  # fmt: skip
    for key, value in metrics.items():
        assert summary[f"test/{key}"] == pytest.approx(value, abs=1e-6), key


def test_a_signal_to_one_rank_stops_all_and_resume_gives_the_uninterrupted_result(runs, tmp_path):
    """SIGTERM reaches rank 1 alone inside epoch 2: every rank stops at the same step, rank 0 writes the
    checkpoint, and torchrun with train.resume finishes with the uninterrupted two-process run's numbers."""
    two, _ = runs
    folder = tmp_path / "resumed"
    signalled = ["loss._target_=tests.training.faults.SignalAtLoss", f"hydra.run.dir={folder}"]
    out = run([*TORCHRUN, "-m", "recsys_pyg.train", *SMALL, *signalled], tmp_path,
              RECSYS_TEST_SIGNAL_AT="15", RECSYS_TEST_SIGNAL_RANK="1")  # fmt: skip
    assert out.returncode != 0
    assert "silent recorder" not in out.stderr + out.stdout  # every rank leaves through the same path
    # 128 + SIGTERM from every rank: the one still tearing down when torchrun's agent stops it ignores that
    assert out.stderr.count("exitcode  : 143") == 2, out.stderr[-3000:]
    assert json.loads((folder / "status.json").read_text())["status"] == "interrupted"
    assert "stopped inside epoch 2" in (folder / "train.log").read_text()
    assert "stopped inside epoch 2" in (folder / "train.rank1.log").read_text()
    out = run([*TORCHRUN, "-m", "recsys_pyg.train", f"train.resume={folder}"], tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    loss = [x["train/loss"] for x in lines(folder) if "train/loss" in x]
    assert loss == pytest.approx([x["train/loss"] for x in lines(two) if "train/loss" in x], rel=1e-6)
    resumed, whole = (json.loads((d / "summary.json").read_text()) for d in (folder, two))
    assert resumed["test/recall@20"] == pytest.approx(whole["test/recall@20"], abs=1e-6)


@pytest.mark.slow
def test_a_signal_to_rank_0_stops_every_rank_with_128_plus_the_signal(tmp_path):
    """SIGTERM to the writer alone: it writes the checkpoint, every rank exits 143 (none dies by the agent's
    SIGTERM), the status reads interrupted."""
    folder = tmp_path / "run"
    signalled = ["loss._target_=tests.training.faults.SignalAtLoss", f"hydra.run.dir={folder}"]
    out = run([*TORCHRUN, "-m", "recsys_pyg.train", *SMALL, *signalled], tmp_path,
              RECSYS_TEST_SIGNAL_AT="15", RECSYS_TEST_SIGNAL_RANK="0")  # fmt: skip
    assert out.stderr.count("exitcode  : 143") == 2, out.stderr[-3000:]
    assert "(SIGTERM)" not in out.stderr  # no rank was killed by the signal itself
    assert json.loads((folder / "status.json").read_text())["status"] == "interrupted"
    assert "stopped inside epoch 2" in (folder / "train.rank1.log").read_text()


def start_long_run(folder: Path, *extra: str) -> subprocess.Popen:
    """torchrun, 2 ranks, a run long enough to be signalled once its record has a line."""
    import time

    cmd = [*TORCHRUN, "-m", "recsys_pyg.train", *SMALL, "train.epochs=500", "train.patience=0",
           f"hydra.run.dir={folder}", *extra]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline"}
    agent = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while time.time() < deadline and agent.poll() is None and not (folder / "metrics.jsonl").exists():
        time.sleep(0.2)
    assert agent.poll() is None, agent.communicate()[1][-3000:]
    time.sleep(1.0)  # inside training
    return agent


@pytest.mark.slow
def test_sigterm_to_the_torchrun_agent_stops_every_rank_resumably(tmp_path):
    """The agent forwards SIGTERM to its workers: both stop at the same step, rank 0 writes the checkpoint and
    marks the record interrupted, and train.resume finishes the run."""
    import signal

    folder = tmp_path / "run"
    agent = start_long_run(folder)
    agent.send_signal(signal.SIGTERM)
    agent.communicate(timeout=300)
    assert agent.returncode != 0
    status = json.loads((folder / "status.json").read_text())
    assert status["status"] == "interrupted" and "train.resume=" in status["error"], status
    for log_file in ("train.log", "train.rank1.log"):
        assert "on a signal; continue with train.resume" in (folder / log_file).read_text(), log_file
    out = run([sys.executable, "-m", "recsys_pyg.train", f"train.resume={folder}", "train.epochs=80"], tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads((folder / "status.json").read_text())["status"] == "finished"


@pytest.mark.slow
def test_sigkill_of_rank_0_leaves_a_run_that_compare_calls_dead_and_resume_continues(tmp_path):
    """The writer killed outright cannot mark its record: status.json still says running, but its lock is no
    longer held, so recsys-compare reports the run dead (not running) and train.resume takes it over."""
    import signal

    runs_dir = tmp_path / "runs"
    folder = runs_dir / "killed"
    agent = start_long_run(folder, "train.dist_timeout_s=5")
    writer = int((folder / ".run.lock").read_text().split()[1])
    os.kill(writer, signal.SIGKILL)
    agent.communicate(timeout=300)
    assert json.loads((folder / "status.json").read_text())["status"] == "running"  # nobody left to say otherwise
    out = run([sys.executable, "-m", "recsys_pyg.compare", str(runs_dir)], tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "| killed |" in out.stdout and "dead (not running; last status running)" in out.stdout, out.stdout
    out = run([sys.executable, "-m", "recsys_pyg.train", f"train.resume={folder}", "train.epochs=80"], tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads((folder / "status.json").read_text())["status"] == "finished"


def test_rows_split_like_tensor_split():
    for n in (0, 1, 5, 512, 513):
        for world in (1, 2, 3):
            parts = [Dist(rank, world).rows(n) for rank in range(world)]
            sizes = [hi - lo for lo, hi in parts]
            assert sizes == [t.numel() for t in torch.tensor_split(torch.arange(n), world)]
            assert parts[0][0] == 0 and parts[-1][1] == n


@pytest.fixture
def process_group(tmp_path):
    """A one-process gloo group, as if joined by torchrun (left again if the test did not)."""
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    yield dist
    if dist.is_initialized():
        dist.destroy_process_group()


@pytest.mark.parametrize("ends", ["finished", "failed"])
def test_train_leaves_the_process_group_however_the_run_ends(cfg_factory, monkeypatch, process_group, ends):
    import recsys_pyg.train as training

    if ends == "failed":
        monkeypatch.setattr(training, "baseline", lambda parts: 1 / 0)
    with pytest.raises(ZeroDivisionError) if ends == "failed" else contextlib.nullcontext():
        training.train(cfg_factory("debug=default"))
    assert not process_group.is_initialized()


SLOW = pytest.mark.slow  # each a torchrun of two processes: the default suite keeps one


@pytest.mark.parametrize("overrides", [
    pytest.param(["model=lightgcn", "model.fanout=[3,3,3]"], marks=SLOW),  # neighbour-sampled, dense gradients
    ["sampler=shared", "loss=softmax"],  # shared negatives: each rank its rows of the batch's mask
    pytest.param(["model=simgcl", "sampler=in_batch", "loss=softmax"], marks=SLOW),  # auxiliary loss, in-batch
    pytest.param(["sampler=curriculum", "sampler.num_iterations=2"], marks=SLOW),  # hard negatives (PPR pools)
], ids=lambda o: " ".join(o))  # fmt: skip
def test_models_and_samplers_run_under_torchrun(tmp_path, overrides):
    out = run([*TORCHRUN, "-m", "recsys_pyg.train", "debug=default", "train.epochs=2", *overrides,
               f"paths.data_dir={tmp_path / 'data'}", f"hydra.run.dir={tmp_path / 'run'}"], tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["test/recall@20"] > 0 and summary["epochs"] == 2


@pytest.mark.parametrize("overrides,message", [
    (["model=mf", "model.sparse=true", "optimizer=mixed_adam"], "cannot be all-reduced by DistributedDataParallel"),
    (["model=itemknn"], "ItemKNN is fit-only: it is fitted once, in one process"),
])  # fmt: skip
def test_what_cannot_run_under_torchrun_says_so(tmp_path, overrides, message):
    out = run([*TORCHRUN, "-m", "recsys_pyg.train", "debug=default", *overrides, f"hydra.run.dir={tmp_path}"], tmp_path)
    assert out.returncode != 0
    assert message in out.stderr + out.stdout
    status = json.loads((tmp_path / "status.json").read_text())  # a setup failure is recorded too
    assert status["status"] == "failed" and message in status["error"]


@pytest.mark.slow
def test_a_stopped_rank_makes_the_others_fail_after_the_timeout_and_the_record_says_so(tmp_path):
    """kill -STOP on rank 1: rank 0 does not wait in its all-reduce for ever; it stops after
    train.dist_timeout_s with an error naming the timeout, and marks the record failed."""
    import signal
    import time

    folder = tmp_path / "run"
    cmd = [*TORCHRUN, "-m", "recsys_pyg.train", *SMALL, "train.epochs=200", "train.dist_timeout_s=5",
           f"hydra.run.dir={folder}"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline"}
    agent = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while time.time() < deadline and not (folder / "metrics.jsonl").exists():
        time.sleep(0.2)
    rank1 = [p for p in children(agent.pid) if p != int((folder / ".run.lock").read_text().split()[1])]
    assert len(rank1) == 1
    os.kill(rank1[0], signal.SIGSTOP)
    try:
        _, err = agent.communicate(timeout=300)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(rank1[0], signal.SIGKILL)
    assert agent.returncode != 0
    status = json.loads((folder / "status.json").read_text())
    assert status["status"] == "failed" and "train.dist_timeout_s=5s" in status["error"], status


def children(pid: int) -> list[int]:
    """The process ids of ``pid``'s children (Linux)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(x) for x in (task / "children").read_text().split()]
    return found


def test_a_multi_task_slurm_job_joins_like_torchrun_ranks(monkeypatch):
    """hydra/launcher=slurm_ddp: submitit starts one process per task; each exports torchrun's variables."""
    pytest.importorskip("submitit")
    from recsys_pyg.distributed import from_slurm

    # a private copy of the environment: what submitit exports must not reach later tests (a WORLD_SIZE
    # left behind would make every later in-process run wait for its peers)
    torch_vars = ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "LOCAL_WORLD_SIZE")
    monkeypatch.setattr(os, "environ", {k: v for k, v in os.environ.items() if k not in torch_vars})
    slurm = {"SUBMITIT_EXECUTOR": "slurm", "SLURM_JOB_ID": "4242", "SLURM_NTASKS": "4", "SLURM_PROCID": "3",
             "SLURM_LOCALID": "1", "SLURM_JOB_NODELIST": "gpu[07-08]", "SLURM_JOB_NUM_NODES": "2",
             "SLURM_NODEID": "1"}  # fmt: skip
    for key, value in slurm.items():
        monkeypatch.setenv(key, value)
    from_slurm()
    assert (os.environ["RANK"], os.environ["WORLD_SIZE"], os.environ["LOCAL_RANK"]) == ("3", "4", "1")
    assert os.environ["MASTER_ADDR"] == "gpu07" and 20000 <= int(os.environ["MASTER_PORT"]) <= 60000


def test_the_slurm_test_left_no_torch_variables():  # runs after it in file order; the check holds in any order
    assert "WORLD_SIZE" not in os.environ or os.environ.get("TORCHELASTIC_RUN_ID")
