"""Past one machine: a network written as a formula, exported to PyTorch, trained with
DistributedDataParallel, and brought back as a formula; it goes past the tutorials (004's
layers, trained the way 001's framework trains, but on PyTorch's engine) the way issue 11 asks.

Shows: `treenet.to_torch` on a 2-input network of three tanh units, trained with Adam on binary
cross-entropy over 100,000 rows split between 2 CPU processes (gloo on localhost; with GPUs,
one process per GPU over nccl), each process a shard of the rows and DDP averaging the
gradients; rank 0 brings the trained module back with `treenet.from_torch` and saves it; the
launching process loads the file, prints the formula, checks it with `treenet.gradcheck` and
measures its accuracy with `treenet.evaluate`. After 2 epochs the accuracy is above 0.95.

The workers are processes running this file (`--worker`), as torchrun would start them, so
`main()` works however this file was imported. Run: python examples/distributed_torch.py"""

import argparse
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a source checkout
import treenet  # noqa: E402

# the optional extra main() needs; tests that run every example take its network from FORMULA
EXTRA = "torch"
FORMULA = """input x, y
def unit(a, b) = tanh(p*a + p*b + p)
sigmoid(p*unit(x, y) + p*unit(x, y) + p*unit(x, y) + p)"""
ROWS = 100_000
BATCH = 1000  # rows per process per step


def data(rows, seed):
    """(X, t): points in [-1, 1]^2, labelled 1 on one side of the line x + 2y = 0.3."""
    import numpy as np
    X = np.random.default_rng(seed).uniform(-1.0, 1.0, (rows, 2))
    return X, (X[:, 0] + 2.0 * X[:, 1] > 0.3).astype(float)


def worker(rank, world, port, epochs, path, start):
    """One DDP process: its shard of the rows, Adam on BCE, rank 0 saves the result."""
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel
    torch.set_num_threads(1)  # the processes share the machine's cores
    gpu = torch.cuda.is_available()
    dist.init_process_group("nccl" if gpu else "gloo", init_method=f"tcp://127.0.0.1:{port}",
                            rank=rank, world_size=world)
    try:
        device = torch.device(f"cuda:{rank}" if gpu else "cpu")
        net = treenet.load(start)  # every process starts from the same parameters
        module = treenet.to_torch(net).to(device)
        ddp = DistributedDataParallel(module, device_ids=[rank] if gpu else None)
        opt = torch.optim.Adam(ddp.parameters(), lr=0.05)
        X, t = data(ROWS, seed=0)
        X = torch.tensor(X[rank::world], device=device)
        t = torch.tensor(t[rank::world], device=device)
        for epoch in range(epochs):
            for start in range(0, len(X), BATCH):
                opt.zero_grad()
                # torch's BCE on probabilities clamps each log at -100: no infinite loss
                loss = torch.nn.functional.binary_cross_entropy(ddp(X[start:start + BATCH]),
                                                                t[start:start + BATCH])
                loss.backward()  # DDP averages the gradients over the processes here
                opt.step()
            if rank == 0:
                print(f"epoch {epoch + 1}: loss {loss.item():.4f} (rank 0's last batch)",
                      flush=True)
        if rank == 0:
            treenet.from_torch(ddp).save(path)  # the parameters are the same in every process
    finally:
        dist.destroy_process_group()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(epochs=2, quiet=False, seed=0, path=None):
    say = (lambda *a: None) if quiet else print
    import torch
    world = torch.cuda.device_count() if torch.cuda.is_available() else 2
    net = treenet.parse(FORMULA, seed=seed)
    say(f"{len(net.parameters)} parameters, {ROWS:,} rows, {world} processes "
        f"({'nccl, one per GPU' if torch.cuda.is_available() else 'gloo, CPU'})")
    with tempfile.TemporaryDirectory() as tmp:
        start_text = os.path.join(tmp, "start.tn")
        net.save(start_text)
        path = path or os.path.join(tmp, "trained.tn")
        port = _free_port()
        workers = [subprocess.Popen([sys.executable, __file__, "--worker", str(rank), str(world),
                                     str(port), str(epochs), path, start_text],
                                    stdout=subprocess.DEVNULL if quiet else None)
                   for rank in range(world)]
        try:
            codes = [w.wait(timeout=600) for w in workers]
        finally:
            for w in workers:
                if w.poll() is None:
                    w.kill()
                    w.wait()
        if any(codes):
            raise RuntimeError(f"a DDP worker failed (exit codes {codes})")
        trained = treenet.load(path)
    say(trained.funcify())
    check = treenet.gradcheck(trained, [0.3, -0.2])
    say(f"gradcheck at (0.3, -0.2): ok={check.ok}, max error {check.max_error:.2e}")
    X, t = data(2000, seed=1)
    held_out = treenet.evaluate(trained, list(zip(X.tolist(), t.tolist())), loss="bce")
    say(f"held-out loss {held_out.loss:.4f}, accuracy {held_out.accuracy:.3f}")
    return {"network": trained, "start": net, "gradcheck": check, "accuracy": held_out.accuracy,
            "loss": held_out.loss, "processes": world}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", nargs=6, metavar=("RANK", "WORLD", "PORT", "EPOCHS", "OUT",
                                                      "START"), help=argparse.SUPPRESS)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--save", help="where to save the trained network")
    args = parser.parse_args()
    if args.worker:
        rank, world, port, epochs, out, start = args.worker
        worker(int(rank), int(world), int(port), int(epochs), out, start)
    else:
        result = main(epochs=args.epochs, path=args.save)
        sys.exit(0 if result["gradcheck"].ok and result["accuracy"] > 0.95 else 1)
