//! The container-free parts of a run: which instances to run (resume, empty patches), the report of a prediction,
//! and the summary from the reports on disk. The run loop (with `srl-sandbox`) calls these around each container.

use std::collections::{BTreeMap, HashMap};

use srl_core::Instance;

use crate::error::EvalError;
use crate::grade::GradeOutcome;
use crate::layout::RunLayout;
use crate::predictions::Prediction;
use crate::report::{InstanceReport, RunSummary};

/// What a run has to do.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunPlan {
    /// Instances to run in a container, each with its prediction (dataset order).
    pub to_run: Vec<(Instance, Prediction)>,
    /// Ids whose `report.json` already exists for this run and model (skipped on resume).
    pub already_graded: Vec<String>,
    /// Ids whose patch is missing or blank: not run, counted as empty patches (as SWE-bench does).
    pub empty_patch: Vec<String>,
    /// Prediction ids that are not in the dataset (SWE-bench refuses these; the caller decides).
    pub unknown: Vec<String>,
}

/// Plans a run of `predictions` against `instances`: one prediction per id (a second one for the same id is an
/// error naming it), empty patches set aside, graded instances skipped unless `rerun`.
pub fn plan_run(
    instances: &[Instance],
    predictions: &[Prediction],
    layout: &RunLayout,
    rerun: bool,
) -> Result<RunPlan, EvalError> {
    let mut by_id: HashMap<&str, &Prediction> = HashMap::new();
    for p in predictions {
        if by_id.insert(p.instance_id.as_str(), p).is_some() {
            return Err(EvalError::Dataset(format!("two predictions for {}", p.instance_id)));
        }
    }
    let known: std::collections::HashSet<&str> = instances.iter().map(|i| i.instance_id.as_str()).collect();
    let mut plan = RunPlan {
        unknown: predictions
            .iter()
            .filter(|p| !known.contains(p.instance_id.as_str()))
            .map(|p| p.instance_id.clone())
            .collect(),
        ..RunPlan::default()
    };
    for inst in instances {
        let Some(pred) = by_id.get(inst.instance_id.as_str()) else { continue };
        if pred.is_empty() {
            plan.empty_patch.push(inst.instance_id.clone());
        } else if !rerun && layout.is_graded(&pred.model_name_or_path, &inst.instance_id) {
            plan.already_graded.push(inst.instance_id.clone());
        } else {
            plan.to_run.push((inst.clone(), (*pred).clone()));
        }
    }
    tracing::debug!(
        to_run = plan.to_run.len(),
        graded = plan.already_graded.len(),
        empty = plan.empty_patch.len(),
        unknown = plan.unknown.len(),
        "planned run"
    );
    Ok(plan)
}

impl RunPlan {
    /// Validation's control: the empty patches run too (the tests on the unpatched repository, with
    /// [`crate::HarnessOptions::run_empty`]) instead of being set aside; graded ones are skipped unless `rerun`.
    pub fn run_empty_patches(
        &mut self,
        instances: &[Instance],
        predictions: &[Prediction],
        layout: &RunLayout,
        rerun: bool,
    ) {
        let empty: std::collections::HashSet<String> = std::mem::take(&mut self.empty_patch).into_iter().collect();
        for inst in instances.iter().filter(|i| empty.contains(&i.instance_id)) {
            let Some(pred) = predictions.iter().find(|p| p.instance_id == inst.instance_id) else { continue };
            if !rerun && layout.is_graded(&pred.model_name_or_path, &inst.instance_id) {
                self.already_graded.push(inst.instance_id.clone());
            } else {
                self.to_run.push((inst.clone(), pred.clone()));
            }
        }
    }
}

/// SWE-bench's report for a prediction: `patch_is_None` for a `null` patch, otherwise the graded outcome of its log.
/// `None` outcome (the patch did not apply, the tests timed out, the container failed) gives no report: SWE-bench
/// writes none and counts the instance as an error; record why in `InstanceExtras`.
pub fn report_for(prediction: &Prediction, outcome: Option<&GradeOutcome>) -> Option<InstanceReport> {
    if prediction.model_patch.is_none() {
        return Some(InstanceReport { patch_is_none: true, ..InstanceReport::default() });
    }
    outcome.map(GradeOutcome::to_report)
}

/// The run summary from the reports on disk: every instance of `instances` is the total, `predictions` are the
/// submitted ones.
pub fn summarize_run(instances: &[Instance], predictions: &[Prediction], layout: &RunLayout) -> RunSummary {
    summarize_run_with(instances, predictions, layout, false)
}

/// [`summarize_run`]; `empty_ran`: the empty patches were run as the control ([`RunPlan::run_empty_patches`]),
/// so they count as completed (resolved or not) rather than as empty patches.
pub fn summarize_run_with(
    instances: &[Instance],
    predictions: &[Prediction],
    layout: &RunLayout,
    empty_ran: bool,
) -> RunSummary {
    let mut reports = BTreeMap::new();
    for p in predictions {
        if let Some(r) = layout.read_report(&p.model_name_or_path, &p.instance_id) {
            reports.insert(p.instance_id.clone(), r);
        }
    }
    let mut summary = RunSummary::build(
        instances.iter().map(|i| i.instance_id.as_str()),
        predictions.iter().map(|p| (p.instance_id.as_str(), p.is_empty() && !empty_ran)),
        &reports,
    );
    for p in predictions {
        let Some(extras) = layout.read_extras(&p.model_name_or_path, &p.instance_id) else { continue };
        if let Some(host) = extras.docker_host {
            summary.docker_hosts.insert(p.instance_id.clone(), host);
        }
        if let Some(d) = extras.environment_deviation {
            summary.environment_deviations.insert(p.instance_id.clone(), d);
        }
    }
    summary
}
