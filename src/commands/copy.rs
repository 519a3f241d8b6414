//! `bo copy`: a study, with every trial, from one store to another (SQLite to
//! PostgreSQL when a study outgrows one machine, or back).

use std::process::ExitCode;

use anyhow::{bail, Result};
use bo::storage::{self, Access, Location, TrialState};

use super::{load_study, study_name};

#[derive(clap::Args)]
pub struct CopyArgs {
    #[arg(value_parser = study_name)]
    study: String,
    /// The store to copy from: an SQLite file's path or a postgresql:// URL.
    #[arg(long)]
    from: Location,
    /// The store to copy to; created if it is an SQLite file that does not exist.
    #[arg(long)]
    to: Location,
}

pub fn run(args: CopyArgs) -> Result<ExitCode> {
    if args.from == args.to {
        bail!("--from and --to are the same store ({})", args.from);
    }
    let source = storage::open(&args.from, Access::ReadOnly)?;
    let study = load_study(source.as_ref(), &args.study)?;
    let trials = source.trials(study.id)?;
    // A running trial would be copied as running, owned by a worker that
    // writes to the other store: wait for the study to stop first.
    let running = trials.iter().filter(|t| t.state == TrialState::Running).count();
    if running > 0 {
        bail!(
            "study `{}` has {running} running trial(s) in {}: stop its workers (or let them finish) before copying it",
            study.name,
            args.from
        );
    }
    let mut target = storage::open(&args.to, Access::Create)?;
    target.import(&study, &trials)?;
    println!(
        "copied study `{}` ({} trials) from {} to {}",
        study.name,
        trials.len(),
        args.from,
        args.to
    );
    Ok(ExitCode::SUCCESS)
}
