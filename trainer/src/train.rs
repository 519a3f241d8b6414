//! One training run: hyperparameters, optimizer, learning-rate schedule, mixed
//! precision, Lookahead averaging, per-epoch validation and the final test score.

use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use bo::objective::training::HYPERPARAMETERS;
use serde_json::{Map, Value};
use tch::nn::{self, ModuleT, OptimizerConfig};
use tch::{Device, Kind, Reduction, Tensor};

use crate::augment::{Augment, AugmentedEpochs};
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
    /// Linear warm-up, then linear decay.
    Linear,
    /// Linear warm-up, then cosine decay.
    Cosine,
    /// Cosine rise from lr/25 over the warm-up, then cosine fall to lr/10⁴.
    OneCycle,
}

impl Schedule {
    /// The learning-rate multiplier at `progress` ∈ [0, 1] of training. Linear
    /// and cosine warm up from `from` to 1 over the `warmup` fraction, then
    /// decay to `to` (airbench: 0.2 → 1 → 0.07).
    pub fn factor(self, progress: f64, warmup: f64, from: f64, to: f64) -> f64 {
        let cos_ramp = |from: f64, to: f64, t: f64| to + (from - to) * (1.0 + (std::f64::consts::PI * t).cos()) / 2.0;
        let after = |t: f64| ((t - warmup) / (1.0 - warmup)).clamp(0.0, 1.0);
        match self {
            Schedule::Constant => 1.0,
            Schedule::OneCycle if progress < warmup => cos_ramp(1.0 / 25.0, 1.0, progress / warmup),
            Schedule::OneCycle => cos_ramp(1.0, 1e-4, after(progress)),
            _ if progress < warmup => from + (1.0 - from) * progress / warmup,
            Schedule::Linear => 1.0 + (to - 1.0) * after(progress),
            Schedule::Cosine => cos_ramp(1.0, to, after(progress)),
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
    /// The learning rate's multiplier where the warm-up starts (linear and cosine).
    pub warmup_from: f64,
    /// The learning rate's multiplier at the last step (linear and cosine).
    pub decay_to: f64,
    pub augment: Augment,
    /// fp16 autocast on CUDA (batch norm stays fp32); ignored on a CPU.
    pub mixed_precision: bool,
    /// airbench's Lookahead: every 5 steps the weights move to an average
    /// that trails them; training ends on that average.
    pub lookahead: bool,
    /// Test-time augmentation: 0 none, 1 the mirror image too, 2 also both
    /// mirrored and plain shifted by one pixel up-left and down-right (6 views).
    pub tta: i64,
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
                "warmup_from" => self.warmup_from = fraction(0.0, 1.0)?,
                "decay_to" => self.decay_to = fraction(0.0, 1.0)?,
                "flip" => self.augment.flip = flag()?,
                "translate" => self.augment.translate = count(0)?,
                "cutout" => self.augment.cutout = count(0)?,
                "mixed_precision" => self.mixed_precision = flag()?,
                "lookahead" => self.lookahead = flag()?,
                "tta" => {
                    // true asks for the most views, false for none.
                    self.tta = match flag() {
                        Ok(on) => 2 * i64::from(on),
                        Err(_) => count(0)
                            .ok()
                            .filter(|&level| level <= 2)
                            .ok_or_else(|| format!("`tta` must be 0, 1, 2, true or false, got {value}"))?,
                    }
                }
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

    /// The learning rate at `progress` ∈ [0, 1] of training.
    fn lr_at(&self, progress: f64) -> f64 {
        self.lr
            * self
                .schedule
                .factor(progress, self.warmup, self.warmup_from, self.decay_to)
    }

    /// How much faster than the weights airbench's batch-norm shifts learn:
    /// its ×64 is tuned for SGD; Adam's steps do not scale with the learning
    /// rate that way.
    fn bias_lr_scale(&self) -> f64 {
        if self.model == Architecture::Airbench && self.optimizer == OptimizerKind::Sgd {
            models::BIAS_LR_SCALE
        } else {
            1.0
        }
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
    /// Seconds as airbench counts them, device synchronized: building the
    /// network (the whitening filters), every training step and the final
    /// test evaluation; not the per-epoch validation.
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

/// airbench trains its whitening layer's bias for this many epochs, then freezes it.
const WHITENING_BIAS_EPOCHS: i64 = 3;

/// airbench's Lookahead: the average moves towards the weights by
/// 1 − decay every `LOOKAHEAD_EVERY` steps, and the weights jump to it.
const LOOKAHEAD_EVERY: i64 = 5;

struct Lookahead {
    /// Each floating-point variable (batch-norm statistics too) and its average.
    pairs: Vec<(Tensor, Tensor)>,
}

impl Lookahead {
    fn new(vs: &nn::VarStore) -> Self {
        let pairs = vs
            .variables()
            .into_values()
            .filter(|v| v.is_floating_point())
            .map(|v| {
                let average = v.detach().copy();
                (v, average)
            })
            .collect();
        Lookahead { pairs }
    }

    /// airbench's decay after `step` of `total`: 0.95⁵ (step / total)³, so
    /// the average follows closely at first and ever more slowly.
    fn decay(step: i64, total: i64) -> f64 {
        0.95f64.powi(5) * (step as f64 / total as f64).powi(3)
    }

    /// average ← average + (1 − decay)(weights − average); weights ← average.
    fn update(&mut self, decay: f64) {
        tch::no_grad(|| {
            for (weights, average) in &mut self.pairs {
                let _ = average.lerp_(weights, 1.0 - decay);
                weights.copy_(average);
            }
        });
    }
}

/// Seconds spent in timed sections, synchronizing the device around each.
struct DeviceClock {
    device: Device,
    seconds: f64,
}

impl DeviceClock {
    fn synchronize(&self) {
        if let Device::Cuda(index) = self.device {
            tch::Cuda::synchronize(index as i64);
        }
    }

    fn time<T>(&mut self, work: impl FnOnce() -> T) -> T {
        self.synchronize();
        let started = Instant::now();
        let out = work();
        self.synchronize();
        self.seconds += started.elapsed().as_secs_f64();
        out
    }
}

/// The learning rate the optimizer is given for `lr` under `loss_scale`
/// (see `Run::new`): SGD's steps grow with the gradient, Adam's do not.
fn scaled_lr(optimizer: OptimizerKind, lr: f64, loss_scale: f64) -> f64 {
    match optimizer {
        OptimizerKind::Sgd => lr / loss_scale,
        OptimizerKind::Adam | OptimizerKind::AdamW => lr,
    }
}

/// A network in training, with what each step needs.
struct Run<'a> {
    config: &'a TrainConfig,
    net: nn::SequentialT,
    optimizer: nn::Optimizer,
    norm: Normalizer,
    epochs: AugmentedEpochs,
    lookahead: Option<Lookahead>,
    whitening_bias: Option<Tensor>,
    autocast: bool,
    /// The loss is multiplied by this before backward, so that fp16 gradients
    /// neither underflow nor need a per-step check; the optimizer's settings
    /// absorb it (see `Run::new`).
    loss_scale: f64,
    batch: i64,
    steps_per_epoch: i64,
    total_steps: i64,
    step: i64,
}

impl<'a> Run<'a> {
    /// Builds the network and optimizer for `train_set`. A `loss_scale` of S
    /// scales every gradient by S: SGD's learning rate is divided by S and its
    /// weight decay (added to the gradient) multiplied by S; Adam's ε (and
    /// Adam's L2 decay) are multiplied by S. The steps are those of the
    /// unscaled loss, with no extra kernel and no host synchronization.
    fn new(train_set: &ImageSet, classes: i64, config: &'a TrainConfig, loss_scale: f64) -> Result<Self, TrainError> {
        let device = train_set.images.device();
        let autocast = config.mixed_precision && device.is_cuda();
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
            classes,
            config.width,
            &|| norm.apply(&train_set.images.narrow(0, 0, n.min(5000))),
        );
        if device.is_cuda() {
            models::to_channels_last(&vs);
        }
        let eps = 1e-8 * loss_scale;
        // Decay added to the gradient scales with it; AdamW's, applied to the weights, does not.
        let wd = match config.optimizer {
            OptimizerKind::Sgd | OptimizerKind::Adam => config.weight_decay * loss_scale,
            OptimizerKind::AdamW => config.weight_decay,
        };
        let lr = scaled_lr(config.optimizer, config.lr, loss_scale);
        let built = match config.optimizer {
            OptimizerKind::Sgd => nn::Sgd {
                momentum: config.momentum,
                dampening: 0.0,
                wd,
                nesterov: config.momentum > 0.0,
            }
            .build(&vs, lr),
            OptimizerKind::Adam => nn::adam(config.momentum, 0.999, wd).eps(eps).build(&vs, lr),
            OptimizerKind::AdamW => nn::adamw(config.momentum, 0.999, wd).eps(eps).build(&vs, lr),
        };
        let mut optimizer = built.map_err(|e| TrainError::Invalid(format!("cannot build the optimizer: {e}")))?;
        if config.model == Architecture::Airbench {
            // The same decay per step for the faster-learning shifts as for the weights.
            optimizer.set_weight_decay_group(models::BIAS_GROUP, wd / config.bias_lr_scale());
        }
        // Augmented images are kept in the precision the network reads.
        let kind = if autocast { Kind::Half } else { Kind::Float };
        let epochs = AugmentedEpochs::new(
            &config.augment,
            &norm.apply(&train_set.images).to_kind(kind),
            &train_set.labels,
            device.is_cuda(),
        );
        let steps_per_epoch = n / batch;
        Ok(Run {
            lookahead: config.lookahead.then(|| Lookahead::new(&vs)),
            whitening_bias: models::whitening_bias(&vs),
            config,
            net,
            optimizer,
            norm,
            epochs,
            autocast,
            loss_scale,
            batch,
            steps_per_epoch,
            total_steps: steps_per_epoch * config.epochs,
            step: 0,
        })
    }

    /// Trains epoch `epoch` (from 1); returns its mean training loss.
    fn train_epoch(&mut self, epoch: i64, stop: &dyn Fn() -> bool) -> Result<f64, TrainError> {
        let config = self.config;
        if let Some(bias) = &self.whitening_bias {
            let _ = bias.set_requires_grad(epoch <= WHITENING_BIAS_EPOCHS);
        }
        let (images, labels) = self.epochs.epoch(epoch);
        let mut loss_sum = Tensor::zeros([], (Kind::Float, images.device()));
        for b in 0..self.steps_per_epoch {
            if stop() {
                return Err(TrainError::Stopped);
            }
            let x = images.narrow(0, b * self.batch, self.batch);
            let y = labels.narrow(0, b * self.batch, self.batch);
            let lr = scaled_lr(
                config.optimizer,
                config.lr_at(self.step as f64 / self.total_steps as f64),
                self.loss_scale,
            );
            self.optimizer.set_lr(lr);
            if config.model == Architecture::Airbench {
                self.optimizer
                    .set_lr_group(models::BIAS_GROUP, lr * config.bias_lr_scale());
            }
            let loss = tch::autocast(self.autocast, || {
                self.net
                    .forward_t(&x, true)
                    .to_kind(Kind::Float)
                    .cross_entropy_loss::<Tensor>(&y, None, Reduction::Mean, -100, config.label_smoothing)
            });
            if self.loss_scale == 1.0 {
                self.optimizer.backward_step(&loss);
            } else {
                self.optimizer.backward_step(&(&loss * self.loss_scale));
            }
            loss_sum += loss.detach();
            self.step += 1;
            if let Some(lookahead) = &mut self.lookahead {
                if self.step % LOOKAHEAD_EVERY == 0 {
                    lookahead.update(Lookahead::decay(self.step, self.total_steps));
                }
                if self.step == self.total_steps {
                    lookahead.update(1.0);
                }
            }
            // A diverged run stops early instead of training on NaNs to the end.
            if (b + 1) % 50 == 0 || b + 1 == self.steps_per_epoch {
                let sum = loss_sum.double_value(&[]);
                if !sum.is_finite() {
                    let overflow = if self.autocast {
                        ", or fp16 overflowed: try mixed_precision=false"
                    } else {
                        ""
                    };
                    return Err(TrainError::Diverged(format!(
                        "the training loss became {} in epoch {epoch} (learning rate {} too high{overflow}?)",
                        if sum.is_nan() { "NaN" } else { "infinite" },
                        config.lr
                    )));
                }
            }
        }
        Ok(loss_sum.double_value(&[]) / self.steps_per_epoch as f64)
    }

    /// Accuracy and mean cross-entropy, averaged over the test-time views.
    fn evaluate(&self, set: &ImageSet) -> (f64, f64) {
        let n = set.len();
        let device = set.images.device();
        let mut correct = Tensor::zeros([], (Kind::Float, device));
        let mut loss = Tensor::zeros([], (Kind::Float, device));
        let scores = |x: &Tensor| self.net.forward_t(x, false).to_kind(Kind::Float);
        let mirrored = |x: &Tensor| (scores(x) + scores(&x.flip([3]))) / 2.0;
        tch::no_grad(|| {
            for start in (0..n).step_by(2000) {
                let len = 2000.min(n - start);
                let x = self.norm.apply(&set.images.narrow(0, start, len));
                let y = set.labels.narrow(0, start, len);
                let logits = tch::autocast(self.autocast, || match self.config.tta {
                    0 => scores(&x),
                    1 => mirrored(&x),
                    _ => {
                        let [_, _, h, w] = x.size()[..] else {
                            unreachable!("images are [N, C, H, W]")
                        };
                        let padded = x.reflection_pad2d([1, 1, 1, 1]);
                        let up_left = padded.narrow(2, 0, h).narrow(3, 0, w);
                        let down_right = padded.narrow(2, 2, h).narrow(3, 2, w);
                        mirrored(&x) / 2.0 + (mirrored(&up_left) + mirrored(&down_right)) / 4.0
                    }
                });
                correct += logits.argmax(1, false).eq_tensor(&y).sum(Kind::Float);
                loss += logits.cross_entropy_loss::<Tensor>(&y, None, Reduction::Sum, -100, 0.0);
            }
        });
        (correct.double_value(&[]) / n as f64, loss.double_value(&[]) / n as f64)
    }
}

/// Seeds torch's random generator and holds it until the guard drops: it is
/// global, so a second run in another thread would interleave its draws with
/// this one's and break "same seed, same result".
pub(crate) fn seed_torch(seed: u64) -> MutexGuard<'static, ()> {
    static ONE_RUN_AT_A_TIME: Mutex<()> = Mutex::new(());
    let guard = ONE_RUN_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    tch::manual_seed(seed as i64);
    guard
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
    let _seeded = seed_torch(seed);
    let device = data.train.images.device();
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
    // The batch's mean loss times its size is airbench's summed loss, whose
    // fp16 gradients need no dynamic scaling.
    let loss_scale = if config.mixed_precision && device.is_cuda() {
        config.batch_size.min(train_set.len()) as f64
    } else {
        1.0
    };
    let mut clock = DeviceClock { device, seconds: 0.0 };
    let mut run = clock.time(|| Run::new(&train_set, data.classes as i64, config, loss_scale))?;
    let mut epochs = Vec::new();
    for epoch in 1..=config.epochs {
        let train_loss = clock.time(|| run.train_epoch(epoch, stop))?;
        let (val_accuracy, val_loss) = run.evaluate(&data.validation);
        let stats = EpochStats {
            epoch,
            train_loss,
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
    let (test_accuracy, _) = clock.time(|| run.evaluate(&data.test));
    let last = epochs.last().expect("at least one epoch");
    Ok(TrainResult {
        val_accuracy: last.val_accuracy,
        val_loss: last.val_loss,
        test_accuracy,
        train_seconds: clock.seconds,
        images_per_second: (run.total_steps * run.batch) as f64 / clock.seconds,
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
            warmup_from: 0.0,
            decay_to: 0.0,
            mixed_precision: true,
            lookahead: false,
            tta: 0,
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

    /// airbench's recipe, small: Lookahead, 6-view TTA, 0.2 → 1 → 0.07.
    fn airbench_config() -> TrainConfig {
        TrainConfig {
            model: Architecture::Airbench,
            width: 0.25,
            lr: 0.2,
            momentum: 0.85,
            weight_decay: 1e-3,
            epochs: 6,
            schedule: Schedule::Linear,
            warmup: 0.2,
            warmup_from: 0.2,
            decay_to: 0.07,
            lookahead: true,
            tta: 2,
            ..quick_config()
        }
    }

    #[test]
    fn airbench_with_its_faster_batch_norm_shifts_learns_too() {
        let config = airbench_config();
        let result = train(&synthetic_splits(700, 16), &config, 0, &mut |_| true, &|| false).unwrap();
        let losses: Vec<f64> = result.epochs.iter().map(|e| e.train_loss).collect();
        assert!(losses[5] < 0.6 * losses[0], "{losses:?}");
        assert!(result.val_accuracy > 0.5, "{result:?}");
    }

    #[test]
    fn the_whitening_bias_starts_at_zero_learns_for_three_epochs_then_stays() {
        let data = synthetic_splits(700, 16);
        // Lookahead would still move it towards its average.
        let config = TrainConfig {
            epochs: 5,
            lookahead: false,
            ..airbench_config()
        };
        let _seeded = seed_torch(0);
        let mut run = Run::new(&data.train, 10, &config, 1.0).unwrap();
        let bias = || run.whitening_bias.as_ref().expect("airbench has one").copy();
        let mut previous = bias();
        assert_eq!(previous.abs().max().double_value(&[]), 0.0);
        for epoch in 1..=5 {
            run.train_epoch(epoch, &|| false).unwrap();
            let now = run.whitening_bias.as_ref().unwrap().copy();
            assert_eq!(now.equal(&previous), epoch > 3, "epoch {epoch}");
            previous = now;
        }
    }

    #[test]
    fn a_lookahead_update_moves_the_average_towards_the_weights_and_the_weights_onto_it() {
        let vs = nn::VarStore::new(Device::Cpu);
        let mut weights = vs.root().zeros("w", &[3]);
        let mut lookahead = Lookahead::new(&vs);
        tch::no_grad(|| weights.copy_(&Tensor::from_slice(&[4.0f32, 8.0, -4.0])));
        lookahead.update(0.75);
        let expected = Tensor::from_slice(&[1.0f32, 2.0, -1.0]);
        assert!(weights.equal(&expected) && lookahead.pairs[0].1.equal(&expected));
        // It follows closely early on and ever more slowly.
        assert_eq!(Lookahead::decay(0, 100), 0.0);
        assert!(Lookahead::decay(50, 100) < Lookahead::decay(90, 100));
        assert!((Lookahead::decay(100, 100) - 0.95f64.powi(5)).abs() < 1e-12);
    }

    #[test]
    fn training_with_lookahead_ends_on_the_average_which_evaluation_scores() {
        let data = synthetic_splits(700, 8);
        let config = TrainConfig {
            lookahead: true,
            epochs: 2,
            ..quick_config()
        };
        fn trained<'a>(data: &Splits, config: &'a TrainConfig) -> Run<'a> {
            let _seeded = seed_torch(0);
            let mut run = Run::new(&data.train, 10, config, 1.0).unwrap();
            for epoch in 1..=config.epochs {
                run.train_epoch(epoch, &|| false).unwrap();
            }
            run
        }
        let run = trained(&data, &config);
        let pairs = &run.lookahead.as_ref().unwrap().pairs;
        assert!(pairs.len() >= 4);
        for (weights, average) in pairs {
            assert!(weights.equal(average));
        }
        let plain_config = TrainConfig {
            lookahead: false,
            ..config.clone()
        };
        let plain = trained(&data, &plain_config);
        assert_ne!(run.evaluate(&data.validation), plain.evaluate(&data.validation));
    }

    #[test]
    fn a_loss_scale_absorbed_by_the_optimizer_takes_the_same_steps() {
        let data = synthetic_splits(700, 8);
        for (optimizer, lr) in [
            (OptimizerKind::Sgd, 0.05),
            (OptimizerKind::Adam, 0.005),
            (OptimizerKind::AdamW, 0.005),
        ] {
            let config = TrainConfig {
                optimizer,
                lr,
                weight_decay: 5e-3,
                epochs: 1,
                ..quick_config()
            };
            let [unscaled, scaled] = [1.0, 1024.0].map(|loss_scale| {
                let _seeded = seed_torch(0);
                let mut run = Run::new(&data.train, 10, &config, loss_scale).unwrap();
                let train_loss = run.train_epoch(1, &|| false).unwrap();
                (train_loss, run.evaluate(&data.validation).1)
            });
            let close = |a: f64, b: f64| (a - b).abs() <= 1e-4 * a.abs();
            assert!(
                close(unscaled.0, scaled.0) && close(unscaled.1, scaled.1),
                "{optimizer:?}: {unscaled:?} unscaled, {scaled:?} scaled"
            );
        }
    }

    #[test]
    fn only_sgd_speeds_up_airbenchs_batch_norm_shifts() {
        let scale = |model: Architecture, optimizer: OptimizerKind| {
            TrainConfig {
                model,
                optimizer,
                ..quick_config()
            }
            .bias_lr_scale()
        };
        assert_eq!(scale(Architecture::Airbench, OptimizerKind::Sgd), models::BIAS_LR_SCALE);
        assert_eq!(scale(Architecture::Airbench, OptimizerKind::Adam), 1.0);
        assert_eq!(scale(Architecture::Airbench, OptimizerKind::AdamW), 1.0);
        assert_eq!(scale(Architecture::SmallCnn, OptimizerKind::Sgd), 1.0);
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
        let from_zero = |schedule: Schedule, t: f64, warmup: f64| schedule.factor(t, warmup, 0.0, 0.0);
        assert!(close(from_zero(Schedule::Linear, 0.1, 0.2), 0.5));
        assert!(close(from_zero(Schedule::Linear, 0.2, 0.2), 1.0));
        assert!(close(from_zero(Schedule::Linear, 0.6, 0.2), 0.5));
        assert!(close(from_zero(Schedule::Cosine, 0.6, 0.2), 0.5));
        assert!(from_zero(Schedule::Cosine, 0.3, 0.2) > from_zero(Schedule::Linear, 0.3, 0.2));
        assert!(close(from_zero(Schedule::OneCycle, 0.0, 0.3), 1.0 / 25.0));
        assert!(close(from_zero(Schedule::OneCycle, 0.3, 0.3), 1.0));
        assert!(close(from_zero(Schedule::OneCycle, 1.0, 0.3), 1e-4));
        assert!(close(from_zero(Schedule::Constant, 0.9, 0.2), 1.0));
        // airbench's: 0.2 → 1 over the first 23%, then down to 0.07.
        let airbench = |t: f64| Schedule::Linear.factor(t, 0.23, 0.2, 0.07);
        assert!(close(airbench(0.0), 0.2));
        assert!(close(airbench(0.23), 1.0));
        assert!(close(airbench(1.0), 0.07));
        assert!(close(airbench(0.615), (1.0 + 0.07) / 2.0));
        assert!(close(Schedule::Cosine.factor(1.0, 0.23, 0.2, 0.07), 0.07));
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
            (0.3, 256, OptimizerKind::AdamW, 0)
        );
        assert_eq!(
            config.clone().with_params(&params(json!({"tta": true}))).unwrap().tta,
            2
        );
        assert_eq!(config.model, Architecture::ResNet { blocks: [2; 4] });
        for (bad, message) in [
            (json!({"lr": -1.0}), "`lr` must be > 0"),
            (json!({"batch_size": 100.5}), "whole number"),
            (json!({"momentum": 1.0}), "[0, 1)"),
            (json!({"schedule": "step"}), "onecycle"),
            (json!({"learning_rate": 0.1}), "unknown hyperparameter `learning_rate`"),
            (json!({"tta": 3}), "`tta` must be 0, 1, 2"),
            (json!({"decay_to": 1.5}), "`decay_to` must lie in [0, 1)"),
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
