//! Image classification as the objective: each trial trains a network with the
//! sampled hyperparameters (CIFAR-10 on the GPU, Fashion-MNIST on a CPU) and
//! returns the validation error in percent.

mod augment;
mod cifar10;
mod data;
mod download;
mod fashion_mnist;
mod models;
mod train;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use tch::Device;

pub use augment::Augment;
pub use data::Splits;
pub use models::Architecture;
pub use train::{train, EpochStats, OptimizerKind, Schedule, TrainConfig, TrainError, TrainResult, HYPERPARAMETERS};

use super::{Objective, Outcome, Report, TrialContext};
use crate::space::{Goal, Sweep};

/// The metric a vision study minimizes: validation error in percent (test
/// accuracy, also in percent, is recorded beside it).
pub const METRIC: &str = "val_error";

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

    /// Hyperparameters a trial does not search.
    pub fn defaults(self) -> TrainConfig {
        match self {
            // airbench94's recipe, translated to a loss averaged over the batch:
            // its lr 11.5 per 1024 images over (1 + 1/(1 - momentum)) is 1.5
            // here, and its weight decay of 2e-3 per step is 1.3e-3 times lr.
            Dataset::Cifar10 => TrainConfig {
                model: Architecture::Airbench,
                width: 1.0,
                optimizer: OptimizerKind::Sgd,
                lr: 1.5,
                momentum: 0.85,
                weight_decay: 1.3e-3,
                label_smoothing: 0.2,
                batch_size: 1024,
                epochs: 10,
                schedule: Schedule::Linear,
                warmup: 0.23,
                augment: Augment {
                    flip: true,
                    translate: 2,
                    cutout: 0,
                },
                mixed_precision: true,
                tta: true,
                train_images: 0,
            },
            // Small enough that a study of a dozen trials runs in minutes on 2 CPU cores.
            Dataset::FashionMnist => TrainConfig {
                model: Architecture::SmallCnn,
                width: 0.5,
                optimizer: OptimizerKind::Sgd,
                lr: 0.1,
                momentum: 0.9,
                weight_decay: 5e-4,
                label_smoothing: 0.0,
                batch_size: 128,
                epochs: 2,
                schedule: Schedule::Linear,
                warmup: 0.1,
                // Two epochs are too few for flips and shifts to pay off.
                augment: Augment {
                    flip: false,
                    translate: 0,
                    cutout: 0,
                },
                mixed_precision: true,
                tta: false,
                train_images: 20000,
            },
        }
    }

    /// The default search space, as a W&B sweep. A sweep file given with
    /// --config replaces its parameters; the ones it leaves out keep `defaults`.
    pub fn sweep(self) -> Value {
        let parameters = match self {
            Dataset::Cifar10 => json!({
                "lr": {"distribution": "log_uniform_values", "min": 0.2, "max": 6.0},
                "batch_size": {"distribution": "q_log_uniform_values", "min": 256, "max": 2048, "q": 8},
                "weight_decay": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-2},
                "label_smoothing": {"distribution": "uniform", "min": 0.0, "max": 0.3},
                "momentum": {"distribution": "uniform", "min": 0.7, "max": 0.95},
                "epochs": {"distribution": "int_uniform", "min": 6, "max": 14},
                "cutout": {"distribution": "int_uniform", "min": 0, "max": 12},
                "width": {"distribution": "uniform", "min": 0.5, "max": 1.5}
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
}

impl Dataset {
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

/// Where the data is and how it is split: fixed for a study.
#[derive(Clone, Debug)]
pub struct DataSettings {
    pub dataset: Dataset,
    pub dir: PathBuf,
    /// Training images held out to score trials.
    pub validation: usize,
    /// Chooses the held-out images.
    pub data_seed: u64,
    /// Where CIFAR-10's tarball comes from when it is not on disk.
    pub cifar10_url: String,
}

impl DataSettings {
    /// The default split; CIFAR-10's tarball from BO_CIFAR10_URL if set.
    pub fn new(dataset: Dataset, dir: PathBuf) -> Self {
        DataSettings {
            dataset,
            dir,
            validation: 5000,
            data_seed: 0,
            cifar10_url: std::env::var("BO_CIFAR10_URL").unwrap_or_else(|_| cifar10::TARBALL_URL.into()),
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
        let mut settings = DataSettings::new(dataset, dir);
        if let Some(n) = objective.get("validation").and_then(Value::as_u64) {
            settings.validation = n as usize;
        }
        if let Some(seed) = objective.get("data_seed").and_then(Value::as_u64) {
            settings.data_seed = seed;
        }
        Ok(Some(settings))
    }

    /// Loads and splits the data and moves it, once, to the device trials
    /// train on (see `device`).
    pub fn load(&self) -> Result<Splits> {
        let device = device()?;
        if device.is_cuda() {
            tch::Cuda::cudnn_set_benchmark(true);
        }
        let data = match self.dataset {
            Dataset::Cifar10 => cifar10::load(&self.dir, &self.cifar10_url),
            Dataset::FashionMnist => fashion_mnist::load(&self.dir),
        };
        let splits = data
            .and_then(|d| d.split(self.validation, self.data_seed))
            .with_context(|| format!("cannot load {} from {}", self.dataset.name(), self.dir.display()))?;
        Ok(splits.to_device(device))
    }
}

/// The device trials train on: CUDA when there is one, unless BO_DEVICE says
/// `cpu` (or `cuda`, which then must exist).
pub fn device() -> Result<Device> {
    match std::env::var("BO_DEVICE").as_deref() {
        Ok("cpu") => Ok(Device::Cpu),
        Ok("cuda") if tch::Cuda::is_available() => Ok(Device::Cuda(0)),
        Ok("cuda") => bail!(
            "BO_DEVICE=cuda but libtorch sees no CUDA device (is the binary linked against a CUDA build of torch, \
             and is its lib/ folder on LD_LIBRARY_PATH?)"
        ),
        Ok(other) if !other.is_empty() => bail!("BO_DEVICE must be cpu or cuda, got `{other}`"),
        _ => Ok(Device::cuda_if_available()),
    }
}

/// One line about the device, for the user.
pub fn describe(device: Device) -> String {
    match device {
        Device::Cuda(i) => format!(
            "cuda:{i} ({} CUDA device(s), cuDNN {})",
            tch::Cuda::device_count(),
            if tch::Cuda::cudnn_is_available() {
                "available"
            } else {
                "missing"
            }
        ),
        _ => format!("cpu ({} threads)", tch::get_num_threads()),
    }
}

pub struct VisionObjective {
    /// Shared by the studies of a benchmark; tensors are not `Sync`, hence the lock.
    data: Arc<Mutex<Splits>>,
    defaults: TrainConfig,
}

impl VisionObjective {
    /// Another objective on the same data, loaded once.
    pub fn sharing(&self) -> VisionObjective {
        VisionObjective {
            data: Arc::clone(&self.data),
            defaults: self.defaults.clone(),
        }
    }

    /// Loads the data now, so that a missing or broken file fails before any trial.
    pub fn new(settings: &DataSettings) -> Result<Self> {
        Ok(VisionObjective {
            data: Arc::new(Mutex::new(settings.load()?)),
            defaults: settings.dataset.defaults(),
        })
    }
}

impl Objective for VisionObjective {
    fn evaluate(&mut self, trial: &TrialContext, report: &mut dyn FnMut(Report)) -> Outcome {
        let config = match self.defaults.clone().with_params(trial.params) {
            Ok(c) => c,
            Err(e) => return Outcome::Failed(e),
        };
        let mut on_epoch = |s: &EpochStats| {
            report(Report::Intermediate {
                step: s.epoch,
                value: 100.0 * (1.0 - s.val_accuracy),
            });
            report(Report::Metric {
                name: "val_loss",
                step: Some(s.epoch),
                value: s.val_loss,
            });
            report(Report::Metric {
                name: "train_loss",
                step: Some(s.epoch),
                value: s.train_loss,
            });
        };
        let data = self.data.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match train(&data, &config, trial.seed, &mut on_epoch, &super::interrupted) {
            Ok(result) => {
                for (name, value) in [
                    ("test_accuracy", 100.0 * result.test_accuracy),
                    ("train_seconds", result.train_seconds),
                    ("images_per_second", result.images_per_second),
                ] {
                    report(Report::Metric {
                        name,
                        step: None,
                        value,
                    });
                }
                Outcome::Complete(100.0 * (1.0 - result.val_accuracy))
            }
            Err(TrainError::Stopped) => Outcome::Interrupted,
            Err(TrainError::Diverged(why) | TrainError::Invalid(why)) => Outcome::Failed(why),
        }
    }
}
