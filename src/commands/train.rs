//! `bo train` and `bo device`: handed to the `bo-train` worker, which links
//! libtorch, so that bo itself never loads it.

use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode};

use anyhow::{Context, Result};
use bo::objective::trainer_program;

#[derive(clap::Args)]
#[command(disable_help_flag = true)]
pub struct PassedArgs {
    /// Everything `bo-train train` takes (see `bo train --help`).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

/// Replaces this process with `bo-train SUBCOMMAND ARGS`.
pub fn run(subcommand: &str, args: PassedArgs) -> Result<ExitCode> {
    let program = trainer_program()?;
    let error = Command::new(&program).arg(subcommand).args(&args.args).exec();
    Err(error).with_context(|| format!("cannot run {}", program.display()))
}
