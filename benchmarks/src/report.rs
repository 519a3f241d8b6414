//! The benchmark's verdict: normalized regret per problem, mean rank, paired
//! wins and losses, suggestion overhead, and how much noisy problems fooled
//! each strategy.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::stats::{mean, median, ranks, wilcoxon_signed_rank};
use crate::suite::{Reference, RunRecord};

/// Significance level of the paired test behind wins and losses.
pub const ALPHA: f64 = 0.05;

#[derive(Clone, Debug, Serialize)]
pub struct Cell {
    pub problem: String,
    pub strategy: String,
    pub seeds: usize,
    pub median: f64,
    pub mean: f64,
    /// Mean over seeds of the believed (observed) and true regret of the pick.
    pub believed_regret: f64,
    pub true_regret: f64,
    /// The share of the budget after which the median run first matched
    /// random search's median final regret (none if it never did).
    pub reaches_random: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct StrategyLine {
    pub strategy: String,
    pub mean_rank: f64,
    /// (problem, other strategy) pairs where the paired test favours it, or the other.
    pub wins: usize,
    pub losses: usize,
    pub suggest_seconds: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub budget: usize,
    pub cells: Vec<Cell>,
    pub strategies: Vec<StrategyLine>,
    /// `beats[a][b]`: the problems where strategy `a` significantly beat `b`
    /// (in the order of `strategies`).
    pub beats: Vec<Vec<Vec<String>>>,
}

/// The share of the budget after which the median normalized regret of `runs`
/// is first at or below `target`.
fn reaches(runs: &[&RunRecord], reference: &Reference, target: f64) -> Option<f64> {
    if !target.is_finite() {
        return None;
    }
    let budget = runs.iter().map(|r| r.regret.len()).max()?;
    (0..budget)
        .find(|&k| {
            let at: Vec<f64> = runs
                .iter()
                .filter_map(|r| r.regret.get(k))
                .map(|v| reference.normalize(*v))
                .collect();
            median(&at) <= target
        })
        .map(|k| (k + 1) as f64 / budget as f64)
}

fn final_normalized(run: &RunRecord, reference: &Reference) -> f64 {
    reference.normalize(*run.regret.last().unwrap_or(&f64::NAN))
}

pub fn summarize(runs: &[RunRecord], references: &[Reference]) -> Summary {
    let strategies: Vec<String> = runs
        .iter()
        .map(|r| r.strategy.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let problems: Vec<&Reference> = references
        .iter()
        .filter(|r| runs.iter().any(|run| run.problem == r.problem))
        .collect();
    let runs_of =
        |p: &str, s: &str| -> Vec<&RunRecord> { runs.iter().filter(|r| r.problem == p && r.strategy == s).collect() };
    let mut cells = Vec::new();
    let mut rank_sums = vec![0.0; strategies.len()];
    let mut rank_counts = vec![0usize; strategies.len()];
    let mut beats = vec![vec![Vec::new(); strategies.len()]; strategies.len()];
    for reference in &problems {
        let mut medians = Vec::new();
        let random_final = median(
            &runs_of(&reference.problem, "random")
                .iter()
                .map(|r| final_normalized(r, reference))
                .collect::<Vec<_>>(),
        );
        for s in &strategies {
            let rs = runs_of(&reference.problem, s);
            let finals: Vec<f64> = rs.iter().map(|r| final_normalized(r, reference)).collect();
            let last = |v: &Vec<f64>| v.last().copied().unwrap_or(f64::NAN);
            medians.push(median(&finals));
            if !rs.is_empty() {
                cells.push(Cell {
                    problem: reference.problem.clone(),
                    strategy: s.clone(),
                    seeds: rs.len(),
                    median: median(&finals),
                    mean: mean(&finals),
                    believed_regret: mean(&rs.iter().map(|r| last(&r.believed_regret)).collect::<Vec<_>>()),
                    true_regret: mean(&rs.iter().map(|r| last(&r.regret)).collect::<Vec<_>>()),
                    reaches_random: reaches(&rs, reference, random_final),
                });
            }
        }
        // Ranks among the strategies that ran this problem.
        let present: Vec<usize> = (0..strategies.len()).filter(|&i| medians[i].is_finite()).collect();
        let r = ranks(&present.iter().map(|&i| medians[i]).collect::<Vec<_>>());
        for (k, &i) in present.iter().enumerate() {
            rank_sums[i] += r[k];
            rank_counts[i] += 1;
        }
        // Paired over the seeds both strategies ran; each pair tested once
        // (the test is two-sided), the better median taking the win.
        let by_seed: Vec<BTreeMap<u64, f64>> = strategies
            .iter()
            .map(|s| {
                runs_of(&reference.problem, s)
                    .iter()
                    .map(|r| (r.seed, final_normalized(r, reference)))
                    .collect()
            })
            .collect();
        for a in 0..strategies.len() {
            for b in a + 1..strategies.len() {
                let (xa, xb): (Vec<f64>, Vec<f64>) = by_seed[a]
                    .iter()
                    .filter_map(|(seed, x)| by_seed[b].get(seed).map(|y| (*x, *y)))
                    .unzip();
                if xa.len() < 5 || wilcoxon_signed_rank(&xa, &xb) >= ALPHA {
                    continue;
                }
                let (ma, mb) = (median(&xa), median(&xb));
                if ma < mb {
                    beats[a][b].push(reference.problem.clone());
                } else if mb < ma {
                    beats[b][a].push(reference.problem.clone());
                }
            }
        }
    }
    let strategy_lines = strategies
        .iter()
        .enumerate()
        .map(|(i, s)| StrategyLine {
            strategy: s.clone(),
            mean_rank: rank_sums[i] / rank_counts[i].max(1) as f64,
            wins: beats[i].iter().map(Vec::len).sum(),
            losses: beats.iter().map(|row| row[i].len()).sum(),
            suggest_seconds: mean(
                &runs
                    .iter()
                    .filter(|r| &r.strategy == s)
                    .map(|r| r.suggest_seconds)
                    .collect::<Vec<_>>(),
            ),
        })
        .collect();
    Summary {
        budget: references.first().map_or(0, |r| r.budget),
        cells,
        strategies: strategy_lines,
        beats,
    }
}

fn sci(v: f64) -> String {
    if v.is_nan() {
        "–".into()
    } else if v == 0.0 || (1e-2..1e3).contains(&v.abs()) {
        format!("{v:.3}")
    } else {
        format!("{v:.2e}")
    }
}

/// Up to this many problems are named in a cell of the table of paired wins.
const NAMED: usize = 3;

/// The summary as Markdown tables.
pub fn markdown(summary: &Summary) -> String {
    let strategies: Vec<&str> = summary.strategies.iter().map(|s| s.strategy.as_str()).collect();
    let problems: Vec<&str> = summary
        .cells
        .iter()
        .map(|c| c.problem.as_str())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let cell = |p: &str, s: &str| summary.cells.iter().find(|c| c.problem == p && c.strategy == s);
    let mut out = format!(
        "Final normalized regret after {} full-training equivalents (trials at full fidelity), median / mean over seeds (0 = the optimum, 1 = random search's expected best at this budget):\n\n| problem | {} |\n|---|{}\n",
        summary.budget,
        strategies.join(" | "),
        "---|".repeat(strategies.len())
    );
    for p in &problems {
        out += &format!("| {p} |");
        for s in &strategies {
            out += &match cell(p, s) {
                Some(c) => format!(" {} / {} |", sci(c.median), sci(c.mean)),
                None => " – |".into(),
            };
        }
        out += "\n";
    }
    out += &format!(
        "\n| strategy | mean rank | wins | losses | seconds per suggestion |\n|---|---|---|---|---|\n{}",
        summary
            .strategies
            .iter()
            .map(|s| format!(
                "| {} | {:.2} | {} | {} | {} |\n",
                s.strategy,
                s.mean_rank,
                s.wins,
                s.losses,
                sci(s.suggest_seconds)
            ))
            .collect::<String>()
    );
    out += &format!("\nWins and losses: (problem, other strategy) pairs where a Wilcoxon signed-rank test over paired seeds gives p < {ALPHA}.\n");
    out += &format!(
        "\nThe problems where the row's strategy beat the column's (paired, p < {ALPHA}); the problems are named where there are at most {NAMED}:\n\n| beats → | {} |\n|---|{}\n",
        strategies.join(" | "),
        "---|".repeat(strategies.len())
    );
    for (a, row) in summary.beats.iter().enumerate() {
        out += &format!("| {} |", strategies[a]);
        for (b, problems) in row.iter().enumerate() {
            out += &match problems.len() {
                _ if a == b => " |".to_string(),
                0 => " 0 |".to_string(),
                n if n <= NAMED => format!(" {n} ({}) |", problems.join(", ")),
                n => format!(" {n} |"),
            };
        }
        out += "\n";
    }
    let noisy: Vec<&&str> = problems.iter().filter(|p| p.contains("+noise")).collect();
    if !noisy.is_empty() {
        out += "\nNoisy problems: the regret each strategy believed (its pick's observed value) and the pick's true regret, mean over seeds:\n\n";
        out += &format!(
            "| problem | {} |\n|---|{}\n",
            strategies.join(" | "),
            "---|".repeat(strategies.len())
        );
        for p in noisy {
            out += &format!("| {p} |");
            for s in &strategies {
                out += &match cell(p, s) {
                    Some(c) => format!(" believed {} · true {} |", sci(c.believed_regret), sci(c.true_regret)),
                    None => " – |".into(),
                };
            }
            out += "\n";
        }
    }
    if summary.cells.iter().any(|c| c.reaches_random.is_some()) {
        out += &format!(
            "\nShare of the budget after which the median run first matches random search's median final regret (– never):\n\n| problem | {} |\n|---|{}\n",
            strategies.join(" | "),
            "---|".repeat(strategies.len())
        );
        for p in &problems {
            out += &format!("| {p} |");
            for s in &strategies {
                out += &match cell(p, s).and_then(|c| c.reaches_random) {
                    Some(share) => format!(" {share:.2} |"),
                    None => " – |".into(),
                };
            }
            out += "\n";
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(problem: &str, strategy: &str, seed: u64, last: f64) -> RunRecord {
        RunRecord {
            problem: problem.into(),
            strategy: strategy.into(),
            seed,
            regret: vec![1.0, last],
            believed_regret: vec![1.0, last / 2.0],
            suggest_seconds: 0.01,
        }
    }

    #[test]
    fn a_consistently_better_strategy_wins_and_ranks_first() {
        let references: Vec<Reference> = ["p", "q"]
            .iter()
            .map(|p| Reference {
                problem: p.to_string(),
                optimum: 0.0,
                random_best: 0.5,
                budget: 2,
                steps_per_unit: 1,
            })
            .collect();
        let mut runs = Vec::new();
        for seed in 0..10 {
            runs.push(run("p", "good", seed, 0.1 + 0.01 * seed as f64));
            runs.push(run("p", "bad", seed, 0.3 + 0.01 * seed as f64));
            // On q the two are indistinguishable.
            runs.push(run("q", "good", seed, if seed % 2 == 0 { 0.2 } else { 0.25 }));
            runs.push(run("q", "bad", seed, if seed % 2 == 0 { 0.25 } else { 0.2 }));
        }
        let summary = summarize(&runs, &references);
        let line = |s: &str| summary.strategies.iter().find(|l| l.strategy == s).unwrap().clone();
        assert_eq!((line("good").wins, line("good").losses), (1, 0));
        assert_eq!((line("bad").wins, line("bad").losses), (0, 1));
        // Strategies are sorted: bad, good. Only p separates them.
        assert_eq!(summary.beats[1][0], vec!["p".to_string()]);
        assert!(summary.beats[0][1].is_empty());
        assert!(line("good").mean_rank < line("bad").mean_rank);
        let cell = summary
            .cells
            .iter()
            .find(|c| c.problem == "p" && c.strategy == "good")
            .unwrap();
        assert!(
            (cell.median - 2.0 * 0.145).abs() < 1e-9,
            "normalized by the random reference: {}",
            cell.median
        );
        let table = markdown(&summary);
        assert!(table.contains("| good | 1 (p) | |\n"), "{table}");
        assert!(table.contains("| bad | | 0 |\n"), "{table}");
        assert_eq!(
            table
                .lines()
                .filter(|l| l.starts_with("| p |") || l.starts_with("| q |"))
                .count(),
            2
        );
    }

    #[test]
    fn the_share_of_budget_to_match_random_is_read_off_the_median_curve() {
        let reference = Reference {
            problem: "p".into(),
            optimum: 0.0,
            random_best: 1.0,
            budget: 4,
            steps_per_unit: 52,
        };
        let run = |seed: u64, regret: Vec<f64>| RunRecord {
            problem: "p".into(),
            strategy: "s".into(),
            seed,
            believed_regret: regret.clone(),
            regret,
            suggest_seconds: 0.0,
        };
        let runs = [
            run(0, vec![2.0, 0.5, 0.4, 0.1]),
            run(1, vec![2.0, 0.9, 0.3, 0.2]),
            run(2, vec![2.0, 2.0, 0.6, 0.3]),
        ];
        let refs: Vec<&RunRecord> = runs.iter().collect();
        // Medians per unit: 2.0, 0.9, 0.4, 0.2.
        assert_eq!(reaches(&refs, &reference, 0.9), Some(0.5));
        assert_eq!(reaches(&refs, &reference, 0.25), Some(1.0));
        assert_eq!(reaches(&refs, &reference, 0.1), None);
        assert_eq!(reaches(&refs, &reference, f64::NAN), None);
    }
}
