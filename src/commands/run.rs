//! `bo run`: start or resume a study.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use bo::format;
use bo::objective::training::{self, DataFlags, Dataset};
use bo::objective::FunctionObjective;
use bo::objective::Objective;
use bo::pruning::{PrunerFlags, PrunerSpec};
use bo::space::{Goal, Sweep};
use bo::storage::{self, now, Access, Location, Storage, StudyRecord, TrialState, Worker};
use bo::study::{self, best_trial, RunReport, RunSettings, Study, MIN_HEARTBEAT_TIMEOUT};
use bo_benchmarks::TestFunction;
use bo_surrogates::gp::GpConfig;
use bo_surrogates::tpe::TpeConfig;
use bo_surrogates::{build_sampler, History, SamplerOptions, SAMPLER_NAMES};
use serde_json::{json, Value};

use super::{build_objective, handle_signals, retest, seconds, study_name, ObjectiveOptions};

#[derive(clap::Args)]
#[command(after_help = "\
Search spaces are W&B sweep files (YAML or JSON). Model-based strategies (gp) need
bounds: normal-family parameters (normal, q_normal, log_normal, q_log_normal) are
searched within mu ± 4 sigma; random search draws from the distributions themselves.

A program objective gets each trial's parameters as --name=value arguments (the W&B
`command` macros apply) and BO_STUDY, BO_TRIAL, BO_TRIAL_SEED and BO_PARAMS (JSON) in
its environment. It reports by printing JSON lines such as {\"val_loss\": 0.31, \"step\": 3};
each is an intermediate value and the last is the result.")]
pub struct RunArgs {
    /// Search strategy: gp, tpe, lipo, random, sobol or grid (default: from the sweep's method; bayes means gp).
    #[arg(long)]
    surrogate: Option<String>,
    /// A W&B sweep file (YAML or JSON) with the space and the program to run.
    #[arg(long)]
    config: Option<PathBuf>,
    /// A built-in objective instead of a program: cifar10 or fashion-mnist (train a network;
    /// --config may replace the default search space), or a test function: branin, hartmann3,
    /// hartmann6, ackleyN, levyN, rosenbrockN, styblinski_tangN, six_hump_camel (N: the dimension).
    #[arg(long)]
    objective: Option<String>,
    #[command(flatten)]
    data: DataFlags,
    /// Standard deviation of Gaussian noise added to a test function.
    #[arg(long, default_value_t = 0.0)]
    noise: f64,
    /// Total trials of the study, earlier ones included (default: the sweep's run_cap, else 30).
    #[arg(long)]
    trials: Option<usize>,
    /// Seed of the strategy and of each trial's seed (default: random, recorded with the study).
    #[arg(long)]
    seed: Option<u64>,
    /// Study name; an existing study is resumed.
    #[arg(long, value_parser = study_name)]
    study: Option<String>,
    /// The store: an SQLite file's path or a postgresql://user@host:port/db URL.
    #[arg(long, env = "BO_STORAGE", default_value = "bo.db")]
    storage: Location,
    /// Fail a trial that runs longer than this many seconds.
    #[arg(long, value_parser = seconds)]
    trial_timeout: Option<Duration>,
    /// Trials run at once, each in its own process (a program, or a training worker per
    /// worker); every suggestion knows the others' running trials.
    #[arg(long, default_value_t = 1, value_parser = worker_count)]
    workers: usize,
    /// GPUs to spread the workers over, round robin (several workers per GPU allowed), e.g.
    /// 0,1: programs and training workers get CUDA_VISIBLE_DEVICES.
    #[arg(long, value_delimiter = ',', value_parser = gpu_name)]
    gpus: Vec<String>,
    /// Levels per continuous parameter in grid search.
    #[arg(long)]
    grid_points: Option<usize>,
    /// Acquisition function of gp: logei, ei, pi, ucb[:beta], thompson.
    #[arg(long, default_value = "logei")]
    acquisition: String,
    /// TPE with one density per parameter instead of one joint density.
    #[arg(long)]
    univariate: bool,
    /// Kernel of gp: matern52 or rbf.
    #[arg(long, default_value = "matern52")]
    kernel: String,
    /// A running trial with no heartbeat for this many seconds is taken as abandoned (at least 15).
    #[arg(long, default_value = "120", value_parser = heartbeat_timeout)]
    heartbeat_timeout: Duration,
    /// Stop (and exit non-zero) once this many trials in a row failed for the same reason; 0 never stops.
    #[arg(long, default_value_t = 5)]
    max_failures: usize,
    #[command(flatten)]
    pruning: PrunerArgs,
    /// After the search, re-test the best K configurations with fresh seeds.
    #[arg(long, default_value_t = 0)]
    retest_top_k: usize,
    /// Re-tests per configuration with --retest-top-k.
    #[arg(long, default_value_t = 5)]
    retest_seeds: usize,
    /// No progress bar; print one JSON line with the result.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(clap::Args)]
#[command(next_help_heading = "Pruning (stopping unpromising trials early)")]
struct PrunerArgs {
    /// none, median, percentile, threshold, asha or hyperband (default: the sweep's `pruner`
    /// or W&B `early_terminate`). With one, gp and tpe learn BOHB-style from the highest rung
    /// with enough trials.
    #[arg(long)]
    pruner: Option<String>,
    /// No trial is stopped before this step [default: 1].
    #[arg(long)]
    min_resource: Option<i64>,
    /// The steps of a full trial, e.g. its epochs (hyperband; asha's last rung).
    #[arg(long)]
    max_resource: Option<i64>,
    /// η: one trial in η goes on at each rung (asha, hyperband) [default: 3].
    #[arg(long)]
    reduction_factor: Option<f64>,
    /// asha, hyperband: the first N trials to reach each rung stop there, unjudged, and compete
    /// no further; η − 1 is the ASHA paper's rule [default: 0, the first goes on alone].
    #[arg(long)]
    bootstrap_count: Option<usize>,
    /// The percentile pruner's percentile, 0 to 100: the lower, the more it stops.
    #[arg(long)]
    percentile: Option<f64>,
    /// The threshold pruner's bound: a trial whose metric is worse stops.
    #[arg(long)]
    threshold: Option<f64>,
    /// Completed trials before median or percentile stops any [default: 5].
    #[arg(long)]
    startup_trials: Option<usize>,
    /// Start no new trial once the study's trials have used this many steps in all.
    #[arg(long, value_parser = clap::value_parser!(i64).range(1..))]
    resource_budget: Option<i64>,
}

impl PrunerArgs {
    /// The pruner `--pruner` names: `None` without the flag, `Some(None)` for `none`.
    fn spec(&self) -> Result<Option<Option<PrunerSpec>>> {
        let flags = PrunerFlags {
            min_resource: self.min_resource,
            max_resource: self.max_resource,
            reduction_factor: self.reduction_factor,
            percentile: self.percentile,
            threshold: self.threshold,
            startup_trials: self.startup_trials,
            bootstrap_count: self.bootstrap_count,
        };
        match &self.pruner {
            Some(name) => Ok(Some(PrunerSpec::from_flags(name, &flags).map_err(anyhow::Error::msg)?)),
            None if flags != PrunerFlags::default() => {
                bail!("the pruner's settings (--min-resource, --max-resource, ...) go with --pruner NAME")
            }
            None => Ok(None),
        }
    }
}

/// How many workers `--workers` may start.
const MAX_WORKERS: usize = 256;

fn worker_count(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if (1..=MAX_WORKERS).contains(&n) => Ok(n),
        _ => Err(format!("must be a whole number from 1 to {MAX_WORKERS}, got {text}")),
    }
}

/// A GPU as CUDA_VISIBLE_DEVICES names one: an index or a UUID.
fn gpu_name(text: &str) -> Result<String, String> {
    if text.is_empty() || !text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(format!("`{text}` is not a GPU index or UUID"));
    }
    Ok(text.to_owned())
}

/// The GPU of worker `index`: the list round robin, none without one.
fn gpu_of(gpus: &[String], index: usize) -> Option<String> {
    (!gpus.is_empty()).then(|| gpus[index % gpus.len()].clone())
}

/// Workers beat every few seconds; a shorter timeout would let them take
/// each other's live trials as abandoned.
fn heartbeat_timeout(text: &str) -> Result<Duration, String> {
    let timeout = seconds(text)?;
    if timeout < MIN_HEARTBEAT_TIMEOUT {
        return Err(format!(
            "must be at least {} s (three heartbeats), got {text}",
            MIN_HEARTBEAT_TIMEOUT.as_secs()
        ));
    }
    Ok(timeout)
}

/// A new study's record from the command line, and where its space came from.
fn new_study(args: &RunArgs, name: Option<&str>) -> Result<(StudyRecord, String)> {
    let dataset = args.objective.as_deref().and_then(Dataset::from_name);
    let (config, objective, label, origin) = match (&args.config, &args.objective) {
        (config, Some(_)) if dataset.is_some() => {
            let dataset = dataset.expect("checked");
            let sweep = dataset.sweep_with(config.as_deref())?;
            let data = args.data.training_data(dataset);
            let origin = config.as_ref().map_or_else(
                || format!("--objective {}", dataset.name()),
                |p| p.display().to_string(),
            );
            (sweep, data.study_json(), dataset.name().to_string(), origin)
        }
        (Some(_), Some(f)) => bail!("--objective {f} searches the function's own domain; drop --config or --objective"),
        (Some(path), None) => {
            let sweep = Sweep::from_file(path)?;
            let origin = path.display().to_string();
            if sweep.program.is_none() && sweep.command.is_none() {
                bail!(
                    "{origin}: the sweep names no `program` or `command` to run (pass --objective for a test function)"
                );
            }
            let label = sweep
                .program
                .as_deref()
                .and_then(|p| Path::new(p).file_stem())
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "program".into());
            (sweep.raw, json!({"program": true}), label, origin)
        }
        (None, Some(f)) => {
            let function = TestFunction::by_name(f).map_err(anyhow::Error::msg)?;
            let label = function.name.clone();
            let sweep = FunctionObjective {
                function,
                noise_sd: args.noise,
            }
            .sweep();
            (
                sweep,
                json!({"function": label, "noise": args.noise}),
                label.clone(),
                format!("--objective {label}"),
            )
        }
        (None, None) => bail!("nothing to optimize: pass --config SWEEP (with a program) or --objective FUNCTION"),
    };
    let sweep = Sweep::from_value(config.clone(), &origin)?;
    let (metric, goal) = match &sweep.metric {
        Some(m) => (m.name.clone(), m.goal),
        None if objective.get("function").is_some() => ("value".into(), Goal::Minimize),
        None if dataset.is_some() => (training::METRIC.into(), Goal::Minimize),
        None => bail!(
            "{origin}: the sweep needs `metric: {{name: ..., goal: minimize|maximize}}` to read the program's output"
        ),
    };
    let strategy = args
        .surrogate
        .clone()
        .unwrap_or_else(|| sweep.method.default_strategy().into());
    // A short random seed is easy to quote back with --seed.
    let seed = args.seed.unwrap_or_else(|| rand::random::<u32>() as u64);
    let created = now();
    let name = name
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{label}-{strategy}-{}", created as u64));
    let pruner = match args.pruning.spec()? {
        Some(chosen) => chosen,
        None => sweep.pruner.clone(),
    };
    let record = StudyRecord {
        id: 0,
        name,
        config,
        objective,
        metric,
        goal,
        strategy,
        seed,
        created,
        pruner: pruner.as_ref().map(PrunerSpec::to_json),
    };
    Ok((record, origin))
}

/// Fails early, before anything is stored, if the strategy cannot search the
/// space (an unknown name, or grid search over a continuous parameter).
fn check_strategy(strategy: &str, seed: u64, config: &Value, options: &SamplerOptions, origin: &str) -> Result<()> {
    let sweep = Sweep::from_value(config.clone(), origin)?;
    let mut sampler = build_sampler(strategy, seed, options)
        .with_context(|| format!("strategies available: {}", SAMPLER_NAMES.join(", ")))?;
    sampler
        .suggest(&sweep.space.domain(), &History::default())
        .map_err(|e| anyhow!("{origin}: strategy `{strategy}`: {e}"))?;
    Ok(())
}

pub fn run(args: RunArgs) -> Result<ExitCode> {
    if !(args.noise >= 0.0 && args.noise.is_finite()) {
        bail!("--noise must be a finite standard deviation ≥ 0, got {}", args.noise);
    }
    // Read the sweep before touching the store: a bad file writes nothing.
    let requested = match args.config.is_some() || args.objective.is_some() {
        true => Some(new_study(&args, args.study.as_deref())?),
        false if args.study.is_none() => {
            bail!("nothing to optimize: pass --config SWEEP (with a program) or --objective FUNCTION")
        }
        false => None,
    };
    let options = SamplerOptions {
        grid_points: args.grid_points,
        gp: GpConfig {
            acquisition: args.acquisition.parse().map_err(anyhow::Error::msg)?,
            kernel: args.kernel.parse().map_err(anyhow::Error::msg)?,
            ..GpConfig::default()
        },
        tpe: TpeConfig {
            multivariate: !args.univariate,
            ..TpeConfig::default()
        },
        ..SamplerOptions::default()
    };
    if let Some((fresh, origin)) = &requested {
        check_strategy(&fresh.strategy, fresh.seed, &fresh.config, &options, origin)?;
    }
    let objective_options = ObjectiveOptions {
        trial_timeout: args.trial_timeout,
        data_dir: args.data.data_dir.clone(),
        gpu: gpu_of(&args.gpus, 0),
    };
    // Built before the study is stored: a missing program or missing data fails without a trace.
    let prebuilt = match &requested {
        Some((fresh, origin)) => Some(build_objective(
            fresh,
            &Sweep::from_value(fresh.config.clone(), origin)?,
            &objective_options,
            origin,
        )?),
        None => None,
    };
    // Resuming never creates a database.
    let mut storage = match requested {
        Some(_) => storage::open(&args.storage, Access::Create)?,
        None => storage::open(&args.storage, Access::Existing)?,
    };
    let record = match args.study.as_deref().map(|n| storage.study(n)).transpose()?.flatten() {
        Some(mut existing) => {
            if let Some((fresh, _)) = &requested {
                if fresh.config != existing.config || fresh.objective != existing.objective {
                    bail!("study `{}` was created with a different space or objective; resume it without --config/--objective, or pick a new --study name", existing.name);
                }
            }
            if let Some(seed) = args.seed.filter(|s| *s != existing.seed) {
                bail!(
                    "study `{}` was created with seed {}; it cannot continue with seed {seed}",
                    existing.name,
                    existing.seed
                );
            }
            if let Some(s) = args.surrogate.as_ref().filter(|s| **s != existing.strategy) {
                let origin = format!("study `{}`", existing.name);
                check_strategy(s, existing.seed, &existing.config, &options, &origin)?;
                storage.set_strategy(existing.id, s)?;
                existing.strategy = s.clone();
            }
            if let Some(chosen) = args.pruning.spec()? {
                let chosen = chosen.as_ref().map(PrunerSpec::to_json);
                if chosen != existing.pruner {
                    storage.set_pruner(existing.id, chosen.as_ref())?;
                    existing.pruner = chosen;
                }
            }
            existing
        }
        None => match requested {
            Some((fresh, _)) => {
                let stored = storage.create_study(&fresh)?;
                // Another worker may have created it first, perhaps differently.
                if stored.config != fresh.config
                    || stored.objective != fresh.objective
                    || args.seed.is_some_and(|s| s != stored.seed)
                {
                    bail!(
                        "study `{}` already exists with another space, objective or seed; pick a new --study name",
                        stored.name
                    );
                }
                stored
            }
            None => bail!(
                "there is no study `{}` in {} to resume: pass --config SWEEP or --objective FUNCTION to start it",
                args.study.as_deref().unwrap_or_default(),
                args.storage
            ),
        },
    };
    let origin = format!("study `{}`", record.name);
    let sweep = Sweep::from_value(record.config.clone(), &origin)?;
    let pruner = record
        .pruner
        .as_ref()
        .map(PrunerSpec::from_json)
        .transpose()
        .map_err(anyhow::Error::msg)?
        .map(|spec| spec.build(&|v| record.goal.to_loss(v)));
    let mut objective = match prebuilt {
        Some(objective) => objective,
        None => build_objective(&record, &sweep, &objective_options, &origin)?,
    };
    let trials = args.trials.or(sweep.run_cap).unwrap_or(30);
    let worker = Worker::this_process(args.heartbeat_timeout);
    let study = Study { record, sweep };
    if !args.quiet {
        eprintln!(
            "study `{}` in {} (resume with --study {})",
            study.record.name, args.storage, study.record.name
        );
    }
    handle_signals()?;
    let settings = RunSettings {
        trials,
        quiet: args.quiet,
        max_failures: args.max_failures,
        resource_budget: args.pruning.resource_budget,
    };
    // Worker 0 runs here with the objective built above; the others in threads
    // of their own, each with its store connection, strategy and objective
    // (programs, or a training worker process, on its GPU).
    let run_worker = |index: usize, storage: &mut dyn Storage, objective: &mut dyn Objective| -> Result<RunReport> {
        let mut sampler = build_sampler(&study.record.strategy, study.record.seed, &options)
            .with_context(|| format!("strategies available: {}", SAMPLER_NAMES.join(", ")))?;
        let settings = RunSettings {
            quiet: settings.quiet || index > 0,
            ..settings.clone()
        };
        study::run(
            storage,
            &study,
            sampler.as_mut(),
            objective,
            &worker,
            &settings,
            pruner.as_deref(),
        )
    };
    if args.workers > 1 {
        bo_surrogates::gp::set_blas_threads(1);
    }
    let reports: Vec<Result<RunReport>> = std::thread::scope(|scope| {
        let others: Vec<_> = (1..args.workers)
            .map(|index| {
                let options = ObjectiveOptions {
                    gpu: gpu_of(&args.gpus, index),
                    ..objective_options.clone()
                };
                let (study, origin, path, run_worker) = (&study, &origin, &args.storage, &run_worker);
                scope.spawn(move || -> Result<RunReport> {
                    let mut storage = storage::open(path, Access::Existing)?;
                    let mut objective = build_objective(&study.record, &study.sweep, &options, origin)?;
                    run_worker(index, storage.as_mut(), objective.as_mut())
                })
            })
            .collect();
        let first = run_worker(0, storage.as_mut(), objective.as_mut());
        std::iter::once(first)
            .chain(
                others
                    .into_iter()
                    .map(|h| h.join().unwrap_or_else(|_| Err(anyhow!("a worker thread panicked")))),
            )
            .collect()
    });
    let mut outcome = RunReport {
        interrupted: false,
        failing: None,
        exhausted: false,
    };
    for report in reports {
        let report = report?;
        outcome.interrupted |= report.interrupted;
        outcome.exhausted |= report.exhausted;
        outcome.failing = outcome.failing.or(report.failing);
    }
    let all = storage.trials(study.record.id)?;
    let best = best_trial(study.goal(), &all);
    let mut out = std::io::stdout().lock();
    if args.quiet {
        let line = json!({
            "study": study.record.name,
            "trials": all.iter().filter(|t| t.counts()).count(),
            "best_value": best.and_then(|t| t.value),
            "best_params": best.map(|t| Value::Object(t.params.clone())),
        });
        writeln!(out, "{line}")?;
    } else {
        if outcome.exhausted {
            eprintln!("the search space has no configuration left to try");
        }
        let failed = all
            .iter()
            .filter(|t| t.state == TrialState::Failed && t.counts())
            .count();
        writeln!(
            out,
            "study `{}`: {} trials, {} failed",
            study.record.name,
            all.iter().filter(|t| t.counts()).count(),
            failed
        )?;
        match best {
            Some(b) => writeln!(
                out,
                "best: trial {} with {} = {}  {}",
                b.number,
                study.record.metric,
                format::format_value(b.value.unwrap_or(f64::NAN)),
                Value::Object(b.params.clone())
            )?,
            None => writeln!(out, "best: none (no trial completed)")?,
        }
    }
    drop(out);
    if let Some(reason) = outcome.failing {
        bail!(
            "stopped: the last {} trials failed the same way ({reason}); fix the objective and resume with \
             `bo run --study {} --storage {}`, or pass --max-failures N to allow more (0: never stop)",
            args.max_failures,
            study.record.name,
            args.storage
        );
    }
    if outcome.interrupted {
        eprintln!(
            "interrupted: resume with `bo run --study {} --storage {}`",
            study.record.name, args.storage
        );
        return Ok(ExitCode::from(130));
    }
    if args.retest_top_k > 0 {
        return retest::retest_and_report(
            storage.as_mut(),
            &study,
            objective.as_mut(),
            args.retest_top_k,
            args.retest_seeds,
        );
    }
    Ok(ExitCode::SUCCESS)
}
