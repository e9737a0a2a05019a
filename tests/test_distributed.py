"""Training beyond one process: gloo on the CPU, two ranks, as torchrun runs them."""

import os
import shutil
import socket
import subprocess
import sys

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from safetensors.torch import load_file

from dehaze.training import distributed
from dehaze.gan import ResnetGenerator
from dehaze.weights import read_metadata
from tests.conftest import EXAMPLES


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def one_step_on_each_rank(rank, world, port, results):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world))
    distributed.start("cpu")
    torch.manual_seed(0)
    generator = ResnetGenerator(ngf=4, n_blocks=1)
    torch.nn.init.normal_(generator.model[-2].weight, std=0.01)  # a head that passes gradients back
    optimizer = torch.optim.SGD(generator.parameters(), lr=0.1)
    torch.manual_seed(100 + rank)  # each rank its own data
    inputs, targets = torch.rand(2, 3, 16, 16) * 2 - 1, torch.rand(2, 3, 16, 16) * 2 - 1
    torch.nn.functional.l1_loss(generator(inputs), targets).backward()
    local = [p.grad.clone() for p in generator.parameters()]
    distributed.average_gradients(generator)
    optimizer.step()
    weights = torch.cat([p.detach().reshape(-1) for p in generator.parameters()])
    gathered = [torch.empty_like(weights) for _ in range(world)]
    dist.all_gather(gathered, weights)
    averaged_differs = any(not torch.equal(g, p.grad) for g, p in zip(local, generator.parameters()))
    results.put((rank, all(torch.equal(gathered[0], w) for w in gathered), averaged_differs))
    distributed.stop()


def test_ranks_hold_identical_weights_after_a_step():
    context = mp.get_context("spawn")
    results = context.Queue()
    port = free_port()
    processes = [context.Process(target=one_step_on_each_rank, args=(rank, 2, port, results)) for rank in range(2)]
    for process in processes:
        process.start()
    outcomes = sorted(results.get(timeout=120) for _ in processes)
    for process in processes:
        process.join(timeout=60)
    assert [rank for rank, _, _ in outcomes] == [0, 1]
    assert all(identical for _, identical, _ in outcomes)  # the same weights everywhere
    assert all(averaged for _, _, averaged in outcomes)  # from gradients that were really averaged


def test_torchrun_trains_resumes_and_exports(tmp_path):
    data = tmp_path / "clear"
    data.mkdir()
    for path in sorted(EXAMPLES.glob("*_clear.jpg"))[:2]:
        shutil.copy(path, data)
    run, export = tmp_path / "run", tmp_path / "gan.safetensors"

    def torchrun(steps):
        # --standalone: torchrun picks its own free port, with no window for another process to take it
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                   "-m", "dehaze.training.train", "gan", "--data", str(data), "--steps", str(steps),
                   "--batch-size", "1", "--crop-size", "32", "--ngf", "4", "--n-blocks", "1", "--ndf", "4",
                   "--adv-start", "1", "--workers", "0", "--device", "cpu", "--run-dir", str(run),
                   "--export", str(export), "--sample-every", "2", "--checkpoint-every", "2"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=300,
                              env={**os.environ, "OMP_NUM_THREADS": "1"})
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout + done.stderr

    torchrun(2)
    first = load_file(str(export))
    assert read_metadata(export)["steps"] == "2" and read_metadata(export)["ranks"] == "2"
    assert "resumed from" in torchrun(4)
    assert read_metadata(export)["steps"] == "4"
    assert any(not torch.equal(first[k], v) for k, v in load_file(str(export)).items())
