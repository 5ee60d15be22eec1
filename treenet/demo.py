"""The demo `python -m treenet` runs: parse a network from a formula, train it, print the trained
formula, a table of predictions and (when treenet.gradcheck is there) a gradient check.

    treenet demo                      XOR with sigmoid(linear(tanh(dense(3, x, y))))
    treenet demo --task line          is (x, y) above the line y = x?
    treenet demo "sigmoid(linear(relu(dense(4, x, y))))" --epochs 500 --seed 1

(`treenet` and `python -m treenet` with no arguments run it too.)"""

import argparse
import random
import sys
import time

TASKS = {
    "xor": dict(formula="input x, y\nsigmoid(linear(tanh(dense(3, x, y))))",
                loss="bce", optimizer="adam", lr=0.05, epochs=300),
    "line": dict(formula="input x, y\nsigmoid(p*relu(p*x + p*y + p) + p)",
                 loss="bce", optimizer="adam", lr=0.02, epochs=30, seed=3),
}


def task_data(task, seed):
    """(data, the rows to show in the prediction table)."""
    if task == "xor":
        data = [([0, 0], 0), ([0, 1], 1), ([1, 0], 1), ([1, 1], 0)]
        return data, data
    rng = random.Random(seed)
    data = []
    for _ in range(200):
        x, y = rng.uniform(-1, 1), rng.uniform(-1, 1)
        data.append(([x, y], 1 if y > x else 0))
    shown = [([1, 0], 0), ([0, 1], 1), ([-5, 3], 1), ([0.5, 0.4], 0), ([0.4, 0.5], 1)]
    return data, shown


def parser():
    ap = argparse.ArgumentParser(prog="treenet demo", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("formula", nargs="?", help="the network, as a treenet program (inputs x, y); "
                    "default: the task's own")
    ap.add_argument("--task", choices=sorted(TASKS), default="xor", help="what to learn")
    ap.add_argument("--epochs", type=int, help="training epochs (default: the task's)")
    ap.add_argument("--lr", type=float, help="learning rate (default: the task's)")
    ap.add_argument("--optimizer", choices=["sgd", "momentum", "adam"])
    ap.add_argument("--seed", type=int, help="seed for the initial parameters and shuffling")
    ap.add_argument("--save", metavar="PATH", help="save the trained network there")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    return ap


def run(argv=None):
    """Run the demo with command-line arguments `argv`; returns the exit status."""
    import treenet
    args = parser().parse_args(argv)
    task = TASKS[args.task]
    formula = args.formula or task["formula"]
    seed = args.seed if args.seed is not None else task.get("seed", 0)
    epochs = args.epochs if args.epochs is not None else task["epochs"]
    lr = args.lr if args.lr is not None else task["lr"]
    optimizer = args.optimizer or task["optimizer"]
    try:
        net = treenet.parse(formula, seed=seed)
    except treenet.ParseError as exc:
        print(f"treenet: cannot parse the network:\n{exc}", file=sys.stderr)
        return 2
    if args.save:
        try:  # before training: a bad path must not cost the training run
            treenet.io.check_save_path(args.save)
        except treenet.TreenetError as exc:
            print(f"treenet: {exc}", file=sys.stderr)
            return 2
    names = [i.name for i in net.inputs]
    if len(names) != 2:
        print(f"treenet: the {args.task} task has inputs x and y; this network has {names}",
              file=sys.stderr)
        return 2
    data, shown = task_data(args.task, seed)

    print(f"treenet demo: {args.task}")
    print(f"network: {net.funcify(params='name')}")
    print(f"         {len(net.parameters)} parameters, {len(net.graph)} nodes")
    print(f"training: {optimizer}, loss {task['loss']}, lr {lr}, {epochs} epochs, "
          f"{len(data)} samples, seed {seed}")
    start = time.perf_counter()
    try:
        history = treenet.train(net, data, loss=task["loss"], optimizer=optimizer, lr=lr,
                                epochs=epochs, seed=seed, progress=not args.quiet)
    except treenet.TrainingError as exc:
        print(f"treenet: {exc}", file=sys.stderr)
        return 1
    print(f"          {history} in {time.perf_counter() - start:.2f} s")
    print("trained network:")
    for line in net.funcify().splitlines():
        print(f"    {line}")

    print("predictions:")
    print(f"    {names[0]:>6} {names[1]:>6} | target  output")
    for x, t in shown:
        print(f"    {x[0]:6g} {x[1]:6g} | {t:6g}  {net.predict(x):.4f}")

    status = 0
    gradcheck = getattr(treenet, "gradcheck", None)  # another module's; absent in older trees
    if gradcheck is not None:
        point = [0.3, 0.7]  # a generic point: at 0 an input zeroes its weights' gradients
        print(f"gradient check at ({names[0]}, {names[1]}) = ({point[0]}, {point[1]}), "
              "backward against the exact derivative and finite differences:")
        result = gradcheck(net, point)
        for line in str(result).splitlines():
            print(f"    {line}")
        if getattr(result, "ok", True) is False:
            status = 1
    if args.save:
        try:
            net.save(args.save)
        except treenet.TreenetError as exc:  # the folder went away during training, say
            print(f"treenet: {exc}", file=sys.stderr)
            return 1
        print(f"saved to {args.save}")
    return status


__all__ = ["run", "TASKS"]
