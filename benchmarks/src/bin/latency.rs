//! Suggestion latency (for the GP: hyperparameter fit + acquisition) against history size.
//!
//! cargo run --release -p bo-benchmarks --bin latency -- [--strategy gp|tpe|lipo|...]
//!     [--sizes 50,200,500,1000] [--dims 6,20] [--repeats 5]
//!
//! Each repeat builds a fresh sampler (a cold fit, as after a resume) and
//! times one `suggest` on n observations of a test function at random points;
//! then times a second call on n + 1 observations (a warm fit, as in a
//! running study). Medians over repeats.

use std::time::Instant;

use anyhow::{bail, Context, Result};
use bo_benchmarks::stats::median;
use bo_benchmarks::suite::SyntheticProblem;
use bo_benchmarks::TestFunction;
use bo_surrogates::{build_sampler, History, Observation, SamplerOptions};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn main() -> Result<()> {
    let mut sizes = vec![50, 200, 500, 1000];
    let mut dims = vec![6, 20];
    let mut repeats = 5;
    let mut strategy = "gp".to_string();
    let mut args = std::env::args().skip(1);
    let list = |s: String| {
        s.split(',')
            .map(|v| v.parse::<usize>().context("a comma-separated list of integers"))
            .collect::<Result<Vec<_>>>()
    };
    while let Some(flag) = args.next() {
        let mut value = || args.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--sizes" => sizes = list(value()?)?,
            "--dims" => dims = list(value()?)?,
            "--repeats" => repeats = value()?.parse()?,
            "--strategy" => strategy = value()?,
            other => bail!("unknown option {other} (--sizes, --dims, --repeats, --strategy)"),
        }
    }
    println!(
        "{strategy} suggestion latency (ms), median of {repeats}; {} cores\n",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    println!("| d | n | cold (fresh sampler) | warm (next call) |");
    println!("|---|---|---|---|");
    for &d in &dims {
        // Hartmann-6 where it fits, Ackley otherwise.
        let function = if d == 6 {
            TestFunction::by_name("hartmann6")
        } else {
            TestFunction::by_name(&format!("ackley{d}"))
        };
        let problem = SyntheticProblem {
            function: function.map_err(anyhow::Error::msg)?,
            noise_sd: 0.0,
        };
        let domain = problem.domain();
        for &n in &sizes {
            let (mut cold, mut warm) = (Vec::new(), Vec::new());
            for repeat in 0..repeats {
                let mut rng = StdRng::seed_from_u64(repeat as u64);
                let mut history = History::default();
                for _ in 0..n {
                    let point: Vec<f64> = (0..d).map(|_| rng.gen()).collect();
                    history.complete.push(Observation {
                        value: problem.function.evaluate_unit(&point),
                        point,
                    });
                }
                let mut sampler = build_sampler(&strategy, repeat as u64, &SamplerOptions::default())?;
                let start = Instant::now();
                let point = sampler.suggest(&domain, &history)?.context("a suggestion")?;
                cold.push(start.elapsed().as_secs_f64() * 1e3);
                history.complete.push(Observation {
                    value: problem.function.evaluate_unit(&point),
                    point,
                });
                let start = Instant::now();
                sampler.suggest(&domain, &history)?.context("a suggestion")?;
                warm.push(start.elapsed().as_secs_f64() * 1e3);
            }
            println!("| {d} | {n} | {:.1} | {:.1} |", median(&cold), median(&warm));
        }
    }
    Ok(())
}
