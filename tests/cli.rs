//! End-to-end tests of the `bo` command line.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{bo, command, export, ok};
use serde_json::Value;

fn spawn_bo(dir: &Path, args: &[&str]) -> Child {
    command(dir, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bo starts")
}

fn trials(doc: &Value) -> &Vec<Value> {
    doc["trials"].as_array().unwrap()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn alive(pid: i32) -> bool {
    // A zombie still answers signal 0; /proc tells them apart.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

/// 20 random trials on Branin with seed 5 into study `study`; the `--quiet` summary.
fn random_branin(d: &Path, study: &str) -> Value {
    let args = [
        "run",
        "--objective",
        "branin",
        "--surrogate",
        "random",
        "--trials",
        "20",
        "--seed",
        "5",
        "--study",
        study,
        "--quiet",
    ];
    serde_json::from_str(&ok(bo(d, &args))).unwrap()
}

#[test]
fn random_on_branin_resumes_to_thirty_with_the_same_first_twenty() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let first = random_branin(d, "b");
    assert_eq!(first["trials"], 20);
    let before = export(d, "b");
    ok(bo(d, &["run", "--study", "b", "--trials", "30", "--quiet"]));
    let after = export(d, "b");
    let (t0, t1) = (trials(&before), trials(&after));
    assert_eq!(t1.len(), 30);
    assert!(t1.iter().all(|t| t["state"] == "complete"));
    assert_eq!(
        t1.iter().map(|t| t["number"].as_u64().unwrap()).collect::<Vec<_>>(),
        (0..30).collect::<Vec<_>>()
    );
    for (a, b) in t0.iter().zip(t1) {
        assert_eq!(a["params"], b["params"]);
        assert_eq!(a["value"], b["value"]);
    }
    // The same seed in a fresh study suggests the same configurations.
    random_branin(d, "c");
    let again = export(d, "c");
    assert!(trials(&again).iter().zip(t0).all(|(a, b)| a["params"] == b["params"]));
    // Each x stays in Branin's box.
    for t in t1 {
        let (x1, x2) = (t["params"]["x1"].as_f64().unwrap(), t["params"]["x2"].as_f64().unwrap());
        assert!((-5.0..=10.0).contains(&x1) && (0.0..=15.0).contains(&x2));
    }
    // Nothing left to do at 30.
    ok(bo(d, &["run", "--study", "b", "--trials", "30", "--quiet"]));
    assert_eq!(trials(&export(d, "b")).len(), 30);
    let shown = ok(bo(d, &["show", "b"]));
    assert!(
        shown.contains("30 complete, 0 pruned, 0 failed") && shown.contains("best: trial"),
        "{shown}"
    );
    let csv = ok(bo(d, &["export", "b", "--format", "csv"]));
    assert_eq!(csv.lines().count(), 31);
    assert!(csv.lines().next().unwrap().ends_with("param_x1,param_x2"));
    assert!(ok(bo(d, &["studies"]))
        .lines()
        .any(|l| l.starts_with("b ") && l.contains("30")));
}

const MODES: &str = r#"
import json, math, os, sys, time
args = dict(a[2:].split("=", 1) for a in sys.argv[1:] if a.startswith("--"))
mode = args["mode"]
assert json.loads(os.environ["BO_PARAMS"])["mode"] == mode
assert os.environ["BO_STUDY"] == "modes" and int(os.environ["BO_TRIAL"]) >= 0
if mode == "ok":
    print("starting")
    for step in range(3):
        print(json.dumps({"loss": 1.0 / (step + 1), "step": step}), flush=True)
elif mode == "fail":
    print("something went wrong", file=sys.stderr)
    sys.exit(3)
elif mode == "nan":
    print(json.dumps({"loss": float("nan")}))
elif mode == "silent":
    print("training...")
elif mode == "slow":
    time.sleep(30)
"#;

#[test]
fn program_trials_fail_with_their_reason_and_the_study_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "modes.py", MODES);
    write(
        d,
        "sweep.yaml",
        "program: modes.py\nmethod: grid\nmetric: {name: loss, goal: minimize}\nparameters:\n  mode: {values: [ok, fail, nan, silent, slow]}\n",
    );
    let start = Instant::now();
    let out = bo(
        d,
        &[
            "run",
            "--config",
            "sweep.yaml",
            "--study",
            "modes",
            "--trial-timeout",
            "2",
            "--trials",
            "10",
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "the slow trial was not stopped at its timeout"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("no configuration left"));
    let doc = export(d, "modes");
    let by_mode = |m: &str| {
        trials(&doc)
            .iter()
            .find(|t| t["params"]["mode"] == m)
            .unwrap_or_else(|| panic!("no {m} trial"))
            .clone()
    };
    assert_eq!(trials(&doc).len(), 5, "grid search stops when the grid is done");
    let good = by_mode("ok");
    assert_eq!(good["state"], "complete");
    assert!((good["value"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-12);
    assert_eq!(good["intermediate"].as_array().unwrap().len(), 3);
    let expect = [
        ("fail", "exited with exit status: 3"),
        ("fail", "something went wrong"),
        ("nan", "`loss` is NaN"),
        ("silent", "printed no JSON line with `loss`"),
        ("slow", "timed out after 2 s"),
    ];
    for (mode, text) in expect {
        let t = by_mode(mode);
        assert_eq!(t["state"], "failed", "{mode}");
        assert!(t["error"].as_str().unwrap().contains(text), "{mode}: {}", t["error"]);
    }
    assert_eq!(doc["best"], good["number"]);
}

const BLOCKING: &str = r#"
import json, os, sys, time
args = dict(a[2:].split("=", 1) for a in sys.argv[1:] if a.startswith("--"))
marker = os.environ["MARKER_DIR"]
if os.path.exists(os.path.join(marker, "block")):
    # A child of its own, in the program's process group: it must not outlive the trial either.
    if os.fork() == 0:
        open(os.path.join(marker, "child-%d" % os.getpid()), "w").close()
        time.sleep(60)
        os._exit(0)
    open(os.path.join(marker, "started-%d" % os.getpid()), "w").close()
    time.sleep(60)
time.sleep(float(os.environ.get("TRIAL_SECONDS", "0")))
print(json.dumps({"score": float(args["x"])}))
"#;

fn blocking_study(d: &Path) {
    write(d, "blocking.py", BLOCKING);
    write(d, "sweep.yaml", "program: blocking.py\nmethod: random\nmetric: {name: score, goal: maximize}\nparameters:\n  x: {min: 0.0, max: 1.0}\n");
    write(d, "block", "");
}

/// The pid in the marker `PREFIX-PID` a blocked program (`started`) or its
/// child (`child`) leaves; the marker is removed.
fn marked_pid(d: &Path, prefix: &str) -> i32 {
    let mut pid = None;
    wait_for("the trial to start", || {
        pid = std::fs::read_dir(d)
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.strip_prefix(prefix)?.parse().ok())
            .next();
        pid.is_some()
    });
    let pid = pid.unwrap();
    std::fs::remove_file(d.join(format!("{prefix}{pid}"))).unwrap();
    pid
}

/// The program blocked in its trial and the child it forked.
fn started_program(d: &Path) -> (i32, i32) {
    (marked_pid(d, "started-"), marked_pid(d, "child-"))
}

#[test]
fn a_killed_run_loses_only_its_running_trial_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    blocking_study(d);
    let mut run = spawn_bo(
        d,
        &[
            "run",
            "--config",
            "sweep.yaml",
            "--study",
            "k",
            "--trials",
            "3",
            "--seed",
            "1",
            "--quiet",
        ],
    );
    let (program, child) = started_program(d);
    run.kill().unwrap(); // SIGKILL: no chance to clean up
    run.wait().unwrap();
    // Neither the program nor what it started outlives bo.
    wait_for("the orphaned program to die", || !alive(program) && !alive(child));
    std::fs::remove_file(d.join("block")).unwrap();
    let running = export(d, "k");
    assert_eq!(trials(&running)[0]["state"], "running");

    let resumed = spawn_bo(d, &["run", "--study", "k", "--trials", "3", "--quiet"])
        .wait_with_output()
        .unwrap();
    ok(resumed);
    let doc = export(d, "k");
    let t = trials(&doc);
    assert_eq!(t.len(), 4, "three counted trials plus the abandoned one");
    assert_eq!(t[0]["state"], "failed");
    assert_eq!(t[0]["abandoned"], true);
    assert!(t[0]["error"].as_str().unwrap().contains("no longer running"));
    assert!(t[1..].iter().all(|t| t["state"] == "complete"));
    let best = t[1..]
        .iter()
        .map(|t| t["value"].as_f64().unwrap())
        .fold(f64::MIN, f64::max);
    assert_eq!(
        doc["best"],
        t.iter().find(|t| t["value"].as_f64() == Some(best)).unwrap()["number"],
        "maximize picks the largest"
    );
}

#[test]
fn ctrl_c_sigterm_and_sighup_stop_the_program_and_leave_the_study_resumable() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    blocking_study(d);
    for (signal, study) in [(libc::SIGINT, "int"), (libc::SIGTERM, "term"), (libc::SIGHUP, "hup")] {
        write(d, "block", "");
        let run = spawn_bo(
            d,
            &[
                "run",
                "--config",
                "sweep.yaml",
                "--study",
                study,
                "--trials",
                "2",
                "--seed",
                "2",
            ],
        );
        let (program, child) = started_program(d);
        unsafe { libc::kill(run.id() as i32, signal) };
        let start = Instant::now();
        let out = run.wait_with_output().unwrap();
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "bo did not stop promptly on {study}"
        );
        assert_eq!(out.status.code(), Some(130), "{study}");
        let message = format!("resume with `bo run --study {study}");
        assert!(String::from_utf8_lossy(&out.stderr).contains(&message), "{study}");
        wait_for("the program and its child to be stopped", || {
            !alive(program) && !alive(child)
        });
        let doc = export(d, study);
        assert_eq!(trials(&doc)[0]["state"], "failed", "{study}");
        assert_eq!(trials(&doc)[0]["abandoned"], true, "{study}");
        assert!(trials(&doc)[0]["error"].as_str().unwrap().contains("interrupted"));

        std::fs::remove_file(d.join("block")).unwrap();
        ok(bo(d, &["run", "--study", study, "--trials", "2", "--quiet"]));
        let doc = export(d, study);
        assert_eq!(trials(&doc).iter().filter(|t| t["state"] == "complete").count(), 2);
    }
}

#[test]
fn a_reader_that_stops_early_gets_no_broken_pipe_message() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Enough trials that each output overflows the pipe's buffer before the reader leaves.
    ok(bo(
        d,
        &[
            "run",
            "--objective",
            "branin",
            "--surrogate",
            "random",
            "--trials",
            "1500",
            "--study",
            "p",
            "--quiet",
        ],
    ));
    for args in [
        &["export", "p"][..],
        &["export", "p", "--format", "json"],
        &["show", "p"],
    ] {
        let mut child = command(d, args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Read one line, then close the pipe as `head -1` does.
        let mut first = [0u8; 1];
        std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut first).unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{args:?}: {:?}", out.status);
        assert_eq!(String::from_utf8_lossy(&out.stderr), "", "{args:?}");
    }
}

#[test]
fn two_workers_share_a_grid_without_repeating_a_point() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "blocking.py", BLOCKING);
    write(d, "sweep.yaml", "program: blocking.py\nmethod: grid\nmetric: {name: score, goal: maximize}\nparameters:\n  x: {values: [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]}\n");
    let args = [
        "run",
        "--config",
        "sweep.yaml",
        "--study",
        "g",
        "--trials",
        "8",
        "--quiet",
    ];
    let spawn = || {
        command(d, &args)
            .env("TRIAL_SECONDS", "0.3")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    ok(a.wait_with_output().unwrap());
    ok(b.wait_with_output().unwrap());
    let doc = export(d, "g");
    let t = trials(&doc);
    assert_eq!(t.len(), 8);
    let mut xs: Vec<f64> = t.iter().map(|t| t["params"]["x"].as_f64().unwrap()).collect();
    xs.sort_by(f64::total_cmp);
    assert_eq!(xs, vec![0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]);
    let pids: std::collections::HashSet<u64> = t.iter().map(|t| t["pid"].as_u64().unwrap()).collect();
    assert_eq!(pids.len(), 2, "both workers ran trials");
}

#[test]
fn bad_input_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let bad = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bad/min_ge_max.yaml");
    let out = bo(d, &["run", "--config", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("min_ge_max.yaml") && err.contains("parameter `lr`") && err.contains("must be below max"),
        "{err}"
    );
    assert!(!d.join("bo.db").exists(), "a refused sweep wrote the store");

    let out = bo(
        d,
        &[
            "run",
            "--objective",
            "branin",
            "--surrogate",
            "grid",
            "--trials",
            "20",
            "--quiet",
        ],
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--grid-points"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = ok(bo(
        d,
        &[
            "run",
            "--objective",
            "branin",
            "--surrogate",
            "grid",
            "--grid-points",
            "3",
            "--trials",
            "20",
            "--study",
            "g",
            "--quiet",
        ],
    ));
    assert!(out.contains("\"trials\":9"), "{out}");

    ok(bo(
        d,
        &[
            "run",
            "--objective",
            "hartmann3",
            "--trials",
            "3",
            "--seed",
            "1",
            "--study",
            "h",
            "--quiet",
        ],
    ));
    let out = bo(d, &["run", "--study", "h", "--seed", "2"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("created with seed 1"));
    let out = bo(d, &["run", "--study", "h", "--objective", "branin"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("different space or objective"));
    let out = bo(d, &["show", "nope"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("studies here: g, h"));
    let out = bo(d, &["run", "--objective", "nonesuch"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown test function"));
}

#[test]
fn every_strategy_resumes_without_repeating_and_ends_with_a_finite_space() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "product.py", "import json, sys\nargs = dict(a[2:].split('=', 1) for a in sys.argv[1:])\nprint(json.dumps({'loss': int(args['k']) * (1 + ['x', 'y', 'z'].index(args['c']))}))\n");
    write(
        d,
        "sweep.yaml",
        "program: product.py\nmetric: {name: loss}\nparameters:\n  k: {min: 1, max: 4}\n  c: {values: [x, y, z]}\n",
    );
    for strategy in ["gp", "tpe", "lipo", "random", "sobol", "grid"] {
        let study = format!("s-{strategy}");
        let first = [
            "run",
            "--config",
            "sweep.yaml",
            "--surrogate",
            strategy,
            "--study",
            &study,
            "--trials",
            "6",
            "--seed",
            "3",
            "--quiet",
        ];
        ok(bo(d, &first));
        ok(bo(d, &["run", "--study", &study, "--trials", "20", "--quiet"]));
        let doc = export(d, &study);
        let mut configs: Vec<String> = trials(&doc).iter().map(|t| t["params"].to_string()).collect();
        assert_eq!(
            configs.len(),
            12,
            "{strategy} stops once the 12 configurations are done"
        );
        configs.sort();
        configs.dedup();
        assert_eq!(configs.len(), 12, "{strategy} repeated a configuration");
        assert!(trials(&doc).iter().all(|t| t["state"] == "complete"), "{strategy}");
        assert_eq!(
            doc["best"],
            trials(&doc).iter().find(|t| t["value"] == 1.0).unwrap()["number"]
        );
    }
}

const PURE_NOISE: &str = r#"
import json, os, random
# The configuration does not matter: every value is 0 plus N(0, 1) noise from the trial's seed.
print(json.dumps({"score": random.Random(int(os.environ["BO_TRIAL_SEED"])).gauss(0.0, 1.0)}))
"#;

/// E[max of n standard normals], by integrating n·x·φ(x)·Φ(x)^(n−1).
fn expected_max_of_normals(n: usize) -> f64 {
    let (lo, hi, steps) = (-10.0f64, 10.0f64, 20_000);
    let h = (hi - lo) / steps as f64;
    (0..steps)
        .map(|i| {
            let x = lo + (i as f64 + 0.5) * h;
            let pdf = (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
            let cdf = 0.5 * libm::erfc(-x / std::f64::consts::SQRT_2);
            n as f64 * x * pdf * cdf.powi(n as i32 - 1) * h
        })
        .sum()
}

#[test]
fn retest_exposes_the_luck_of_a_pure_noise_winner() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "noise.py", PURE_NOISE);
    write(d, "sweep.yaml", "program: noise.py\nmethod: random\nmetric: {name: score, goal: maximize}\nparameters:\n  x: {min: 0.0, max: 1.0}\n");
    let out = ok(bo(
        d,
        &[
            "run",
            "--config",
            "sweep.yaml",
            "--study",
            "n",
            "--trials",
            "30",
            "--seed",
            "4",
            "--retest-top-k",
            "3",
            "--retest-seeds",
            "20",
        ],
    ));
    assert!(out.contains("recommended: trial"), "{out}");
    let doc = export(d, "n");
    let all = trials(&doc);
    let (search, retests): (Vec<&Value>, Vec<&Value>) = all.iter().partition(|t| t["retest_of"].is_null());
    assert_eq!((search.len(), retests.len()), (30, 60));
    // Fresh seeds: none repeats a search seed or another re-test's.
    let mut seeds: Vec<u64> = all.iter().map(|t| t["seed"].as_u64().unwrap()).collect();
    seeds.sort();
    seeds.dedup();
    assert_eq!(seeds.len(), 90);
    // The winner's search score is the maximum of 30 noise draws; its re-test mean is near the true 0.
    let winner = search
        .iter()
        .max_by(|a, b| a["value"].as_f64().unwrap().total_cmp(&b["value"].as_f64().unwrap()))
        .unwrap();
    let mine: Vec<f64> = retests
        .iter()
        .filter(|t| t["retest_of"] == winner["number"])
        .map(|t| t["value"].as_f64().unwrap())
        .collect();
    assert_eq!(mine.len(), 20);
    let mean = mine.iter().sum::<f64>() / 20.0;
    assert!(
        mean.abs() < 0.7,
        "re-test mean {mean} should be near 0 (sd of the mean 0.22)"
    );
    let drop = winner["value"].as_f64().unwrap() - mean;
    let expected = expected_max_of_normals(30);
    assert!((expected - 2.043).abs() < 0.01, "E[max of 30] = {expected}");
    assert!(
        (drop - expected).abs() < 1.2,
        "drop {drop} vs expected maximum of the noise {expected}"
    );
    // Running it again adds nothing; `bo show` lists the re-tests and the recommendation.
    ok(bo(d, &["retest", "n", "--top-k", "3", "--seeds", "20"]));
    assert_eq!(trials(&export(d, "n")).len(), 90);
    let shown = ok(bo(d, &["show", "n"]));
    assert!(
        shown.contains("re-test of") && shown.contains("60 re-tests") && shown.contains("recommended: trial"),
        "{shown}"
    );
}

#[test]
fn bench_writes_json_table_and_plots_and_reuses_its_studies() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let args = [
        "bench",
        "--problems",
        "branin,six_hump_camel",
        "--surrogates",
        "random,sobol",
        "--budget",
        "6",
        "--seeds",
        "5",
        "--out",
        "out",
        "--quiet",
    ];
    let table = ok(bo(d, &args));
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(d.join("out/results.json")).unwrap()).unwrap();
    assert_eq!(doc["references"].as_array().unwrap().len(), 2);
    let runs = doc["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2 * 2 * 5);
    for run in runs {
        let regret: Vec<f64> = run["regret"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(regret.len(), 6);
        assert!(
            regret.windows(2).all(|w| w[1] <= w[0]) && regret[5] >= 0.0,
            "best-so-far regret only falls: {regret:?}"
        );
    }
    for problem in ["branin", "six_hump_camel"] {
        assert!(
            table
                .lines()
                .any(|l| l.starts_with(&format!("| {problem} |")) && l.matches('/').count() == 2),
            "{table}"
        );
        let svg = std::fs::read_to_string(d.join(format!("out/plots/{problem}.svg"))).unwrap();
        assert!(svg.starts_with("<svg") && svg.matches("<polyline").count() >= 2 && svg.contains("sobol"));
    }
    assert!(table.contains("| random |") && table.contains("| sobol |"));
    assert_eq!(std::fs::read_to_string(d.join("out/table.md")).unwrap(), table);
    // Each study is stored like any other; a second run reuses them.
    let studies = |d: &Path| {
        ok(bo(d, &["studies", "--storage", "bench.db"]))
            .lines()
            .filter(|l| l.starts_with("bench-"))
            .count()
    };
    assert_eq!(studies(d), 20);
    ok(bo(d, &args));
    assert_eq!(studies(d), 20);
    let again: Value = serde_json::from_str(&std::fs::read_to_string(d.join("out/results.json")).unwrap()).unwrap();
    assert_eq!(again["runs"], doc["runs"], "reused studies are read back unchanged");
    let out = bo(d, &["bench", "--problems", "nowhere", "--quiet"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no problem `nowhere`"));
}

#[test]
fn what_a_program_leaves_running_ends_with_its_trial() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The program forks a child that holds standard output open and would run a minute.
    loss_study(d, "leaver.py", "import json, os, sys, time\nif os.fork() == 0:\n    open(os.path.join(os.environ['MARKER_DIR'], 'child-%d' % os.getpid()), 'w').close()\n    time.sleep(60)\n    os._exit(0)\nprint(json.dumps({'loss': 1.0}), flush=True)\n");
    let start = Instant::now();
    ok(bo(
        d,
        &[
            "run",
            "--config",
            "sweep.yaml",
            "--study",
            "l",
            "--trials",
            "1",
            "--quiet",
        ],
    ));
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "the child stretched the trial"
    );
    let child = marked_pid(d, "child-");
    wait_for("the child to be stopped", || !alive(child));
    assert_eq!(trials(&export(d, "l"))[0]["state"], "complete");
}

/// A program reporting a learning curve: loss (x − 0.3)² + 1/step for steps
/// 1..=9, one line per step (`sleep` seconds apart); it forks a child that
/// lives as long as it does and leaves markers `curve-PID` and `child-PID`.
const CURVE: &str = r#"
import json, os, signal, sys, time
args = dict(a[2:].split("=", 1) for a in sys.argv[1:] if a.startswith("--"))
x = float(args["x"])
marker = os.environ["MARKER_DIR"]
if os.environ.get("IGNORE_TERM"):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
if os.fork() == 0:
    open(os.path.join(marker, "child-%d" % os.getpid()), "w").close()
    time.sleep(60)
    os._exit(0)
open(os.path.join(marker, "curve-%d" % os.getpid()), "w").close()
for step in range(1, 10):
    print(json.dumps({"loss": (x - 0.3) ** 2 + 1.0 / step, "step": step}), flush=True)
    time.sleep(float(os.environ.get("STEP_SECONDS", "0")))
"#;

/// `program` (Python `source`) as a study minimizing `loss` over x in [0, 1], in sweep.yaml.
fn loss_study(d: &Path, program: &str, source: &str) {
    write(d, program, source);
    write(
        d,
        "sweep.yaml",
        &format!("program: {program}\nmetric: {{name: loss}}\nparameters:\n  x: {{min: 0.0, max: 1.0}}\n"),
    );
}

fn curve_study(d: &Path, extra: &str) {
    write(d, "curve.py", CURVE);
    write(
        d,
        "sweep.yaml",
        &format!("program: curve.py\nmethod: grid\nmetric: {{name: loss}}\nparameters:\n  x: {{values: [0.3, 0.9, 0.35, 1.0]}}\n{extra}"),
    );
}

#[test]
fn pruned_trials_are_stored_with_their_step_and_their_programs_are_gone() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    curve_study(d, "");
    // Trials whose loss at step 2 or later is above 0.6 stop: x = 0.9 and 1.0.
    let out = command(
        d,
        &[
            "run",
            "--config",
            "sweep.yaml",
            "--study",
            "t",
            "--pruner",
            "threshold",
            "--threshold",
            "0.6",
            "--min-resource",
            "2",
            "--quiet",
        ],
    )
    .env("IGNORE_TERM", "1")
    .output()
    .unwrap();
    ok(out);
    let doc = export(d, "t");
    let by_x = |x: f64| {
        trials(&doc)
            .iter()
            .find(|t| t["params"]["x"].as_f64() == Some(x))
            .unwrap()
            .clone()
    };
    for x in [0.3, 0.35] {
        let t = by_x(x);
        assert_eq!(
            (t["state"].as_str(), t["resource"].as_i64()),
            (Some("complete"), Some(9)),
            "{t}"
        );
    }
    for x in [0.9, 1.0] {
        let t = by_x(x);
        // At step 1 the loss is above 0.6 too, but nothing stops before the minimum resource.
        assert_eq!(
            (t["state"].as_str(), t["resource"].as_i64()),
            (Some("pruned"), Some(2)),
            "{t}"
        );
        assert_eq!(t["intermediate"].as_array().unwrap().len(), 2);
        assert_eq!(t["value"], t["intermediate"][1]["value"], "the last value is kept");
    }
    assert_eq!(doc["pruner"]["type"], "threshold");
    // Every program and its child are gone, the two pruned ones (which ignore SIGTERM) too.
    for _ in 0..4 {
        let (program, child) = (marked_pid(d, "curve-"), marked_pid(d, "child-"));
        wait_for("a trial's programs to be gone", || !alive(program) && !alive(child));
    }
    let shown = ok(bo(d, &["show", "t"]));
    assert!(
        shown.contains("pruned at 2") && shown.contains("2 complete, 2 pruned"),
        "{shown}"
    );
    let csv = ok(bo(d, &["export", "t", "--format", "csv"]));
    assert!(csv.lines().any(|l| l.starts_with("1,pruned,")), "{csv}");
}

#[test]
fn a_bootstrap_count_stops_the_first_trials_at_a_rung_however_good() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    curve_study(
        d,
        "pruner: {type: asha, max_resource: 9, reduction_factor: 2, bootstrap_count: 1}\n",
    );
    let first = |study: &str| {
        let doc = export(d, study);
        let t = &trials(&doc)[0];
        assert_eq!(t["params"]["x"], 0.3, "the grid's first point is its best: {t}");
        (
            doc["pruner"]["bootstrap_count"].as_u64(),
            t["state"].as_str().map(String::from),
            t["resource"].as_i64(),
        )
    };
    ok(bo(d, &["run", "--config", "sweep.yaml", "--study", "b", "--quiet"]));
    // Alone at the first rung (step 1), the best trial stops there.
    assert_eq!(first("b"), (Some(1), Some("pruned".into()), Some(1)));
    let flags = ["--pruner", "asha", "--max-resource", "9", "--reduction-factor", "2"];
    let run = |study: &str, extra: &[&str]| {
        let args = [
            &["run", "--config", "sweep.yaml", "--study", study, "--quiet"],
            &flags[..],
            extra,
        ]
        .concat();
        bo(d, &args)
    };
    // Optuna's default (0): the first trial at a rung goes on, and completes.
    ok(run("none", &[]));
    assert_eq!(first("none"), (Some(0), Some("complete".into()), Some(9)));
    ok(run("flag", &["--bootstrap-count", "1"]));
    assert_eq!(first("flag"), first("b"));
    // A pruner without rungs refuses the setting before storing anything.
    let out = bo(
        d,
        &[
            "run",
            "--config",
            "sweep.yaml",
            "--study",
            "m",
            "--pruner",
            "median",
            "--bootstrap-count",
            "1",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("--bootstrap-count is not a setting of median"),
        "{stderr}"
    );
    let studies = ok(bo(d, &["studies"]));
    assert!(studies.lines().any(|l| l.starts_with("b ")), "{studies}");
    assert!(
        !studies.lines().any(|l| l.starts_with("m ")),
        "no study m was stored: {studies}"
    );
}

#[test]
fn a_non_finite_intermediate_value_fails_the_trial() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    loss_study(d, "nan.py", "import json\nprint(json.dumps({'loss': 1.0, 'step': 1}))\nprint('{\"loss\": NaN, \"step\": 2}')\nprint(json.dumps({'loss': 0.5, 'step': 3}))\n");
    ok(bo(
        d,
        &[
            "run",
            "--config",
            "sweep.yaml",
            "--study",
            "n",
            "--trials",
            "1",
            "--pruner",
            "median",
            "--quiet",
        ],
    ));
    let doc = export(d, "n");
    let t = &trials(&doc)[0];
    assert_eq!(t["state"], "failed");
    assert!(t["error"].as_str().unwrap().contains("NaN"), "{t}");
}

#[test]
fn early_terminate_prunes_with_w_and_b_bands() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Bands at steps 1, 3 and 9 (min_iter 1, eta 3).
    curve_study(d, "early_terminate: {type: hyperband, min_iter: 1, eta: 3}\n");
    ok(bo(d, &["run", "--config", "sweep.yaml", "--study", "w", "--quiet"]));
    let doc = export(d, "w");
    let states: Vec<(f64, String, i64)> = trials(&doc)
        .iter()
        .map(|t| {
            (
                t["params"]["x"].as_f64().unwrap(),
                t["state"].as_str().unwrap().to_owned(),
                t["resource"].as_i64().unwrap(),
            )
        })
        .collect();
    // Grid order 0.3, 0.9, 0.35, 1.0. The first runs alone. With two trials at a
    // band the threshold is the better one (index ⌊2/3⌋ = 0): 0.9 stops at band
    // 1; 0.35 passes band 1 (the threshold there is 0.9's loss, at index ⌊3/3⌋ = 1)
    // and stops at band 3, behind 0.3; 1.0 is worse than two of three at band 1.
    assert_eq!(
        states,
        vec![
            (0.3, "complete".into(), 9),
            (0.9, "pruned".into(), 1),
            (0.35, "pruned".into(), 3),
            (1.0, "pruned".into(), 1)
        ]
    );
}

/// (state, resource) of each trial of a study, in order.
fn outcomes(d: &Path, study: &str) -> Vec<(String, i64)> {
    trials(&export(d, study))
        .iter()
        .map(|t| {
            (
                t["state"].as_str().unwrap().to_owned(),
                t["resource"].as_i64().unwrap_or(-1),
            )
        })
        .collect()
}

#[test]
fn a_resumed_hyperband_study_carries_each_bracket_on() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    loss_study(d, "curve.py", CURVE);
    let run = |study: &str, trials: &str| {
        ok(bo(
            d,
            &[
                "run",
                "--config",
                "sweep.yaml",
                "--study",
                study,
                "--surrogate",
                "random",
                "--seed",
                "7",
                "--trials",
                trials,
                "--pruner",
                "hyperband",
                "--min-resource",
                "1",
                "--max-resource",
                "9",
                "--quiet",
            ],
        ))
    };
    run("whole", "16");
    run("halves", "8");
    ok(bo(d, &["run", "--study", "halves", "--trials", "16", "--quiet"]));
    // The decisions after the resume are those of the uninterrupted study: each
    // bracket compared its new trials with the ones from before.
    assert_eq!(outcomes(d, "halves"), outcomes(d, "whole"));
    let hyperband = bo_surrogates::pruners::Hyperband {
        min_resource: 1,
        max_resource: 9,
        reduction_factor: 3.0,
        bootstrap_count: 0,
    };
    let spans =
        (0..3).any(|b| (0..8).any(|n| hyperband.bracket_of(n) == b) && (8..16).any(|n| hyperband.bracket_of(n) == b));
    assert!(spans, "some bracket has trials before and after the resume");
    assert!(outcomes(d, "whole")[8..].iter().any(|(state, _)| state == "pruned"));
}

#[test]
fn two_workers_on_one_asha_study_run_each_trial_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    loss_study(d, "curve.py", CURVE);
    let args = [
        "run",
        "--config",
        "sweep.yaml",
        "--study",
        "a",
        "--surrogate",
        "tpe",
        "--trials",
        "24",
        "--pruner",
        "asha",
        "--max-resource",
        "9",
        "--quiet",
    ];
    let workers: Vec<Child> = (0..2)
        .map(|_| {
            command(d, &args)
                .env("STEP_SECONDS", "0.01")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for w in workers {
        ok(w.wait_with_output().unwrap());
    }
    let doc = export(d, "a");
    let all = trials(&doc);
    assert_eq!(all.len(), 24);
    let pids: std::collections::BTreeSet<u64> = all.iter().map(|t| t["pid"].as_u64().unwrap()).collect();
    assert!(pids.len() >= 2, "both workers ran trials");
    for t in all {
        // One process ran each trial: its steps rise one by one, none twice.
        let steps: Vec<i64> = t["intermediate"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["step"].as_i64().unwrap())
            .collect();
        assert_eq!(steps, (1..=steps.len() as i64).collect::<Vec<_>>(), "{t}");
        // Trials stop only at ASHA's rungs (1, 3) or at the end (9).
        let resource = t["resource"].as_i64().unwrap();
        match t["state"].as_str().unwrap() {
            "pruned" => assert!([1, 3].contains(&resource), "{t}"),
            "complete" => assert_eq!(resource, 9, "{t}"),
            other => panic!("trial ended {other}: {t}"),
        }
    }
    assert!(all.iter().any(|t| t["state"] == "pruned"));
}

#[test]
fn workers_run_trials_at_once_each_on_its_gpu() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    loss_study(d, "slow.py", "import json, os, sys, time\nargs = dict(a[2:].split('=', 1) for a in sys.argv[1:])\nopen(os.path.join(os.environ['MARKER_DIR'], 'gpu-%s-%s' % (os.environ['BO_TRIAL'], os.environ.get('CUDA_VISIBLE_DEVICES'))), 'w').close()\ntime.sleep(0.5)\nprint(json.dumps({'loss': float(args['x'])}))\n");
    ok(bo(
        d,
        &[
            "run",
            "--config",
            "sweep.yaml",
            "--study",
            "w",
            "--trials",
            "6",
            "--workers",
            "3",
            "--gpus",
            "0,1",
            "--quiet",
        ],
    ));
    let doc = export(d, "w");
    let all = trials(&doc);
    assert_eq!(all.len(), 6);
    assert!(all.iter().all(|t| t["state"] == "complete"));
    let points: std::collections::BTreeSet<String> = all.iter().map(|t| t["params"].to_string()).collect();
    assert_eq!(points.len(), 6, "no configuration twice");
    // Trials overlapped in time: three ran at once.
    let spans: Vec<(f64, f64)> = all
        .iter()
        .map(|t| (t["started"].as_f64().unwrap(), t["ended"].as_f64().unwrap()))
        .collect();
    let most_at_once = spans
        .iter()
        .map(|&(start, _)| spans.iter().filter(|&&(s, e)| s <= start && start < e).count())
        .max()
        .unwrap();
    assert!(most_at_once >= 2, "trials ran one after another: {spans:?}");
    // Worker 0 runs on GPU 0, worker 1 on GPU 1, worker 2 on GPU 0 again.
    let gpus: std::collections::BTreeSet<String> = std::fs::read_dir(d)
        .unwrap()
        .filter_map(|e| {
            e.ok()?
                .file_name()
                .to_str()?
                .strip_prefix("gpu-")
                .map(|s| s.rsplit('-').next().unwrap().to_owned())
        })
        .collect();
    assert_eq!(gpus, ["0".to_string(), "1".to_string()].into());
}

/// Four GP workers in one process fit their models while the others start
/// their programs. Starting a program forks, and OpenBLAS stops its thread
/// pool around a fork: a fit inside the pool at that moment waited forever.
/// The study must complete.
#[test]
fn four_gp_workers_starting_programs_finish_their_study() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "quick.sh",
        "awk -v a=\"$1\" -v b=\"$2\" 'BEGIN { split(a, x, \"=\"); split(b, y, \"=\"); print \"{\\\"value\\\": \" (x[2] - 0.3)^2 + (y[2] - 0.6)^2 \"}\" }'\n",
    );
    write(
        d,
        "sweep.yaml",
        "program: quick.sh\ncommand: [\"sh\", \"${program}\", \"${args}\"]\nmethod: bayes\nmetric: {name: value, goal: minimize}\nparameters:\n  x: {min: 0.0, max: 1.0}\n  y: {min: 0.0, max: 1.0}\n",
    );
    for round in 0..3 {
        let study = format!("w{round}");
        let args = [
            "run",
            "--config",
            "sweep.yaml",
            "--surrogate",
            "gp",
            "--trials",
            "60",
            "--workers",
            "4",
            "--study",
            &study,
            "--quiet",
        ];
        let mut run = spawn_bo(d, &args);
        let start = Instant::now();
        while run.try_wait().unwrap().is_none() {
            if start.elapsed() > Duration::from_secs(120) {
                run.kill().unwrap();
                panic!("4 GP workers hung (round {round})");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        ok(run.wait_with_output().unwrap());
        let doc = export(d, &study);
        assert_eq!(trials(&doc).iter().filter(|t| t["state"] == "complete").count(), 60);
        // Suggestions made at once, each seeing the others' as pending, all differ.
        let mut configurations: Vec<String> = trials(&doc).iter().map(|t| t["params"].to_string()).collect();
        configurations.sort();
        configurations.dedup();
        assert_eq!(
            configurations.len(),
            60,
            "two workers were handed the same configuration"
        );
    }
}

/// Checks what it is given against the sweep of the test below and fails the
/// trial on any mismatch: `${args_json}` first, then `${args}`.
const CONDITIONAL_PROGRAM: &str = r#"import json, sys
nested = json.loads(sys.argv[1])
flags = dict(a[2:].split("=", 1) for a in sys.argv[2:])
def check(ok, what):
    if not ok:
        sys.exit("wrong arguments (%s): %s" % (what, sys.argv[1:]))
opt = flags["optimizer"]
check(("momentum" in flags) == (opt == "sgd"), "momentum")
check(("adam.beta1" in flags) == ("adam.beta2" in flags) == (opt == "adam"), "adam group")
check(set(nested) == {k.split(".")[0] for k in flags}, "the same parameters nested")
check(str(nested["model"]["width"]) == flags["model.width"], "model.width nested")
check(opt != "adam" or set(nested["adam"]) == {"beta1", "beta2"}, "adam's object")
loss = abs(float(flags["lr"]) - 0.01) + (abs(float(flags["momentum"]) - 0.9) if opt == "sgd" else 0.5)
print(json.dumps({"loss": loss}))
"#;

#[test]
fn nested_and_conditional_parameters_reach_programs_only_when_active() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "check.py", CONDITIONAL_PROGRAM);
    write(
        d,
        "sweep.yaml",
        "program: check.py\ncommand: [\"${env}\", \"${interpreter}\", \"${program}\", \"${args_json}\", \"${args}\"]\nmetric: {name: loss}\nparameters:\n  optimizer: {values: [adam, sgd]}\n  momentum: {min: 0.0, max: 0.99, when: {optimizer: sgd}}\n  lr: {distribution: log_uniform_values, min: 1.0e-4, max: 0.1}\n  adam:\n    when: {optimizer: adam}\n    parameters:\n      beta1: {min: 0.8, max: 0.99}\n      beta2: {values: [0.99, 0.999]}\n  model:\n    parameters:\n      width: {values: [32, 64]}\n",
    );
    for surrogate in ["random", "tpe", "gp"] {
        let args = [
            "run",
            "--config",
            "sweep.yaml",
            "--surrogate",
            surrogate,
            "--trials",
            "16",
            "--study",
            surrogate,
            "--quiet",
        ];
        ok(bo(d, &args));
        let doc = export(d, surrogate);
        let all = trials(&doc);
        for t in all {
            assert_eq!(t["state"], "complete", "{surrogate}: {t}");
            let params = t["params"].as_object().unwrap();
            let sgd = params["optimizer"] == "sgd";
            assert_eq!(params.contains_key("momentum"), sgd, "{surrogate}: {t}");
            assert_eq!(params.contains_key("adam.beta1"), !sgd, "{surrogate}: {t}");
        }
        assert!(
            all.iter().any(|t| t["params"]["optimizer"] == "sgd")
                && all.iter().any(|t| t["params"]["optimizer"] == "adam")
        );
        // CSV: a column per parameter, empty where it was inactive.
        let csv = ok(bo(d, &["export", surrogate]));
        let mut rows = csv.lines().map(|l| l.split(',').collect::<Vec<_>>());
        let header = rows.next().unwrap();
        let column = |name: &str| {
            header
                .iter()
                .position(|h| *h == name)
                .unwrap_or_else(|| panic!("no {name} in {header:?}"))
        };
        let (optimizer, momentum) = (column("param_optimizer"), column("param_momentum"));
        for row in rows {
            assert_eq!(row[momentum].is_empty(), row[optimizer] != "sgd", "{row:?}");
        }
    }
    // The views take trials that lack their inactive parameters.
    ok(bo(d, &["report", "gp", "--out", "report.html"]));
    let show = ok(bo(d, &["show", "tpe"]));
    assert!(show.contains("16 complete"), "{show}");
}
