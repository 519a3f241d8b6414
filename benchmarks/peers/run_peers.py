#!/usr/bin/env python3
"""Runs bo's peers on its synthetic suite with the same budgets and seeds, and
writes their runs in the JSON `bo bench --peers FILE` merges.

    python3 -m venv .venv && .venv/bin/pip install -r benchmarks/peers/requirements.txt
    .venv/bin/python benchmarks/peers/run_peers.py --budget 40 --seeds 20 --out peers.json
    target/release/bo bench --budget 40 --seeds 20 --peers peers.json
    (--suite broad in both for the 29-problem suite; --jobs N runs N at once)

Every peer searches the unit cube mapped onto each function's box, as bo's
strategies do. The functions, optima and problem keys mirror
benchmarks/src/functions.rs and benchmarks/src/suite.rs. The broad suite's
mixed HPO-shaped problems (benchmarks/src/hpo.rs) are searched with Optuna's
native distributions (log-scaled floats and integers, categoricals, and
define-by-run conditionals). Hyperopt and scikit-optimize search the box of
all their parameters, branches included (log-scaled where Optuna's are), and
an inactive parameter goes unread.
"""

import argparse
import functools
import json
import math
import multiprocessing
import os
import sys
import time

import numpy as np

PI = math.pi


def branin(x):
    b, c, t = 5.1 / (4 * PI * PI), 5 / PI, 1 / (8 * PI)
    return (x[1] - b * x[0] ** 2 + c * x[0] - 6) ** 2 + 10 * (1 - t) * math.cos(x[0]) + 10


def six_hump_camel(x):
    a, b = x
    return (4 - 2.1 * a * a + a ** 4 / 3) * a * a + a * b + (-4 + 4 * b * b) * b * b


HARTMANN_ALPHA = [1.0, 1.2, 3.0, 3.2]
H3_A = [[3, 10, 30], [0.1, 10, 35], [3, 10, 30], [0.1, 10, 35]]
H3_P = [[0.3689, 0.1170, 0.2673], [0.4699, 0.4387, 0.7470], [0.1091, 0.8732, 0.5547], [0.038150, 0.5743, 0.8828]]
H6_A = [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]]
H6_P = [
    [0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886],
    [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
    [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650],
    [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381],
]


def hartmann(a, p):
    def f(x):
        return -sum(
            HARTMANN_ALPHA[i] * math.exp(-sum(a[i][j] * (x[j] - p[i][j]) ** 2 for j in range(len(x)))) for i in range(4)
        )

    return f


def ackley(x):
    n = len(x)
    sq = sum(v * v for v in x) / n
    cs = sum(math.cos(2 * PI * v) for v in x) / n
    return -20 * math.exp(-0.2 * math.sqrt(sq)) - math.exp(cs) + 20 + math.e


def levy(x):
    w = [1 + (v - 1) / 4 for v in x]
    mid = sum((wi - 1) ** 2 * (1 + 10 * math.sin(PI * wi + 1) ** 2) for wi in w[:-1])
    return math.sin(PI * w[0]) ** 2 + mid + (w[-1] - 1) ** 2 * (1 + math.sin(2 * PI * w[-1]) ** 2)


def rosenbrock(x):
    return sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(len(x) - 1))


def styblinski_tang(x):
    return 0.5 * sum(v ** 4 - 16 * v * v + 5 * v for v in x)


def holder_table(x):
    r = math.sqrt(x[0] ** 2 + x[1] ** 2)
    return -abs(math.sin(x[0]) * math.cos(x[1]) * math.exp(abs(1 - r / PI)))


SHEKEL_BETA = [0.1, 0.2, 0.2, 0.4, 0.4, 0.6, 0.3, 0.7, 0.5, 0.5]
SHEKEL_C = [
    [4, 1, 8, 6, 3, 2, 5, 8, 6, 7],
    [4, 1, 8, 6, 7, 9, 3, 1, 2, 3.6],
    [4, 1, 8, 6, 3, 2, 5, 8, 6, 7],
    [4, 1, 8, 6, 7, 9, 3, 1, 2, 3.6],
]


def shekel(x):
    return -sum(1 / (sum((x[j] - SHEKEL_C[j][i]) ** 2 for j in range(4)) + SHEKEL_BETA[i]) for i in range(10))


def michalewicz(x):
    return -sum(math.sin(v) * math.sin((i + 1) * v * v / PI) ** 20 for i, v in enumerate(x))


def rastrigin(x):
    return sum(v * v - 10 * math.cos(2 * PI * v) + 10 for v in x)


def griewank(x):
    return sum(v * v / 4000 for v in x) - math.prod(math.cos(v / math.sqrt(i + 1)) for i, v in enumerate(x)) + 1


def schwefel(x):
    return 418.9828872724338 * len(x) - sum(v * math.sin(math.sqrt(abs(v))) for v in x)


SCHWEFEL_MINIMIZER = 420.968746359982

# name: (function, bounds, optimum)
FUNCTIONS = {
    "branin": (branin, [(-5, 10), (0, 15)], 0.397887357729738),
    "six_hump_camel": (six_hump_camel, [(-3, 3), (-2, 2)], -1.031628453489877),
    "hartmann3": (hartmann(H3_A, H3_P), [(0, 1)] * 3, -3.86277978733209),
    "hartmann6": (hartmann(H6_A, H6_P), [(0, 1)] * 6, -3.32236801141551),
    "ackley5": (ackley, [(-32.768, 32.768)] * 5, 0.0),
    "levy8": (levy, [(-10, 10)] * 8, 0.0),
    "rosenbrock4": (rosenbrock, [(-5, 10)] * 4, 0.0),
    "styblinski_tang4": (styblinski_tang, [(-5, 5)] * 4, -39.1661657037714 * 4),
    "holder_table": (holder_table, [(-10, 10)] * 2, -19.20850256776717),
}
SYNTHETIC = list(FUNCTIONS)
FUNCTIONS.update({
    "shekel": (shekel, [(0, 10)] * 4, -10.53644315348353),
    "michalewicz5": (michalewicz, [(0, PI)] * 5, -4.687658179),
    "michalewicz10": (michalewicz, [(0, PI)] * 10, -9.660151716),
    "rastrigin10": (rastrigin, [(-5.12, 5.12)] * 10, 0.0),
    "griewank10": (griewank, [(-600, 600)] * 10, 0.0),
    "schwefel5": (schwefel, [(-500, 500)] * 5, schwefel([SCHWEFEL_MINIMIZER] * 5)),
    "ackley10": (ackley, [(-32.768, 32.768)] * 10, 0.0),
    "ackley20": (ackley, [(-32.768, 32.768)] * 20, 0.0),
    "levy20": (levy, [(-10, 10)] * 20, 0.0),
    "rosenbrock10": (rosenbrock, [(-5, 10)] * 10, 0.0),
    "styblinski_tang10": (styblinski_tang, [(-5, 5)] * 10, -39.1661657037714 * 10),
})

# The mixed HPO-shaped problems (benchmarks/src/hpo.rs): each a function of
# an Optuna trial that suggests its parameters and returns their error.
DIVERGED = 0.9


def hpo_mlp(t):
    opt = t.suggest_categorical("optimizer", ["sgd", "adam", "rmsprop"])
    lr = t.suggest_float("lr", 1e-5, 1.0, log=True)
    wd = t.suggest_float("weight_decay", 1e-6, 0.1, log=True)
    layers = t.suggest_int("layers", 1, 8)
    units = t.suggest_int("units", 16, 1024, log=True)
    dropout = t.suggest_float("dropout", 0.0, 0.8)
    activation = t.suggest_categorical("activation", ["relu", "tanh", "gelu", "sigmoid"])
    base, best_log_lr, limit = {"sgd": (0.045, -1.3, -0.3), "adam": (0.05, -3.0, -1.5)}.get(opt, (0.055, -3.3, -1.7))
    log_lr = math.log10(lr)
    if log_lr > limit:
        return DIVERGED
    capacity = math.log2(units) + 0.5 * layers - 9.5
    act = {"relu": 0.0, "gelu": 0.004, "tanh": 0.03}.get(activation, 0.08)
    error = (base + 0.03 * (log_lr - best_log_lr) ** 2 + 0.01 * (math.log10(wd) + 4.0) ** 2
             + 0.01 * capacity * capacity + 0.4 * max(dropout - 0.5, 0.0) + act)
    return min(error, DIVERGED)


def hpo_conditional(t):
    opt = t.suggest_categorical("optimizer", ["sgd", "adam"])
    log_lr = math.log10(t.suggest_float("lr", 1e-5, 1.0, log=True))
    if opt == "sgd":
        momentum = t.suggest_float("momentum", 0.0, 0.99)
        nesterov = 0.0 if t.suggest_categorical("nesterov", [True, False]) else 0.004
        optimizer = 0.05 + 0.03 * (log_lr + 1.5) ** 2 + 0.3 * (momentum - 0.9) ** 2 + nesterov
    else:
        beta1 = t.suggest_float("beta1", 0.8, 0.999)
        optimizer = 0.056 + 0.03 * (log_lr + 3.0) ** 2 + 2.0 * (beta1 - 0.9) ** 2
    schedule = t.suggest_categorical("schedule", ["constant", "cosine", "step"])
    if schedule == "step":
        sched = 0.002 + 0.05 * (t.suggest_float("gamma", 0.1, 0.9) - 0.3) ** 2
    else:
        sched = 0.0 if schedule == "cosine" else 0.012
    batch = 0.004 * (math.log2(t.suggest_int("batch_size", 16, 512, log=True)) - 7.0) ** 2
    return min(optimizer + sched + batch + 0.004, DIVERGED)


def table(i):
    x = math.sin(i * 12.9898) * 43758.5453
    return x - math.floor(x)


def categorical_at(choices, k1, k2):
    own = sum(0.1 * table(1 + 4 * i + choices[i]) for i in range(6))
    pairs = sum(0.05 * table(100 + 16 * i + 4 * choices[i] + choices[i + 1]) for i in range(5))
    return own + pairs + 0.005 * (k1 - 7.0) ** 2 + 0.01 * abs(k1 - k2)


def hpo_categorical(t):
    choices = ["abcd".index(t.suggest_categorical(f"c{i}", ["a", "b", "c", "d"])) for i in range(1, 7)]
    return categorical_at(choices, t.suggest_int("k1", 1, 10), t.suggest_int("k2", 1, 10))


# name: (function of an Optuna trial, optimum)
HPO = {
    "hpo_mlp": (hpo_mlp, 0.045),
    "hpo_conditional": (hpo_conditional, 0.054),
    "hpo_categorical": (hpo_categorical, min(categorical_at([(n >> (2 * i)) & 3 for i in range(6)], 7.0, 7.0) for n in range(4096))),
}

# bo's suites: (function, noise sd); keys as bo writes them.
SUITES = {"synthetic": [(name, 0.0) for name in SYNTHETIC] + [("branin", 1.0), ("hartmann6", 0.1)]}
SUITES["broad"] = SUITES["synthetic"] + [(name, 0.0) for name in FUNCTIONS if name not in SYNTHETIC] + [
    ("ackley5", 0.5),
    ("michalewicz5", 0.1),
    ("shekel", 0.5),
    ("hpo_mlp", 0.0),
    ("hpo_mlp", 0.01),
    ("hpo_conditional", 0.0),
    ("hpo_categorical", 0.0),
]


def key(name, noise):
    return f"{name}+noise{noise:g}" if noise > 0 else name


class Recorder:
    """Evaluates the problem and records what a peer saw: a test function at
    a point of the unit cube, an HPO problem through an Optuna trial."""

    def __init__(self, name, noise, seed):
        self.name = name
        if name in HPO:
            self.f, self.optimum = HPO[name]
        else:
            f, bounds, self.optimum = FUNCTIONS[name]
            self.f = lambda u: f([lo + ui * (hi - lo) for ui, (lo, hi) in zip(u, bounds)])
        self.noise, self.rng = noise, np.random.default_rng(seed ^ 0xA5A5A5A5)
        self.pick = None  # (observed, true)
        self.best, self.believed_best, self.suggest_seconds = [], [], []
        self.last_return = time.perf_counter()

    def __call__(self, point):
        truth = self.f(point)
        # An HPO problem's parameters are suggested inside f (define-by-run).
        self.suggest_seconds.append(time.perf_counter() - self.last_return)
        observed = truth + (self.rng.normal(0, self.noise) if self.noise > 0 else 0.0)
        if self.pick is None or observed < self.pick[0]:
            self.pick = (observed, truth)
        self.best.append(self.pick[1])
        self.believed_best.append(self.pick[0])
        self.last_return = time.perf_counter()
        return observed


def optuna_sampler(kind, seed):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.samplers.TPESampler(seed=seed) if kind == "tpe" else optuna.samplers.GPSampler(seed=seed, warn_independent_sampling=False)


def run_optuna(kind):
    def run(rec, dim, budget, seed):
        import optuna

        study = optuna.create_study(sampler=optuna_sampler(kind, seed))
        if dim is None:  # an HPO problem suggests its own parameters
            study.optimize(rec, n_trials=budget)
        else:
            study.optimize(lambda t: rec([t.suggest_float(f"x{i}", 0.0, 1.0) for i in range(dim)]), n_trials=budget)

    return run


def box_of(define_by_run):
    """The parameters a define-by-run space suggests over all its branches,
    for the peers that search a fixed box: 256 random Optuna trials meet
    every branch."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(lambda t: (define_by_run(t), 0.0)[1], n_trials=256)
    box = {}
    for trial in study.trials:
        for param, distribution in trial.distributions.items():
            box.setdefault(param, distribution)
    return box


@functools.lru_cache(maxsize=None)
def hpo_box(name):
    return box_of(HPO[name][0])


def skopt_dimension(d):
    """scikit-optimize's dimension for an Optuna distribution."""
    import optuna
    from skopt.space import Categorical, Integer, Real

    if isinstance(d, optuna.distributions.CategoricalDistribution):
        return Categorical(list(d.choices))
    prior = "log-uniform" if d.log else "uniform"
    if isinstance(d, optuna.distributions.IntDistribution):
        return Integer(d.low, d.high, prior=prior)
    return Real(d.low, d.high, prior=prior)


def fixed_trial(box, values):
    """An Optuna trial answering the problem's suggestions from `values`
    (name to value); the parameters of inactive branches go unread."""
    import optuna

    params = {}
    for param, distribution in box.items():
        v = values[param]
        v = v.item() if hasattr(v, "item") else v  # numpy scalars
        params[param] = int(round(v)) if isinstance(distribution, optuna.distributions.IntDistribution) else v
    return optuna.trial.FixedTrial(params)


def hyperopt_dimension(param, d):
    """Hyperopt's dimension for an Optuna distribution."""
    import optuna
    from hyperopt import hp

    if isinstance(d, optuna.distributions.CategoricalDistribution):
        return hp.choice(param, list(d.choices))
    if isinstance(d, optuna.distributions.IntDistribution):
        return hp.qloguniform(param, math.log(d.low), math.log(d.high), 1) if d.log else hp.uniformint(param, d.low, d.high)
    return hp.loguniform(param, math.log(d.low), math.log(d.high)) if d.log else hp.uniform(param, d.low, d.high)


def run_hyperopt(rec, dim, budget, seed):
    from hyperopt import fmin, hp, tpe

    def search(objective, space):
        fmin(objective, space, algo=tpe.suggest, max_evals=budget, rstate=np.random.default_rng(seed), show_progressbar=False)

    if dim is None:
        box = hpo_box(rec.name)
        search(lambda values: rec(fixed_trial(box, values)), {param: hyperopt_dimension(param, d) for param, d in box.items()})
    else:
        search(lambda u: rec(list(u)), [hp.uniform(f"x{i}", 0.0, 1.0) for i in range(dim)])


def run_skopt(rec, dim, budget, seed):
    from skopt import gp_minimize

    if dim is None:
        box = hpo_box(rec.name)
        space = [skopt_dimension(d) for d in box.values()]
        gp_minimize(lambda v: rec(fixed_trial(box, dict(zip(box, v)))), space, n_calls=budget, random_state=seed)
    else:
        gp_minimize(lambda u: rec(list(u)), [(0.0, 1.0)] * dim, n_calls=budget, random_state=seed)


PEERS = {
    "optuna_tpe": run_optuna("tpe"),
    "optuna_gp": run_optuna("gp"),
    "hyperopt_tpe": run_hyperopt,
    "skopt_gp": run_skopt,
}


def run_one(task):
    """One peer's run of one problem and seed, as `bo bench --peers` reads it."""
    name, noise, peer, seed, budget = task
    dim = None if name in HPO else len(FUNCTIONS[name][1])
    rec = Recorder(name, noise, seed)
    PEERS[peer](rec, dim, budget, seed)
    if len(rec.best) != budget:
        raise RuntimeError(f"{peer} on {key(name, noise)} seed {seed} ran {len(rec.best)} trials, not {budget}")
    return {
        "problem": key(name, noise),
        "strategy": peer,
        "seed": seed,
        "best": rec.best,
        "believed_best": rec.believed_best,
        "suggest_seconds": float(np.mean(rec.suggest_seconds)),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", type=int, default=40)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--peers", default=",".join(PEERS), help="comma-separated: " + ", ".join(PEERS))
    parser.add_argument("--suite", default="synthetic", choices=sorted(SUITES))
    parser.add_argument("--problems", default=None, help="comma-separated problem keys (default: the whole suite)")
    parser.add_argument("--jobs", type=int, default=1, help="runs in parallel (each run is single-threaded)")
    parser.add_argument("--out", default="peers.json")
    args = parser.parse_args()
    peers = args.peers.split(",")
    unknown = [p for p in peers if p not in PEERS]
    if unknown:
        sys.exit(f"unknown peer {unknown[0]} (choose from {', '.join(PEERS)})")
    if args.jobs < 1:
        sys.exit("--jobs must be at least 1")
    suite = SUITES[args.suite]
    if args.problems:
        wanted = args.problems.split(",")
        suite = [(n, s) for n, s in SUITES[args.suite] if key(n, s) in wanted]
        missing = set(wanted) - {key(n, s) for n, s in suite}
        if missing:
            sys.exit(f"unknown problem {sorted(missing)[0]} (the suite has {', '.join(key(n, s) for n, s in SUITES[args.suite])})")
    tasks = []
    for name, noise in suite:
        for peer in peers:
            tasks += [(name, noise, peer, seed, args.budget) for seed in range(args.seeds)]
    # Torch and BLAS threads would fight the pool's processes for the cores.
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
        runs = pool.map(run_one, tasks, chunksize=1)
    for name, noise in suite:
        optimum = Recorder(name, 0.0, 0).optimum
        for peer in peers:
            finals = [r["best"][-1] - optimum for r in runs if r["problem"] == key(name, noise) and r["strategy"] == peer]
            if finals:
                print(f"{key(name, noise)} {peer}: median final regret {np.median(finals):.3g}", file=sys.stderr)
    with open(args.out, "w") as f:
        json.dump(runs, f)
    print(f"wrote {len(runs)} runs to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
