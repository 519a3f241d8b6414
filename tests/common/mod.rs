//! What the end-to-end tests share: running `bo` in a folder, insisting that it
//! succeeded, and reading a study back.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// `bo ARGS` in `dir`. It never reaches out for data: the caller's BO_DATA_DIR
/// is dropped and CIFAR-10's tarball URL is a closed local port. Test programs
/// leave their markers in MARKER_DIR.
pub fn command(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(bo_binary());
    command
        .args(args)
        .current_dir(dir)
        .env("MARKER_DIR", dir)
        .env("BO_CIFAR10_URL", "http://127.0.0.1:9/cifar-10-binary.tar.gz")
        .env_remove("BO_DATA_DIR")
        .env_remove("BO_STORAGE");
    command
}

/// The `bo` under test: this package's, or for the trainer's tests the one
/// built beside `bo-train` (the workspace's tests build both).
fn bo_binary() -> PathBuf {
    let path = option_env!("CARGO_BIN_EXE_bo")
        .map(PathBuf::from)
        .or_else(|| option_env!("CARGO_BIN_EXE_bo-train").map(|t| Path::new(t).with_file_name("bo")))
        .expect("run from the bo or bo-trainer tests");
    assert!(
        path.is_file(),
        "{} is not built: `cargo test --workspace` (or scripts/test.sh) builds it",
        path.display()
    );
    path
}

pub fn bo(dir: &Path, args: &[&str]) -> Output {
    command(dir, args).output().expect("bo runs")
}

pub fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "bo failed: {}\n{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
    String::from_utf8(output.stdout).unwrap()
}

pub fn export(dir: &Path, study: &str) -> Value {
    serde_json::from_str(&ok(bo(dir, &["export", study, "--format", "json"]))).expect("export is JSON")
}
