//! What a training study is, without training anything: the datasets, their
//! default search spaces, the trainer's hyperparameters and where the data
//! is. The training itself runs in the `bo-train` worker (the `trainer/`
//! crate, which links libtorch), driven by [`super::TrainerObjective`].

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::space::{Goal, Sweep};

/// The metric a training study minimizes: validation error in percent (test
/// accuracy, also in percent, is recorded beside it).
pub const METRIC: &str = "val_error";

/// Every hyperparameter the trainer reads; a sweep naming another is refused.
pub const HYPERPARAMETERS: [&str; 21] = [
    "model",
    "width",
    "optimizer",
    "lr",
    "momentum",
    "weight_decay",
    "label_smoothing",
    "batch_size",
    "epochs",
    "schedule",
    "warmup",
    "warmup_from",
    "decay_to",
    "flip",
    "translate",
    "cutout",
    "mixed_precision",
    "lookahead",
    "tta",
    "train_images",
    "blocks",
];

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Dataset {
    Cifar10,
    FashionMnist,
}

impl Dataset {
    pub const NAMES: [&'static str; 2] = ["cifar10", "fashion-mnist"];

    pub fn from_name(name: &str) -> Option<Dataset> {
        match name {
            "cifar10" => Some(Dataset::Cifar10),
            "fashion-mnist" => Some(Dataset::FashionMnist),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Dataset::Cifar10 => "cifar10",
            Dataset::FashionMnist => "fashion-mnist",
        }
    }

    /// The default search space, as a W&B sweep. A sweep file given with
    /// --config replaces its parameters; the ones it leaves out keep `defaults`.
    /// CIFAR-10's is fixed-cost: every trial trains the same network for the
    /// same epochs and only the recipe varies, since a space that also
    /// searched `epochs` and `width` while scoring validation error alone
    /// pushed both to their maximum. The epochs are the fidelity a pruner
    /// stops trials at.
    pub fn sweep(self) -> Value {
        let parameters = match self {
            Dataset::Cifar10 => json!({
                "lr": {"distribution": "log_uniform_values", "min": 0.2, "max": 6.0},
                "weight_decay": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-2},
                "label_smoothing": {"distribution": "uniform", "min": 0.0, "max": 0.3},
                "momentum": {"distribution": "uniform", "min": 0.7, "max": 0.95},
                "warmup": {"distribution": "uniform", "min": 0.05, "max": 0.4},
                "decay_to": {"distribution": "uniform", "min": 0.0, "max": 0.3},
                "cutout": {"distribution": "int_uniform", "min": 0, "max": 12},
                "epochs": {"value": 10}
            }),
            Dataset::FashionMnist => json!({
                "lr": {"distribution": "log_uniform_values", "min": 0.003, "max": 0.5},
                "batch_size": {"distribution": "q_log_uniform_values", "min": 64, "max": 512, "q": 8},
                "weight_decay": {"distribution": "log_uniform_values", "min": 1e-6, "max": 1e-2},
                "label_smoothing": {"distribution": "uniform", "min": 0.0, "max": 0.2},
                "momentum": {"distribution": "uniform", "min": 0.5, "max": 0.98},
                "cutout": {"distribution": "int_uniform", "min": 0, "max": 10},
                "width": {"distribution": "uniform", "min": 0.25, "max": 0.75}
            }),
        };
        json!({"method": "bayes", "metric": {"name": METRIC, "goal": "minimize"}, "parameters": parameters})
    }

    /// The default search space with the parameters (and any other keys) of
    /// the user's sweep file in place of the defaults.
    pub fn sweep_with(self, file: Option<&Path>) -> Result<Value> {
        let mut sweep = self.sweep();
        let Some(path) = file else { return Ok(sweep) };
        let user = Sweep::from_file(path)?;
        if user.program.is_some() || user.command.is_some() {
            bail!(
                "{}: --objective {} trains a network itself; drop the sweep's program/command",
                path.display(),
                self.name()
            );
        }
        if let Some(metric) = user
            .metric
            .as_ref()
            .filter(|m| m.name != METRIC || m.goal != Goal::Minimize)
        {
            bail!(
                "{}: --objective {} minimizes `{METRIC}`, not `{}`",
                path.display(),
                self.name(),
                metric.name
            );
        }
        for (key, value) in user.raw.as_object().into_iter().flatten() {
            sweep[key] = value.clone();
        }
        let names = sweep["parameters"].as_object().into_iter().flatten().map(|(k, _)| k);
        if let Some(unknown) = names.into_iter().find(|k| !HYPERPARAMETERS.contains(&k.as_str())) {
            bail!(
                "{}: `{unknown}` is not a hyperparameter of the trainer ({})",
                path.display(),
                HYPERPARAMETERS.join(", ")
            );
        }
        Ok(sweep)
    }
}

/// Where the data is and how it is split, as `bo run` and `bo-train` take it.
#[derive(clap::Args, Clone, Debug)]
pub struct DataFlags {
    /// Where cifar10 or fashion-mnist data is (CIFAR-10 is downloaded there when missing).
    #[arg(long, env = "BO_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// Training images held out to score trials (cifar10, fashion-mnist); the test set never is. `bo train --validation-size 0` holds none out: a final fit on every image.
    #[arg(long, default_value_t = 5000)]
    pub validation_size: usize,
    /// Seed choosing the held-out images.
    #[arg(long, default_value_t = 0)]
    pub data_seed: u64,
}

impl DataFlags {
    pub fn training_data(&self, dataset: Dataset) -> TrainingData {
        TrainingData {
            dataset,
            dir: self.data_dir.clone(),
            validation: self.validation_size,
            data_seed: self.data_seed,
        }
    }
}

/// Where a study's data is and how it is split: fixed for a study.
#[derive(Clone, Debug)]
pub struct TrainingData {
    pub dataset: Dataset,
    pub dir: PathBuf,
    /// Training images held out to score trials.
    pub validation: usize,
    /// Chooses the held-out images.
    pub data_seed: u64,
}

impl TrainingData {
    /// The default split.
    pub fn new(dataset: Dataset, dir: PathBuf) -> Self {
        TrainingData {
            dataset,
            dir,
            validation: 5000,
            data_seed: 0,
        }
    }

    /// What a study stores as its objective (the folder is the machine's, not the study's).
    pub fn study_json(&self) -> Value {
        json!({"dataset": self.dataset.name(), "validation": self.validation, "data_seed": self.data_seed})
    }

    /// The settings of a study whose objective is a dataset, with its data in `dir`.
    pub fn from_study(objective: &Value, dir: PathBuf) -> Result<Option<Self>> {
        let Some(name) = objective.get("dataset").and_then(Value::as_str) else {
            return Ok(None);
        };
        let dataset = Dataset::from_name(name).with_context(|| format!("unknown dataset `{name}`"))?;
        let mut settings = TrainingData::new(dataset, dir);
        if let Some(n) = objective.get("validation").and_then(Value::as_u64) {
            settings.validation = n as usize;
        }
        if let Some(seed) = objective.get("data_seed").and_then(Value::as_u64) {
            settings.data_seed = seed;
        }
        Ok(Some(settings))
    }

    /// The `bo-train` arguments that load this data.
    pub fn worker_args(&self) -> Vec<String> {
        vec![
            "--dataset".into(),
            self.dataset.name().into(),
            "--data-dir".into(),
            self.dir.display().to_string(),
            "--validation-size".into(),
            self.validation.to_string(),
            "--data-seed".into(),
            self.data_seed.to_string(),
        ]
    }
}
