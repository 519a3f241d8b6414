//! `bo studies`: what a database holds.

use std::process::ExitCode;

use anyhow::Result;
use bo::storage::{self, Access, Location};
use bo::tables;

#[derive(clap::Args)]
pub struct StudiesArgs {
    /// The store: an SQLite file's path or a postgresql://user@host:port/db URL.
    #[arg(long, env = "BO_STORAGE", default_value = "bo.db")]
    storage: Location,
}

pub fn run(args: StudiesArgs) -> Result<ExitCode> {
    let storage = storage::open(&args.storage, Access::ReadOnly)?;
    let all = storage
        .studies()?
        .into_iter()
        .map(|s| storage.trials(s.id).map(|t| (s, t)))
        .collect::<Result<Vec<_>>>()?;
    tables::studies(&mut std::io::stdout().lock(), &all)?;
    Ok(ExitCode::SUCCESS)
}
