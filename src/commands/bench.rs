//! `bo bench`: compare strategies on a benchmark suite over many seeds.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};
use bo::bench::BenchSettings;
use bo::storage::Location;

use super::handle_signals;

#[derive(clap::Args)]
pub struct BenchArgs {
    /// synthetic (the test functions, noise-free and noisy), broad (synthetic, 14 more functions and 4 mixed HPO-shaped spaces), lcbench or cifar10.
    #[arg(long, default_value = "synthetic")]
    suite: String,
    /// Only these problems of the suite, comma-separated (e.g. branin,hartmann6+noise0.1).
    #[arg(long, value_delimiter = ',')]
    problems: Option<Vec<String>>,
    /// Strategies to compare, comma-separated.
    #[arg(long, default_value = "gp,tpe,lipo,random", value_delimiter = ',')]
    surrogates: Vec<String>,
    /// Trials per study.
    #[arg(long, default_value_t = 40)]
    budget: usize,
    /// Seeds per (problem, strategy).
    #[arg(long, default_value_t = 20)]
    seeds: usize,
    /// Studies run at once (default: the cores).
    #[arg(long)]
    jobs: Option<usize>,
    /// The peers' results (benchmarks/peers/run_peers.py), merged into the table.
    #[arg(long)]
    peers: Option<PathBuf>,
    /// The LCBench surrogate's folder, with model.onnx and encoding.json (else BO_LCBENCH_DIR).
    #[arg(long)]
    lcbench_dir: Option<PathBuf>,
    /// The cifar10 suite's data (CIFAR-10 is downloaded there when missing).
    #[arg(long, env = "BO_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
    /// A sweep file replacing the cifar10 suite's default search space.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Training images the cifar10 suite holds out for validation.
    #[arg(long, default_value_t = 5000)]
    validation_size: usize,
    /// Multi-fidelity strategies (SURROGATE+PRUNER): the first rung, in steps.
    #[arg(long, default_value_t = 1)]
    min_resource: i64,
    /// Multi-fidelity strategies: η, the factor between rungs.
    #[arg(long, default_value_t = 3.0)]
    reduction_factor: f64,
    /// asha and hyperband strategies: the first N trials at each rung stop there, unjudged.
    #[arg(long, default_value_t = 0)]
    bootstrap_count: usize,
    /// Where results.json, table.md and plots/ go.
    #[arg(long, default_value = "bench-results")]
    out: PathBuf,
    /// The benchmark's studies; a second run with the same settings reuses them.
    #[arg(long, default_value = "bench.db")]
    storage: Location,
    #[arg(long, short)]
    quiet: bool,
}

pub fn run(args: BenchArgs) -> Result<ExitCode> {
    if args.budget < 2 || args.seeds == 0 {
        bail!("--budget must be at least 2 and --seeds at least 1");
    }
    if args.jobs == Some(0) {
        bail!("--jobs must be at least 1");
    }
    let settings = BenchSettings {
        suite: args.suite,
        only: args.problems,
        strategies: args.surrogates,
        budget: args.budget,
        seeds: args.seeds,
        jobs: args
            .jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)),
        storage: args.storage,
        out_dir: args.out,
        peers: args.peers,
        lcbench_dir: args.lcbench_dir,
        data_dir: args.data_dir,
        config: args.config,
        validation_size: args.validation_size,
        min_resource: args.min_resource,
        reduction_factor: args.reduction_factor,
        bootstrap_count: args.bootstrap_count,
        quiet: args.quiet,
    };
    handle_signals()?;
    bo::bench::run(&settings)?;
    let table = std::fs::read_to_string(settings.out_dir.join("table.md"))?;
    write!(std::io::stdout().lock(), "{table}")?;
    eprintln!("wrote {}/results.json, table.md and plots/", settings.out_dir.display());
    Ok(ExitCode::SUCCESS)
}
