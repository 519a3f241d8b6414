//! The SQLite store: round trips and the reaping of trials whose worker died.

use std::time::Duration;

use bo::space::Goal;
use bo::storage::{now, NewTrial, Storage, StudyRecord, TrialState, Worker};
use serde_json::{json, Map, Value};

fn study(storage: &Storage) -> StudyRecord {
    storage
        .create_study(&StudyRecord {
            id: 0,
            name: "s".into(),
            config: json!({"parameters": {"x": {"min": 0.0, "max": 1.0}}}),
            objective: json!({"function": "branin", "noise": 0.0}),
            metric: "value".into(),
            goal: Goal::Maximize,
            strategy: "random".into(),
            seed: 42,
            created: now(),
            pruner: None,
        })
        .unwrap()
}

fn params(x: f64) -> Map<String, Value> {
    json!({"x": x}).as_object().unwrap().clone()
}

fn worker(host: &str, pid: u32) -> Worker {
    Worker {
        host: host.into(),
        pid,
        git_commit: Some("abc".into()),
        heartbeat_timeout: Duration::from_secs(3600),
    }
}

#[test]
fn studies_and_trials_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bo.db");
    let mut storage = Storage::open(&path).unwrap();
    let created = study(&storage);
    let me = Worker::this_process(Duration::from_secs(60));
    let trial = storage.begin_trial(created.id, &me, |trials, number| {
        assert!(trials.is_empty());
        assert_eq!(number, 0);
        Ok(Some(NewTrial {
            params: params(0.25),
            seed: 7,
            suggest_seconds: Some(0.5),
            retest_of: None,
        }))
    });
    let trial = trial.unwrap().unwrap();
    storage.report(trial.id, 0, 0.5).unwrap();
    storage.report(trial.id, 1, 0.75).unwrap();
    storage
        .finish(trial.id, TrialState::Complete, Some(0.75), None)
        .unwrap();
    let second = storage
        .begin_trial(created.id, &me, |_, n| {
            Ok(Some(NewTrial {
                params: params(0.5),
                seed: n,
                suggest_seconds: None,
                retest_of: Some(0),
            }))
        })
        .unwrap()
        .unwrap();
    storage
        .finish(second.id, TrialState::Failed, None, Some("boom"))
        .unwrap();
    drop(storage);

    let storage = Storage::open_existing(&path).unwrap();
    let loaded = storage.study("s").unwrap().unwrap();
    assert_eq!(
        (loaded.goal, loaded.seed, loaded.strategy.as_str()),
        (Goal::Maximize, 42, "random")
    );
    assert_eq!(loaded.config, created.config);
    let trials = storage.trials(loaded.id).unwrap();
    assert_eq!(trials.len(), 2);
    let t = &trials[0];
    assert_eq!(
        (t.number, t.state, t.value, t.seed),
        (0, TrialState::Complete, Some(0.75), 7)
    );
    assert_eq!(t.params, params(0.25));
    assert_eq!(t.intermediate, vec![(0, 0.5), (1, 0.75)]);
    assert!(t.ended.unwrap() >= t.started);
    assert_eq!(t.pid, std::process::id());
    assert_eq!((t.suggest_seconds, t.retest_of), (Some(0.5), None));
    assert_eq!(trials[1].retest_of, Some(0));
    assert!(!trials[1].counts() && !trials[1].is_search());
    assert_eq!(
        (trials[1].number, trials[1].state, trials[1].error.as_deref()),
        (1, TrialState::Failed, Some("boom"))
    );
    assert!(storage.study("missing").unwrap().is_none());
}

#[test]
fn trials_of_dead_or_silent_workers_are_failed_and_not_counted() {
    let dir = tempfile::tempdir().unwrap();
    let mut storage = Storage::open(&dir.path().join("bo.db")).unwrap();
    let s = study(&storage);
    let me = Worker::this_process(Duration::from_secs(3600));
    // A worker on this host whose process is gone (a pid above any pid_max).
    let dead = worker(&me.host, 1 << 30);
    storage
        .begin_trial(s.id, &dead, |_, _| {
            Ok(Some(NewTrial {
                params: params(0.1),
                seed: 1,
                suggest_seconds: None,
                retest_of: None,
            }))
        })
        .unwrap()
        .unwrap();
    // A live worker elsewhere, and a remote one that stopped sending heartbeats.
    let remote = worker("elsewhere", 1);
    storage
        .begin_trial(s.id, &remote, |_, _| {
            Ok(Some(NewTrial {
                params: params(0.2),
                seed: 2,
                suggest_seconds: None,
                retest_of: None,
            }))
        })
        .unwrap()
        .unwrap();

    storage.begin_trial(s.id, &me, |_, _| Ok(None)).unwrap();
    let trials = storage.trials(s.id).unwrap();
    assert_eq!(trials[0].state, TrialState::Failed);
    assert!(trials[0].abandoned && !trials[0].counts());
    assert!(trials[0].error.as_deref().unwrap().contains("no longer running"));
    assert_eq!(
        trials[1].state,
        TrialState::Running,
        "a fresh remote heartbeat is left alone"
    );

    let impatient = Worker {
        heartbeat_timeout: Duration::ZERO,
        ..me.clone()
    };
    std::thread::sleep(Duration::from_millis(20));
    storage.begin_trial(s.id, &impatient, |_, _| Ok(None)).unwrap();
    let trials = storage.trials(s.id).unwrap();
    assert!(trials[1].abandoned);
    assert!(trials[1].error.as_deref().unwrap().contains("no heartbeat"));
}

#[test]
fn a_trial_taken_as_abandoned_is_never_overwritten_as_complete() {
    let dir = tempfile::tempdir().unwrap();
    let mut storage = Storage::open(&dir.path().join("bo.db")).unwrap();
    let s = study(&storage);
    let slow = worker("elsewhere", 1);
    let trial = storage
        .begin_trial(s.id, &slow, |_, _| {
            Ok(Some(NewTrial {
                params: params(0.3),
                seed: 3,
                suggest_seconds: None,
                retest_of: None,
            }))
        })
        .unwrap()
        .unwrap();
    let impatient = Worker {
        heartbeat_timeout: Duration::ZERO,
        ..Worker::this_process(Duration::ZERO)
    };
    std::thread::sleep(Duration::from_millis(20));
    storage.begin_trial(s.id, &impatient, |_, _| Ok(None)).unwrap();
    // The slow worker finishes late: its result is refused, the trial stays abandoned.
    assert!(!storage.finish(trial.id, TrialState::Complete, Some(1.0), None).unwrap());
    let stored = &storage.trials(s.id).unwrap()[0];
    assert_eq!(
        (stored.state, stored.abandoned, stored.value),
        (TrialState::Failed, true, None)
    );
}

/// The file's bytes and the names of the files beside it.
fn state(dir: &std::path::Path) -> (Vec<u8>, Vec<String>) {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    (std::fs::read(dir.join("bo.db")).unwrap(), names)
}

#[test]
fn reading_writes_nothing_and_an_unmarked_database_of_an_earlier_bo_is_adopted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bo.db");
    // A database as bo wrote it before databases were marked: its tables of
    // then (schema 1), no application_id, one study.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "CREATE TABLE studies (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, config TEXT NOT NULL, \
         objective TEXT NOT NULL, metric TEXT NOT NULL, goal TEXT NOT NULL, strategy TEXT NOT NULL, \
         seed INTEGER NOT NULL, created REAL NOT NULL);
         CREATE TABLE trials (id INTEGER PRIMARY KEY, study_id INTEGER NOT NULL, number INTEGER NOT NULL, \
         state TEXT NOT NULL, params TEXT NOT NULL, value REAL, seed INTEGER NOT NULL, started REAL NOT NULL, \
         ended REAL, heartbeat REAL NOT NULL, error TEXT, host TEXT NOT NULL, pid INTEGER NOT NULL, git_commit TEXT, \
         abandoned INTEGER NOT NULL DEFAULT 0, suggest_seconds REAL, retest_of INTEGER, UNIQUE (study_id, number));
         CREATE TABLE intermediate (trial_id INTEGER NOT NULL, step INTEGER NOT NULL, value REAL NOT NULL, \
         PRIMARY KEY (trial_id, step));
         INSERT INTO studies VALUES (1, 's', '{\"parameters\": {}}', '{}', 'value', 'maximize', 'random', 42, 0);
         INSERT INTO trials VALUES (1, 1, 0, 'complete', '{\"x\": 0.5}', 1.5, 7, 0, 1, 1, NULL, 'h', 1, NULL, 0, NULL, NULL);",
    )
    .unwrap();
    drop(conn);
    let header = |p: &std::path::Path| {
        let bytes = std::fs::read(p).unwrap();
        (bytes[60..64].to_vec(), bytes[68..72].to_vec())
    };
    assert_eq!(header(&path), (vec![0; 4], vec![0; 4]));

    let before = state(dir.path());
    let reader = Storage::open_read_only(&path).unwrap();
    assert_eq!(reader.studies().unwrap().len(), 1);
    assert_eq!(reader.trials(1).unwrap()[0].value, Some(1.5));
    drop(reader);
    assert_eq!(state(dir.path()), before, "reading changed the folder");

    // Writing marks it as bo's, migrates it to the current schema, and keeps its study.
    let storage = Storage::open(&path).unwrap();
    assert_eq!(storage.study("s").unwrap().unwrap().seed, 42);
    assert_eq!(storage.trials(1).unwrap()[0].value, Some(1.5));
    drop(storage);
    assert_eq!(header(&path), (2i32.to_be_bytes().to_vec(), b"bodb".to_vec()));
}

#[test]
fn opening_the_store_again_keeps_the_locks_this_process_holds() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bo.db");
    let storage = Storage::open(&path).unwrap();
    study(&storage);
    // Another connection of this process opens the store (a heartbeat, another worker thread).
    let again = Storage::open(&path).unwrap();
    // Another process reads and closes. Had this process lost its lock on the
    // database file, that process would take itself for the last one and
    // checkpoint and delete the write-ahead log under our connections.
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg("import sqlite3, sys\nc = sqlite3.connect(sys.argv[1])\nprint(c.execute('SELECT count(*) FROM studies').fetchone()[0])\nc.close()")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1");
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    assert!(
        std::path::Path::new(&wal).exists(),
        "the write-ahead log was deleted while in use"
    );
    assert_eq!(again.studies().unwrap().len(), 1);
}

#[test]
fn the_store_opens_and_reads_while_another_connection_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bo.db");
    let mut storage = Storage::open(&path).unwrap();
    let s = study(&storage);
    let me = Worker::this_process(Duration::from_secs(3600));
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            let mut opened = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                // As a worker thread, a heartbeat or `bo show` does, each time anew.
                Storage::open(&path).unwrap().trials(s.id).unwrap();
                Storage::open_read_only(&path).unwrap().studies().unwrap();
                opened += 1;
            }
            opened
        });
        // Enough writes that the log is checkpointed into the main file meanwhile.
        for i in 0..1500 {
            let trial = storage
                .begin_trial(s.id, &me, |_, _| {
                    Ok(Some(NewTrial {
                        params: params(i as f64 / 1500.0),
                        seed: i,
                        suggest_seconds: None,
                        retest_of: None,
                    }))
                })
                .unwrap()
                .unwrap();
            for step in 1..=3 {
                storage.report(trial.id, step, 1.0 / step as f64).unwrap();
            }
            storage.finish(trial.id, TrialState::Complete, Some(0.5), None).unwrap();
        }
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        assert!(reader.join().unwrap() > 0);
    });
    assert_eq!(storage.trials(s.id).unwrap().len(), 1500);
}
