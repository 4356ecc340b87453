//! The SWE-bench evaluator and the replay harness.
//!
//! Two halves. The pure half (every module but [`runner`] and [`replay`]) is a function of its inputs or a file
//! operation and starts no container: eval scripts, log parsers, grading, reports, run planning, inputs. The
//! container half ([`runner::Harness`]) builds an eval script with [`script::build_eval_script`], runs it in a
//! fresh container of the instance (through `srl-sandbox`), and hands the log to [`grade::grade_log`]; [`report`]
//! and [`layout`] write what SWE-bench writes, in SWE-bench's layout, atomically, so that a killed run resumes with
//! [`layout::RunLayout::is_graded`]. [`replay`] re-executes other agents' recorded actions and grades the result.
//!
//! The rules follow the public `swebench` harness 5.x by default (skipped FAIL_TO_PASS tests fail, truncated ids
//! match by prefix, a non-zero test exit code with no failure in the log rejects the log); [`grade::GradingConfig`]
//! turns each 5.x rule off to reproduce 4.x numbers.

pub mod dataset;
pub mod directives;
pub mod error;
pub mod grade;
pub mod layout;
pub mod log;
pub mod parse;
pub mod predictions;
pub mod replay;
pub mod report;
pub mod run;
pub mod runner;
pub mod script;
pub mod specs;
pub mod status;

pub use dataset::{DatasetSource, Split, load_dataset, load_source, resolve_dataset, select_instances};
pub use directives::{test_directives, test_files};
pub use error::EvalError;
pub use grade::{GoldTests, GradeOutcome, GradingConfig, ResolvedStatus, SkippedRule, grade_log, grade_tests};
pub use layout::{InstanceFiles, RunLayout, model_dir_name, write_atomic};
pub use log::{LogError, Markers, TestOutput, extract_test_output};
pub use parse::{LogParser, parser_for_repo};
pub use predictions::{Prediction, PredictionSource, empty_predictions, gold_predictions, load_predictions};
pub use replay::{Divergence, ReplayOptions, ReplayReport, ReplaySummary, Replayed, StepReplay, replay};
pub use report::{ErrorKind, InstanceExtras, InstanceReport, RunSummary, TestBucket, TestsStatus};
pub use run::{RunPlan, plan_run, report_for, summarize_run};
pub use runner::{Evaluation, Harness, HarnessOptions, env_facts};
pub use script::{EnvFacts, EnvSpecs, EvalScriptConfig, build_eval_script};
pub use specs::{GeneratedSpec, specs_from_swebench, write_specs};
pub use status::{StatusMap, TestStatus};
