//! Datasets in SWE-bench's schema: JSONL or a JSON list of rows, a split name resolved in the local Hugging Face
//! cache, or the repository's bundled tasks.
//!
//! Parquet and Arrow files (what the Hugging Face cache holds) are found but not read yet: the error names the file
//! and says how to convert it and pass `--dataset FILE`.

use std::path::{Path, PathBuf};

use srl_core::Instance;

use crate::error::EvalError;

/// A SWE-bench split, by its short name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    Verified,
    Lite,
    Full,
}

impl Split {
    /// The Hugging Face dataset names (current organisation first, then the former one).
    pub fn hf_names(self) -> &'static [&'static str] {
        match self {
            Split::Verified => &["SWE-bench/SWE-bench_Verified", "princeton-nlp/SWE-bench_Verified"],
            Split::Lite => &["SWE-bench/SWE-bench_Lite", "princeton-nlp/SWE-bench_Lite"],
            Split::Full => &["SWE-bench/SWE-bench", "princeton-nlp/SWE-bench"],
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Split::Verified => "verified",
            Split::Lite => "lite",
            Split::Full => "full",
        }
    }
}

/// What `--dataset` names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatasetSource {
    /// `verified`, `lite`, `full`: the test split, from the local Hugging Face cache.
    Split(Split),
    /// `bundled`: `tasks/bundled.jsonl` of this repository.
    Bundled,
    /// Any other value: a JSONL or JSON file.
    File(PathBuf),
}

impl DatasetSource {
    pub fn parse(s: &str) -> DatasetSource {
        match s.to_ascii_lowercase().as_str() {
            "verified" | "swe-bench_verified" | "swe-bench-verified" => DatasetSource::Split(Split::Verified),
            "lite" | "swe-bench_lite" | "swe-bench-lite" => DatasetSource::Split(Split::Lite),
            "full" | "swe-bench" => DatasetSource::Split(Split::Full),
            "bundled" => DatasetSource::Bundled,
            _ => DatasetSource::File(PathBuf::from(s)),
        }
    }
}

/// The file a source names. `repo_root` is this repository's root (for `bundled`); splits are looked up in the
/// Hugging Face cache folders of [`hf_cache_roots`].
pub fn resolve_dataset(source: &DatasetSource, repo_root: &Path) -> Result<PathBuf, EvalError> {
    match source {
        DatasetSource::File(p) => Ok(p.clone()),
        DatasetSource::Bundled => {
            let p = repo_root.join("tasks").join("bundled.jsonl");
            if p.is_file() { Ok(p) } else { Err(EvalError::Dataset(format!("{} is missing", p.display()))) }
        }
        DatasetSource::Split(split) => find_split(*split, &hf_cache_roots()),
    }
}

/// Reads a dataset: `resolve_dataset` then `load_dataset`.
pub fn load_source(source: &DatasetSource, repo_root: &Path) -> Result<Vec<Instance>, EvalError> {
    load_dataset(&resolve_dataset(source, repo_root)?)
}

/// The Hugging Face cache folders, in the order looked at: `$HF_DATASETS_CACHE`, `$HF_HOME/datasets`,
/// `$HF_HUB_CACHE`, `$HF_HOME/hub`, then the same under `$XDG_CACHE_HOME/huggingface` and `~/.cache/huggingface`.
pub fn hf_cache_roots() -> Vec<PathBuf> {
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    let mut roots = Vec::new();
    roots.extend(var("HF_DATASETS_CACHE"));
    if let Some(h) = var("HF_HOME") {
        roots.push(h.join("datasets"));
    }
    roots.extend(var("HF_HUB_CACHE"));
    if let Some(h) = var("HF_HOME") {
        roots.push(h.join("hub"));
    }
    for base in [var("XDG_CACHE_HOME"), var("HOME").map(|h| h.join(".cache"))].into_iter().flatten() {
        roots.push(base.join("huggingface").join("datasets"));
        roots.push(base.join("huggingface").join("hub"));
    }
    roots
}

/// Finds a split's test rows under the given cache roots. Looks in `datasets` cache folders (`org___name`,
/// lower-cased) and hub folders (`datasets--org--name`); JSON/JSONL files win; a Parquet/Arrow file gives an
/// error that names it; nothing gives an error that says how to pass `--dataset FILE`.
pub fn find_split(split: Split, roots: &[PathBuf]) -> Result<PathBuf, EvalError> {
    let mut unreadable: Option<PathBuf> = None;
    for root in roots {
        for name in split.hf_names() {
            let (org, short) = name.split_once('/').expect("names are org/name");
            for dir in [
                root.join(format!("{org}___{}", short.to_ascii_lowercase())),
                root.join(format!("datasets--{org}--{short}")),
            ] {
                if !dir.is_dir() {
                    continue;
                }
                let mut files = Vec::new();
                walk(&dir, 6, &mut files);
                files.sort();
                let test_file = |ext: &[&str]| {
                    files.iter().find(|f| {
                        let n = f.file_name().and_then(|n| n.to_str()).unwrap_or("").to_ascii_lowercase();
                        n.contains("test") && ext.iter().any(|e| n.ends_with(e))
                    })
                };
                if let Some(f) = test_file(&[".jsonl", ".json"]) {
                    return Ok(f.clone());
                }
                if unreadable.is_none() {
                    unreadable = test_file(&[".parquet", ".arrow"]).cloned();
                }
            }
        }
    }
    let how = format!(
        "pass --dataset FILE with a JSONL or JSON export of {} (e.g. `python -c \"import datasets; \
         datasets.load_dataset('{}', split='test').to_json('{}.jsonl')\"`)",
        split.hf_names()[0],
        split.hf_names()[0],
        split.as_str()
    );
    Err(EvalError::Dataset(match unreadable {
        Some(f) => format!("found {} but Parquet/Arrow files are not read yet: {how}", f.display()),
        None => format!("SWE-bench {} is not in the local Hugging Face cache: {how}", split.as_str()),
    }))
}

fn walk(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            if depth > 0 {
                walk(&p, depth - 1, out);
            }
        } else {
            out.push(p);
        }
    }
}

/// Reads SWE-bench rows from JSONL or a JSON list (`FAIL_TO_PASS`/`PASS_TO_PASS` as JSON strings or lists).
/// Errors name the file and the line or item.
pub fn load_dataset(path: &Path) -> Result<Vec<Instance>, EvalError> {
    let text = std::fs::read_to_string(path).map_err(|e| EvalError::io(path, e))?;
    if text.trim_start().starts_with('[') {
        let items: Vec<serde_json::Value> =
            serde_json::from_str(&text).map_err(|e| EvalError::parse(path, format!("line {}", e.line()), e))?;
        return items
            .into_iter()
            .enumerate()
            .map(|(i, v)| serde_json::from_value(v).map_err(|e| EvalError::parse(path, format!("item {i}"), e)))
            .collect();
    }
    crate::error::parse_json_lines(&text, path)
}

/// The instances with the given ids, in dataset order; an id not in the dataset is an error naming it.
pub fn select_instances(instances: Vec<Instance>, ids: &[String]) -> Result<Vec<Instance>, EvalError> {
    if ids.is_empty() {
        return Ok(instances);
    }
    let known: std::collections::HashSet<&str> = instances.iter().map(|i| i.instance_id.as_str()).collect();
    let missing: Vec<&str> = ids.iter().map(String::as_str).filter(|id| !known.contains(id)).collect();
    if !missing.is_empty() {
        return Err(EvalError::Dataset(format!("instance ids not in the dataset: {}", missing.join(" "))));
    }
    let wanted: std::collections::HashSet<&str> = ids.iter().map(String::as_str).collect();
    Ok(instances.into_iter().filter(|i| wanted.contains(i.instance_id.as_str())).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_json_and_names_parquet() {
        let root = tempfile::tempdir().unwrap();
        let hub = root.path().join("datasets--SWE-bench--SWE-bench_Verified/snapshots/abc/data");
        std::fs::create_dir_all(&hub).unwrap();
        std::fs::write(hub.join("test-00000-of-00001.parquet"), b"PAR1").unwrap();
        let err = find_split(Split::Verified, &[root.path().to_path_buf()]).unwrap_err().to_string();
        assert!(err.contains("test-00000-of-00001.parquet") && err.contains("--dataset FILE"), "{err}");
        let ds = root.path().join("SWE-bench___swe-bench_verified/default/0.0.0/h");
        std::fs::create_dir_all(&ds).unwrap();
        std::fs::write(ds.join("swe-bench_verified-test.jsonl"), b"").unwrap();
        assert_eq!(
            find_split(Split::Verified, &[root.path().to_path_buf()]).unwrap(),
            ds.join("swe-bench_verified-test.jsonl")
        );
        let err = find_split(Split::Lite, &[root.path().to_path_buf()]).unwrap_err().to_string();
        assert!(err.contains("not in the local Hugging Face cache") && err.contains("--dataset FILE"), "{err}");
    }

    #[test]
    fn parses_sources() {
        assert_eq!(DatasetSource::parse("verified"), DatasetSource::Split(Split::Verified));
        assert_eq!(DatasetSource::parse("bundled"), DatasetSource::Bundled);
        assert_eq!(DatasetSource::parse("x.jsonl"), DatasetSource::File("x.jsonl".into()));
    }

    #[test]
    fn loads_list_and_jsonl_with_places_in_errors() {
        let dir = tempfile::tempdir().unwrap();
        let list = dir.path().join("d.json");
        std::fs::write(&list, r#"[{"instance_id":"a","FAIL_TO_PASS":"[\"t\"]"},{"instance_id":"b"}]"#).unwrap();
        let v = load_dataset(&list).unwrap();
        assert_eq!((v.len(), v[0].fail_to_pass.clone()), (2, vec!["t".to_string()]));
        let bad = dir.path().join("d.jsonl");
        std::fs::write(&bad, "{\"instance_id\":\"a\"}\n{\"instance_id\":1}\n").unwrap();
        let e = load_dataset(&bad).unwrap_err().to_string();
        assert!(e.contains("d.jsonl: line 2"), "{e}");
        assert!(select_instances(v, &["zz".into()]).unwrap_err().to_string().contains("zz"));
    }
}
