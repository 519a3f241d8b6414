//! `bo show`: a study's trials and its best one.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use bo::report;
use bo::storage::Storage;

use super::load_study;

#[derive(clap::Args)]
pub struct ShowArgs {
    study: String,
    #[arg(long, default_value = "bo.db")]
    storage: PathBuf,
}

pub fn run(args: ShowArgs) -> Result<ExitCode> {
    let storage = Storage::open_read_only(&args.storage)?;
    let study = load_study(&storage, &args.study)?;
    let trials = storage.trials(study.id)?;
    report::show(&mut std::io::stdout().lock(), &study, &trials)?;
    Ok(ExitCode::SUCCESS)
}
