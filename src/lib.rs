//! `bo`: Bayesian optimization for hyperparameter search.
//!
//! The crate holds what a study needs around the strategies of
//! `bo-surrogates`: the search space ([`space`]), the store ([`storage`]),
//! what evaluates trials ([`objective`]), the loop ([`study`]), re-testing the
//! winners ([`retest`]), the views of results as text ([`tables`], [`format`]),
//! as pictures ([`plots`], with [`importance`]), as one HTML page ([`report`])
//! and live in a browser ([`dashboard`]). The binary is the command line:
//! `main.rs` parses, `commands/` holds one file per command.

pub mod bench;
pub mod dashboard;
pub mod format;
pub mod importance;
pub mod objective;
pub mod plots;
pub mod pruning;
pub mod report;
pub mod retest;
pub mod space;
pub mod storage;
pub mod study;
pub mod tables;
