//! The hostile-input corpus (`tests/hostile/cases.yaml`): broken sweep files,
//! bad flags, foreign databases and misbehaving programs. Each case names the
//! exit status and the words its error must hold; a refused case must leave
//! its folder exactly as it was, and a case that runs trials names the state
//! and reason each trial must end with.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{command, export};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    /// Files written into the case's folder first.
    #[serde(default)]
    files: BTreeMap<String, Content>,
    /// Which of `files` are made executable.
    #[serde(default)]
    executable: Vec<String>,
    /// SQL run into `foreign.db` first: another program's database.
    #[serde(default)]
    sqlite: Option<String>,
    /// `bo` commands that must succeed before the case runs.
    #[serde(default)]
    setup: Vec<Vec<String>>,
    /// Files removed after the setup.
    #[serde(default)]
    remove: Vec<String>,
    args: Vec<String>,
    /// The exit status expected.
    exit: i32,
    /// Words the standard error must hold.
    #[serde(default)]
    stderr: Vec<String>,
    /// For a study that ran: each trial's state and words of its error, in order.
    #[serde(default)]
    trials: Option<ExpectedTrials>,
    /// The case must end within this many seconds (a timeout that holds).
    #[serde(default)]
    within: Option<f64>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    /// `prefix`, then `repeat` `times` times, then `suffix`.
    Repeated {
        #[serde(default)]
        prefix: String,
        repeat: String,
        times: usize,
        #[serde(default)]
        suffix: String,
    },
    Bytes {
        bytes: Vec<u8>,
    },
}

impl Content {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Content::Text(t) => t.as_bytes().to_vec(),
            Content::Repeated {
                prefix,
                repeat,
                times,
                suffix,
            } => format!("{prefix}{}{suffix}", repeat.repeat(*times)).into_bytes(),
            Content::Bytes { bytes } => bytes.clone(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedTrials {
    study: String,
    each: Vec<ExpectedTrial>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedTrial {
    state: String,
    #[serde(default)]
    error: Vec<String>,
}

/// Every file below `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            for (inner, bytes) in snapshot(&path) {
                files.insert(format!("{name}/{inner}"), bytes);
            }
        } else {
            files.insert(name, std::fs::read(&path).unwrap_or_default());
        }
    }
    files
}

/// Runs one case; the faults found, empty if it held.
fn check(case: &Case) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (name, content) in &case.files {
        let path = d.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, content.bytes()).unwrap();
    }
    for name in &case.executable {
        std::fs::set_permissions(d.join(name), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    if let Some(sql) = &case.sqlite {
        rusqlite::Connection::open(d.join("foreign.db"))
            .unwrap()
            .execute_batch(sql)
            .unwrap();
    }
    for setup in &case.setup {
        let args: Vec<&str> = setup.iter().map(String::as_str).collect();
        let out = command(d, &args).output().unwrap();
        assert!(
            out.status.success(),
            "{}: setup {setup:?} failed: {}",
            case.name,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for name in &case.remove {
        std::fs::remove_file(d.join(name)).unwrap();
    }
    let before = snapshot(d);
    let args: Vec<&str> = case.args.iter().map(String::as_str).collect();
    let start = Instant::now();
    let mut child = command(d, &args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // No case may hang: a stuck one is killed and reported.
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().unwrap();
    let seconds = start.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut faults = Vec::new();
    if out.status.code() != Some(case.exit) {
        faults.push(format!("exit {:?}, expected {}", out.status.code(), case.exit));
    }
    if stderr.contains("panicked") {
        faults.push("bo panicked".into());
    }
    for word in &case.stderr {
        if !stderr.contains(word.as_str()) {
            faults.push(format!("standard error lacks {word:?}"));
        }
    }
    if let Some(limit) = case.within {
        if seconds > limit {
            faults.push(format!("took {seconds:.1} s, more than {limit} s"));
        }
    }
    match &case.trials {
        // A refused case writes nothing at all.
        None if case.exit != 0 => {
            let after = snapshot(d);
            if after != before {
                let changed: Vec<&String> = after
                    .keys()
                    .chain(before.keys())
                    .filter(|k| before.get(*k) != after.get(*k))
                    .collect();
                faults.push(format!("the folder changed: {changed:?}"));
            }
        }
        None => {}
        Some(expected) => {
            let doc = export(d, &expected.study);
            let trials = doc["trials"].as_array().unwrap();
            if trials.len() != expected.each.len() {
                faults.push(format!("{} trials, expected {}", trials.len(), expected.each.len()));
            }
            for (t, e) in trials.iter().zip(&expected.each) {
                if t["state"] != e.state.as_str() {
                    faults.push(format!("trial {} is {}, expected {}", t["number"], t["state"], e.state));
                }
                let error = t["error"].as_str().unwrap_or_default();
                for word in &e.error {
                    if !error.contains(word.as_str()) {
                        faults.push(format!("trial {}'s error {error:?} lacks {word:?}", t["number"]));
                    }
                }
                if e.state == "complete" && !t["value"].as_f64().is_some_and(f64::is_finite) {
                    faults.push(format!("trial {} is complete without a finite value", t["number"]));
                }
            }
        }
    }
    if !faults.is_empty() {
        faults.push(format!("standard error was: {}", stderr.trim()));
    }
    faults
}

#[test]
fn every_hostile_input_gets_a_clear_error_and_writes_nothing_it_should_not() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hostile/cases.yaml");
    let cases: Vec<Case> = serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert!(cases.len() >= 100, "the corpus has {} cases", cases.len());
    let mut names: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), cases.len(), "case names are unique");
    // Most cases take milliseconds; a few wait on programs, so run several at once.
    let failures: Vec<String> = std::thread::scope(|scope| {
        let chunks: Vec<_> = cases
            .chunks(cases.len().div_ceil(8))
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .iter()
                        .filter_map(|case| {
                            let faults = check(case);
                            (!faults.is_empty()).then(|| format!("{}:\n  {}", case.name, faults.join("\n  ")))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        chunks.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
