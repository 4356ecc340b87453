//! The SWE-bench evaluator and the replay harness.
//!
//! Two halves. The pure half (every module but [`runner`] and [`replay`](mod@replay)) is a function of its inputs
//! or a file operation and starts no container: eval scripts, log parsers, grading, reports, run planning, inputs. The
//! container half ([`runner::Harness`]) builds an eval script with [`script::build_eval_script`], runs it in a
//! fresh container of the instance (through `srl-sandbox`), and hands the log to [`grade::grade_log`]; [`report`]
//! and [`layout`] write what SWE-bench writes, in SWE-bench's layout, atomically, so that a killed run resumes with
//! [`layout::RunLayout::is_graded`]. [`replay`](mod@replay) re-executes other agents' recorded actions and grades
//! the result.
//!
//! * [`parse`]: [`LogParser`] (`pytest`, `pytest-v2`, `pytest-options`, `django`, `sympy`, `matplotlib`,
//!   `seaborn`; SWE-bench's per-repository parser names are aliases) and [`parser_for_repo`].
//! * [`log`]: [`Markers`] (`>>>>> Start Test Output`, `>>>>> End Test Output`, `>>>>> Test Exit Code: N`),
//!   [`extract_test_output`] (failure markers, the section between the markers, the exit code read only after the
//!   end marker so that a test cannot fake it), [`tail_lines`] and [`error_summary`] for one-line messages.
//! * [`grade`]: [`GradingConfig`] (5.x by default; [`Grading`] names the versions), [`grade_tests`],
//!   [`grade_log`], [`ResolvedStatus`].
//! * [`report`]: `report.json` ([`InstanceReport`], with exactly SWE-bench's keys), `srl_extras.json`
//!   ([`InstanceExtras`], [`ErrorKind`]: patch method, exit codes, duration, error kind), [`RunSummary`].
//! * [`layout`]: [`RunLayout`]: `<report_dir>/<run_id>/<model with / as __>/<instance_id>/{patch.diff, eval.sh,
//!   test_output.txt, report.json, srl_extras.json}` and `<report_dir>/<run_id>/summary.json`, SWE-bench's
//!   `logs/run_evaluation` layout; every file through `srl_core::fs::write_atomic`, `report.json` last.
//! * [`run`]: [`plan_run`] (resume, empty patches, unknown ids), [`report_for`], [`summarize_run`]. The resolve
//!   rate is resolved / every instance of the dataset (500 for Verified), as SWE-bench's leaderboard counts.
//! * [`predictions`] (JSONL, a JSON list, or a JSON object keyed by instance id; `gold` and `empty` built in),
//!   [`dataset`] (a JSON/JSONL file in SWE-bench's schema, `bundled`, or `verified|lite|full` from the local Hugging
//!   Face cache: `$HF_DATASETS_CACHE`, `$HF_HOME/{datasets,hub}`, `~/.cache/huggingface/{datasets,hub}`: the hub
//!   snapshot's Parquet `test` shards, or a JSON export; a Parquet file or folder of shards as `--dataset` too),
//!   [`directives`], [`script`] ([`EnvFacts`], [`EnvSpecs`], [`EvalScriptConfig`], [`build_eval_script`]),
//!   [`specs`] (SWE-bench's `env_specs.json` grouped into `environments/swe-bench/*.toml`).
//! * [`runner`]: [`Harness::evaluate`] grades one prediction and never fails: the spec (`ImageBuildFailed` when
//!   none), the instance image (the environment first, so a Python that cannot be had offline is the error rather
//!   than a missing mirror), a fresh container, the patch with the sandbox's fallbacks (the method recorded;
//!   `PatchFailed` with every attempt's tail otherwise, the log starting with `>>>>> Patch Apply Failed`),
//!   `/eval.sh` under the timeout (`Timeout`: the partial log ends with SWE-bench's `Timeout error: N seconds
//!   exceeded.`), then [`grade_log`] with the spec's `log_format`. Local images use the venv; `--image-source
//!   swebench` images use SWE-bench's conda `testbed`. [`Harness::run`]: N workers, each finished instance written
//!   before the callback sees it.
//! * [`replay`](mod@replay): [`replay()`] runs each recorded call with the sandbox tools, compares the new
//!   observation with the recorded one (difflib ratio on at most 20 000 characters each, head and tail), notes the first step below
//!   `diverge_below` (0.8), stops at `submit` or takes the tree's diff, and grades the patch in a fresh container
//!   (model name `replay`); [`replay_run`] does many, writes [`ReplayLayout`] and keeps what a [`Keep`] filter
//!   passes.
//! * [`cache`]: SWE-bench's cache levels and `--clean` ([`CacheLevel`], [`CacheOptions`]): [`ImageCache`] records
//!   the images each engine held when the run started, removes an instance image once its last planned use is
//!   done and the environment and base images above the level at the end, never an image there before the run
//!   unless `clean`, and measures the disk the run's kind of images hold after each instance.
//! * [`validate`]: [`Validation::from_runs`] reads a gold run and an empty-patch run (the tests on the unpatched
//!   repository, [`HarnessOptions::run_empty`] and [`RunPlan::run_empty_patches`]) into a per-repository table
//!   (gold resolved, empty resolved, errors and their reasons) and names every instance that is not a clean pass.
//!
//! Invariants:
//! * Grading is a pure function of (log text, parser, expected lists, markers, config). An invalid log is a report
//!   field (`patch_successfully_applied: false`, no `tests_status`), never an `Err`; nothing that goes wrong with
//!   one instance is an `Err` of the run.
//! * `report.json` holds SWE-bench's keys only, in its order, indented by 4 like `json.dump(indent=4)`; a real
//!   harness report round-trips byte for byte.
//! * Parsers reproduce SWE-bench's ids, quirks included, because the datasets' FAIL_TO_PASS/PASS_TO_PASS lists were
//!   made by them: the plain pytest parser keeps only the first word of an id (the source of Verified's 676
//!   truncated ids), Django docstring tests are named by their docstring's first line, `FAIL:`/`ERROR:` headers
//!   add bare names, directives keep `.rst`/`.py` data files of test roots and drop `.txt`/`.json` ones. Deliberate
//!   additions never remove information the harness had: ANSI codes stripped for every pytest format, `XPASS` read
//!   as passed, pytest 3.x `FAIL`/`SKIP` words, ` - message` cut from v2 summary lines (not inside `[...]`), Django
//!   `expected failure`/`unexpected success`, sympy `f`/`s`/`X` and the last test of a file.
//!
//! The rules follow the public `swebench` harness 5.x by default; [`GradingConfig`] turns each 5.x rule off to
//! reproduce 4.x numbers:
//! * FAIL_TO_PASS (and FAIL_TO_FAIL, PASS_TO_FAIL) succeed on passed/xfail; failed, error, missing and skipped fail
//!   (4.x: a skipped test lands in neither list). PASS_TO_PASS: the same, but skipped is maintained (4.x: neither).
//! * FULL iff all F2P and all P2P succeed (an empty list counts as all), PARTIAL iff 0 < F2P < 1 and P2P all, NO
//!   otherwise.
//! * Truncated expected ids (`[` outnumbers `]`) match by prefix when every candidate agrees on pass vs fail.
//! * A log is invalid when it has a failure marker (`>>>>> Patch Apply Failed`, `Reset Failed`, `Tests Errored`,
//!   `Tests Timed Out`), lacks either marker, has no parsable test at all (after falling back to the whole log), or
//!   records a non-zero test exit code while no parsed test failed or errored.

pub mod cache;
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
pub mod validate;

pub use cache::{
    CacheLevel, CacheOptions, CacheReport, DiskFigures, HostImages, ImageCache, ImageStore, InstanceImages, Layer,
};
pub use dataset::{DatasetSource, Split, load_dataset, load_files, load_source, resolve_dataset, select_instances};
pub use directives::{test_directives, test_files};
pub use error::EvalError;
pub use grade::{GoldTests, GradeOutcome, Grading, GradingConfig, SkippedRule, grade_log, grade_tests};
pub use layout::{InstanceFiles, RunLayout, model_dir_name, write_json_atomic, write_jsonl_atomic};
pub use log::{LogError, Markers, TestOutput, error_summary, extract_test_output, tail_lines};
pub use parse::{LogParser, parser_for_repo};
pub use predictions::{Prediction, PredictionSource, empty_predictions, gold_predictions, load_predictions};
pub use replay::{
    Divergence, Keep, ReplayLayout, ReplayOptions, ReplayReport, ReplayRun, ReplayRunOptions, ReplaySummary, Replayed,
    StepReplay, replay, replay_run,
};
pub use report::{ErrorKind, InstanceExtras, InstanceReport, ResolvedStatus, RunSummary, TestBucket, TestsStatus};
pub use run::{RunPlan, plan_run, report_for, summarize_run, summarize_run_with};
pub use runner::{Evaluation, Harness, HarnessOptions, NO_PATCH, env_facts};
pub use script::{EnvFacts, EnvSpecs, EvalScriptConfig, build_eval_script};
pub use specs::{GeneratedSpec, specs_from_swebench, write_specs};
pub use status::{StatusMap, TestStatus};
pub use validate::{InstanceCheck, RepoRow, Side, Validation};
