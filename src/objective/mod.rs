//! What evaluates a trial: a test function, a program, LCBench's surrogate, or
//! training a network on images (in the `bo-train` worker).

mod function;
mod lcbench;
pub mod process;
mod program;
mod trainer;
pub mod training;

pub use function::{FunctionObjective, HpoObjective};
pub use lcbench::LcbenchObjective;
pub use program::{ProgramObjective, DEFAULT_COMMAND};
pub use trainer::{trainer_program, TrainerObjective};

use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Map, Value};

/// Set by Ctrl-C: running objectives stop their work and return `Interrupted`.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// What one trial evaluates and under which identity.
pub struct TrialContext<'a> {
    pub study: &'a str,
    pub number: u64,
    pub seed: u64,
    pub params: &'a Map<String, Value>,
}

#[derive(Debug, PartialEq)]
pub enum Outcome {
    Complete(f64),
    /// The trial failed; the reason is stored with it.
    Failed(String),
    /// Stopped early after a report was answered with [`Decision::Prune`].
    Pruned,
    /// Ctrl-C: the trial was stopped and the study should stop too.
    Interrupted,
}

/// The answer to an intermediate value: go on, or stop the trial there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Continue,
    Prune,
}

/// What an objective records while it runs.
#[derive(Clone, Debug, PartialEq)]
pub enum Report<'a> {
    /// The metric after `step` (an epoch, say): the learning curve.
    Intermediate { step: i64, value: f64 },
    /// Any other measurement (a loss, test accuracy, seconds), kept with the
    /// trial and shown, never used to choose.
    Metric {
        name: &'a str,
        step: Option<i64>,
        value: f64,
    },
}

pub trait Objective {
    /// Evaluates one configuration, recording what it measures on the way
    /// through `report`. An intermediate value answered with
    /// [`Decision::Prune`] stops the evaluation at that step: it returns
    /// [`Outcome::Pruned`].
    fn evaluate(&mut self, trial: &TrialContext, report: &mut dyn FnMut(Report) -> Decision) -> Outcome;
}
