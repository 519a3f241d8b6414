//! `bo report`: a study as one self-contained HTML page.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use bo::plots::StudyView;
use bo::storage::{self, Access, Location};

use super::load_study;

#[derive(clap::Args)]
pub struct ReportArgs {
    study: String,
    /// The page to write (default: report-STUDY.html).
    #[arg(long)]
    out: Option<PathBuf>,
    /// The store: an SQLite file's path or a postgresql://user@host:port/db URL.
    #[arg(long, env = "BO_STORAGE", default_value = "bo.db")]
    storage: Location,
}

pub fn run(args: ReportArgs) -> Result<ExitCode> {
    let storage = storage::open(&args.storage, Access::ReadOnly)?;
    let study = load_study(storage.as_ref(), &args.study)?;
    let trials = storage.trials(study.id)?;
    let out = args.out.unwrap_or_else(|| {
        let safe: String = args
            .study
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        PathBuf::from(format!("report-{safe}.html"))
    });
    let page = bo::report::html(&StudyView::new(study, trials)?);
    std::fs::write(&out, page).with_context(|| format!("cannot write {}", out.display()))?;
    eprintln!("wrote {}", out.display());
    Ok(ExitCode::SUCCESS)
}
