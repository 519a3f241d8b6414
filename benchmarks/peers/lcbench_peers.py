"""Peers on bo's LCBench suite, on the same tasks and seeds and at the same
budget: Optuna's TPE alone and with its Hyperband, Median and
SuccessiveHalving pruners, Optuna's GPSampler and scikit-optimize's
gp_minimize (full fidelity), and DEHB where its package installs.

The budget counts full-training equivalents of 52 epochs, as `bo bench` does:
a trial is charged the epochs it ran, and it counts once all its epochs fit in
what was spent. For each equivalent the file holds the best final (epoch 52)
validation error found so far; `bo bench --suite lcbench --peers FILE` turns it
into regret against its own reference.

    python benchmarks/peers/lcbench_peers.py --lcbench-dir DIR --budget 30 --seeds 20 --out lcbench-peers.json
"""

import argparse
import json
import os
import sys
import time

import numpy as np

EPOCHS = 52
DEFAULT_TASKS = ["3945", "7593", "34539", "126025", "167149", "189909"]


class Surrogate:
    """YAHPO Gym's LCBench model: raw inputs, validation accuracy in percent."""

    def __init__(self, folder):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(os.path.join(folder, "model.onnx"), options)
        with open(os.path.join(folder, "encoding.json")) as f:
            self.tasks = {str(k): int(v) for k, v in json.load(f)["OpenML_task_id"].items()}

    def error(self, task, config, epoch):
        x_cat = np.array([[self.tasks[task]]], dtype=np.int32)
        x_cont = np.array(
            [[epoch, config["batch_size"], config["learning_rate"], config["momentum"], config["weight_decay"],
              config["num_layers"], config["max_units"], config["max_dropout"]]],
            dtype=np.float32,
        )
        names = [i.name for i in self.session.get_inputs()]
        out = self.session.run(None, {names[0]: x_cat, names[1]: x_cont})[0]
        return 100.0 - float(out[0][1])


def suggest(trial):
    """bo's LCBench space (LcbenchObjective::sweep)."""
    return {
        "batch_size": trial.suggest_int("batch_size", 16, 512, log=True),
        "learning_rate": trial.suggest_float("learning_rate", 1e-4, 0.1, log=True),
        "momentum": trial.suggest_float("momentum", 0.1, 0.99),
        "weight_decay": trial.suggest_float("weight_decay", 1e-5, 0.1),
        "num_layers": trial.suggest_int("num_layers", 1, 5),
        "max_units": trial.suggest_int("max_units", 64, 1024, log=True),
        "max_dropout": trial.suggest_float("max_dropout", 0.0, 1.0),
    }


class Ledger:
    """Epochs spent, and the best final error after each full-training equivalent."""

    def __init__(self, budget):
        self.budget, self.spent, self.pick, self.best = budget, 0, float("nan"), []
        self.suggest_seconds = []

    def emit(self, until):
        while len(self.best) < self.budget and (len(self.best) + 1) * EPOCHS <= until:
            self.best.append(self.pick)

    def charge(self, epochs, final_error):
        """A trial that ran `epochs` epochs, and its final error if it completed."""
        self.emit(self.spent + epochs - 1)
        self.spent += epochs
        if final_error is not None and not final_error >= self.pick:
            self.pick = final_error
        self.emit(self.spent)

    def exhausted(self):
        return self.spent >= self.budget * EPOCHS


def run_optuna(pruner_name, sampler="tpe"):
    def run(surrogate, task, ledger, seed, min_resource, eta, bootstrap_count):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        pruners = {
            None: optuna.pruners.NopPruner(),
            "hyperband": optuna.pruners.HyperbandPruner(
                min_resource=min_resource, max_resource=EPOCHS, reduction_factor=eta, bootstrap_count=bootstrap_count
            ),
            "median": optuna.pruners.MedianPruner(n_warmup_steps=min_resource - 1),
            "sh": optuna.pruners.SuccessiveHalvingPruner(
                min_resource=min_resource, reduction_factor=eta, bootstrap_count=bootstrap_count
            ),
        }
        samplers = {
            "tpe": lambda: optuna.samplers.TPESampler(seed=seed),
            "gp": lambda: optuna.samplers.GPSampler(seed=seed),
        }
        study = optuna.create_study(sampler=samplers[sampler](), pruner=pruners[pruner_name])
        clock = [time.perf_counter()]

        def objective(trial):
            ledger.suggest_seconds.append(time.perf_counter() - clock[0])
            config = suggest(trial)
            error = float("nan")
            for epoch in range(1, EPOCHS + 1):
                error = surrogate.error(task, config, epoch)
                trial.report(error, epoch)
                if trial.should_prune():
                    ledger.charge(epoch, None)
                    clock[0] = time.perf_counter()
                    raise optuna.TrialPruned()
            ledger.charge(EPOCHS, error)
            clock[0] = time.perf_counter()
            return error

        def stop_when_spent(study, _trial):
            if ledger.exhausted():
                study.stop()

        study.optimize(objective, callbacks=[stop_when_spent])

    return run


def run_dehb(surrogate, task, ledger, seed, min_resource, eta, _bootstrap_count):
    import ConfigSpace as CS
    from dehb import DEHB
    from loguru import logger

    # DEHB logs every bracket and warns when it cannot save its history to parquet.
    logger.disable("dehb")

    space = CS.ConfigurationSpace(seed=seed)
    space.add([
        CS.UniformIntegerHyperparameter("batch_size", 16, 512, log=True),
        CS.UniformFloatHyperparameter("learning_rate", 1e-4, 0.1, log=True),
        CS.UniformFloatHyperparameter("momentum", 0.1, 0.99),
        CS.UniformFloatHyperparameter("weight_decay", 1e-5, 0.1),
        CS.UniformIntegerHyperparameter("num_layers", 1, 5),
        CS.UniformIntegerHyperparameter("max_units", 64, 1024, log=True),
        CS.UniformFloatHyperparameter("max_dropout", 0.0, 1.0),
    ])

    def f(config, fidelity, **_):
        epochs = int(round(fidelity))
        error = surrogate.error(task, dict(config), epochs)
        return {"fitness": error, "cost": epochs}

    dehb = DEHB(f=f, cs=space, dimensions=len(space), min_fidelity=min_resource, max_fidelity=EPOCHS, eta=eta, n_workers=1,
                output_path=os.path.join("/tmp", f"dehb-{os.getpid()}"), seed=seed)
    clock = time.perf_counter()
    while not ledger.exhausted():
        job = dehb.ask()
        ledger.suggest_seconds.append(time.perf_counter() - clock)
        result = f(job["config"], job["fidelity"])
        epochs = result["cost"]
        # DEHB retrains from scratch at each fidelity: a run at 52 epochs is a final value.
        ledger.charge(epochs, result["fitness"] if epochs == EPOCHS else None)
        dehb.tell(job, result)
        clock = time.perf_counter()


def run_skopt(surrogate, task, ledger, seed, min_resource, eta, _bootstrap_count):
    """scikit-optimize's gp_minimize at full fidelity, in the same space."""
    from skopt import gp_minimize

    from run_peers import box_of, fixed_trial, skopt_dimension

    box = box_of(suggest)
    clock = [time.perf_counter()]

    def objective(values):
        ledger.suggest_seconds.append(time.perf_counter() - clock[0])
        error = surrogate.error(task, suggest(fixed_trial(box, dict(zip(box, values)))), EPOCHS)
        ledger.charge(EPOCHS, error)
        clock[0] = time.perf_counter()
        return error

    gp_minimize(objective, [skopt_dimension(d) for d in box.values()], n_calls=ledger.budget, random_state=seed)


PEERS = {
    "optuna_tpe": run_optuna(None),
    "optuna_gp": run_optuna(None, "gp"),
    "skopt_gp": run_skopt,
    "optuna_tpe+hyperband": run_optuna("hyperband"),
    "optuna_tpe+median": run_optuna("median"),
    "optuna_tpe+sh": run_optuna("sh"),
    "dehb": run_dehb,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lcbench-dir", default=os.environ.get("BO_LCBENCH_DIR"), required="BO_LCBENCH_DIR" not in os.environ)
    parser.add_argument("--budget", type=int, default=30, help="full-training equivalents (52 epochs each)")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--tasks", default=",".join(DEFAULT_TASKS))
    parser.add_argument("--min-resource", type=int, default=1, help="the pruners' first rung, in epochs (as bo bench)")
    parser.add_argument("--reduction-factor", type=int, default=3, help="eta between rungs (as bo bench)")
    parser.add_argument("--bootstrap-count", type=int, default=0,
                        help="trials at a rung before Optuna's SH and Hyperband pruners promote any (as bo bench)")
    parser.add_argument("--peers", default=",".join(PEERS), help="comma-separated: " + ", ".join(PEERS))
    parser.add_argument("--out", default="lcbench-peers.json")
    args = parser.parse_args()
    # One thread per run, as run_peers.py: the suggestion times in the tables are comparable.
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    peers = args.peers.split(",")
    unknown = [p for p in peers if p not in PEERS]
    if unknown:
        sys.exit(f"unknown peer {unknown[0]} (choose from {', '.join(PEERS)})")
    if "dehb" in peers:
        try:
            import dehb  # noqa: F401
        except ImportError as e:
            print(f"DEHB is not installed ({e}); it is left out", file=sys.stderr)
            peers.remove("dehb")
    surrogate = Surrogate(args.lcbench_dir)
    runs = []
    for task in args.tasks.split(","):
        if task not in surrogate.tasks:
            sys.exit(f"LCBench has no task {task}")
        for peer in peers:
            for seed in range(args.seeds):
                ledger = Ledger(args.budget)
                PEERS[peer](surrogate, task, ledger, seed, args.min_resource, args.reduction_factor, args.bootstrap_count)
                ledger.emit(float("inf"))
                # JSON has no NaN: "nothing completed yet" is null.
                best = [None if np.isnan(v) else v for v in ledger.best]
                runs.append({
                    "problem": f"lcbench-{task}",
                    "strategy": peer,
                    "seed": seed,
                    "best": best,
                    "believed_best": best,
                    "suggest_seconds": float(np.mean(ledger.suggest_seconds or [0.0])),
                })
            done = [r["best"][-1] for r in runs if r["problem"] == f"lcbench-{task}" and r["strategy"] == peer]
            done = [v for v in done if v is not None]
            print(f"lcbench-{task} {peer}: median final error {np.median(done) if done else float('nan'):.3f}%", file=sys.stderr)
    with open(args.out, "w") as f:
        json.dump(runs, f)
    print(f"wrote {len(runs)} runs to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
