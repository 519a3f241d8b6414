//! Test functions with known optima, and the harness that scores strategies on them.

pub mod figure;
pub mod functions;
pub mod harness;
pub mod hpo;
pub mod lcbench;
pub mod plot;
pub mod report;
pub mod stats;
pub mod suite;

pub use functions::{TestFunction, FUNCTION_NAMES};
