//! `bo studies`: what a database holds.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use bo::report;
use bo::storage::Storage;

#[derive(clap::Args)]
pub struct StudiesArgs {
    #[arg(long, default_value = "bo.db")]
    storage: PathBuf,
}

pub fn run(args: StudiesArgs) -> Result<ExitCode> {
    let storage = Storage::open_read_only(&args.storage)?;
    let all = storage
        .studies()?
        .into_iter()
        .map(|s| storage.trials(s.id).map(|t| (s, t)))
        .collect::<Result<Vec<_>>>()?;
    report::studies(&mut std::io::stdout().lock(), &all)?;
    Ok(ExitCode::SUCCESS)
}
