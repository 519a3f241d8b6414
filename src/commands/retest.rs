//! `bo retest`: re-test the best configurations with fresh seeds.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Result};
use bo::objective::Objective;
use bo::space::Sweep;
use bo::storage::{self, Access, Location, Storage, Worker};
use bo::study::Study;

use super::{build_objective, handle_signals, load_study, seconds, ObjectiveOptions};

#[derive(clap::Args)]
pub struct RetestArgs {
    study: String,
    /// How many of the best configurations to re-test.
    #[arg(long, default_value_t = 5)]
    top_k: usize,
    /// Re-tests per configuration (earlier re-tests count).
    #[arg(long, default_value_t = 5)]
    seeds: usize,
    /// Fail a re-test that runs longer than this many seconds.
    #[arg(long, value_parser = seconds)]
    trial_timeout: Option<Duration>,
    /// Where a cifar10 or fashion-mnist study's data is.
    #[arg(long, env = "BO_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
    /// The store: an SQLite file's path or a postgresql://user@host:port/db URL.
    #[arg(long, env = "BO_STORAGE", default_value = "bo.db")]
    storage: Location,
}

pub fn run(args: RetestArgs) -> Result<ExitCode> {
    if args.top_k == 0 || args.seeds == 0 {
        bail!("--top-k and --seeds must be at least 1");
    }
    let mut storage = storage::open(&args.storage, Access::Existing)?;
    let record = load_study(storage.as_ref(), &args.study)?;
    let origin = format!("study `{}`", record.name);
    let sweep = Sweep::from_value(record.config.clone(), &origin)?;
    let options = ObjectiveOptions {
        trial_timeout: args.trial_timeout,
        data_dir: args.data_dir,
        gpu: None,
    };
    let mut objective = build_objective(&record, &sweep, &options, &origin)?;
    let study = Study { record, sweep };
    handle_signals()?;
    retest_and_report(storage.as_mut(), &study, objective.as_mut(), args.top_k, args.seeds)
}

/// Runs the re-tests and prints their table; 130 if a signal stopped them.
pub fn retest_and_report(
    storage: &mut dyn Storage,
    study: &Study,
    objective: &mut dyn Objective,
    top_k: usize,
    seeds: usize,
) -> Result<ExitCode> {
    let worker = Worker::this_process(Duration::from_secs(120));
    let finished = bo::retest::run(storage, study, objective, &worker, top_k, seeds)?;
    let trials = storage.trials(study.record.id)?;
    let rows = bo::retest::rows(study.goal(), &trials);
    write!(
        std::io::stdout().lock(),
        "{}",
        bo::retest::render(study.goal(), &study.record.metric, &rows)
    )?;
    if !finished {
        eprintln!(
            "interrupted: run `bo retest {} --storage {}` again to finish",
            study.record.name,
            storage.location()
        );
        return Ok(ExitCode::from(130));
    }
    Ok(ExitCode::SUCCESS)
}
