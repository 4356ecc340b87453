//! Training data: path patterns, trajectories to step examples, SFT targets.

use std::path::{Path, PathBuf};

use srl_core::PromptConfig;
use srl_data::{Holdout, ImportOptions, Split, StepExample, StepOptions};

use crate::config::DataConfig;
use crate::error::{Result, TrainError};

/// The fixed think of SFT targets without the expert's reasoning.
pub const SHORT_THINK: &str = "Next step.";

/// The files a glob pattern names (`*` matches within one path component; `?`, `[...]` and `**` as the `glob`
/// crate reads them), relative to `root` when relative, sorted. Folders are left out; a malformed pattern is an
/// error naming it.
pub fn expand_pattern(root: &Path, pattern: &str) -> Result<Vec<PathBuf>> {
    let full = if Path::new(pattern).is_absolute() {
        pattern.to_string()
    } else {
        // The root is taken literally, whatever characters its name has.
        let mut s = glob::Pattern::escape(&root.to_string_lossy());
        if !s.ends_with('/') {
            s.push('/');
        }
        s + pattern
    };
    let paths = glob::glob(&full).map_err(|e| TrainError::Data(format!("path pattern {pattern:?}: {e}")))?;
    let mut files: Vec<PathBuf> = paths.filter_map(|p| p.ok()).filter(|p| p.is_file()).collect();
    files.sort();
    Ok(files)
}

/// The files the data section names: `paths`, or `fallback_paths` when `paths` match nothing.
pub fn resolve_files(root: &Path, cfg: &DataConfig) -> Result<Vec<PathBuf>> {
    let expand = |ps: &[String]| -> Result<Vec<PathBuf>> {
        let mut all = Vec::new();
        for p in ps {
            all.extend(expand_pattern(root, p)?);
        }
        Ok(all)
    };
    let mut files = expand(&cfg.paths)?;
    if files.is_empty() {
        files = expand(&cfg.fallback_paths)?;
    }
    if files.is_empty() {
        return Err(TrainError::Data(format!(
            "`data.paths` {:?} (and `data.fallback_paths` {:?}) match no file under {}",
            cfg.paths,
            cfg.fallback_paths,
            root.display()
        )));
    }
    Ok(files)
}

/// How the run's prompts are rendered (the agent must render them the same way: `final/prompt.json`).
pub fn prompt_config(cfg: &DataConfig) -> PromptConfig {
    PromptConfig {
        window: cfg.window,
        max_observation_chars: cfg.max_observation_chars,
        system: cfg.system_prompt,
        task: cfg.task_prompt,
        max_task_chars: cfg.max_task_chars,
        prefill: cfg.prefill.clone(),
    }
}

/// Reads the trajectories and builds the train/validation split.
pub fn load_split(root: &Path, cfg: &DataConfig) -> Result<(Vec<PathBuf>, Split)> {
    let files = resolve_files(root, cfg)?;
    let imported = srl_data::read_paths(&files, &ImportOptions { skip_invalid: true, ..Default::default() })
        .map_err(|e| TrainError::Data(e.to_string()))?;
    for s in &imported.skipped {
        tracing::warn!(location = %s.location, error = %s.error, "skipped a trajectory");
    }
    let opts = StepOptions {
        prompt: prompt_config(cfg),
        drop_unresolved: cfg.drop_unresolved,
        holdout: Holdout {
            ids: cfg.holdout_ids.iter().cloned().collect(),
            fraction: cfg.holdout_fraction,
            seed: cfg.holdout_seed,
        },
    };
    let mut split = srl_data::build_examples(&imported.trajectories, &opts);
    if cfg.max_action_chars > 0 {
        let before = (split.train.len(), split.valid.len());
        let fits = |e: &StepExample| e.expert_action.chars().count() <= cfg.max_action_chars;
        split.train.retain(fits);
        split.valid.retain(fits);
        tracing::info!(
            max_action_chars = cfg.max_action_chars,
            dropped_train = before.0 - split.train.len(),
            dropped_valid = before.1 - split.valid.len(),
            "dropped examples with long expert actions"
        );
    }
    if cfg.max_train_examples > 0 {
        split.train.truncate(cfg.max_train_examples);
    }
    if split.train.is_empty() {
        return Err(TrainError::Data(format!("no training examples in {} file(s)", files.len())));
    }
    Ok((files, split))
}

/// The SFT target text of an example: the expert's thought (or a short fixed one) and action.
pub fn sft_target(ex: &StepExample, include_thought: bool) -> String {
    let thought =
        if include_thought && !ex.expert_thought.trim().is_empty() { ex.expert_thought.trim() } else { SHORT_THINK };
    format!("<think>\n{thought}\n</think>\n{}", ex.expert_action.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        let d = tempfile::tempdir().unwrap();
        for f in ["abc", "abd", "x.json", "x.jsonl", "trajectory.json", "sub/a/t.json", "sub/b/t.json", "sub/b/u.txt"] {
            let p = d.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "").unwrap();
        }
        let names = |root: &Path, pattern: &str| -> Vec<String> {
            let files = expand_pattern(root, pattern).unwrap();
            files.iter().map(|p| p.strip_prefix(d.path()).unwrap().display().to_string()).collect()
        };
        let names_in = |pattern: &str| names(d.path(), pattern);
        // `*` matches any run of characters within a component (folders are not files).
        assert_eq!(names_in("*"), ["abc", "abd", "trajectory.json", "x.json", "x.jsonl"]);
        assert_eq!(names_in("a*c"), ["abc"]);
        assert_eq!(names_in("*.json"), ["trajectory.json", "x.json"]);
        assert_eq!(names_in("tra*ory.json"), ["trajectory.json"]);
        assert_eq!(names_in("abc"), ["abc"]);
        assert_eq!(names_in("sub/*/t.json"), ["sub/a/t.json", "sub/b/t.json"]);
        assert!(names_in("nothing*").is_empty());
        // Absolute patterns ignore the root.
        let abs = format!("{}/sub/*/*.txt", d.path().display());
        assert_eq!(names(Path::new("/nonexistent"), &abs), ["sub/b/u.txt"]);
        let e = expand_pattern(d.path(), "a[").unwrap_err().to_string();
        assert!(e.contains("a["), "{e}");
    }

    #[test]
    fn bundled_tasks_resolve() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let files = resolve_files(&root, &DataConfig::default()).unwrap();
        assert!(files.len() >= 7, "{files:?}");
        let (_, split) = load_split(&root, &DataConfig::default()).unwrap();
        assert!(split.train.len() >= 70);
        let t = sft_target(&split.train[0], true);
        let scored = srl_reward::reward(&t, &split.train[0].expert_action);
        assert!(scored.format_ok && (scored.reward - 1.0).abs() < 1e-9, "{scored:?}");
        let t = sft_target(&split.train[0], false);
        assert!(srl_reward::reward(&t, &split.train[0].expert_action).format_ok);
        let short = DataConfig { max_action_chars: 200, ..Default::default() };
        let (_, cut) = load_split(&root, &short).unwrap();
        assert!(cut.train.len() < split.train.len() && cut.train.len() >= 40, "{}", cut.train.len());
        assert!(cut.train.iter().all(|e| e.expert_action.chars().count() <= 200));
    }
}
