//! Every notebook in notebooks/ runs headless, top to bottom, against the
//! `bo` under test (nbclient in the venv scripts/setup.sh makes); a cell
//! that raises fails the test with the cell's error.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The notebooks' Python: BO_NOTEBOOK_VENV, else the venv setup.sh makes.
fn python() -> PathBuf {
    let venv = std::env::var_os("BO_NOTEBOOK_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let cache = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache"));
            cache.join("bo").join("notebooks")
        });
    let python = venv.join("bin").join("python");
    assert!(
        python.is_file(),
        "no notebook venv at {} (scripts/setup.sh makes it: pandas, matplotlib, nbclient, ipykernel)",
        venv.display()
    );
    python
}

/// Runs one notebook in a folder of its own; its error names the failing cell.
const RUN: &str = r#"
import sys, nbformat, nbclient
path, folder = sys.argv[1], sys.argv[2]
notebook = nbformat.read(path, as_version=4)
client = nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": folder}})
client.execute()
images = sum("image/png" in o.get("data", {}) or "image/svg+xml" in o.get("data", {}) for c in notebook.cells for o in c.get("outputs", []))
print(images)
"#;

#[test]
fn every_notebook_runs_headless_and_draws() {
    let notebooks: Vec<PathBuf> = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("notebooks"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "ipynb"))
        .collect();
    assert!(notebooks.len() >= 3, "{notebooks:?}");
    let python = python();
    for notebook in notebooks {
        let folder = tempfile::tempdir().unwrap();
        let out = Command::new(&python)
            .args(["-c", RUN])
            .arg(&notebook)
            .arg(folder.path())
            .env("BO", env!("CARGO_BIN_EXE_bo"))
            .env("TMPDIR", folder.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{} failed:\n{stderr}", notebook.display());
        let images: usize = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        assert!(images >= 2, "{}: {images} figures drawn", notebook.display());
    }
}
