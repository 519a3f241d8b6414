//! The `bo-train` worker: trains image classifiers with libtorch (`tch`) for
//! bo's training objectives. It is a crate of its own so that `bo` itself
//! never loads libtorch: `bo` starts this worker, sends it one trial at a
//! time and reads its JSON lines (see [`serve`]).

mod augment;
mod cifar10;
mod data;
mod download;
mod fashion_mnist;
mod models;
pub mod serve;
mod train;

use anyhow::{bail, Context, Result};
use bo::objective::training::{Dataset, TrainingData};
use tch::Device;

pub use augment::Augment;
pub use data::Splits;
pub use models::Architecture;
pub use train::{train, EpochStats, OptimizerKind, Schedule, TrainConfig, TrainError, TrainResult};

/// Hyperparameters a trial does not search.
pub fn defaults(dataset: Dataset) -> TrainConfig {
    match dataset {
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
            warmup_from: 0.2,
            decay_to: 0.07,
            augment: Augment {
                flip: true,
                translate: 2,
                cutout: 0,
            },
            mixed_precision: true,
            lookahead: true,
            tta: 2,
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
            warmup_from: 0.0,
            decay_to: 0.0,
            // Two epochs are too few for flips and shifts to pay off.
            augment: Augment {
                flip: false,
                translate: 0,
                cutout: 0,
            },
            mixed_precision: true,
            lookahead: false,
            tta: 0,
            train_images: 20000,
        },
    }
}

/// Loads and splits a study's data and moves it, once, to the device trials
/// train on (see `device`). CIFAR-10's tarball comes from BO_CIFAR10_URL when set.
pub fn load(data: &TrainingData) -> Result<Splits> {
    let device = device()?;
    if device.is_cuda() {
        tch::Cuda::cudnn_set_benchmark(true);
    }
    let images = match data.dataset {
        Dataset::Cifar10 => {
            let url = std::env::var("BO_CIFAR10_URL").unwrap_or_else(|_| cifar10::TARBALL_URL.into());
            cifar10::load(&data.dir, &url)
        }
        Dataset::FashionMnist => fashion_mnist::load(&data.dir),
    };
    let splits = images
        .and_then(|d| d.split(data.validation, data.data_seed))
        .with_context(|| format!("cannot load {} from {}", data.dataset.name(), data.dir.display()))?;
    Ok(splits.to_device(device))
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

#[cfg(test)]
mod tests {
    use bo::objective::training::HYPERPARAMETERS;
    use serde_json::{json, Value};

    use super::*;

    #[test]
    fn every_hyperparameter_bo_lets_a_sweep_search_is_one_the_trainer_reads() {
        let example = |name: &str| -> Value {
            match name {
                "model" => json!("cnn"),
                "optimizer" => json!("adam"),
                "schedule" => json!("cosine"),
                "flip" | "mixed_precision" | "tta" | "lookahead" => json!(true),
                "batch_size" | "epochs" | "translate" | "cutout" | "train_images" | "blocks" => json!(2),
                _ => json!(0.1),
            }
        };
        for dataset in [Dataset::Cifar10, Dataset::FashionMnist] {
            for name in HYPERPARAMETERS {
                let params = json!({ name: example(name) }).as_object().unwrap().clone();
                if let Err(e) = defaults(dataset).with_params(&params) {
                    panic!("{}: `{name}` is refused: {e}", dataset.name());
                }
            }
        }
    }
}
