//! End-to-end: `bo run --objective cifar10` trains real (tiny) networks on a
//! tiny CIFAR-10 the test writes in the official binary layout.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::process::Output;

use common::{bo, export, ok};
use serde_json::Value;

/// 5 training batches of 40 images and a test batch of 40; class c is a flat
/// colour (c-dependent) with a little noise, so a small CNN learns it fast.
fn write_tiny_cifar(dir: &Path) {
    let folder = dir.join("data/cifar-10-batches-bin");
    std::fs::create_dir_all(&folder).unwrap();
    let names = [
        "data_batch_1",
        "data_batch_2",
        "data_batch_3",
        "data_batch_4",
        "data_batch_5",
        "test_batch",
    ];
    for (b, name) in names.iter().enumerate() {
        let mut bytes = Vec::new();
        for i in 0..40usize {
            let class = (i * 7 + b) % 10;
            bytes.push(class as u8);
            for channel in 0..3 {
                let base = [25 * class, 250 - 25 * class, (80 * class) % 250][channel];
                bytes.extend((0..1024).map(|p| (base + (p * 13 + i * 5) % 7) as u8));
            }
        }
        std::fs::write(folder.join(format!("{name}.bin")), bytes).unwrap();
    }
}

fn sweep(dir: &Path, lr: &str, method: &str) {
    let text = format!(
        "method: {method}\nparameters:\n  model: {{value: cnn}}\n  width: {{value: 0.25}}\n  epochs: {{value: 2}}\n  \
         batch_size: {{value: 32}}\n  lr: {lr}\n"
    );
    std::fs::write(dir.join("sweep.yaml"), text).unwrap();
}

/// A folder with the tiny CIFAR-10 and sweep.yaml searching `lr` by `method`.
fn tiny_cifar_with_sweep(lr: &str, method: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_cifar(dir.path());
    sweep(dir.path(), lr, method);
    dir
}

/// `bo run` of the sweep in sweep.yaml on the tiny CIFAR-10, with `more` arguments.
fn run_on_tiny_cifar(d: &Path, more: &[&str]) -> Output {
    let base = [
        "run",
        "--objective",
        "cifar10",
        "--config",
        "sweep.yaml",
        "--validation-size",
        "40",
        "--quiet",
    ];
    bo(d, &[&base[..], more].concat())
}

#[test]
fn a_cifar10_study_trains_networks_and_records_curves_and_test_accuracy() {
    let dir = tiny_cifar_with_sweep("{distribution: log_uniform_values, min: 0.01, max: 0.1}", "random");
    let d = dir.path();
    ok(run_on_tiny_cifar(
        d,
        &["--trials", "3", "--study", "tiny", "--seed", "1"],
    ));
    let doc = export(d, "tiny");
    assert_eq!(doc["metric"], "val_error");
    let trials = doc["trials"].as_array().unwrap();
    assert_eq!(trials.len(), 3);
    for t in trials {
        assert_eq!(t["state"], "complete", "{t}");
        let curve: Vec<(i64, f64)> = t["intermediate"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["step"].as_i64().unwrap(), p["value"].as_f64().unwrap()))
            .collect();
        assert_eq!(curve.iter().map(|p| p.0).collect::<Vec<_>>(), vec![1, 2]);
        // The study's value is the last epoch's validation error, in percent.
        assert_eq!(t["value"].as_f64(), Some(curve[1].1));
        let metric = |name: &str| {
            t["metrics"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|m| m["name"] == name)
                .count()
        };
        assert_eq!(
            (metric("test_accuracy"), metric("val_loss"), metric("train_seconds")),
            (1, 2, 1),
            "{t}"
        );
        let lr = t["params"]["lr"].as_f64().unwrap();
        assert!((0.01..=0.1).contains(&lr));
    }
    // The classes are easy: some trial learns them.
    let best = trials
        .iter()
        .filter_map(|t| t["value"].as_f64())
        .fold(f64::INFINITY, f64::min);
    assert!(best < 50.0, "best validation error {best}%");
    assert!(ok(bo(d, &["show", "tiny"])).contains("test_accuracy"));

    // The winner re-trained with fresh seeds, on the data the study recorded.
    ok(bo(d, &["retest", "tiny", "--top-k", "1", "--seeds", "2"]));
    let doc = export(d, "tiny");
    let retests = doc["trials"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| !t["retest_of"].is_null())
        .count();
    assert_eq!(retests, 2);
}

#[test]
fn a_learning_rate_that_produces_nan_fails_only_its_trial() {
    let dir = tiny_cifar_with_sweep("{values: [0.05, 1.0e30]}", "grid");
    let d = dir.path();
    ok(run_on_tiny_cifar(
        d,
        &["--surrogate", "grid", "--study", "nan", "--trials", "2"],
    ));
    let doc = export(d, "nan");
    let trials = doc["trials"].as_array().unwrap();
    let by_lr = |lr: f64| trials.iter().find(|t| t["params"]["lr"].as_f64() == Some(lr)).unwrap();
    assert_eq!(by_lr(0.05)["state"], "complete");
    let failed = by_lr(1.0e30);
    assert_eq!(failed["state"], "failed");
    assert!(failed["error"].as_str().unwrap().contains("NaN"), "{failed}");
}

#[test]
fn missing_data_or_an_unknown_hyperparameter_is_refused_before_anything_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = bo(
        d,
        &[
            "run",
            "--objective",
            "cifar10",
            "--data-dir",
            "nowhere",
            "--trials",
            "1",
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("data_batch_1.bin") && err.contains("BO_DATA_DIR"), "{err}");
    assert!(!d.join("bo.db").exists());

    write_tiny_cifar(d);
    std::fs::write(
        d.join("sweep.yaml"),
        "parameters:\n  learning_rate: {min: 0.01, max: 0.1}\n",
    )
    .unwrap();
    let out = bo(
        d,
        &[
            "run",
            "--objective",
            "cifar10",
            "--config",
            "sweep.yaml",
            "--trials",
            "1",
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("`learning_rate` is not a hyperparameter"),
        "{err}"
    );
    assert!(!d.join("bo.db").exists());
}

#[test]
fn the_cifar10_bench_suite_measures_regret_against_the_best_run_and_random_search() {
    let dir = tiny_cifar_with_sweep("{distribution: log_uniform_values, min: 0.001, max: 0.3}", "random");
    let d = dir.path();
    let args = [
        "bench",
        "--suite",
        "cifar10",
        "--config",
        "sweep.yaml",
        "--surrogates",
        "tpe,random",
        "--budget",
        "3",
        "--seeds",
        "2",
        "--validation-size",
        "40",
        "--quiet",
    ];
    let table = ok(bo(d, &args));
    assert!(table.contains("cifar10"), "{table}");
    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("bench-results/results.json")).unwrap()).unwrap();
    let runs = results["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 4);
    let finals: Vec<f64> = runs.iter().map(|r| r["regret"][2].as_f64().unwrap()).collect();
    // Regret is measured from the best validation error any run found.
    assert!(finals.iter().all(|&r| r >= 0.0) && finals.contains(&0.0), "{finals:?}");
    let reference = &results["references"][0];
    assert!(reference["random_best"].as_f64().unwrap() >= reference["optimum"].as_f64().unwrap());
    assert!(d.join("bench-results/plots/cifar10.svg").exists());

    let out = bo(
        d,
        &[
            "bench",
            "--suite",
            "cifar10",
            "--config",
            "sweep.yaml",
            "--surrogates",
            "tpe",
            "--budget",
            "3",
        ],
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("include random"));
}

#[test]
fn a_pruned_training_stops_at_that_epoch_and_the_worker_trains_the_next_trial() {
    let dir = tiny_cifar_with_sweep("{distribution: log_uniform_values, min: 0.01, max: 0.1}", "random");
    let d = dir.path();
    // Every validation error is above 0: each trial stops after its first epoch of two.
    ok(run_on_tiny_cifar(
        d,
        &[
            "--trials",
            "2",
            "--study",
            "p",
            "--pruner",
            "threshold",
            "--threshold",
            "0",
        ],
    ));
    let doc = export(d, "p");
    let trials = doc["trials"].as_array().unwrap();
    assert_eq!(trials.len(), 2);
    for t in trials {
        assert_eq!(
            (t["state"].as_str(), t["resource"].as_i64()),
            (Some("pruned"), Some(1)),
            "{t}"
        );
        assert_eq!(t["intermediate"].as_array().unwrap().len(), 1, "{t}");
        // No final measurements: the training did not finish.
        let finals = t["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["step"].is_null())
            .count();
        assert_eq!(finals, 0, "{t}");
    }
}

#[test]
fn two_workers_train_trials_at_once_in_processes_of_their_own() {
    let dir = tiny_cifar_with_sweep("{distribution: log_uniform_values, min: 0.01, max: 0.1}", "random");
    let d = dir.path();
    // Trials of 20 epochs (seconds each), so that the second worker is ready
    // before the first has trained them all.
    let text = std::fs::read_to_string(d.join("sweep.yaml")).unwrap();
    assert!(text.contains("epochs: {value: 2}"));
    std::fs::write(
        d.join("sweep.yaml"),
        text.replace("epochs: {value: 2}", "epochs: {value: 20}"),
    )
    .unwrap();
    ok(run_on_tiny_cifar(
        d,
        &["--trials", "6", "--study", "w", "--workers", "2"],
    ));
    let doc = export(d, "w");
    let trials = doc["trials"].as_array().unwrap();
    assert_eq!(trials.len(), 6);
    assert!(trials.iter().all(|t| t["state"] == "complete"), "{doc}");
    let spans: Vec<(f64, f64)> = trials
        .iter()
        .map(|t| (t["started"].as_f64().unwrap(), t["ended"].as_f64().unwrap()))
        .collect();
    let overlapping = spans
        .iter()
        .any(|&(s1, e1)| spans.iter().any(|&(s2, e2)| (s1, e1) != (s2, e2) && s1 < e2 && s2 < e1));
    assert!(overlapping, "the two workers trained one after another: {spans:?}");
}
