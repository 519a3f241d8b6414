//! `bo-train`: the training worker that `bo` starts for its training
//! objectives (`serve`), and the commands behind `bo train` and `bo device`.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{bail, Context, Result};
use bo::objective::training::{DataFlags, Dataset, TrainingData};
use bo_benchmarks::stats;
use bo_trainer::serve::serve;
use bo_trainer::{defaults, describe, device, load, train, EpochStats, TrainConfig, TrainError, TrainResult};
use clap::{Parser, Subcommand};
use serde_json::Value;

/// Set by Ctrl-C: `train` stops after the running epoch.
static STOP: AtomicBool = AtomicBool::new(false);

#[derive(Parser)]
#[command(name = "bo-train", version, about = "bo's training worker (libtorch)")]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

/// Which data, for `serve` and `train`.
#[derive(clap::Args)]
struct DataArgs {
    /// cifar10 or fashion-mnist.
    #[arg(long, default_value = "cifar10")]
    dataset: String,
    #[command(flatten)]
    flags: DataFlags,
}

impl DataArgs {
    fn settings(&self) -> Result<TrainingData> {
        let dataset = Dataset::from_name(&self.dataset)
            .with_context(|| format!("unknown dataset `{}`: {}", self.dataset, Dataset::NAMES.join(", ")))?;
        Ok(self.flags.training_data(dataset))
    }
}

#[derive(Subcommand)]
enum Commands {
    /// Load the data once, then train the trials bo sends on standard input (JSON lines).
    Serve(DataArgs),
    /// Train one configuration over several seeds and print test accuracy, training seconds and images/s.
    #[command(after_help = "\
Hyperparameters (--set NAME=VALUE): model (cnn, airbench, resnet, resnet:B1,B2,B3,B4), width,
optimizer (sgd, adam, adamw), lr, momentum, weight_decay, label_smoothing, batch_size, epochs,
schedule (constant, linear, cosine, onecycle), warmup, warmup_from, decay_to, flip, translate,
cutout, mixed_precision, lookahead, tta (0, 1, 2), train_images, blocks. Unset ones keep the
dataset's defaults. BO_DEVICE=cpu trains on the CPU even where CUDA is available. On CUDA, one
untimed epoch runs first, so that cuDNN's autotuning is not counted in the first seed's seconds.")]
    Train {
        #[command(flatten)]
        data: DataArgs,
        /// A hyperparameter to change from the default, as NAME=VALUE; repeatable.
        #[arg(long = "set", value_name = "NAME=VALUE")]
        set: Vec<String>,
        /// Seeds 0..N-1, one training run each.
        #[arg(long, default_value_t = 1)]
        seeds: u64,
        /// Name of the summary row (default: the dataset).
        #[arg(long)]
        label: Option<String>,
    },
    /// Say which device training uses: CUDA or the CPU.
    Device,
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Commands::Serve(data) => data.settings().and_then(|s| serve(&s)),
        Commands::Train {
            data,
            set,
            seeds,
            label,
        } => ctrlc::set_handler(|| STOP.store(true, Ordering::SeqCst))
            .context("cannot install the Ctrl-C handler")
            .and_then(|_| train_seeds(&data.settings()?, &set, seeds, label)),
        Commands::Device => device().map(|d| println!("{}", describe(d))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// An accuracy as a percentage; none (no validation split) as a dash.
fn percent(accuracy: f64) -> String {
    if accuracy.is_nan() {
        "–".into()
    } else {
        format!("{:.2}%", 100.0 * accuracy)
    }
}

/// `bo train`: the dataset's defaults changed by `--set`, trained once per seed.
fn train_seeds(settings: &TrainingData, set: &[String], seeds: u64, label: Option<String>) -> Result<()> {
    if seeds == 0 {
        bail!("--seeds must be at least 1");
    }
    let mut params = serde_json::Map::new();
    for assignment in set {
        let (name, value) = assignment
            .split_once('=')
            .with_context(|| format!("--set takes NAME=VALUE, got `{assignment}`"))?;
        let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.into()));
        params.insert(name.into(), value);
    }
    let config = defaults(settings.dataset)
        .with_params(&params)
        .map_err(anyhow::Error::msg)?;
    let data = load(settings)?;
    let device = data.train.images.device();
    eprintln!("training on {}", describe(device));
    let stop = || STOP.load(Ordering::SeqCst);
    if device.is_cuda() {
        eprintln!("  warm-up: one untimed epoch for cuDNN's autotuner");
        let warm_up = TrainConfig {
            epochs: 1,
            ..config.clone()
        };
        match train(&data, &warm_up, 0, &mut |_| true, &stop) {
            Ok(_) => {}
            Err(TrainError::Stopped | TrainError::Pruned(_)) => bail!("interrupted"),
            Err(TrainError::Diverged(why) | TrainError::Invalid(why)) => bail!("warm-up: {why}"),
        }
    }
    let mut results = Vec::new();
    for seed in 0..seeds {
        let mut on_epoch = |s: &EpochStats| {
            eprintln!(
                "  seed {seed} epoch {}: train loss {:.4}, val accuracy {}",
                s.epoch,
                s.train_loss,
                percent(s.val_accuracy)
            );
            true
        };
        let r = match train(&data, &config, seed, &mut on_epoch, &stop) {
            Ok(r) => r,
            Err(TrainError::Stopped | TrainError::Pruned(_)) => bail!("interrupted"),
            Err(TrainError::Diverged(why) | TrainError::Invalid(why)) => bail!("seed {seed}: {why}"),
        };
        println!(
            "seed {seed}: test {:.2}%  val {}  train {:.2} s  {:.0} images/s",
            100.0 * r.test_accuracy,
            percent(r.val_accuracy),
            r.train_seconds,
            r.images_per_second
        );
        results.push(r);
    }
    let summary = |f: fn(&TrainResult) -> f64, scale: f64, digits: usize| {
        let values: Vec<f64> = results.iter().map(|r| scale * f(r)).collect();
        // One seed has no spread to show.
        let sd = if values.len() > 1 {
            stats::sample_sd(&values)
        } else {
            0.0
        };
        format!("{:.digits$} ± {sd:.digits$}", stats::mean(&values))
    };
    println!("| run | seeds | test accuracy (%) | training seconds | images/s |");
    println!("|---|---|---|---|---|");
    println!(
        "| {} | {seeds} | {} | {} | {} |",
        label.unwrap_or_else(|| settings.dataset.name().into()),
        summary(|r| r.test_accuracy, 100.0, 2),
        summary(|r| r.train_seconds, 1.0, 2),
        summary(|r| r.images_per_second, 1.0, 0)
    );
    Ok(())
}
