//! The `bo` command line: parsing here, one file per command in `commands/`,
//! the engine in the `bo` library.

mod commands;

use std::io::ErrorKind;
use std::process::ExitCode;

use bo::objective::process::{guard_main, GUARD_COMMAND};
use clap::{Parser, Subcommand};
use commands::{bench, copy, dashboard, export, plot, report, retest, run, show, studies, train};

#[derive(Parser)]
#[command(name = "bo", version, about = "Bayesian optimization for hyperparameter search")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a study (or resume one with --study NAME).
    Run(Box<run::RunArgs>),
    /// Compare strategies on a benchmark suite over many seeds: table, JSON and plots.
    Bench(bench::BenchArgs),
    /// Re-test the best configurations with fresh seeds: how much of their score was luck.
    Retest(retest::RetestArgs),
    /// Train one configuration over several seeds and print test accuracy, training seconds and images/s.
    Train(train::PassedArgs),
    /// Say which device training uses: CUDA or the CPU.
    Device(train::PassedArgs),
    /// Show a study's trials and its best one.
    Show(show::ShowArgs),
    /// Export a study's trials.
    Export(export::ExportArgs),
    /// List the studies in a store.
    Studies(studies::StudiesArgs),
    /// Draw a study: history, parallel coordinates, importance, slices, contour, learning curves or re-tests.
    Plot(plot::PlotArgs),
    /// Write a study as one self-contained HTML page: its plots, best configuration, re-tests and metadata.
    Report(report::ReportArgs),
    /// A live web view of a store's studies: trials, plots, updates while they run. Read-only.
    Dashboard(dashboard::DashboardArgs),
    /// Copy a study with all its trials to another store (e.g. SQLite to PostgreSQL).
    Copy(copy::CopyArgs),
}

fn main() -> ExitCode {
    let mut raw = std::env::args_os().skip(1);
    if raw.next().is_some_and(|a| a == GUARD_COMMAND) {
        let pgid = raw.next().unwrap_or_default();
        return match guard_main(&pgid.to_string_lossy()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(_) => ExitCode::FAILURE,
        };
    }
    let result = match Cli::parse().command {
        Command::Run(args) => run::run(*args),
        Command::Bench(args) => bench::run(args),
        Command::Retest(args) => retest::run(args),
        Command::Train(args) => train::run("train", args),
        Command::Device(args) => train::run("device", args),
        Command::Show(args) => show::run(args),
        Command::Export(args) => export::run(args),
        Command::Studies(args) => studies::run(args),
        Command::Copy(args) => copy::run(args),
        Command::Plot(args) => plot::run(args),
        Command::Report(args) => report::run(args),
        Command::Dashboard(args) => dashboard::run(args),
    };
    result.unwrap_or_else(|e| {
        // A reader that stopped early (`bo export | head`) is not an error.
        if e.chain().any(is_broken_pipe) {
            return ExitCode::SUCCESS;
        }
        eprintln!("error: {e:#}");
        ExitCode::FAILURE
    })
}

/// Whether an error is a write to a closed pipe, also when the CSV or JSON writer wraps it.
fn is_broken_pipe(error: &(dyn std::error::Error + 'static)) -> bool {
    let broken = |kind: Option<ErrorKind>| kind == Some(ErrorKind::BrokenPipe);
    broken(error.downcast_ref::<std::io::Error>().map(|e| e.kind()))
        || broken(
            error
                .downcast_ref::<serde_json::Error>()
                .and_then(|e| e.io_error_kind()),
        )
        || broken(error.downcast_ref::<csv::Error>().and_then(|e| match e.kind() {
            csv::ErrorKind::Io(io) => Some(io.kind()),
            _ => None,
        }))
}
