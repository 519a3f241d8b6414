//! `bo plot`: one picture of a study, as SVG or PNG.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};
use bo::plots::{self, Kind, StudyView};
use bo::storage::{self, Access, Location};

use super::load_study;

#[derive(clap::Args)]
pub struct PlotArgs {
    study: String,
    #[arg(long, value_enum)]
    kind: Kind,
    /// The file to write: .svg or .png.
    #[arg(long)]
    out: PathBuf,
    /// The contour's two parameters, `x,y` (default: the two most important).
    #[arg(long, value_delimiter = ',', num_args = 1)]
    params: Vec<String>,
    /// The store: an SQLite file's path or a postgresql://user@host:port/db URL.
    #[arg(long, env = "BO_STORAGE", default_value = "bo.db")]
    storage: Location,
}

pub fn run(args: PlotArgs) -> Result<ExitCode> {
    let pair = match args.params.as_slice() {
        [] => None,
        [x, y] => Some((x.as_str(), y.as_str())),
        other => bail!("--params takes two parameter names, `x,y`; got {}", other.len()),
    };
    if pair.is_some() && args.kind != Kind::Contour {
        bail!(
            "--params chooses a contour's parameters; --kind {} takes none",
            args.kind.name()
        );
    }
    let storage = storage::open(&args.storage, Access::ReadOnly)?;
    let study = load_study(storage.as_ref(), &args.study)?;
    let trials = storage.trials(study.id)?;
    let view = StudyView::new(study, trials)?;
    let svg = plots::draw(args.kind, &view, pair)?;
    bo_benchmarks::figure::write(&args.out, &svg)?;
    eprintln!("wrote {}", args.out.display());
    Ok(ExitCode::SUCCESS)
}
