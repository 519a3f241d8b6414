//! What evaluates a trial: a test function or any program.

mod function;
mod lcbench;
mod program;

pub use function::FunctionObjective;
pub use lcbench::LcbenchObjective;
pub use program::{ProgramObjective, DEFAULT_COMMAND};

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
    /// Ctrl-C: the trial was stopped and the study should stop too.
    Interrupted,
}

pub trait Objective {
    /// Evaluates one configuration; `report(step, value)` records intermediate values.
    fn evaluate(&mut self, trial: &TrialContext, report: &mut dyn FnMut(i64, f64)) -> Outcome;
}
