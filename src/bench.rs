//! `bo bench`: every (problem, strategy, seed) study of a suite, stored like
//! any other study, then the table, the JSON and the convergence plots.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use bo_benchmarks::harness::{parallel_map, set_blas_threads};
use bo_benchmarks::hpo::HpoProblem;
use bo_benchmarks::lcbench::{self, Lcbench, MAX_EPOCH};
use bo_benchmarks::report::{markdown, summarize, Summary};
use bo_benchmarks::stats;
use bo_benchmarks::suite::{
    broad_suite, hpo_suite, random_stats, synthetic_suite, Reference, RunRecord, SyntheticProblem,
};
use bo_surrogates::{build_sampler, SamplerOptions};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::objective::training::{Dataset, TrainingData};
use crate::objective::{FunctionObjective, HpoObjective, LcbenchObjective, Objective, TrainerObjective};
use crate::pruning::{PrunerFlags, PrunerSpec};
use crate::space::{Goal, Sweep};
use crate::storage::{self, now, Access, Location, StudyRecord, TrialRecord, TrialState, Worker};
use crate::study::{self, resource_used, RunSettings, Study};

pub struct BenchSettings {
    pub suite: String,
    /// Only these problems of the suite (by key, e.g. `branin`, `hartmann6+noise0.1`).
    pub only: Option<Vec<String>>,
    pub strategies: Vec<String>,
    pub budget: usize,
    pub seeds: usize,
    pub jobs: usize,
    pub storage: Location,
    pub out_dir: PathBuf,
    /// JSON of the peers' runs (benchmarks/peers), merged into the table.
    pub peers: Option<PathBuf>,
    /// The LCBench surrogate's folder (else BO_LCBENCH_DIR).
    pub lcbench_dir: Option<PathBuf>,
    /// The cifar10 suite's data folder.
    pub data_dir: PathBuf,
    /// A sweep file replacing the cifar10 suite's default search space.
    pub config: Option<PathBuf>,
    /// Training images the cifar10 suite holds out for validation.
    pub validation_size: usize,
    /// The pruners' first rung, and η between rungs (multi-fidelity strategies).
    pub min_resource: i64,
    pub reduction_factor: f64,
    /// ASHA's and Hyperband's `bootstrap_count`.
    pub bootstrap_count: usize,
    pub quiet: bool,
}

/// LCBench tasks of the suite by default: a spread of the 34 OpenML tasks.
const LCBENCH_TASKS: &[&str] = &["3945", "7593", "34539", "126025", "167149", "189909"];

/// One problem of a suite.
enum Problem {
    Synthetic(SyntheticProblem),
    /// A mixed HPO-shaped space with a known optimum.
    Hpo(HpoProblem),
    Lcbench {
        task: String,
        bench: Arc<Lcbench>,
    },
    /// Training a network: no noise-free value and no known optimum, so the
    /// observed validation error is the truth and the references come from the runs.
    Vision {
        settings: Box<TrainingData>,
        sweep: Value,
        objective: Box<TrainerObjective>,
    },
}

impl Problem {
    fn key(&self) -> String {
        match self {
            Problem::Synthetic(p) => p.key(),
            Problem::Hpo(p) => p.key(),
            Problem::Lcbench { task, .. } => format!("lcbench-{task}"),
            Problem::Vision { settings, .. } => settings.dataset.name().into(),
        }
    }

    fn sweep(&self) -> Value {
        match self {
            Problem::Synthetic(p) => FunctionObjective {
                function: p.function.clone(),
                noise_sd: p.noise_sd,
            }
            .sweep(),
            Problem::Hpo(p) => p.sweep(),
            Problem::Lcbench { .. } => LcbenchObjective::sweep(),
            Problem::Vision { sweep, .. } => sweep.clone(),
        }
    }

    fn objective_json(&self) -> Value {
        match self {
            Problem::Synthetic(p) => json!({"function": p.function.name, "noise": p.noise_sd}),
            Problem::Hpo(p) => json!({"hpo": p.name, "noise": p.noise_sd}),
            Problem::Lcbench { task, .. } => json!({"lcbench": task}),
            Problem::Vision { settings, .. } => settings.study_json(),
        }
    }

    fn objective(&self) -> Box<dyn Objective> {
        match self {
            Problem::Synthetic(p) => Box::new(FunctionObjective {
                function: p.function.clone(),
                noise_sd: p.noise_sd,
            }),
            Problem::Hpo(p) => Box::new(HpoObjective { problem: p.clone() }),
            Problem::Lcbench { task, bench } => Box::new(LcbenchObjective {
                bench: Arc::clone(bench),
                task: task.clone(),
            }),
            Problem::Vision { objective, .. } => Box::new(objective.sharing()),
        }
    }

    /// The steps of one full training, where trials report learning curves.
    fn max_resource(&self) -> Option<i64> {
        match self {
            Problem::Synthetic(_) | Problem::Hpo(_) => None,
            Problem::Lcbench { .. } => Some(MAX_EPOCH as i64),
            Problem::Vision { sweep, .. } => sweep["parameters"]["epochs"]["value"].as_i64(),
        }
    }

    /// The noise-free value of a configuration that scored `observed`.
    fn true_value(&self, params: &Map<String, Value>, observed: f64) -> Result<f64> {
        match self {
            Problem::Vision { .. } => Ok(observed),
            Problem::Synthetic(p) => FunctionObjective {
                function: p.function.clone(),
                noise_sd: 0.0,
            }
            .true_value(params),
            Problem::Hpo(p) => p.value(params),
            Problem::Lcbench { task, bench } => LcbenchObjective {
                bench: Arc::clone(bench),
                task: task.clone(),
            }
            .error_at(params, MAX_EPOCH),
        }
        .map_err(anyhow::Error::msg)
    }

    /// The optimum, or for LCBench the best of a large random sample (lowered
    /// later if a strategy finds better).
    fn reference(&self, budget: usize) -> Result<Reference> {
        if let Problem::Vision { .. } = self {
            // Set from the runs: the best any run found, and random search's mean best.
            return Ok(Reference {
                problem: self.key(),
                optimum: 0.0,
                random_best: f64::NAN,
                budget,
                steps_per_unit: self.max_resource().unwrap_or(1) as u32,
            });
        }
        let space = Sweep::from_value(self.sweep(), "the benchmark sweep")?.space;
        let dim = space.domain().len();
        let value = |u: &[f64]| self.true_value(&space.decode(u), f64::NAN).unwrap_or(f64::INFINITY);
        let sample = match self {
            Problem::Synthetic(_) | Problem::Hpo(_) => 20_000,
            _ => 5_000,
        };
        let stats = random_stats(value, dim, budget, sample, 0);
        let optimum = match self {
            Problem::Synthetic(p) => p.function.optimum,
            Problem::Hpo(p) => p.optimum(),
            _ => stats.sample_min,
        };
        Ok(Reference {
            problem: self.key(),
            optimum,
            random_best: stats.expected_best,
            budget,
            steps_per_unit: self.max_resource().unwrap_or(1) as u32,
        })
    }
}

fn problems(settings: &BenchSettings) -> Result<Vec<Problem>> {
    if settings.config.is_some() && settings.suite != "cifar10" {
        bail!(
            "--config replaces the cifar10 suite's search space; the {} suite's spaces are fixed",
            settings.suite
        );
    }
    match settings.suite.as_str() {
        "synthetic" => Ok(synthetic_suite().into_iter().map(Problem::Synthetic).collect()),
        "broad" => Ok(broad_suite()
            .into_iter()
            .map(Problem::Synthetic)
            .chain(hpo_suite().into_iter().map(Problem::Hpo))
            .collect()),
        "lcbench" => {
            // All 34 tasks can be named with --problems; the default is six of them.
            let bench = Arc::new(Lcbench::load(&lcbench::locate(settings.lcbench_dir.as_deref())?)?);
            Ok(bench
                .tasks()
                .into_iter()
                .map(|task| Problem::Lcbench {
                    task,
                    bench: Arc::clone(&bench),
                })
                .collect())
        }
        "cifar10" => {
            if !settings.strategies.iter().any(|s| s == "random") {
                bail!("the cifar10 suite measures regret against random search's runs: include random in --surrogates");
            }
            let sweep = Dataset::Cifar10.sweep_with(settings.config.as_deref())?;
            let mut data = TrainingData::new(Dataset::Cifar10, settings.data_dir.clone());
            data.validation = settings.validation_size;
            let objective = Box::new(TrainerObjective::start(data.clone(), None, None)?);
            Ok(vec![Problem::Vision {
                settings: Box::new(data),
                sweep,
                objective,
            }])
        }
        other => bail!("unknown suite `{other}` (synthetic, broad, lcbench, cifar10)"),
    }
}

/// The pruners a bench strategy may name after `+`.
const BENCH_PRUNERS: &[&str] = &["median", "asha", "hyperband", "wandb"];

/// `tpe+hyperband`: the sampler, and the pruner that makes it multi-fidelity.
fn split_strategy(name: &str) -> (&str, Option<&str>) {
    match name.split_once('+') {
        Some((sampler, pruner)) => (sampler, Some(pruner)),
        None => (name, None),
    }
}

/// A bench pruner over trials of `max_resource` steps, its rungs η apart
/// from `min_resource`; `wandb` is W&B's `early_terminate` with `min_iter` at
/// the minimum resource.
fn bench_pruner(name: &str, settings: &BenchSettings, max_resource: i64) -> Result<PrunerSpec> {
    let (min, eta) = (settings.min_resource, settings.reduction_factor);
    let spec = match name {
        "wandb" => PrunerSpec::from_early_terminate(&json!({"type": "hyperband", "min_iter": min, "eta": eta})),
        "median" => PrunerSpec::from_flags(
            name,
            &PrunerFlags {
                min_resource: Some(min),
                ..PrunerFlags::default()
            },
        )
        .map(|s| s.expect("a named pruner")),
        "asha" | "hyperband" => {
            let flags = PrunerFlags {
                min_resource: Some(min),
                max_resource: Some(max_resource),
                reduction_factor: Some(eta),
                bootstrap_count: Some(settings.bootstrap_count),
                ..PrunerFlags::default()
            };
            PrunerSpec::from_flags(name, &flags).map(|s| s.expect("a named pruner"))
        }
        other => Err(format!(
            "unknown bench pruner `{other}` (choose from {})",
            BENCH_PRUNERS.join(", ")
        )),
    };
    spec.map_err(anyhow::Error::msg)
}

/// Checks a strategy name before any study runs.
fn check_strategy(name: &str, problems: &[Problem], settings: &BenchSettings) -> Result<()> {
    let (sampler, pruner) = split_strategy(name);
    build_sampler(sampler, 0, &SamplerOptions::default())?;
    if let Some(pruner) = pruner {
        bench_pruner(pruner, settings, settings.min_resource + 1)?;
        if let Some(p) = problems.iter().find(|p| p.max_resource().is_none()) {
            bail!(
                "`{name}` prunes learning curves, and {} has none (the lcbench suite has; cifar10 with a constant `epochs`)",
                p.key()
            );
        }
    }
    Ok(())
}

/// The regret of the pick after each full-training equivalent of the budget:
/// trials are charged the steps they ran (a trial without steps, one unit),
/// and a trial counts once all its steps fit in the budget spent so far.
fn regret_per_unit(
    problem: &Problem,
    trials: &[TrialRecord],
    unit: i64,
    budget: usize,
    optimum: f64,
) -> Result<(Vec<f64>, Vec<f64>)> {
    let (mut regret, mut believed) = (Vec::with_capacity(budget), Vec::with_capacity(budget));
    let mut pick: Option<(f64, f64)> = None; // (observed, true)
    let mut spent = 0i64;
    let emit_until = |spent: i64, pick: Option<(f64, f64)>, regret: &mut Vec<f64>, believed: &mut Vec<f64>| {
        while regret.len() < budget && (regret.len() as i64 + 1) * unit <= spent {
            let (observed, truth) = pick.unwrap_or((f64::NAN, f64::NAN));
            regret.push(truth - optimum);
            believed.push(observed - optimum);
        }
    };
    for t in trials.iter().filter(|t| t.counts()) {
        let cost = match resource_used(t) {
            0 => unit,
            steps => steps,
        };
        // The budget points this trial's steps run past see the pick before it.
        emit_until(spent + cost - 1, pick, &mut regret, &mut believed);
        spent += cost;
        if let (TrialState::Complete, Some(observed)) = (t.state, t.value) {
            if pick.is_none_or(|(best, _)| observed < best) {
                pick = Some((observed, problem.true_value(&t.params, observed)?));
            }
        }
        emit_until(spent, pick, &mut regret, &mut believed);
    }
    // A finite space that ran out keeps its last pick to the end.
    emit_until(i64::MAX, pick, &mut regret, &mut believed);
    Ok((regret, believed))
}

/// Runs (or resumes) one study and reads its run back from the store.
fn one_study(
    problem: &Problem,
    strategy: &str,
    seed: u64,
    settings: &BenchSettings,
    reference: &Reference,
) -> Result<Option<RunRecord>> {
    let mut storage = storage::open(&settings.storage, Access::Create)?;
    let config = problem.sweep();
    let sweep = Sweep::from_value(config.clone(), "the benchmark sweep")?;
    let (sampler_name, pruner_name) = split_strategy(strategy);
    let unit = problem.max_resource().unwrap_or(1);
    let pruner = pruner_name.map(|p| bench_pruner(p, settings, unit)).transpose()?;
    // Pruner settings other than the defaults make studies of their own.
    let mut variant = match (&pruner, settings.min_resource, settings.reduction_factor) {
        (Some(_), min, eta) if min != 1 || eta != 3.0 => format!("-r{min}-eta{eta}"),
        _ => String::new(),
    };
    if settings.bootstrap_count > 0 && matches!(pruner_name, Some("asha" | "hyperband")) {
        variant += &format!("-bc{}", settings.bootstrap_count);
    }
    let name = format!(
        "bench-{}-{strategy}{variant}-b{}-s{seed}",
        problem.key(),
        settings.budget
    );
    let record = storage.create_study(&StudyRecord {
        id: 0,
        name,
        config,
        objective: problem.objective_json(),
        metric: sweep.metric.clone().map_or("value".into(), |m| m.name),
        goal: Goal::Minimize,
        strategy: sampler_name.into(),
        seed,
        created: now(),
        pruner: pruner.as_ref().map(PrunerSpec::to_json),
    })?;
    let study = Study { record, sweep };
    let mut sampler = build_sampler(sampler_name, seed, &SamplerOptions::default())?;
    let mut objective = problem.objective();
    let worker = Worker::this_process(Duration::from_secs(120));
    // Full fidelity spends the budget in trials; multi-fidelity in steps, a
    // full training's worth per unit.
    let steps = settings.budget as i64 * unit;
    let run_settings = RunSettings {
        trials: if pruner.is_some() {
            steps as usize
        } else {
            settings.budget
        },
        quiet: true,
        // A benchmark's studies are too short for a failure streak to matter.
        max_failures: 0,
        resource_budget: pruner.is_some().then_some(steps),
    };
    let pruner = pruner.map(|p| p.build(&|v| v));
    if study::run(
        storage.as_mut(),
        &study,
        sampler.as_mut(),
        objective.as_mut(),
        &worker,
        &run_settings,
        pruner.as_deref(),
    )?
    .interrupted
    {
        return Ok(None);
    }
    let trials = storage.trials(study.record.id)?;
    let (regret, believed_regret) = regret_per_unit(problem, &trials, unit, settings.budget, reference.optimum)?;
    let seconds: Vec<f64> = trials.iter().filter_map(|t| t.suggest_seconds).collect();
    Ok(Some(RunRecord {
        problem: problem.key(),
        strategy: strategy.into(),
        seed,
        regret,
        believed_regret,
        suggest_seconds: seconds.iter().sum::<f64>() / seconds.len().max(1) as f64,
    }))
}

/// One peer's run as `benchmarks/peers` writes it: the best true and
/// observed values after each full-training equivalent (null before any).
#[derive(Deserialize)]
struct PeerRun {
    problem: String,
    strategy: String,
    seed: u64,
    best: Vec<Option<f64>>,
    believed_best: Vec<Option<f64>>,
    suggest_seconds: f64,
}

/// Reads the peers' runs of this suite and budget, as regret against its references.
fn read_peers(path: &Path, references: &[Reference], budget: usize) -> Result<Vec<RunRecord>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read the peers' results {}", path.display()))?;
    let runs: Vec<PeerRun> =
        serde_json::from_str(&text).with_context(|| format!("{} is not a list of peer runs", path.display()))?;
    let mut kept = Vec::new();
    for run in runs {
        let Some(reference) = references.iter().find(|x| x.problem == run.problem) else {
            continue;
        };
        if run.best.len() != budget {
            bail!(
                "{}: {} on {} has {} values, not one per unit of the budget {budget}",
                path.display(),
                run.strategy,
                run.problem,
                run.best.len()
            );
        }
        let regret = |values: &[Option<f64>]| {
            values
                .iter()
                .map(|v| v.map_or(f64::NAN, |v| v - reference.optimum))
                .collect()
        };
        kept.push(RunRecord {
            regret: regret(&run.best),
            believed_regret: regret(&run.believed_best),
            problem: run.problem,
            strategy: run.strategy,
            seed: run.seed,
            suggest_seconds: run.suggest_seconds,
        });
    }
    Ok(kept)
}

/// Runs the suite and writes results.json, table.md and one SVG per problem.
pub fn run(settings: &BenchSettings) -> Result<Summary> {
    let mut problems = problems(settings)?;
    if let Some(only) = &settings.only {
        if let Some(unknown) = only.iter().find(|k| !problems.iter().any(|p| &p.key() == *k)) {
            let keys: Vec<String> = problems.iter().map(Problem::key).collect();
            bail!(
                "no problem `{unknown}` in the {} suite (it has {})",
                settings.suite,
                keys.join(", ")
            );
        }
        problems.retain(|p| only.contains(&p.key()));
    } else {
        problems.retain(|p| match p {
            Problem::Lcbench { task, .. } => LCBENCH_TASKS.contains(&task.as_str()),
            _ => true,
        });
    }
    for s in &settings.strategies {
        check_strategy(s, &problems, settings)?;
    }
    // Create the store before the workers open it together.
    storage::open(&settings.storage, Access::Create)?;
    std::fs::create_dir_all(settings.out_dir.join("plots"))
        .with_context(|| format!("cannot create {}", settings.out_dir.display()))?;
    let mut references: Vec<Reference> = problems
        .iter()
        .map(|p| p.reference(settings.budget))
        .collect::<Result<_>>()?;
    let cases: Vec<(usize, &str, u64)> = (0..problems.len())
        .flat_map(|p| {
            settings
                .strategies
                .iter()
                .flat_map(move |s| (0..settings.seeds as u64).map(move |seed| (p, s.as_str(), seed)))
        })
        .collect();
    // One GPU: its trainings run one after another.
    let jobs = match problems.iter().any(|p| matches!(p, Problem::Vision { .. })) {
        true => 1,
        false => settings.jobs,
    };
    // One BLAS thread whatever --jobs: OpenBLAS's sums depend on its thread
    // count, and the GP's choices with them, so the table would too.
    set_blas_threads(1);
    let progress = ProgressBar::with_draw_target(
        Some(cases.len() as u64),
        if settings.quiet {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        },
    );
    progress.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} studies · {elapsed_precise} elapsed, ETA {eta_precise}")
            .expect("valid template"),
    );
    let stopped = AtomicBool::new(false);
    let results: Vec<Result<Option<RunRecord>>> = parallel_map(&cases, jobs, |&(p, strategy, seed)| {
        if stopped.load(Ordering::SeqCst) {
            return Ok(None);
        }
        let run = one_study(&problems[p], strategy, seed, settings, &references[p]);
        if !matches!(run, Ok(Some(_))) {
            stopped.store(true, Ordering::SeqCst);
        }
        progress.inc(1);
        run
    });
    progress.finish_and_clear();
    let mut runs = Vec::with_capacity(results.len());
    for r in results {
        match r? {
            Some(run) => runs.push(run),
            None => bail!(
                "interrupted: run the same `bo bench` again to resume (finished studies are kept in {})",
                settings.storage
            ),
        }
    }
    if let Some(path) = &settings.peers {
        runs.extend(read_peers(path, &references, settings.budget)?);
    }
    // Without known references (a trained network) the runs set them; until
    // now the optimum was taken as 0, so regrets are raw validation errors.
    for reference in references.iter_mut().filter(|r| r.random_best.is_nan()) {
        let mine = || runs.iter().filter(|r| r.problem == reference.problem);
        let random: Vec<f64> = mine()
            .filter(|r| r.strategy == "random")
            .filter_map(|r| r.regret.last().copied())
            .filter(|v| v.is_finite())
            .collect();
        let best = mine()
            .flat_map(|r| r.regret.iter().copied())
            .filter(|v| v.is_finite())
            .fold(f64::INFINITY, f64::min);
        if random.is_empty() || !best.is_finite() {
            bail!(
                "no random-search study of {} completed a trial: no reference to measure regret by",
                reference.problem
            );
        }
        reference.random_best = stats::mean(&random);
        reference.optimum = best;
        for run in runs.iter_mut().filter(|r| r.problem == reference.problem) {
            run.regret
                .iter_mut()
                .chain(run.believed_regret.iter_mut())
                .for_each(|v| *v -= best);
        }
    }
    // Where the optimum was only estimated, a run that beat the estimate becomes it.
    for reference in &mut references {
        let lowest = runs
            .iter()
            .filter(|r| r.problem == reference.problem)
            .flat_map(|r| r.regret.iter().copied())
            .fold(0.0, f64::min);
        if lowest < 0.0 {
            reference.optimum += lowest;
            for run in runs.iter_mut().filter(|r| r.problem == reference.problem) {
                run.regret
                    .iter_mut()
                    .chain(run.believed_regret.iter_mut())
                    .for_each(|v| *v -= lowest);
            }
        }
    }
    let summary = summarize(&runs, &references);
    let table = markdown(&summary);
    std::fs::write(settings.out_dir.join("table.md"), &table)?;
    let doc = json!({"suite": settings.suite, "budget": settings.budget, "references": references, "runs": runs, "summary": summary});
    std::fs::write(
        settings.out_dir.join("results.json"),
        serde_json::to_string_pretty(&doc)?,
    )?;
    for reference in &references {
        let mine: Vec<&RunRecord> = runs.iter().filter(|r| r.problem == reference.problem).collect();
        let file: String = reference
            .problem
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '-' })
            .collect();
        let svg = bo_benchmarks::plot::convergence(reference, &mine)?;
        write_figure(&settings.out_dir.join("plots"), &file, &svg)?;
    }
    write_figure(
        &settings.out_dir.join("plots"),
        "mean-rank",
        &bo_benchmarks::plot::mean_rank(&runs)?,
    )?;
    Ok(summary)
}

/// `dir/name.svg` and `dir/name.png`.
fn write_figure(dir: &std::path::Path, name: &str, svg: &str) -> Result<()> {
    for extension in ["svg", "png"] {
        bo_benchmarks::figure::write(&dir.join(format!("{name}.{extension}")), svg)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trial(number: u64, state: TrialState, x: (f64, f64), steps: i64) -> TrialRecord {
        let value = bo_benchmarks::TestFunction::by_name("branin")
            .unwrap()
            .evaluate(&[x.0, x.1]);
        let params = json!({"x1": x.0, "x2": x.1});
        TrialRecord::for_test(number, state, params, Some(value), &[], Some(steps))
    }

    #[test]
    fn budget_units_charge_the_steps_each_trial_ran() {
        let problem = Problem::Synthetic(SyntheticProblem {
            function: bo_benchmarks::TestFunction::by_name("branin").unwrap(),
            noise_sd: 0.0,
        });
        let (good, better, best) = ((0.0, 5.0), (3.0, 3.0), (std::f64::consts::PI, 2.275));
        let trials = [
            trial(0, TrialState::Pruned, (9.0, 9.0), 3),
            trial(1, TrialState::Complete, good, 10),
            trial(2, TrialState::Complete, better, 10),
            trial(3, TrialState::Pruned, (9.0, 9.0), 4),
            trial(4, TrialState::Complete, best, 10),
        ];
        let value = |t: usize| trials[t].value.unwrap();
        let (regret, believed) = regret_per_unit(&problem, &trials, 10, 4, 0.0).unwrap();
        // Spent after each trial: 3, 13, 23, 27, 37 steps; a unit is 10.
        assert!(regret[0].is_nan(), "nothing completed within the first 10 steps");
        assert_eq!(regret[1..], [value(1), value(2).min(value(1)), value(4)]);
        assert!(
            believed[0].is_nan() && believed[1..] == regret[1..],
            "noise-free: believed is true"
        );
        // A study that stopped early keeps its last pick to the end of the budget.
        let (short, _) = regret_per_unit(&problem, &trials[..2], 10, 4, 0.0).unwrap();
        assert_eq!(short[1..], [value(1); 3]);
    }
}
