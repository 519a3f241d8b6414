use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use bo::bench::BenchSettings;
use bo::objective::vision::{self, DataSettings, Dataset};
use bo::objective::{FunctionObjective, Objective, ProgramObjective, VisionObjective, INTERRUPTED};
use bo::report;
use bo::space::{Goal, Sweep};
use bo::storage::{now, Storage, StudyRecord, Worker};
use bo::study::{self, best_trial, RunSettings, Study};
use bo_benchmarks::{stats, TestFunction};
use bo_surrogates::gp::GpConfig;
use bo_surrogates::tpe::TpeConfig;
use bo_surrogates::{build_sampler, History, SamplerOptions, SAMPLER_NAMES};
use clap::{Parser, Subcommand, ValueEnum};
use serde_json::{json, Value};

#[derive(Parser)]
#[command(name = "bo", version, about = "Bayesian optimization for hyperparameter search")]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Subcommand)]
enum Commands {
    /// Run a study (or resume one with --study NAME).
    #[command(after_help = "\
Search spaces are W&B sweep files (YAML or JSON). Model-based strategies (gp) need
bounds: normal-family parameters (normal, q_normal, log_normal, q_log_normal) are
searched within mu ± 4 sigma; random search draws from the distributions themselves.

A program objective gets each trial's parameters as --name=value arguments (the W&B
`command` macros apply) and BO_STUDY, BO_TRIAL, BO_TRIAL_SEED and BO_PARAMS (JSON) in
its environment. It reports by printing JSON lines such as {\"val_loss\": 0.31, \"step\": 3};
each is an intermediate value and the last is the result.")]
    Run(RunArgs),
    /// Compare strategies on a benchmark suite over many seeds: table, JSON and plots.
    Bench {
        /// synthetic (the test functions, noise-free and noisy), lcbench or cifar10.
        #[arg(long, default_value = "synthetic")]
        suite: String,
        /// Only these problems of the suite, comma-separated (e.g. branin,hartmann6+noise0.1).
        #[arg(long, value_delimiter = ',')]
        problems: Option<Vec<String>>,
        /// Strategies to compare, comma-separated.
        #[arg(long, default_value = "gp,tpe,lipo,random", value_delimiter = ',')]
        surrogates: Vec<String>,
        /// Trials per study.
        #[arg(long, default_value_t = 40)]
        budget: usize,
        /// Seeds per (problem, strategy).
        #[arg(long, default_value_t = 20)]
        seeds: usize,
        /// Studies run at once (default: the cores).
        #[arg(long)]
        jobs: Option<usize>,
        /// The peers' results (benchmarks/peers/run_peers.py), merged into the table.
        #[arg(long)]
        peers: Option<PathBuf>,
        /// The LCBench surrogate's folder, with model.onnx and encoding.json (else BO_LCBENCH_DIR).
        #[arg(long)]
        lcbench_dir: Option<PathBuf>,
        /// The cifar10 suite's data (CIFAR-10 is downloaded there when missing).
        #[arg(long, env = "BO_DATA_DIR", default_value = "data")]
        data_dir: PathBuf,
        /// A sweep file replacing the cifar10 suite's default search space.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Training images the cifar10 suite holds out for validation.
        #[arg(long, default_value_t = 5000)]
        validation_size: usize,
        /// Where results.json, table.md and plots/ go.
        #[arg(long, default_value = "bench-results")]
        out: PathBuf,
        /// The benchmark's studies; a second run with the same settings reuses them.
        #[arg(long, default_value = "bench.db")]
        storage: PathBuf,
        #[arg(long, short)]
        quiet: bool,
    },
    /// Re-test the best configurations with fresh seeds: how much of their score was luck.
    Retest {
        study: String,
        /// How many of the best configurations to re-test.
        #[arg(long, default_value_t = 5)]
        top_k: usize,
        /// Re-tests per configuration (earlier re-tests count).
        #[arg(long, default_value_t = 5)]
        seeds: usize,
        /// Fail a re-test whose program runs longer than this many seconds.
        #[arg(long)]
        trial_timeout: Option<f64>,
        /// Where a cifar10 or fashion-mnist study's data is.
        #[arg(long, env = "BO_DATA_DIR", default_value = "data")]
        data_dir: PathBuf,
        #[arg(long, default_value = "bo.db")]
        storage: PathBuf,
    },
    /// Train one configuration over several seeds and print test accuracy, training seconds and images/s.
    #[command(after_help = "\
Hyperparameters (--set NAME=VALUE): model (cnn, airbench, resnet, resnet:B1,B2,B3,B4), width,
optimizer (sgd, adam, adamw), lr, momentum, weight_decay, label_smoothing, batch_size, epochs,
schedule (constant, linear, cosine, onecycle), warmup, flip, translate, cutout,
mixed_precision, tta, train_images, blocks. Unset ones keep the dataset's defaults.
BO_DEVICE=cpu trains on the CPU even where CUDA is available.")]
    Train {
        /// cifar10 or fashion-mnist.
        #[arg(long, default_value = "cifar10")]
        dataset: String,
        /// A hyperparameter to change from the default, as NAME=VALUE; repeatable.
        #[arg(long = "set", value_name = "NAME=VALUE")]
        set: Vec<String>,
        /// Seeds 0..N-1, one training run each.
        #[arg(long, default_value_t = 1)]
        seeds: u64,
        #[arg(long, env = "BO_DATA_DIR", default_value = "data")]
        data_dir: PathBuf,
        /// Training images held out for validation.
        #[arg(long, default_value_t = 5000)]
        validation_size: usize,
        /// Name of the summary row (default: the dataset).
        #[arg(long)]
        label: Option<String>,
    },
    /// Say which device training uses: CUDA or the CPU.
    Device,
    /// Show a study's trials and its best one.
    Show {
        study: String,
        #[arg(long, default_value = "bo.db")]
        storage: PathBuf,
    },
    /// Export a study's trials.
    Export {
        study: String,
        #[arg(long, value_enum, default_value_t = Format::Csv)]
        format: Format,
        /// Write here instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
        #[arg(long, default_value = "bo.db")]
        storage: PathBuf,
    },
    /// List the studies in a database.
    Studies {
        #[arg(long, default_value = "bo.db")]
        storage: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Csv,
    Json,
}

#[derive(clap::Args)]
struct RunArgs {
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
    /// Where cifar10 or fashion-mnist data is (CIFAR-10 is downloaded there when missing).
    #[arg(long, env = "BO_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
    /// Training images held out to score trials (cifar10, fashion-mnist); the test set never is.
    #[arg(long, default_value_t = 5000)]
    validation_size: usize,
    /// Seed choosing the held-out images.
    #[arg(long, default_value_t = 0)]
    data_seed: u64,
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
    #[arg(long)]
    study: Option<String>,
    /// SQLite database holding the studies.
    #[arg(long, default_value = "bo.db")]
    storage: PathBuf,
    /// Fail a trial whose program runs longer than this many seconds.
    #[arg(long)]
    trial_timeout: Option<f64>,
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
    /// A running trial with no heartbeat for this many seconds is taken as abandoned.
    #[arg(long, default_value_t = 120.0)]
    heartbeat_timeout: f64,
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Commands::Run(args) => run(args),
        Commands::Bench {
            suite,
            problems,
            surrogates,
            budget,
            seeds,
            jobs,
            peers,
            lcbench_dir,
            data_dir,
            config,
            validation_size,
            out,
            storage,
            quiet,
        } => bench(BenchSettings {
            suite,
            only: problems,
            strategies: surrogates,
            budget,
            seeds,
            jobs: jobs.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)),
            storage_path: storage,
            out_dir: out,
            peers,
            lcbench_dir,
            data_dir,
            config,
            validation_size,
            quiet,
        }),
        Commands::Retest {
            study,
            top_k,
            seeds,
            trial_timeout,
            data_dir,
            storage,
        } => retest(
            &study,
            top_k,
            seeds,
            &ObjectiveOptions {
                trial_timeout,
                data_dir,
            },
            &storage,
        ),
        Commands::Train {
            dataset,
            set,
            seeds,
            data_dir,
            validation_size,
            label,
        } => train(&dataset, &set, seeds, data_dir, validation_size, label).map(|_| ExitCode::SUCCESS),
        Commands::Device => vision::device().map(|d| {
            println!("{}", vision::describe(d));
            ExitCode::SUCCESS
        }),
        Commands::Show { study, storage } => show(&study, &storage).map(|_| ExitCode::SUCCESS),
        Commands::Export {
            study,
            format,
            output,
            storage,
        } => export(&study, format, output.as_deref(), &storage).map(|_| ExitCode::SUCCESS),
        Commands::Studies { storage } => list_studies(&storage).map(|_| ExitCode::SUCCESS),
    };
    result.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        ExitCode::FAILURE
    })
}

fn load_study(storage: &Storage, name: &str) -> Result<StudyRecord> {
    storage.study(name)?.with_context(|| {
        let known: Vec<String> = storage
            .studies()
            .map(|s| s.into_iter().map(|s| s.name).collect())
            .unwrap_or_default();
        format!(
            "no study named `{name}` (studies here: {})",
            if known.is_empty() {
                "none".into()
            } else {
                known.join(", ")
            }
        )
    })
}

fn bench(settings: BenchSettings) -> Result<ExitCode> {
    if settings.budget < 2 || settings.seeds == 0 {
        bail!("--budget must be at least 2 and --seeds at least 1");
    }
    handle_ctrl_c()?;
    bo::bench::run(&settings)?;
    print!("{}", std::fs::read_to_string(settings.out_dir.join("table.md"))?);
    eprintln!("wrote {}/results.json, table.md and plots/", settings.out_dir.display());
    Ok(ExitCode::SUCCESS)
}

/// Installs the Ctrl-C handler: the first press stops the running trial.
fn handle_ctrl_c() -> Result<()> {
    ctrlc::set_handler(|| {
        if INTERRUPTED.swap(true, Ordering::SeqCst) {
            // A second Ctrl-C: leave now; a resume marks the running trial failed.
            std::process::exit(130);
        }
    })
    .context("cannot install the Ctrl-C handler")
}

fn retest(name: &str, top_k: usize, seeds: usize, options: &ObjectiveOptions, storage_path: &Path) -> Result<ExitCode> {
    if top_k == 0 || seeds == 0 {
        bail!("--top-k and --seeds must be at least 1");
    }
    let mut storage = Storage::open_existing(storage_path)?;
    let record = load_study(&storage, name)?;
    let sweep = Sweep::from_value(record.config.clone(), &format!("study `{}`", record.name))?;
    let mut objective = build_objective(&record, &sweep, options)?;
    let study = Study { record, sweep };
    handle_ctrl_c()?;
    retest_and_report(&mut storage, &study, objective.as_mut(), top_k, seeds, storage_path)
}

/// Runs the re-tests and prints their table; 130 if Ctrl-C stopped them.
fn retest_and_report(
    storage: &mut Storage,
    study: &Study,
    objective: &mut dyn Objective,
    top_k: usize,
    seeds: usize,
    storage_path: &Path,
) -> Result<ExitCode> {
    let worker = Worker::this_process(Duration::from_secs(120));
    let finished = bo::retest::run(storage, study, objective, &worker, top_k, seeds, storage_path)?;
    let trials = storage.trials(study.record.id)?;
    let rows = bo::retest::rows(study.goal(), &trials);
    print!("{}", bo::retest::render(study.goal(), &study.record.metric, &rows));
    if !finished {
        eprintln!(
            "interrupted: run `bo retest {} --storage {}` again to finish",
            study.record.name,
            storage_path.display()
        );
        return Ok(ExitCode::from(130));
    }
    Ok(ExitCode::SUCCESS)
}

fn show(name: &str, storage_path: &Path) -> Result<()> {
    let storage = Storage::open_existing(storage_path)?;
    let study = load_study(&storage, name)?;
    let trials = storage.trials(study.id)?;
    report::show(&mut io::stdout().lock(), &study, &trials)
}

fn export(name: &str, format: Format, output: Option<&Path>, storage_path: &Path) -> Result<()> {
    let storage = Storage::open_existing(storage_path)?;
    let study = load_study(&storage, name)?;
    let trials = storage.trials(study.id)?;
    let mut out: Box<dyn Write> = match output {
        Some(path) => Box::new(BufWriter::new(
            File::create(path).with_context(|| format!("cannot write {}", path.display()))?,
        )),
        None => Box::new(io::stdout().lock()),
    };
    match format {
        Format::Csv => report::export_csv(&mut out, &trials),
        Format::Json => report::export_json(&mut out, &study, &trials),
    }
}

fn list_studies(storage_path: &Path) -> Result<()> {
    let storage = Storage::open_existing(storage_path)?;
    let all = storage
        .studies()?
        .into_iter()
        .map(|s| storage.trials(s.id).map(|t| (s, t)))
        .collect::<Result<Vec<_>>>()?;
    report::studies(&mut io::stdout().lock(), &all)
}

/// A new study's record from the command line.
fn new_study(args: &RunArgs, name: Option<&str>) -> Result<StudyRecord> {
    let dataset = args.objective.as_deref().and_then(Dataset::from_name);
    let (config, objective, label) = match (&args.config, &args.objective) {
        (config, Some(_)) if dataset.is_some() => {
            let dataset = dataset.expect("checked");
            let sweep = dataset.sweep_with(config.as_deref())?;
            let mut settings = DataSettings::new(dataset, args.data_dir.clone());
            settings.validation = args.validation_size;
            settings.data_seed = args.data_seed;
            (sweep, settings.study_json(), dataset.name().to_string())
        }
        (Some(_), Some(f)) => bail!("--objective {f} searches the function's own domain; drop --config or --objective"),
        (Some(path), None) => {
            let sweep = Sweep::from_file(path)?;
            if sweep.program.is_none() && sweep.command.is_none() {
                bail!(
                    "{}: the sweep names no `program` or `command` to run (pass --objective for a test function)",
                    path.display()
                );
            }
            let label = sweep
                .program
                .as_deref()
                .and_then(|p| Path::new(p).file_stem())
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "program".into());
            (sweep.raw, json!({"program": true}), label)
        }
        (None, Some(f)) => {
            let function = TestFunction::by_name(f).map_err(anyhow::Error::msg)?;
            let label = function.name.clone();
            let sweep = FunctionObjective {
                function,
                noise_sd: args.noise,
            }
            .sweep();
            (sweep, json!({"function": label, "noise": args.noise}), label)
        }
        (None, None) => bail!("nothing to optimize: pass --config SWEEP (with a program) or --objective FUNCTION"),
    };
    let sweep = Sweep::from_value(config.clone(), "the sweep")?;
    let (metric, goal) = match &sweep.metric {
        Some(m) => (m.name.clone(), m.goal),
        None if objective.get("function").is_some() => ("value".into(), Goal::Minimize),
        None if dataset.is_some() => (vision::METRIC.into(), Goal::Minimize),
        None => bail!("the sweep needs `metric: {{name: ..., goal: minimize|maximize}}` to read the program's output"),
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
    Ok(StudyRecord {
        id: 0,
        name,
        config,
        objective,
        metric,
        goal,
        strategy,
        seed,
        created,
    })
}

/// Fails early, before anything is stored, if the strategy cannot search the
/// space (an unknown name, or grid search over a continuous parameter).
fn check_strategy(strategy: &str, seed: u64, config: &Value, options: &SamplerOptions) -> Result<()> {
    let sweep = Sweep::from_value(config.clone(), "the sweep")?;
    let mut sampler = build_sampler(strategy, seed, options)
        .with_context(|| format!("strategies available: {}", SAMPLER_NAMES.join(", ")))?;
    sampler.suggest(&sweep.space.domain(), &History::default())?;
    Ok(())
}

/// What building an objective needs beyond the stored study.
struct ObjectiveOptions {
    trial_timeout: Option<f64>,
    data_dir: PathBuf,
}

fn build_objective(record: &StudyRecord, sweep: &Sweep, options: &ObjectiveOptions) -> Result<Box<dyn Objective>> {
    if let Some(settings) = DataSettings::from_study(&record.objective, options.data_dir.clone())
        .with_context(|| format!("study `{}`", record.name))?
    {
        return Ok(Box::new(VisionObjective::new(&settings)?));
    }
    if let Some(name) = record.objective.get("function").and_then(Value::as_str) {
        let function = TestFunction::by_name(name).map_err(anyhow::Error::msg)?;
        let noise_sd = record.objective.get("noise").and_then(Value::as_f64).unwrap_or(0.0);
        return Ok(Box::new(FunctionObjective { function, noise_sd }));
    }
    let timeout = match options.trial_timeout {
        Some(t) if t > 0.0 && t.is_finite() => Some(Duration::from_secs_f64(t)),
        Some(t) => bail!("--trial-timeout must be positive, got {t}"),
        None => None,
    };
    let command = sweep
        .command
        .clone()
        .unwrap_or_else(|| bo::objective::DEFAULT_COMMAND.iter().map(|s| s.to_string()).collect());
    Ok(Box::new(ProgramObjective {
        program: sweep.program.clone(),
        command,
        metric: record.metric.clone(),
        timeout,
    }))
}

fn run(args: RunArgs) -> Result<ExitCode> {
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
    if let Some(fresh) = &requested {
        check_strategy(&fresh.strategy, fresh.seed, &fresh.config, &options)?;
    }
    let objective_options = ObjectiveOptions {
        trial_timeout: args.trial_timeout,
        data_dir: args.data_dir.clone(),
    };
    // Built before the study is stored: missing data fails without a trace.
    let prebuilt = match &requested {
        Some(fresh) => Some(build_objective(
            fresh,
            &Sweep::from_value(fresh.config.clone(), "the sweep")?,
            &objective_options,
        )?),
        None => None,
    };
    let mut storage = Storage::open(&args.storage)?;
    let record = match args.study.as_deref().map(|n| storage.study(n)).transpose()?.flatten() {
        Some(mut existing) => {
            if let Some(fresh) = &requested {
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
                check_strategy(s, existing.seed, &existing.config, &options)?;
                storage.set_strategy(existing.id, s)?;
                existing.strategy = s.clone();
            }
            existing
        }
        None => match requested {
            Some(fresh) => {
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
                args.storage.display()
            ),
        },
    };
    let sweep = Sweep::from_value(record.config.clone(), &format!("study `{}`", record.name))?;
    if sweep.early_terminate.is_some() && !args.quiet {
        eprintln!("note: the sweep's early_terminate is read but not applied yet; every trial runs to the end");
    }
    let mut sampler = build_sampler(&record.strategy, record.seed, &options)
        .with_context(|| format!("strategies available: {}", SAMPLER_NAMES.join(", ")))?;
    let mut objective = match prebuilt {
        Some(objective) => objective,
        None => build_objective(&record, &sweep, &objective_options)?,
    };
    let trials = args.trials.or(sweep.run_cap).unwrap_or(30);
    let worker = Worker::this_process(Duration::from_secs_f64(args.heartbeat_timeout.max(1.0)));
    let study = Study { record, sweep };
    if !args.quiet {
        eprintln!(
            "study `{}` in {} (resume with --study {})",
            study.record.name,
            args.storage.display(),
            study.record.name
        );
    }
    handle_ctrl_c()?;
    let settings = RunSettings {
        trials,
        quiet: args.quiet,
        storage_path: args.storage.clone(),
    };
    let outcome = study::run(
        &mut storage,
        &study,
        sampler.as_mut(),
        objective.as_mut(),
        &worker,
        &settings,
    )?;
    let all = storage.trials(study.record.id)?;
    let best = best_trial(study.goal(), &all);
    if args.quiet {
        let line = json!({
            "study": study.record.name,
            "trials": all.iter().filter(|t| t.counts()).count(),
            "best_value": best.and_then(|t| t.value),
            "best_params": best.map(|t| Value::Object(t.params.clone())),
        });
        println!("{line}");
    } else {
        if outcome.exhausted {
            eprintln!("the search space has no configuration left to try");
        }
        let failed = all
            .iter()
            .filter(|t| t.state == bo::storage::TrialState::Failed && t.counts())
            .count();
        println!(
            "study `{}`: {} trials, {} failed",
            study.record.name,
            all.iter().filter(|t| t.counts()).count(),
            failed
        );
        match best {
            Some(b) => println!(
                "best: trial {} with {} = {}  {}",
                b.number,
                study.record.metric,
                report::format_value(b.value.unwrap_or(f64::NAN)),
                Value::Object(b.params.clone())
            ),
            None => println!("best: none (no trial completed)"),
        }
    }
    if !outcome.interrupted && args.retest_top_k > 0 {
        return retest_and_report(
            &mut storage,
            &study,
            objective.as_mut(),
            args.retest_top_k,
            args.retest_seeds,
            &args.storage,
        );
    }
    if outcome.interrupted {
        eprintln!(
            "interrupted: resume with `bo run --study {} --storage {}`",
            study.record.name,
            args.storage.display()
        );
        return Ok(ExitCode::from(130));
    }
    Ok(ExitCode::SUCCESS)
}

/// `bo train`: the dataset's defaults changed by `--set`, trained once per seed.
fn train(
    dataset: &str,
    set: &[String],
    seeds: u64,
    data_dir: PathBuf,
    validation_size: usize,
    label: Option<String>,
) -> Result<()> {
    let dataset = Dataset::from_name(dataset)
        .with_context(|| format!("unknown dataset `{dataset}`: {}", Dataset::NAMES.join(", ")))?;
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
    let config = dataset.defaults().with_params(&params).map_err(anyhow::Error::msg)?;
    let mut settings = DataSettings::new(dataset, data_dir);
    settings.validation = validation_size;
    let data = settings.load()?;
    eprintln!("training on {}", vision::describe(data.train.images.device()));
    handle_ctrl_c()?;
    let stop = || INTERRUPTED.load(Ordering::SeqCst);
    let mut results = Vec::new();
    for seed in 0..seeds {
        let mut on_epoch = |s: &vision::EpochStats| {
            eprintln!(
                "  seed {seed} epoch {}: train loss {:.4}, val accuracy {:.2}%",
                s.epoch,
                s.train_loss,
                100.0 * s.val_accuracy
            )
        };
        let r = match vision::train(&data, &config, seed, &mut on_epoch, &stop) {
            Ok(r) => r,
            Err(vision::TrainError::Stopped) => bail!("interrupted"),
            Err(vision::TrainError::Diverged(why) | vision::TrainError::Invalid(why)) => bail!("seed {seed}: {why}"),
        };
        println!(
            "seed {seed}: test {:.2}%  val {:.2}%  train {:.2} s  {:.0} images/s",
            100.0 * r.test_accuracy,
            100.0 * r.val_accuracy,
            r.train_seconds,
            r.images_per_second
        );
        results.push(r);
    }
    let summary = |f: fn(&vision::TrainResult) -> f64, scale: f64, digits: usize| {
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
        label.unwrap_or_else(|| dataset.name().into()),
        summary(|r| r.test_accuracy, 100.0, 2),
        summary(|r| r.train_seconds, 1.0, 2),
        summary(|r| r.images_per_second, 1.0, 0)
    );
    Ok(())
}
