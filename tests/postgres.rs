//! The command line on a PostgreSQL store, against a real server started for
//! these tests: every command, workers in several processes on one study,
//! `bo copy` from SQLite, and clear errors that leave nothing behind.

mod common;
#[path = "common/postgres.rs"]
mod postgres_server;

use std::path::Path;
use std::process::Stdio;

use common::{bo, command, export, ok};
use postgres_server::PgServer;
use serde_json::Value;

fn export_from(d: &Path, study: &str, storage: &str) -> Vec<Value> {
    let doc: Value =
        serde_json::from_str(&ok(bo(d, &["export", study, "--format", "json", "--storage", storage]))).unwrap();
    doc["trials"].as_array().unwrap().clone()
}

fn run_args<'a>(study: &'a str, surrogate: &'a str, trials: &'a str, storage: &'a str) -> Vec<&'a str> {
    vec![
        "run",
        "--objective",
        "branin",
        "--surrogate",
        surrogate,
        "--trials",
        trials,
        "--seed",
        "3",
        "--study",
        study,
        "--storage",
        storage,
        "--quiet",
    ]
}

#[test]
fn every_command_works_on_postgresql_and_the_url_can_come_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let url = PgServer::shared().database("commands");
    let summary: Value = serde_json::from_str(&ok(bo(d, &run_args("p", "tpe", "12", &url)))).unwrap();
    assert_eq!(summary["trials"], 12);
    // BO_STORAGE stands for --storage.
    let resumed = command(d, &["run", "--study", "p", "--trials", "15", "--quiet"])
        .env("BO_STORAGE", &url)
        .output()
        .unwrap();
    ok(resumed);
    let trials = export_from(d, "p", &url);
    assert_eq!(
        trials.iter().map(|t| t["number"].as_u64().unwrap()).collect::<Vec<_>>(),
        (0..15).collect::<Vec<_>>()
    );
    assert!(trials.iter().all(|t| t["state"] == "complete"));
    let shown = ok(bo(d, &["show", "p", "--storage", &url]));
    assert!(shown.contains("15 complete, 0 pruned, 0 failed"), "{shown}");
    let listed = ok(bo(d, &["studies", "--storage", &url]));
    assert!(
        listed.lines().any(|l| l.starts_with("p ") && l.contains("15")),
        "{listed}"
    );
    let csv = ok(bo(d, &["export", "p", "--storage", &url]));
    assert_eq!(csv.lines().count(), 16);
    let retest = ok(bo(
        d,
        &["retest", "p", "--top-k", "2", "--seeds", "2", "--storage", &url],
    ));
    assert!(retest.contains("re-test of the top 2"), "{retest}");
    let after = export_from(d, "p", &url);
    assert_eq!(after.iter().filter(|t| !t["retest_of"].is_null()).count(), 4);
    // Nothing was written beside the commands: no SQLite file appeared.
    assert!(!d.join("bo.db").exists());
    // The password never shows in what bo prints.
    let out = command(d, &["run", "--study", "p", "--trials", "16"])
        .env("BO_STORAGE", &url)
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&out.stderr).contains(postgres_server::PASSWORD));
}

#[test]
fn workers_in_several_processes_share_one_study_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let url = PgServer::shared().database("processes");
    ok(bo(d, &run_args("shared", "gp", "1", &url)));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            command(
                d,
                &[
                    "run",
                    "--study",
                    "shared",
                    "--trials",
                    "40",
                    "--quiet",
                    "--storage",
                    &url,
                ],
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    for worker in workers {
        ok(worker.wait_with_output().unwrap());
    }
    let trials = export_from(d, "shared", &url);
    let numbers: Vec<u64> = trials.iter().map(|t| t["number"].as_u64().unwrap()).collect();
    assert_eq!(numbers, (0..40).collect::<Vec<_>>());
    let mut configurations: Vec<String> = trials.iter().map(|t| t["params"].to_string()).collect();
    configurations.sort();
    configurations.dedup();
    assert_eq!(configurations.len(), 40, "a configuration was suggested twice");
    assert!(trials.iter().all(|t| t["state"] == "complete"));
}

#[test]
fn a_study_copied_from_sqlite_resumes_on_postgresql_with_the_same_next_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let url = PgServer::shared().database("copy");
    ok(bo(d, &run_args("c", "gp", "8", "bo.db")));
    let copied = ok(bo(d, &["copy", "c", "--from", "bo.db", "--to", &url]));
    assert!(copied.contains("copied study `c` (8 trials)"), "{copied}");
    assert!(!copied.contains(postgres_server::PASSWORD), "{copied}");
    // Copying again finds the name taken and changes nothing.
    let again = bo(d, &["copy", "c", "--from", "bo.db", "--to", &url]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds a study named `c`"));
    let view = |trials: &[Value]| -> Vec<(Value, Value, Value)> {
        trials
            .iter()
            .map(|t| (t["number"].clone(), t["params"].clone(), t["value"].clone()))
            .collect()
    };
    let original = export(d, "c")["trials"].as_array().unwrap().clone();
    assert_eq!(view(&export_from(d, "c", &url)), view(&original));
    for storage in ["bo.db", url.as_str()] {
        ok(bo(
            d,
            &["run", "--study", "c", "--trials", "10", "--quiet", "--storage", storage],
        ));
    }
    let (on_sqlite, on_postgres) = (export_from(d, "c", "bo.db"), export_from(d, "c", &url));
    assert_eq!(on_postgres.len(), 10);
    assert_eq!(view(&on_postgres), view(&on_sqlite), "the resumed suggestions differ");
    // And back: a PostgreSQL study copies into a new SQLite file.
    ok(bo(d, &["copy", "c", "--from", &url, "--to", "back.db"]));
    assert_eq!(view(&export_from(d, "c", "back.db")), view(&on_postgres));
}

#[test]
fn a_bad_url_a_refused_connection_and_a_wrong_password_are_named_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server = PgServer::shared();
    let url = server.database("refused");
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cases = [
        (
            "postgresql://bo@127.0.0.1:port/x".to_string(),
            "not a valid PostgreSQL URL",
        ),
        (format!("postgresql://bo:pw@127.0.0.1:{closed}/x"), "Connection refused"),
        (
            url.replace(postgres_server::PASSWORD, "wrong"),
            "password authentication failed",
        ),
        ("mysql://h/db".to_string(), "unknown storage scheme"),
    ];
    for (storage, words) in cases {
        let out = bo(d, &run_args("e", "random", "2", &storage));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{storage}");
        assert!(stderr.contains(words), "{storage}: {stderr}");
        assert!(
            !stderr.contains(":pw@") && !stderr.contains(":wrong@"),
            "a password is shown: {stderr}"
        );
    }
    assert_eq!(std::fs::read_dir(d).unwrap().count(), 0, "something was written");
    let name = url.rsplit('/').next().unwrap();
    let schemas: i64 = server
        .client(name)
        .query_one("SELECT count(*) FROM pg_namespace WHERE nspname = 'bo'", &[])
        .unwrap()
        .get(0);
    assert_eq!(schemas, 0);
    // Reading a database that holds no study creates nothing either.
    let out = bo(d, &["studies", "--storage", &url]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("holds no bo studies"));
}
