//! The stores. One suite of behaviours runs against both back ends (SQLite,
//! and a real PostgreSQL server started for the tests); then what only one of
//! them has: SQLite's file handling, PostgreSQL's reconnection and its errors.

#[path = "common/postgres.rs"]
mod postgres_server;

use std::time::Duration;

use bo::space::Goal;
use bo::storage::{self, now, Access, Location, NewTrial, Storage, StudyRecord, TrialState, Worker};
use postgres_server::PgServer;
use serde_json::{json, Map, Value};

fn study(storage: &dyn Storage) -> StudyRecord {
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
            pruner: Some(json!({"type": "median"})),
        })
        .unwrap()
}

fn params(x: f64) -> Map<String, Value> {
    json!({"x": x}).as_object().unwrap().clone()
}

fn new_trial(x: f64, seed: u64) -> NewTrial {
    NewTrial {
        params: params(x),
        seed,
        suggest_seconds: None,
        retest_of: None,
    }
}

fn worker(host: &str, pid: u32) -> Worker {
    Worker {
        host: host.into(),
        pid,
        git_commit: Some("abc".into()),
        heartbeat_timeout: Duration::from_secs(3600),
    }
}

fn open(location: &Location) -> Box<dyn Storage> {
    storage::open(location, Access::Create).unwrap()
}

/// A store no test has used: a file in a new folder, or a new database on the shared server.
struct Fresh {
    location: Location,
    _folder: Option<tempfile::TempDir>,
}

fn sqlite(_: &str) -> Fresh {
    let folder = tempfile::tempdir().unwrap();
    Fresh {
        location: Location::Sqlite(folder.path().join("bo.db")),
        _folder: Some(folder),
    }
}

fn postgresql(test: &str) -> Fresh {
    Fresh {
        location: Location::Postgres(PgServer::shared().database(test)),
        _folder: None,
    }
}

/// The behaviours both stores must share, each a test per back end.
macro_rules! behaviours {
    ($backend:ident, $fresh:expr) => {
        mod $backend {
            use super::*;

            #[test]
            fn studies_and_trials_round_trip() {
                behaviour::round_trip(&$fresh("round_trip").location);
            }

            #[test]
            fn trials_of_dead_or_silent_workers_are_failed_and_not_counted() {
                behaviour::reaping(&$fresh("reaping").location);
            }

            #[test]
            fn a_trial_taken_as_abandoned_is_never_overwritten_as_complete() {
                behaviour::late_finish(&$fresh("late_finish").location);
            }

            #[test]
            fn concurrent_workers_never_get_the_same_number() {
                behaviour::no_duplicates(&$fresh("no_duplicates").location);
            }

            #[test]
            fn a_trial_finished_while_another_worker_reaps_stays_finished() {
                behaviour::reaping_races_finishing(&$fresh("reaping_race").location);
            }

            #[test]
            fn pruners_see_every_trial_at_its_first_step_at_or_after_the_rung() {
                behaviour::values_at(&$fresh("values_at").location);
            }

            #[test]
            fn a_study_imports_exactly_and_a_taken_name_is_refused() {
                let from = $fresh("import_from");
                let to = $fresh("import_to");
                behaviour::import(&from.location, &to.location);
            }

            #[test]
            fn an_empty_store_is_not_created_by_reading_or_resuming() {
                behaviour::nothing_to_read(&$fresh("nothing_to_read").location);
            }

            #[test]
            fn a_read_only_store_refuses_writes() {
                behaviour::read_only(&$fresh("read_only").location);
            }
        }
    };
}

behaviours!(on_sqlite, sqlite);
behaviours!(on_postgresql, postgresql);

mod behaviour {
    use super::*;

    pub fn round_trip(location: &Location) {
        let mut storage = open(location);
        let created = study(storage.as_ref());
        let me = Worker::this_process(Duration::from_secs(60));
        let trial = storage.begin_trial(created.id, &me, &mut |trials, number| {
            assert!(trials.is_empty());
            assert_eq!(number, 0);
            Ok(Some(NewTrial {
                suggest_seconds: Some(0.5),
                ..new_trial(0.25, 7)
            }))
        });
        let trial = trial.unwrap().unwrap();
        storage.report(trial.id, 0, 0.5).unwrap();
        storage.report(trial.id, 1, 0.7).unwrap();
        // A repeated step replaces the value before.
        storage.report(trial.id, 1, 0.75).unwrap();
        storage.record_metric(trial.id, "loss", Some(1), 0.3).unwrap();
        storage.record_metric(trial.id, "loss", None, 0.25).unwrap();
        storage.heartbeat(trial.id).unwrap();
        assert!(storage
            .finish(trial.id, TrialState::Complete, Some(0.75), None)
            .unwrap());
        let second = storage
            .begin_trial(created.id, &me, &mut |_, n| {
                Ok(Some(NewTrial {
                    retest_of: Some(0),
                    ..new_trial(0.5, n)
                }))
            })
            .unwrap()
            .unwrap();
        assert_eq!(second.number, 1);
        storage
            .finish(second.id, TrialState::Failed, None, Some("boom"))
            .unwrap();
        storage.set_strategy(created.id, "gp").unwrap();
        drop(storage);

        let storage = storage::open(location, Access::ReadOnly).unwrap();
        let loaded = storage.study("s").unwrap().unwrap();
        assert_eq!(
            (loaded.goal, loaded.seed, loaded.strategy.as_str()),
            (Goal::Maximize, 42, "gp")
        );
        assert_eq!((&loaded.config, &loaded.pruner), (&created.config, &created.pruner));
        assert_eq!(storage.studies().unwrap().len(), 1);
        let trials = storage.trials(loaded.id).unwrap();
        assert_eq!(trials.len(), 2);
        let t = &trials[0];
        assert_eq!(
            (t.number, t.state, t.value, t.seed, t.resource),
            (0, TrialState::Complete, Some(0.75), 7, Some(1))
        );
        assert_eq!(t.params, params(0.25));
        assert_eq!(t.intermediate, vec![(0, 0.5), (1, 0.75)]);
        assert_eq!(
            t.metrics,
            vec![("loss".to_string(), Some(1), 0.3), ("loss".to_string(), None, 0.25)]
        );
        assert!(t.ended.unwrap() >= t.started);
        assert_eq!((t.pid, t.host.as_str()), (std::process::id(), me.host.as_str()));
        assert_eq!((t.suggest_seconds, t.retest_of), (Some(0.5), None));
        assert_eq!(trials[1].retest_of, Some(0));
        assert!(!trials[1].counts() && !trials[1].is_search());
        assert_eq!(
            (trials[1].number, trials[1].state, trials[1].error.as_deref()),
            (1, TrialState::Failed, Some("boom"))
        );
        assert!(storage.study("missing").unwrap().is_none());
    }

    pub fn reaping(location: &Location) {
        let mut storage = open(location);
        let s = study(storage.as_ref());
        let me = Worker::this_process(Duration::from_secs(3600));
        // A worker on this host whose process is gone (a pid above any pid_max).
        let dead = worker(&me.host, 1 << 30);
        storage
            .begin_trial(s.id, &dead, &mut |_, _| Ok(Some(new_trial(0.1, 1))))
            .unwrap()
            .unwrap();
        // A live worker elsewhere, and a remote one that stopped sending heartbeats.
        let remote = worker("elsewhere", 1);
        storage
            .begin_trial(s.id, &remote, &mut |_, _| Ok(Some(new_trial(0.2, 2))))
            .unwrap()
            .unwrap();

        storage.begin_trial(s.id, &me, &mut |_, _| Ok(None)).unwrap();
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
        // What the strategy is shown is the store after reaping.
        storage
            .begin_trial(s.id, &impatient, &mut |trials, _| {
                assert!(trials.iter().all(|t| t.state == TrialState::Failed && t.abandoned));
                Ok(None)
            })
            .unwrap();
        let trials = storage.trials(s.id).unwrap();
        assert!(trials[1].abandoned);
        assert!(trials[1].error.as_deref().unwrap().contains("no heartbeat"));
    }

    pub fn late_finish(location: &Location) {
        let mut storage = open(location);
        let s = study(storage.as_ref());
        let slow = worker("elsewhere", 1);
        let trial = storage
            .begin_trial(s.id, &slow, &mut |_, _| Ok(Some(new_trial(0.3, 3))))
            .unwrap()
            .unwrap();
        let impatient = Worker {
            heartbeat_timeout: Duration::ZERO,
            ..Worker::this_process(Duration::ZERO)
        };
        std::thread::sleep(Duration::from_millis(20));
        storage.begin_trial(s.id, &impatient, &mut |_, _| Ok(None)).unwrap();
        // The slow worker finishes late: its result is refused, the trial stays abandoned.
        assert!(!storage.finish(trial.id, TrialState::Complete, Some(1.0), None).unwrap());
        let stored = &storage.trials(s.id).unwrap()[0];
        assert_eq!(
            (stored.state, stored.abandoned, stored.value),
            (TrialState::Failed, true, None)
        );
    }

    /// Four workers, each with its own connection, start 25 trials each at
    /// once: 100 numbers, none twice, none skipped, and every worker saw the
    /// trials before its own (so the strategy never proposes blind) as they
    /// are in the store, not as it last read them.
    pub fn no_duplicates(location: &Location) {
        let first = open(location);
        let s = study(first.as_ref());
        drop(first);
        let workers: Vec<Box<dyn Storage>> = std::thread::scope(|scope| {
            let threads: Vec<_> = (0..4u32)
                .map(|w| {
                    scope.spawn(move || {
                        let mut storage = open(location);
                        let me = worker(&format!("host{w}"), 1);
                        for i in 0..25 {
                            let trial = storage
                                .begin_trial(s.id, &me, &mut |trials, number| {
                                    assert_eq!(trials.len() as u64, number, "the strategy saw every earlier trial");
                                    Ok(Some(new_trial(f64::from(w) + i as f64 / 100.0, number)))
                                })
                                .unwrap()
                                .unwrap();
                            storage.finish(trial.id, TrialState::Complete, Some(1.0), None).unwrap();
                        }
                        storage
                    })
                })
                .collect();
            threads.into_iter().map(|t| t.join().unwrap()).collect()
        });
        // Each worker's next look is fresh: the others' trials it last saw running ended since.
        for mut storage in workers {
            storage
                .begin_trial(s.id, &worker("checker", 1), &mut |trials, _| {
                    assert_eq!(trials.len(), 100);
                    let stale: Vec<_> = trials
                        .iter()
                        .filter(|t| t.state != TrialState::Complete || t.value != Some(1.0))
                        .map(|t| (t.number, t.id, t.state, t.value))
                        .collect();
                    assert!(stale.is_empty(), "{stale:?}");
                    Ok(None)
                })
                .unwrap();
        }
        let trials = open(location).trials(s.id).unwrap();
        let numbers: Vec<u64> = trials.iter().map(|t| t.number).collect();
        assert_eq!(numbers, (0..100).collect::<Vec<_>>());
        let mut configurations: Vec<String> = trials
            .iter()
            .map(|t| Value::Object(t.params.clone()).to_string())
            .collect();
        configurations.sort();
        configurations.dedup();
        assert_eq!(configurations.len(), 100);
    }

    /// Workers that all take each other for dead (pids no process can have)
    /// reap each other's running trials while those finish: a trial ends
    /// either complete, as its worker said, or abandoned with no value, never
    /// a finished trial turned failed.
    pub fn reaping_races_finishing(location: &Location) {
        let first = open(location);
        let s = study(first.as_ref());
        drop(first);
        let host = Worker::this_process(Duration::from_secs(60)).host;
        std::thread::scope(|scope| {
            for w in 0..4u32 {
                let host = host.clone();
                scope.spawn(move || {
                    let mut storage = open(location);
                    let me = worker(&host, (1 << 30) + w);
                    for i in 0..25 {
                        let started = storage
                            .begin_trial(s.id, &me, &mut |_, n| {
                                Ok(Some(new_trial(f64::from(w) + i as f64 / 100.0, n)))
                            })
                            .unwrap()
                            .unwrap();
                        storage
                            .finish(started.id, TrialState::Complete, Some(1.0), None)
                            .unwrap();
                    }
                });
            }
        });
        for t in open(location).trials(s.id).unwrap() {
            match (t.state, t.abandoned) {
                (TrialState::Complete, false) => assert_eq!(t.value, Some(1.0)),
                (TrialState::Failed, true) => assert_eq!(t.value, None, "trial {} finished, then was reaped", t.number),
                other => panic!("trial {} ended as {other:?}", t.number),
            }
        }
    }

    pub fn values_at(location: &Location) {
        let mut storage = open(location);
        let s = study(storage.as_ref());
        let me = Worker::this_process(Duration::from_secs(60));
        let curves: [&[(i64, f64)]; 3] = [&[(1, 0.9), (3, 0.5)], &[(2, 0.8)], &[(1, 0.7)]];
        for (i, curve) in curves.iter().enumerate() {
            let trial = storage
                .begin_trial(s.id, &me, &mut |_, _| Ok(Some(new_trial(i as f64 / 10.0, i as u64))))
                .unwrap()
                .unwrap();
            for &(step, value) in *curve {
                storage.report(trial.id, step, value).unwrap();
            }
            if i == 0 {
                storage.finish(trial.id, TrialState::Pruned, Some(0.5), None).unwrap();
            }
        }
        let mut at_two = storage.values_at(s.id, 2).unwrap();
        at_two.sort_by_key(|v| v.0);
        assert_eq!(
            at_two,
            vec![(0, TrialState::Pruned, 0.5), (1, TrialState::Running, 0.8)]
        );
        assert_eq!(storage.values_at(s.id, 4).unwrap(), vec![]);
    }

    pub fn import(from: &Location, to: &Location) {
        let mut source = open(from);
        let s = study(source.as_ref());
        let me = Worker::this_process(Duration::from_secs(60));
        for i in 0..3u64 {
            let trial = source
                .begin_trial(s.id, &me, &mut |_, _| Ok(Some(new_trial(i as f64 / 4.0, i))))
                .unwrap()
                .unwrap();
            source.report(trial.id, 1, 0.1 * i as f64).unwrap();
            source.record_metric(trial.id, "acc", None, 0.5).unwrap();
            let state = [TrialState::Complete, TrialState::Pruned, TrialState::Failed][i as usize];
            source.finish(trial.id, state, Some(i as f64), None).unwrap();
        }
        let trials = source.trials(s.id).unwrap();
        let mut target = open(to);
        let copied = target.import(&s, &trials).unwrap();
        assert_eq!(
            (&copied.name, &copied.config, copied.seed, &copied.pruner),
            (&s.name, &s.config, s.seed, &s.pruner)
        );
        let again = target.trials(copied.id).unwrap();
        let view = |t: &bo::storage::TrialRecord| {
            (
                t.number,
                t.state,
                t.params.clone(),
                t.value,
                t.seed,
                t.started,
                t.ended,
                t.intermediate.clone(),
                t.metrics.clone(),
                t.resource,
            )
        };
        assert_eq!(
            again.iter().map(view).collect::<Vec<_>>(),
            trials.iter().map(view).collect::<Vec<_>>()
        );
        let err = target.import(&s, &trials).unwrap_err().to_string();
        assert!(err.contains("already holds a study named `s`"), "{err}");
        // The next trial continues the numbering.
        let next = target
            .begin_trial(copied.id, &me, &mut |_, n| Ok(Some(new_trial(0.9, n))))
            .unwrap()
            .unwrap();
        assert_eq!(next.number, 3);
    }

    pub fn nothing_to_read(location: &Location) {
        for access in [Access::ReadOnly, Access::Existing] {
            let err = storage::open(location, access)
                .err()
                .expect("an empty store is refused");
            let text = format!("{err:#}");
            assert!(
                text.contains("no study database") || text.contains("holds no bo studies"),
                "{text}"
            );
        }
        // Nothing was created: the refusal holds a second time.
        assert!(storage::open(location, Access::ReadOnly).is_err());
    }

    pub fn read_only(location: &Location) {
        let storage = open(location);
        let s = study(storage.as_ref());
        drop(storage);
        let reader = storage::open(location, Access::ReadOnly).unwrap();
        assert!(reader.set_strategy(s.id, "tpe").is_err());
        assert_eq!(open(location).study("s").unwrap().unwrap().strategy, "random");
    }
}

mod on_postgresql_only {
    use super::*;

    #[test]
    fn a_worker_rides_out_a_server_restart() {
        let server = PgServer::start();
        let location = Location::Postgres(server.database("restart"));
        let mut storage = open(&location);
        let s = study(storage.as_ref());
        let me = Worker::this_process(Duration::from_secs(60));
        let running = storage
            .begin_trial(s.id, &me, &mut |_, _| Ok(Some(new_trial(0.1, 1))))
            .unwrap()
            .unwrap();
        server.stop();
        // The server comes back a second later, while the worker is writing.
        std::thread::scope(|scope| {
            scope.spawn(|| {
                std::thread::sleep(Duration::from_secs(1));
                server.start_again();
            });
            storage.report(running.id, 1, 0.5).unwrap();
        });
        assert!(storage
            .finish(running.id, TrialState::Complete, Some(0.5), None)
            .unwrap());
        let next = storage
            .begin_trial(s.id, &me, &mut |trials, n| {
                assert_eq!(trials.len(), 1);
                Ok(Some(new_trial(0.2, n)))
            })
            .unwrap()
            .unwrap();
        assert_eq!(next.number, 1);
        let trials = storage.trials(s.id).unwrap();
        assert_eq!(
            (trials[0].state, trials[0].intermediate.clone()),
            (TrialState::Complete, vec![(1, 0.5)])
        );
    }

    #[test]
    fn tls_encrypts_on_request_and_verify_full_checks_the_certificate() {
        let server = PgServer::start_with_tls();
        let url = server.database("tls");
        let location: Location = format!("{url}?sslmode=require").parse().unwrap();
        let storage = open(&location);
        study(storage.as_ref());
        // The server's view of bo's connection (application_name `bo`).
        let encrypted: bool = server
            .client("postgres")
            .query_one(
                "SELECT bool_and(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
                 WHERE a.application_name = 'bo'",
                &[],
            )
            .unwrap()
            .get(0);
        assert!(encrypted, "bo's connection is not encrypted");
        // A self-signed certificate is refused when asked to verify it.
        let err = open_error(&format!("{url}?sslmode=verify-full"));
        assert!(
            err.contains("cannot connect") && err.to_lowercase().contains("certificate"),
            "{err}"
        );
    }

    fn open_error(url: &str) -> String {
        let location: Location = url.parse().unwrap();
        format!("{:#}", storage::open(&location, Access::Create).err().expect("refused"))
    }

    #[test]
    fn bad_urls_refused_connections_and_wrong_passwords_are_named() {
        let server = PgServer::shared();
        let url = server.database("errors");
        let err = open_error("postgresql://bo@127.0.0.1:notaport/db");
        assert!(err.contains("not a valid PostgreSQL URL"), "{err}");
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let err = open_error(&format!("postgresql://bo:pw@127.0.0.1:{closed}/db"));
        assert!(
            err.contains("cannot connect to the PostgreSQL store") && err.contains("refused"),
            "{err}"
        );
        assert!(!err.contains(":pw@"), "the password is shown: {err}");
        let err = open_error(&url.replace(postgres_server::PASSWORD, "wrong"));
        assert!(err.contains("password authentication failed"), "{err}");
        // None of them wrote anything: the database still has no bo schema.
        let name = url.rsplit('/').next().unwrap();
        let schemas = server
            .client(name)
            .query_one("SELECT count(*) FROM pg_namespace WHERE nspname = 'bo'", &[])
            .unwrap()
            .get::<_, i64>(0);
        assert_eq!(schemas, 0);
    }

    #[test]
    fn other_programs_tables_are_left_alone_and_a_foreign_bo_schema_is_refused() {
        let server = PgServer::shared();
        let url = server.database("foreign");
        let name = url.rsplit('/').next().unwrap().to_owned();
        // Optuna's RDB storage keeps tables of these names in the public schema.
        server
            .client(&name)
            .batch_execute("CREATE TABLE studies (study_id INT PRIMARY KEY); INSERT INTO studies VALUES (7);")
            .unwrap();
        let location: Location = url.parse().unwrap();
        let storage = open(&location);
        study(storage.as_ref());
        let optuna: i32 = server
            .client(&name)
            .query_one("SELECT study_id FROM public.studies", &[])
            .unwrap()
            .get(0);
        assert_eq!(optuna, 7);

        let other = server.database("foreign_schema");
        let other_name = other.rsplit('/').next().unwrap().to_owned();
        server
            .client(&other_name)
            .batch_execute("CREATE SCHEMA bo; CREATE TABLE bo.things (x INT);")
            .unwrap();
        let err = open_error(&other);
        assert!(err.contains("schema `bo` that bo did not create"), "{err}");
    }
}

mod on_sqlite_only {
    use super::*;

    fn sqlite_store(path: &std::path::Path, access: Access) -> anyhow::Result<Box<dyn Storage>> {
        storage::open(&Location::Sqlite(path.to_path_buf()), access)
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
        let reader = sqlite_store(&path, Access::ReadOnly).unwrap();
        assert_eq!(reader.studies().unwrap().len(), 1);
        assert_eq!(reader.trials(1).unwrap()[0].value, Some(1.5));
        drop(reader);
        assert_eq!(state(dir.path()), before, "reading changed the folder");

        // Writing marks it as bo's, migrates it to the current schema, and keeps its study.
        let storage = sqlite_store(&path, Access::Create).unwrap();
        assert_eq!(storage.study("s").unwrap().unwrap().seed, 42);
        assert_eq!(storage.trials(1).unwrap()[0].value, Some(1.5));
        drop(storage);
        assert_eq!(header(&path), (2i32.to_be_bytes().to_vec(), b"bodb".to_vec()));
    }

    #[test]
    fn opening_the_store_again_keeps_the_locks_this_process_holds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bo.db");
        let storage = sqlite_store(&path, Access::Create).unwrap();
        study(storage.as_ref());
        // Another connection of this process opens the store (a heartbeat, another worker thread).
        let again = sqlite_store(&path, Access::Create).unwrap();
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
        let mut storage = sqlite_store(&path, Access::Create).unwrap();
        let s = study(storage.as_ref());
        let me = Worker::this_process(Duration::from_secs(3600));
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|scope| {
            let reader = scope.spawn(|| {
                let mut opened = 0;
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    // As a worker thread, a heartbeat or `bo show` does, each time anew.
                    sqlite_store(&path, Access::Create).unwrap().trials(s.id).unwrap();
                    sqlite_store(&path, Access::ReadOnly).unwrap().studies().unwrap();
                    opened += 1;
                }
                opened
            });
            // Enough writes that the log is checkpointed into the main file meanwhile.
            for i in 0..1500 {
                let trial = storage
                    .begin_trial(s.id, &me, &mut |_, _| {
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

    /// Eight workers open a file that does not exist yet, all at once, a
    /// hundred times: each gets the store (none is told "database is locked").
    #[test]
    fn workers_that_create_the_file_at_once_all_open_it() {
        let mut failures = Vec::new();
        for _ in 0..100 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("bo.db");
            let barrier = std::sync::Barrier::new(8);
            std::thread::scope(|scope| {
                let opened: Vec<_> = (0..8)
                    .map(|_| {
                        scope.spawn(|| {
                            barrier.wait();
                            sqlite_store(&path, Access::Create)
                                .map(drop)
                                .map_err(|e| format!("{e:#}"))
                        })
                    })
                    .collect();
                failures.extend(opened.into_iter().filter_map(|o| o.join().unwrap().err()));
            });
        }
        assert!(
            failures.is_empty(),
            "{} failures, the first: {:?}",
            failures.len(),
            failures.first()
        );
    }
}
