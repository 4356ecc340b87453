//! Checkpoints: `checkpoints/step-NNNNNNNN/` with the trainable weights (`trainable.safetensors`, exact, by
//! name), the optimizer state (`optimizer.safetensors`), `state.json` (step, data position, RNG state, best
//! validation) and, under LoRA, the adapter in PEFT's layout (`adapter/`). Each is written to a temporary folder
//! and renamed as a whole (a folder-level rename; every file of the run outside such a folder is written through
//! [`srl_core::fs::write_atomic`]); `checkpoints/latest` names the newest.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor, Var};
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};

pub const TRAINABLE: &str = "trainable.safetensors";
pub const OPTIMIZER: &str = "optimizer.safetensors";
pub const STATE: &str = "state.json";
pub const LATEST: &str = "latest";

/// Everything besides tensors that a resume needs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Optimizer steps completed.
    pub step: usize,
    /// Examples drawn from the data stream so far (epoch = cursor / n, position = cursor % n).
    pub cursor: u64,
    /// The ChaCha8 sampling-seed RNG: seed and word position (decimal string: u128).
    pub rng_seed: u64,
    pub rng_word_pos: String,
    /// Seconds trained before this run segment.
    pub elapsed_s: f64,
    /// Best validation score and its step.
    pub best: Option<(usize, f64)>,
    /// What `best` measures: `"similarity"` (SRL/SFT stages) or `"resolve_rate"` (RLVR stages).
    #[serde(default)]
    pub best_metric: Option<String>,
    /// RLVR tasks drawn so far (epoch = cursor / tasks, position = cursor % tasks).
    #[serde(default)]
    pub task_cursor: u64,
}

pub fn step_dir_name(step: usize) -> String {
    format!("step-{step:08}")
}

/// Saves named variables as safetensors (f32 copies).
pub fn save_vars(path: &Path, vars: &[(String, Var)]) -> Result<()> {
    let map: HashMap<String, Tensor> = vars.iter().map(|(n, v)| (n.clone(), v.as_tensor().detach())).collect();
    candle_core::safetensors::save(&map, path)?;
    Ok(())
}

/// Loads named variables in place; every name must be present with its shape.
pub fn load_vars(path: &Path, vars: &[(String, Var)], device: &Device) -> Result<()> {
    let map = candle_core::safetensors::load(path, device).map_err(|e| TrainError::checkpoint(path, e.to_string()))?;
    for (n, v) in vars {
        let t = map.get(n).ok_or_else(|| TrainError::checkpoint(path, format!("no tensor {n}")))?;
        if t.shape() != v.shape() {
            return Err(TrainError::checkpoint(path, format!("{n}: shape {:?}, expected {:?}", t.shape(), v.shape())));
        }
        v.set(&t.to_dtype(v.dtype())?)?;
    }
    Ok(())
}

/// The newest checkpoint folder of a run, if any.
pub fn latest(ckpt_root: &Path) -> Result<Option<PathBuf>> {
    let p = ckpt_root.join(LATEST);
    if !p.exists() {
        return Ok(None);
    }
    let name = std::fs::read_to_string(&p).map_err(|e| TrainError::io(&p, e))?;
    let dir = ckpt_root.join(name.trim());
    if !dir.join(STATE).exists() {
        return Err(TrainError::checkpoint(&dir, "named by `latest` but incomplete"));
    }
    Ok(Some(dir))
}

pub fn read_state(dir: &Path) -> Result<TrainState> {
    let p = dir.join(STATE);
    let text = std::fs::read_to_string(&p).map_err(|e| TrainError::io(&p, e))?;
    serde_json::from_str(&text).map_err(|e| TrainError::checkpoint(&p, e.to_string()))
}

/// Removes step folders beyond the last `keep` (and any left-over temporary folders), sparing `protect`.
pub fn prune(ckpt_root: &Path, keep: usize, protect: Option<usize>) -> Result<()> {
    let Ok(rd) = std::fs::read_dir(ckpt_root) else { return Ok(()) };
    let mut steps = Vec::new();
    for e in rd.filter_map(|e| e.ok()) {
        let name = e.file_name().to_string_lossy().to_string();
        if name.starts_with(".tmp-") {
            let _ = std::fs::remove_dir_all(e.path());
        } else if let Some(s) = name.strip_prefix("step-").and_then(|s| s.parse::<usize>().ok()) {
            steps.push(s);
        }
    }
    steps.sort_unstable();
    let n = steps.len();
    for (i, s) in steps.into_iter().enumerate() {
        if i + keep.max(1) < n && Some(s) != protect {
            let d = ckpt_root.join(step_dir_name(s));
            std::fs::remove_dir_all(&d).map_err(|e| TrainError::io(&d, e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prune_keeps_last_and_best() {
        let d = tempfile::tempdir().unwrap();
        for s in [1, 2, 3, 4, 5] {
            std::fs::create_dir_all(d.path().join(step_dir_name(s))).unwrap();
        }
        std::fs::create_dir_all(d.path().join(".tmp-step-00000006")).unwrap();
        prune(d.path(), 2, Some(2)).unwrap();
        let mut names: Vec<String> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        names.sort();
        assert_eq!(names, vec![step_dir_name(2), step_dir_name(4), step_dir_name(5)]);
    }

    #[test]
    fn vars_round_trip() {
        let dev = Device::Cpu;
        let v = Var::new(&[1.5f32, -2.25], &dev).unwrap();
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("t.safetensors");
        save_vars(&p, &[("a".into(), v.clone())]).unwrap();
        v.set(&Tensor::new(&[0f32, 0.0], &dev).unwrap()).unwrap();
        load_vars(&p, &[("a".into(), v.clone())], &dev).unwrap();
        assert_eq!(v.as_tensor().to_vec1::<f32>().unwrap(), vec![1.5, -2.25]);
        let e = load_vars(&p, &[("b".into(), v)], &dev).unwrap_err().to_string();
        assert!(e.contains("no tensor b"), "{e}");
    }
}
