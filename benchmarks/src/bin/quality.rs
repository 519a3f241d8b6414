//! Final regret of strategies on the synthetic suite, as a Markdown table.
//!
//! cargo run --release -p bo-benchmarks --bin quality -- [--budget 40] [--seeds 20]
//!     [--strategies gp,random,sobol] [--problems branin,hartmann6,...] [--jobs N] [--out FILE.json]

use anyhow::{bail, Context, Result};
use bo_benchmarks::harness::{parallel_map, run_once, set_blas_threads, RunResult};
use bo_benchmarks::stats::{mean, median};
use bo_benchmarks::suite::SyntheticProblem;
use bo_benchmarks::TestFunction;
use bo_surrogates::SamplerOptions;

const DEFAULT_PROBLEMS: &str = "branin,hartmann6,ackley5,levy8,rosenbrock4,hartmann6:0.1";

fn main() -> Result<()> {
    let mut budget = 40;
    let mut seeds = 20;
    let mut strategies = "gp,random,sobol".to_string();
    let mut problems = DEFAULT_PROBLEMS.to_string();
    let mut jobs = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let mut out = None;
    let mut options = SamplerOptions::default();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--budget" => budget = value()?.parse()?,
            "--seeds" => seeds = value()?.parse()?,
            "--strategies" => strategies = value()?,
            "--problems" => problems = value()?,
            "--jobs" => jobs = value()?.parse()?,
            "--out" => out = Some(value()?),
            "--univariate" => {
                options.tpe.multivariate = false;
                continue;
            }
            "--initial" => options.gp.initial_points = Some(value()?.parse()?),
            "--pool" => options.gp.optimizer.pool_size = value()?.parse()?,
            "--starts" => options.gp.optimizer.starts = value()?.parse()?,
            "--acquisition" => options.gp.acquisition = value()?.parse().map_err(anyhow::Error::msg)?,
            other => bail!("unknown option {other} (--budget, --seeds, --strategies, --problems, --jobs, --acquisition, --initial, --pool, --starts, --univariate, --out)"),
        }
    }
    // Problems are `name` or `name:noise_sd`.
    let problems: Vec<SyntheticProblem> = problems
        .split(',')
        .map(|p| {
            let (name, noise) = p.split_once(':').unwrap_or((p, "0"));
            Ok(SyntheticProblem {
                function: TestFunction::by_name(name).map_err(anyhow::Error::msg)?,
                noise_sd: noise.parse()?,
            })
        })
        .collect::<Result<_>>()?;
    let strategies: Vec<&str> = strategies.split(',').collect();
    set_blas_threads(1);

    let cases: Vec<(usize, &str, u64)> = problems
        .iter()
        .enumerate()
        .flat_map(|(p, _)| {
            strategies
                .iter()
                .flat_map(move |s| (0..seeds).map(move |seed| (p, *s, seed as u64)))
        })
        .collect();
    let results: Vec<RunResult> = parallel_map(&cases, jobs, |&(p, strategy, seed)| {
        run_once(&problems[p], strategy, budget, seed, &options)
            .unwrap_or_else(|e| panic!("{strategy} on {}: {e}", problems[p].key()))
    });

    println!(
        "Final regret after {budget} evaluations, {seeds} seeds (median / mean; seconds per suggestion, median)\n"
    );
    print!("| problem |");
    for s in &strategies {
        print!(" {s} |");
    }
    println!();
    println!("|---|{}", "---|".repeat(strategies.len()));
    for problem in &problems {
        print!("| {} |", problem.key());
        for s in &strategies {
            let runs: Vec<&RunResult> = results
                .iter()
                .filter(|r| r.problem == problem.key() && r.strategy == *s)
                .collect();
            let finals: Vec<f64> = runs.iter().map(|r| r.final_regret()).collect();
            let times: Vec<f64> = runs.iter().flat_map(|r| r.suggest_seconds.iter().copied()).collect();
            print!(
                " {:.3e} / {:.3e}; {:.3} s |",
                median(&finals),
                mean(&finals),
                median(&times)
            );
        }
        println!();
    }
    if let Some(path) = out {
        std::fs::write(&path, serde_json::to_string(&results)?).with_context(|| format!("cannot write {path}"))?;
        eprintln!("wrote {path}");
    }
    Ok(())
}
