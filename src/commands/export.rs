//! `bo export`: a study's trials as CSV or JSON.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use bo::storage::{self, Access, Location};
use bo::tables;
use clap::ValueEnum;

use super::load_study;

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Csv,
    Json,
}

#[derive(clap::Args)]
pub struct ExportArgs {
    study: String,
    #[arg(long, value_enum, default_value_t = Format::Csv)]
    format: Format,
    /// Write here instead of standard output.
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// The store: an SQLite file's path or a postgresql://user@host:port/db URL.
    #[arg(long, env = "BO_STORAGE", default_value = "bo.db")]
    storage: Location,
}

pub fn run(args: ExportArgs) -> Result<ExitCode> {
    let storage = storage::open(&args.storage, Access::ReadOnly)?;
    let study = load_study(storage.as_ref(), &args.study)?;
    let trials = storage.trials(study.id)?;
    let mut out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(BufWriter::new(
            File::create(path).with_context(|| format!("cannot write {}", path.display()))?,
        )),
        None => Box::new(io::stdout().lock()),
    };
    match args.format {
        Format::Csv => tables::export_csv(&mut out, &trials),
        Format::Json => tables::export_json(&mut out, &study, &trials),
    }?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
