//! `bo show`: a study's trials and its best one.

use std::process::ExitCode;

use anyhow::Result;
use bo::storage::{self, Access, Location};
use bo::tables;

use super::load_study;

#[derive(clap::Args)]
pub struct ShowArgs {
    study: String,
    /// The store: an SQLite file's path or a postgresql://user@host:port/db URL.
    #[arg(long, env = "BO_STORAGE", default_value = "bo.db")]
    storage: Location,
}

pub fn run(args: ShowArgs) -> Result<ExitCode> {
    let storage = storage::open(&args.storage, Access::ReadOnly)?;
    let study = load_study(storage.as_ref(), &args.study)?;
    let trials = storage.trials(study.id)?;
    tables::show(&mut std::io::stdout().lock(), &study, &trials)?;
    Ok(ExitCode::SUCCESS)
}
