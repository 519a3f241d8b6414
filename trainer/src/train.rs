//! One training run: hyperparameters, optimizer, learning-rate schedule, mixed
//! precision, per-epoch validation and the final test score.

use std::sync::Mutex;
use std::time::Instant;

use bo::objective::training::HYPERPARAMETERS;
use serde_json::{Map, Value};
use tch::nn::{self, ModuleT, OptimizerConfig};
use tch::{Device, Kind, Reduction, Tensor};

use crate::augment::Augment;
use crate::data::{ImageSet, Splits};
use crate::models::{self, Architecture};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OptimizerKind {
    /// SGD with Nesterov momentum; weight decay added to the gradient.
    Sgd,
    Adam,
    /// Adam with decoupled weight decay.
    AdamW,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Schedule {
    Constant,
    /// Linear warm-up from 0, then linear decay to 0.
    Linear,
    /// Linear warm-up from 0, then cosine decay to 0.
    Cosine,
    /// Cosine rise from lr/25 over the warm-up, then cosine fall to lr/10⁴.
    OneCycle,
}

impl Schedule {
    /// The learning-rate multiplier at `progress` ∈ [0, 1] of training.
    pub fn factor(self, progress: f64, warmup: f64) -> f64 {
        let cos_ramp = |from: f64, to: f64, t: f64| to + (from - to) * (1.0 + (std::f64::consts::PI * t).cos()) / 2.0;
        let after = |t: f64| ((t - warmup) / (1.0 - warmup)).clamp(0.0, 1.0);
        match self {
            Schedule::Constant => 1.0,
            _ if progress < warmup && self != Schedule::OneCycle => progress / warmup,
            Schedule::Linear => 1.0 - after(progress),
            Schedule::Cosine => cos_ramp(1.0, 0.0, after(progress)),
            Schedule::OneCycle if progress < warmup => cos_ramp(1.0 / 25.0, 1.0, progress / warmup),
            Schedule::OneCycle => cos_ramp(1.0, 1e-4, after(progress)),
        }
    }
}

/// Every hyperparameter of a run. A sweep names any subset; the rest keep the
/// dataset's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainConfig {
    pub model: Architecture,
    /// Multiplies every layer's channel count.
    pub width: f64,
    pub optimizer: OptimizerKind,
    pub lr: f64,
    /// SGD's momentum, or Adam's β₁.
    pub momentum: f64,
    pub weight_decay: f64,
    pub label_smoothing: f64,
    pub batch_size: i64,
    pub epochs: i64,
    pub schedule: Schedule,
    /// Fraction of the steps spent warming up.
    pub warmup: f64,
    pub augment: Augment,
    /// fp16 autocast with loss scaling on CUDA (batch norm stays fp32); ignored on a CPU.
    pub mixed_precision: bool,
    /// Average the scores of each image and its mirror image at evaluation.
    pub tta: bool,
    /// Train on only this many of the training images (0: all), for quick studies.
    pub train_images: i64,
}

impl TrainConfig {
    /// Overrides the defaults with a trial's parameters; an unknown name or a
    /// value out of range is an error that names it.
    pub fn with_params(mut self, params: &Map<String, Value>) -> Result<Self, String> {
        for (name, value) in params {
            let number = || {
                value
                    .as_f64()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| format!("`{name}` must be a number, got {value}"))
            };
            let positive = || {
                number().and_then(|v| {
                    if v > 0.0 {
                        Ok(v)
                    } else {
                        Err(format!("`{name}` must be > 0, got {v}"))
                    }
                })
            };
            let fraction = |lo: f64, hi: f64| {
                number().and_then(|v| {
                    if (lo..hi).contains(&v) {
                        Ok(v)
                    } else {
                        Err(format!("`{name}` must lie in [{lo}, {hi}), got {v}"))
                    }
                })
            };
            let count = |min: i64| {
                number().and_then(|v| {
                    if v.fract() == 0.0 && v >= min as f64 {
                        Ok(v as i64)
                    } else {
                        Err(format!("`{name}` must be a whole number ≥ {min}, got {v}"))
                    }
                })
            };
            let flag = || match value {
                Value::Bool(b) => Ok(*b),
                Value::String(s) if s == "true" || s == "false" => Ok(s == "true"),
                _ => Err(format!("`{name}` must be true or false, got {value}")),
            };
            let text = || {
                value
                    .as_str()
                    .ok_or_else(|| format!("`{name}` must be a string, got {value}"))
            };
            match name.as_str() {
                "model" => self.model = text()?.parse()?,
                "blocks" => {
                    let blocks = match value {
                        Value::String(s) => s.clone(),
                        _ => vec![count(1)?.to_string(); 4].join(","),
                    };
                    self.model = format!("resnet:{blocks}").parse()?;
                }
                "width" => self.width = positive()?,
                "optimizer" => {
                    self.optimizer = match text()? {
                        "sgd" => OptimizerKind::Sgd,
                        "adam" => OptimizerKind::Adam,
                        "adamw" => OptimizerKind::AdamW,
                        other => return Err(format!("unknown optimizer `{other}`: sgd, adam or adamw")),
                    }
                }
                "lr" => self.lr = positive()?,
                "momentum" => self.momentum = fraction(0.0, 1.0)?,
                "weight_decay" => self.weight_decay = fraction(0.0, f64::INFINITY)?,
                "label_smoothing" => self.label_smoothing = fraction(0.0, 1.0)?,
                "batch_size" => self.batch_size = count(2)?,
                "epochs" => self.epochs = count(1)?,
                "schedule" => {
                    self.schedule = match text()? {
                        "constant" => Schedule::Constant,
                        "linear" => Schedule::Linear,
                        "cosine" => Schedule::Cosine,
                        "onecycle" => Schedule::OneCycle,
                        other => {
                            return Err(format!(
                                "unknown schedule `{other}`: constant, linear, cosine or onecycle"
                            ))
                        }
                    }
                }
                "warmup" => self.warmup = fraction(0.0, 1.0)?,
                "flip" => self.augment.flip = flag()?,
                "translate" => self.augment.translate = count(0)?,
                "cutout" => self.augment.cutout = count(0)?,
                "mixed_precision" => self.mixed_precision = flag()?,
                "tta" => self.tta = flag()?,
                "train_images" => self.train_images = count(0)?,
                _ => {
                    return Err(format!(
                        "unknown hyperparameter `{name}`; the trainer takes {}",
                        HYPERPARAMETERS.join(", ")
                    ))
                }
            }
        }
        Ok(self)
    }
}

#[derive(Clone, Debug)]
pub struct EpochStats {
    pub epoch: i64,
    pub train_loss: f64,
    pub val_accuracy: f64,
    pub val_loss: f64,
}

#[derive(Clone, Debug)]
pub struct TrainResult {
    pub epochs: Vec<EpochStats>,
    pub val_accuracy: f64,
    pub val_loss: f64,
    /// Scored once, after training; never used to choose.
    pub test_accuracy: f64,
    /// Time in the training steps alone (no evaluation), device synchronized.
    pub train_seconds: f64,
    pub images_per_second: f64,
}

#[derive(Debug, PartialEq)]
pub enum TrainError {
    /// The loss became NaN or infinite.
    Diverged(String),
    /// Asked to stop (Ctrl-C).
    Stopped,
    /// `on_epoch` asked to stop after this epoch (a pruner).
    Pruned(i64),
    /// The configuration cannot run on this data.
    Invalid(String),
}

/// Per-channel mean and standard deviation of uint8 images, as [1, C, 1, 1].
fn channel_stats(images: &Tensor) -> (Tensor, Tensor) {
    let x = images.to_kind(Kind::Float) / 255.0;
    let dims = [0i64, 2, 3];
    let mean = x.mean_dim(dims.as_slice(), true, Kind::Float);
    let std = x.std_dim(dims.as_slice(), false, true).clamp_min(1e-3);
    (mean, std)
}

struct Normalizer {
    mean: Tensor,
    std: Tensor,
}

impl Normalizer {
    fn apply(&self, images: &Tensor) -> Tensor {
        (images.to_kind(Kind::Float) / 255.0 - &self.mean) / &self.std
    }
}

/// fp16 training's dynamic loss scale: halve it and skip the step on
/// non-finite gradients, double it after a run of good steps.
struct LossScaler {
    scale: f64,
    good_steps: u32,
    skipped_in_a_row: u32,
}

impl LossScaler {
    fn new() -> Self {
        LossScaler {
            scale: 65536.0,
            good_steps: 0,
            skipped_in_a_row: 0,
        }
    }

    /// Backward on the scaled loss, then unscale and step, or skip. Returns false
    /// when the gradients stay non-finite at any scale.
    fn step(&mut self, optimizer: &mut nn::Optimizer, variables: &[Tensor], loss: &Tensor) -> bool {
        optimizer.zero_grad();
        (loss * self.scale).backward();
        let grads: Vec<Tensor> = variables.iter().map(|v| v.grad()).filter(|g| g.defined()).collect();
        let norms: Vec<Tensor> = grads
            .iter()
            .map(|g| g.to_kind(Kind::Float).square().sum(Kind::Float))
            .collect();
        // One device synchronization per step, as torch's GradScaler does.
        let finite = Tensor::stack(&norms, 0).sum(Kind::Float).isfinite().int64_value(&[]) == 1;
        if finite {
            tch::no_grad(|| {
                for mut g in grads {
                    let _ = g.g_mul_scalar_(1.0 / self.scale);
                }
            });
            optimizer.step();
            self.skipped_in_a_row = 0;
            self.good_steps += 1;
            if self.good_steps == 2000 {
                self.scale *= 2.0;
                self.good_steps = 0;
            }
        } else {
            self.scale /= 2.0;
            self.good_steps = 0;
            self.skipped_in_a_row += 1;
        }
        self.skipped_in_a_row < 30
    }
}

/// Accuracy and mean cross-entropy, optionally averaging over mirror images.
fn evaluate(net: &nn::SequentialT, set: &ImageSet, norm: &Normalizer, tta: bool, autocast: bool) -> (f64, f64) {
    let n = set.len();
    let device = set.images.device();
    let mut correct = Tensor::zeros([], (Kind::Float, device));
    let mut loss = Tensor::zeros([], (Kind::Float, device));
    tch::no_grad(|| {
        for start in (0..n).step_by(2048) {
            let len = 2048.min(n - start);
            let x = norm.apply(&set.images.narrow(0, start, len));
            let y = set.labels.narrow(0, start, len);
            let logits = tch::autocast(autocast, || {
                let out = net.forward_t(&x, false).to_kind(Kind::Float);
                if tta {
                    (out + net.forward_t(&x.flip([3]), false).to_kind(Kind::Float)) / 2.0
                } else {
                    out
                }
            });
            correct += logits.argmax(1, false).eq_tensor(&y).sum(Kind::Float);
            loss += logits.cross_entropy_loss::<Tensor>(&y, None, Reduction::Sum, -100, 0.0);
        }
    });
    (correct.double_value(&[]) / n as f64, loss.double_value(&[]) / n as f64)
}

/// Trains a fresh network on `data.train` (seeded by `seed`), validating after
/// every epoch; `on_epoch` sees each epoch's statistics and says whether to go
/// on. `stop` is polled between steps.
pub fn train(
    data: &Splits,
    config: &TrainConfig,
    seed: u64,
    on_epoch: &mut dyn FnMut(&EpochStats) -> bool,
    stop: &dyn Fn() -> bool,
) -> Result<TrainResult, TrainError> {
    // torch's random generator is global: a second run in another thread would
    // interleave its draws with this one's and break "same seed, same result".
    static ONE_RUN_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _running = ONE_RUN_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    tch::manual_seed(seed as i64);
    let device = data.train.images.device();
    let autocast = config.mixed_precision && device.is_cuda();
    let train_set = match config.train_images {
        0 => ImageSet {
            images: data.train.images.shallow_clone(),
            labels: data.train.labels.shallow_clone(),
        },
        k if k > data.train.len() => {
            return Err(TrainError::Invalid(format!(
                "train_images {k} is more than the {} training images",
                data.train.len()
            )))
        }
        k => data
            .train
            .select(&Tensor::randperm(data.train.len(), (Kind::Int64, device)).narrow(0, 0, k)),
    };
    let n = train_set.len();
    let batch = config.batch_size.min(n);
    if batch < 2 {
        return Err(TrainError::Invalid("training needs at least 2 images per batch".into()));
    }
    let (mean, std) = channel_stats(&train_set.images);
    let norm = Normalizer { mean, std };
    let vs = nn::VarStore::new(device);
    let net = models::build(
        &config.model,
        &vs.root(),
        train_set.image_shape(),
        data.classes as i64,
        config.width,
        &|| norm.apply(&train_set.images.narrow(0, 0, n.min(5000))),
    );
    let built = match config.optimizer {
        OptimizerKind::Sgd => nn::Sgd {
            momentum: config.momentum,
            dampening: 0.0,
            wd: config.weight_decay,
            nesterov: config.momentum > 0.0,
        }
        .build(&vs, config.lr),
        OptimizerKind::Adam => nn::adam(config.momentum, 0.999, config.weight_decay).build(&vs, config.lr),
        OptimizerKind::AdamW => nn::adamw(config.momentum, 0.999, config.weight_decay).build(&vs, config.lr),
    };
    let mut optimizer = built.map_err(|e| TrainError::Invalid(format!("cannot build the optimizer: {e}")))?;
    // Same decay per step for the faster-learning shifts as for the weights.
    let bias_group = config.model == Architecture::Airbench;
    if bias_group {
        optimizer.set_weight_decay_group(models::BIAS_GROUP, config.weight_decay / models::BIAS_LR_SCALE);
    }
    let variables = vs.trainable_variables();
    let mut scaler = autocast.then(LossScaler::new);
    let steps_per_epoch = n / batch;
    let total_steps = (steps_per_epoch * config.epochs) as f64;
    let (mut step, mut train_seconds) = (0i64, 0f64);
    let mut epochs = Vec::new();
    for epoch in 1..=config.epochs {
        let started = Instant::now();
        let order = Tensor::randperm(n, (Kind::Int64, device));
        let mut loss_sum = Tensor::zeros([], (Kind::Float, device));
        for b in 0..steps_per_epoch {
            if stop() {
                return Err(TrainError::Stopped);
            }
            let index = order.narrow(0, b * batch, batch);
            let x = config
                .augment
                .apply(&norm.apply(&train_set.images.index_select(0, &index)));
            let y = train_set.labels.index_select(0, &index);
            let lr = config.lr * config.schedule.factor(step as f64 / total_steps, config.warmup);
            optimizer.set_lr(lr);
            if bias_group {
                optimizer.set_lr_group(models::BIAS_GROUP, lr * models::BIAS_LR_SCALE);
            }
            let loss = tch::autocast(autocast, || {
                net.forward_t(&x, true)
                    .to_kind(Kind::Float)
                    .cross_entropy_loss::<Tensor>(&y, None, Reduction::Mean, -100, config.label_smoothing)
            });
            match scaler.as_mut() {
                Some(scaler) => {
                    if !scaler.step(&mut optimizer, &variables, &loss) {
                        return Err(TrainError::Diverged(format!(
                            "the gradients stayed non-finite at every loss scale in epoch {epoch}"
                        )));
                    }
                }
                None => optimizer.backward_step(&loss),
            }
            loss_sum += loss.detach();
            step += 1;
            // A diverged run stops early instead of training on NaNs to the end.
            if (b + 1) % 50 == 0 || b + 1 == steps_per_epoch {
                let sum = loss_sum.double_value(&[]);
                if !sum.is_finite() {
                    return Err(TrainError::Diverged(format!(
                        "the training loss became {} in epoch {epoch} (learning rate {} too high?)",
                        if sum.is_nan() { "NaN" } else { "infinite" },
                        config.lr
                    )));
                }
            }
        }
        if let Device::Cuda(index) = device {
            tch::Cuda::synchronize(index as i64);
        }
        train_seconds += started.elapsed().as_secs_f64();
        let (val_accuracy, val_loss) = evaluate(&net, &data.validation, &norm, config.tta, autocast);
        let stats = EpochStats {
            epoch,
            train_loss: loss_sum.double_value(&[]) / steps_per_epoch as f64,
            val_accuracy,
            val_loss,
        };
        // Without a validation split (a final fit) there is nothing to check.
        if !data.validation.is_empty() && !val_loss.is_finite() {
            return Err(TrainError::Diverged(format!(
                "the validation loss became {val_loss} in epoch {epoch}"
            )));
        }
        if !on_epoch(&stats) {
            return Err(TrainError::Pruned(epoch));
        }
        epochs.push(stats);
    }
    let (test_accuracy, _) = evaluate(&net, &data.test, &norm, config.tta, autocast);
    let last = epochs.last().expect("at least one epoch");
    Ok(TrainResult {
        val_accuracy: last.val_accuracy,
        val_loss: last.val_loss,
        test_accuracy,
        train_seconds,
        images_per_second: (steps_per_epoch * batch * config.epochs) as f64 / train_seconds,
        epochs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::ImageData;
    use serde_json::json;

    /// Ten classes of 1 x side x side images: noise, brightened by the class,
    /// and a bright pixel at a class-specific place. Drawn with its own
    /// generator, not torch's, which other tests reseed.
    fn synthetic_splits(n: i64, side: usize) -> Splits {
        synthetic_data(n, side).split(100, 0).unwrap()
    }

    fn synthetic_data(n: i64, side: usize) -> ImageData {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(99);
        let labels: Vec<u8> = (0..n).map(|_| rng.gen_range(0..10)).collect();
        let area = side * side;
        let mut pixels: Vec<u8> = (0..n as usize * area)
            .map(|p| rng.gen_range(0..100) + 15 * labels[p / area])
            .collect();
        for (i, &class) in labels.iter().enumerate() {
            let (row, col) = (class as usize / 4 * 2 + 1, class as usize % 4 * 2);
            pixels[i * area + row * side + col] = 255;
        }
        let set = ImageSet::from_bytes(&pixels, &labels, [1, side as i64, side as i64]).unwrap();
        let test = set.select(&Tensor::arange(100, (Kind::Int64, Device::Cpu)));
        ImageData {
            train: set,
            test,
            classes: 10,
        }
    }

    fn quick_config() -> TrainConfig {
        TrainConfig {
            model: Architecture::SmallCnn,
            width: 0.25,
            optimizer: OptimizerKind::Sgd,
            lr: 0.05,
            momentum: 0.9,
            weight_decay: 0.0,
            label_smoothing: 0.0,
            batch_size: 32,
            epochs: 3,
            schedule: Schedule::Constant,
            warmup: 0.0,
            // Shifts and flips would move the pixel that tells the classes apart.
            augment: Augment {
                flip: false,
                translate: 0,
                cutout: 0,
            },
            mixed_precision: true,
            tta: false,
            train_images: 0,
        }
    }

    fn run(config: &TrainConfig, seed: u64) -> Result<TrainResult, TrainError> {
        train(&synthetic_splits(700, 8), config, seed, &mut |_| true, &|| false)
    }

    #[test]
    fn training_lowers_the_loss_and_learns_the_classes() {
        for optimizer in [OptimizerKind::Sgd, OptimizerKind::Adam, OptimizerKind::AdamW] {
            let lr = if optimizer == OptimizerKind::Sgd { 0.05 } else { 0.005 };
            let result = run(
                &TrainConfig {
                    optimizer,
                    lr,
                    ..quick_config()
                },
                0,
            )
            .unwrap();
            let losses: Vec<f64> = result.epochs.iter().map(|e| e.train_loss).collect();
            assert!(losses[2] < 0.7 * losses[0], "{optimizer:?}: {losses:?}");
            assert!(result.val_accuracy > 0.5, "{optimizer:?}: {result:?}");
        }
    }

    #[test]
    fn a_final_fit_without_a_validation_split_trains_on_everything_and_reports_test_accuracy() {
        let data = synthetic_data(700, 8).split(0, 0).unwrap();
        assert_eq!(data.train.len(), 700);
        let result = train(&data, &quick_config(), 0, &mut |_| true, &|| false).unwrap();
        assert!(result.test_accuracy > 0.5, "{result:?}");
        assert!(result.val_accuracy.is_nan() && result.epochs.len() == 3);
    }

    #[test]
    fn airbench_with_its_faster_batch_norm_shifts_learns_too() {
        let config = TrainConfig {
            model: Architecture::Airbench,
            width: 0.25,
            lr: 0.2,
            momentum: 0.85,
            weight_decay: 1e-3,
            epochs: 6,
            schedule: Schedule::Linear,
            warmup: 0.2,
            ..quick_config()
        };
        let result = train(&synthetic_splits(700, 16), &config, 0, &mut |_| true, &|| false).unwrap();
        let losses: Vec<f64> = result.epochs.iter().map(|e| e.train_loss).collect();
        assert!(losses[5] < 0.6 * losses[0], "{losses:?}");
        assert!(result.val_accuracy > 0.5, "{result:?}");
    }

    #[test]
    fn the_same_seed_trains_the_same_network() {
        let config = quick_config();
        let (a, b, c) = (
            run(&config, 4).unwrap(),
            run(&config, 4).unwrap(),
            run(&config, 5).unwrap(),
        );
        assert_eq!(a.epochs[2].train_loss, b.epochs[2].train_loss);
        assert_eq!(a.val_loss, b.val_loss);
        assert_ne!(a.epochs[2].train_loss, c.epochs[2].train_loss);
    }

    #[test]
    fn a_learning_rate_that_blows_up_fails_with_the_reason() {
        let config = TrainConfig {
            lr: 1e30,
            ..quick_config()
        };
        match run(&config, 0) {
            Err(TrainError::Diverged(why)) => assert!(why.contains("training loss became"), "{why}"),
            other => panic!("expected divergence, got {other:?}"),
        }
    }

    #[test]
    fn a_stop_request_ends_training() {
        let result = train(&synthetic_splits(300, 8), &quick_config(), 0, &mut |_| true, &|| true);
        assert_eq!(result.unwrap_err(), TrainError::Stopped);
    }

    #[test]
    fn training_stops_at_the_epoch_a_pruner_stops_it() {
        let config = TrainConfig {
            epochs: 4,
            ..quick_config()
        };
        let mut seen = Vec::new();
        let result = train(
            &synthetic_splits(300, 8),
            &config,
            0,
            &mut |s| {
                seen.push(s.epoch);
                s.epoch < 2
            },
            &|| false,
        );
        assert_eq!(result.unwrap_err(), TrainError::Pruned(2));
        assert_eq!(seen, vec![1, 2]);
    }

    #[test]
    fn schedules_warm_up_and_decay_as_documented() {
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        assert!(close(Schedule::Linear.factor(0.1, 0.2), 0.5));
        assert!(close(Schedule::Linear.factor(0.2, 0.2), 1.0));
        assert!(close(Schedule::Linear.factor(0.6, 0.2), 0.5));
        assert!(close(Schedule::Cosine.factor(0.6, 0.2), 0.5));
        assert!(Schedule::Cosine.factor(0.3, 0.2) > Schedule::Linear.factor(0.3, 0.2));
        assert!(close(Schedule::OneCycle.factor(0.0, 0.3), 1.0 / 25.0));
        assert!(close(Schedule::OneCycle.factor(0.3, 0.3), 1.0));
        assert!(close(Schedule::OneCycle.factor(1.0, 0.3), 1e-4));
        assert!(close(Schedule::Constant.factor(0.9, 0.2), 1.0));
    }

    #[test]
    fn parameters_override_defaults_and_bad_ones_are_named() {
        let params = |v: serde_json::Value| v.as_object().unwrap().clone();
        let config = quick_config()
            .with_params(&params(
                json!({"lr": 0.3, "batch_size": 256.0, "optimizer": "adamw", "blocks": 2, "tta": false}),
            ))
            .unwrap();
        assert_eq!(
            (config.lr, config.batch_size, config.optimizer, config.tta),
            (0.3, 256, OptimizerKind::AdamW, false)
        );
        assert_eq!(config.model, Architecture::ResNet { blocks: [2; 4] });
        for (bad, message) in [
            (json!({"lr": -1.0}), "`lr` must be > 0"),
            (json!({"batch_size": 100.5}), "whole number"),
            (json!({"momentum": 1.0}), "[0, 1)"),
            (json!({"schedule": "step"}), "onecycle"),
            (json!({"learning_rate": 0.1}), "unknown hyperparameter `learning_rate`"),
        ] {
            let error = quick_config().with_params(&params(bad.clone())).unwrap_err();
            assert!(error.contains(message), "{bad}: {error}");
        }
    }

    #[test]
    fn more_train_images_than_there_are_is_refused() {
        let config = TrainConfig {
            train_images: 100_000,
            ..quick_config()
        };
        assert!(matches!(run(&config, 0), Err(TrainError::Invalid(why)) if why.contains("100000")));
    }
}
