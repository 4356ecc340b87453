//! Datasets in SWE-bench's schema: JSONL or a JSON list of rows, Parquet files as Hugging Face keeps them (one
//! file, or a split's shards read in order), a split name resolved in the local Hugging Face cache, or the
//! repository's bundled tasks.
//!
//! Parquet rows are read through `srl_data::parquet` into the same [`Instance`] as JSON rows (`FAIL_TO_PASS` and
//! `PASS_TO_PASS` as JSON strings or lists); an error names the file, the row and the column. The `datasets`
//! library's own Arrow files are not read: the hub cache beside them holds the Parquet files they came from.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value};
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
    /// Any other value: a JSONL, JSON or Parquet file, or a folder of Parquet shards.
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

/// The files a source names, in the order their rows are read. `repo_root` is this repository's root (for
/// `bundled`); splits are looked up in the Hugging Face cache folders of [`hf_cache_roots`]; a folder given as a
/// file stands for its Parquet shards (its `test` ones when it has any).
pub fn resolve_dataset(source: &DatasetSource, repo_root: &Path) -> Result<Vec<PathBuf>, EvalError> {
    match source {
        DatasetSource::File(p) if p.is_dir() => {
            let files = split_files(p).or_else(|| parquet_files(p)).ok_or_else(|| {
                EvalError::Dataset(format!("{}: no Parquet files and no JSON or JSONL test split in it", p.display()))
            })?;
            Ok(files)
        }
        DatasetSource::File(p) => Ok(vec![p.clone()]),
        DatasetSource::Bundled => {
            let p = repo_root.join("tasks").join("bundled.jsonl");
            if p.is_file() { Ok(vec![p]) } else { Err(EvalError::Dataset(format!("{} is missing", p.display()))) }
        }
        DatasetSource::Split(split) => find_split(*split, &hf_cache_roots()),
    }
}

/// Reads a dataset: `resolve_dataset` then `load_files`.
pub fn load_source(source: &DatasetSource, repo_root: &Path) -> Result<Vec<Instance>, EvalError> {
    load_files(&resolve_dataset(source, repo_root)?)
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

/// Finds a split's test rows under the given cache roots: in `datasets` cache folders (`org___name`, lower-cased)
/// a JSON/JSONL export, in hub folders (`datasets--org--name`) the snapshot `refs/main` names (else the newest)
/// and its `test` Parquet shards (`data/test-00000-of-00002.parquet`, ...), in name order. Arrow files alone
/// give an error that names them; nothing gives an error that says how to pass `--dataset FILE`.
pub fn find_split(split: Split, roots: &[PathBuf]) -> Result<Vec<PathBuf>, EvalError> {
    let mut arrow: Option<PathBuf> = None;
    for root in roots {
        for name in split.hf_names() {
            let (org, short) = name.split_once('/').expect("names are org/name");
            let datasets = root.join(format!("{org}___{}", short.to_ascii_lowercase()));
            if datasets.is_dir() {
                if let Some(files) = split_files(&datasets) {
                    return Ok(files);
                }
                if arrow.is_none() {
                    let mut files = Vec::new();
                    walk(&datasets, 6, &mut files);
                    files.sort();
                    arrow = files.into_iter().find(|f| is_test(f) && has_ext(f, &[".arrow"]));
                }
            }
            for snapshot in hub_snapshots(&root.join(format!("datasets--{org}--{short}"))) {
                if let Some(files) = split_files(&snapshot) {
                    return Ok(files);
                }
            }
        }
    }
    let how = format!(
        "download it into the cache (`hf download {} --repo-type dataset`) or pass --dataset FILE with a \
         Parquet, JSONL or JSON file of {}",
        split.hf_names()[0],
        split.hf_names()[0],
    );
    Err(EvalError::Dataset(match arrow {
        Some(f) => format!(
            "found {} but the datasets library's Arrow files are not read (its Parquet files are, from the hub \
             cache): {how}",
            f.display()
        ),
        None => format!("SWE-bench {} is not in the local Hugging Face cache: {how}", split.as_str()),
    }))
}

/// The snapshots of a hub dataset folder, best first: the one `refs/main` names, then the others, newest first.
fn hub_snapshots(repo: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(repo.join("snapshots")) else { return Vec::new() };
    let mut snapshots: Vec<(std::time::SystemTime, PathBuf)> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .map(|p| (p.metadata().and_then(|m| m.modified()).unwrap_or(std::time::UNIX_EPOCH), p))
        .collect();
    snapshots.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let main = std::fs::read_to_string(repo.join("refs").join("main")).ok();
    let main = main.as_deref().map(str::trim).filter(|m| !m.is_empty());
    let mut out: Vec<PathBuf> = snapshots.into_iter().map(|(_, p)| p).collect();
    if let Some(pos) = main.and_then(|m| out.iter().position(|p| p.file_name().is_some_and(|n| n == m))) {
        let first = out.remove(pos);
        out.insert(0, first);
    }
    out
}

/// A split's test rows in `dir`: a JSON/JSONL test file, else the `test` Parquet shards in name order (a file
/// named `test*.parquet`, or any Parquet file in a folder named `test`).
fn split_files(dir: &Path) -> Option<Vec<PathBuf>> {
    let mut files = Vec::new();
    walk(dir, 6, &mut files);
    files.sort();
    if let Some(f) = files.iter().find(|f| is_test(f) && has_ext(f, &[".jsonl", ".json"])) {
        return Some(vec![f.clone()]);
    }
    let shards: Vec<PathBuf> = files
        .into_iter()
        .filter(|f| {
            let in_test_folder = f.parent().and_then(Path::file_name).is_some_and(|n| n == "test");
            has_ext(f, &[".parquet"]) && (in_test_folder || file_name(f).starts_with("test"))
        })
        .collect();
    (!shards.is_empty()).then_some(shards)
}

/// Every Parquet file in `dir`, in name order.
fn parquet_files(dir: &Path) -> Option<Vec<PathBuf>> {
    let mut files = Vec::new();
    walk(dir, 6, &mut files);
    files.retain(|f| has_ext(f, &[".parquet"]));
    files.sort();
    (!files.is_empty()).then_some(files)
}

fn file_name(p: &Path) -> String {
    p.file_name().and_then(|n| n.to_str()).unwrap_or("").to_ascii_lowercase()
}

fn is_test(p: &Path) -> bool {
    file_name(p).contains("test")
}

fn has_ext(p: &Path, ext: &[&str]) -> bool {
    let n = file_name(p);
    ext.iter().any(|e| n.ends_with(e))
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

/// Reads SWE-bench rows from JSONL, a JSON list or a Parquet file (`FAIL_TO_PASS`/`PASS_TO_PASS` as JSON
/// strings or lists). Errors name the file and the line, item or row (and, for Parquet, the column).
pub fn load_dataset(path: &Path) -> Result<Vec<Instance>, EvalError> {
    if srl_data::parquet::is_parquet(path) {
        return load_parquet(path);
    }
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

/// Reads several files as one dataset, their rows in order (a split's shards).
pub fn load_files(paths: &[PathBuf]) -> Result<Vec<Instance>, EvalError> {
    let mut out = Vec::new();
    for p in paths {
        out.extend(load_dataset(p)?);
    }
    Ok(out)
}

fn load_parquet(path: &Path) -> Result<Vec<Instance>, EvalError> {
    let rows = srl_data::parquet::rows(path).map_err(|e| EvalError::Dataset(e.to_string()))?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let row = row.map_err(|e| EvalError::Dataset(e.to_string()))?;
        let at = format!("row {}", row.row);
        let instance = row.columns.and_then(instance_from_row).map_err(|m| EvalError::parse(path, at, m))?;
        out.push(instance);
    }
    Ok(out)
}

/// One row as an [`Instance`], with the same rules as a JSON row; an error names the column at fault (serde's
/// own message names a missing field but not a mistyped one, so each column is tried alone to find it).
fn instance_from_row(row: Map<String, Value>) -> Result<Instance, String> {
    let row = Value::Object(row);
    Instance::deserialize(&row).map_err(|e| {
        for (name, value) in row.as_object().into_iter().flatten() {
            let alone = serde_json::json!({"instance_id": "", name.as_str(): value});
            if let Err(alone) = Instance::deserialize(&alone) {
                return format!("column `{name}`: {alone}");
            }
        }
        e.to_string()
    })
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

    use srl_data::parquet::{Codec, ColumnValues, write_columns};

    /// Two SWE-bench rows as the published split has them: every column a string, test lists JSON-encoded.
    fn two_rows() -> Vec<Value> {
        let row = |id: &str, f2p: &str, p2p: &str| {
            serde_json::json!({
                "repo": "pallets/flask", "instance_id": id, "base_commit": "0123abc",
                "patch": "diff --git a/src/flask/app.py b/src/flask/app.py\n", "test_patch": "diff --git a/t b/t\n",
                "problem_statement": "Ünïcode\r\nissue", "hints_text": "", "created_at": "2023-04-27T18:41:07Z",
                "version": "2.3", "FAIL_TO_PASS": f2p, "PASS_TO_PASS": p2p,
                "environment_setup_commit": "4567def", "difficulty": "<15 min fix",
            })
        };
        vec![
            row("pallets__flask-5014", r#"["tests/test_blueprints.py::test_empty_name_not_allowed"]"#, "[]"),
            row("pallets__flask-4992", r#"["tests/test_config.py::test_config_from_file_toml"]"#, r#"["a", "b"]"#),
        ]
    }

    /// Writes rows of string columns (named by the first row's keys) as a Parquet file.
    fn write_rows(path: &Path, rows: &[Value], codec: Codec) {
        let names: Vec<&String> = rows[0].as_object().unwrap().keys().collect();
        let columns: Vec<(&str, ColumnValues)> = names
            .iter()
            .map(|n| {
                let values = rows.iter().map(|r| r[n.as_str()].as_str().map(str::to_string)).collect();
                (n.as_str(), ColumnValues::Str(values))
            })
            .collect();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        write_columns(path, &columns, codec).unwrap();
    }

    #[test]
    fn reads_a_parquet_split_as_its_jsonl() {
        let dir = tempfile::tempdir().unwrap();
        let rows = two_rows();
        let jsonl = dir.path().join("d.jsonl");
        std::fs::write(&jsonl, rows.iter().map(|r| format!("{r}\n")).collect::<String>()).unwrap();
        let want = load_dataset(&jsonl).unwrap();
        assert_eq!(want[1].pass_to_pass, ["a", "b"]);
        for codec in [Codec::Snappy, Codec::Zstd, Codec::Gzip] {
            let pq = dir.path().join(format!("{codec:?}.parquet"));
            write_rows(&pq, &rows, codec);
            assert_eq!(load_dataset(&pq).unwrap(), want, "{codec:?}");
        }
        // Test lists stored as list<string> (some exports) read the same.
        let lists = dir.path().join("lists.parquet");
        write_columns(
            &lists,
            &[
                ("instance_id", ColumnValues::Str(vec![Some("x".into())])),
                ("FAIL_TO_PASS", ColumnValues::StrList(vec![Some(vec!["t1".into(), "t2".into()])])),
                ("PASS_TO_PASS", ColumnValues::StrList(vec![None])),
            ],
            Codec::Snappy,
        )
        .unwrap();
        let got = load_dataset(&lists).unwrap();
        assert_eq!((got[0].fail_to_pass.clone(), got[0].pass_to_pass.len()), (vec!["t1".into(), "t2".into()], 0));
    }

    #[test]
    fn parquet_errors_name_the_file_row_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let mut rows = two_rows();
        rows[1]["FAIL_TO_PASS"] = "tests/test_config.py".into();
        let pq = dir.path().join("test-00000-of-00001.parquet");
        write_rows(&pq, &rows, Codec::Snappy);
        let e = load_dataset(&pq).unwrap_err().to_string();
        let want = format!("{}: row 2: column `FAIL_TO_PASS`: test list is a string but not a JSON list", pq.display());
        assert!(e.starts_with(&want), "{e}");

        let ids = dir.path().join("ids.parquet");
        write_columns(&ids, &[("instance_id", ColumnValues::Str(vec![Some("a".into()), None]))], Codec::Snappy)
            .unwrap();
        let e = load_dataset(&ids).unwrap_err().to_string();
        assert!(e.contains("ids.parquet: row 2: column `instance_id`: invalid type: null"), "{e}");
        let version = dir.path().join("version.parquet");
        write_columns(
            &version,
            &[
                ("instance_id", ColumnValues::Str(vec![Some("a".into())])),
                ("version", ColumnValues::Int(vec![Some(3)])),
            ],
            Codec::Snappy,
        )
        .unwrap();
        let e = load_dataset(&version).unwrap_err().to_string();
        assert!(e.contains("version.parquet: row 1: column `version`: invalid type: integer"), "{e}");
        let no_id = dir.path().join("no_id.parquet");
        write_columns(&no_id, &[("repo", ColumnValues::Str(vec![Some("a/b".into())]))], Codec::Snappy).unwrap();
        let e = load_dataset(&no_id).unwrap_err().to_string();
        assert!(e.contains("no_id.parquet: row 1: missing field `instance_id`"), "{e}");

        let fake = dir.path().join("fake.parquet");
        std::fs::write(&fake, b"PAR1").unwrap();
        let e = load_dataset(&fake).unwrap_err().to_string();
        assert!(e.starts_with(&format!("{}: not a readable Parquet file", fake.display())), "{e}");
    }

    #[test]
    fn finds_hub_parquet_shards_json_exports_and_names_arrow() {
        let root = tempfile::tempdir().unwrap();
        let roots = [root.path().to_path_buf()];
        let repo = root.path().join("datasets--SWE-bench--SWE-bench_Verified");
        let rows = two_rows();
        // Two snapshots; refs/main names the older-looking one, whose test split has two shards.
        let main = repo.join("snapshots/abc/data");
        write_rows(&main.join("test-00001-of-00002.parquet"), &rows[1..], Codec::Snappy);
        write_rows(&main.join("test-00000-of-00002.parquet"), &rows[..1], Codec::Snappy);
        write_rows(&main.join("train-00000-of-00001.parquet"), &rows[..1], Codec::Snappy);
        write_rows(&repo.join("snapshots/zzz/data/test-00000-of-00001.parquet"), &rows[..1], Codec::Snappy);
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::write(repo.join("refs/main"), "abc").unwrap();
        let files = find_split(Split::Verified, &roots).unwrap();
        assert_eq!(files, [main.join("test-00000-of-00002.parquet"), main.join("test-00001-of-00002.parquet")]);
        let ids: Vec<String> = load_files(&files).unwrap().into_iter().map(|i| i.instance_id).collect();
        assert_eq!(ids, ["pallets__flask-5014", "pallets__flask-4992"]);
        // A folder given as --dataset stands for its test shards.
        let from_dir = resolve_dataset(&DatasetSource::File(main.clone()), Path::new(".")).unwrap();
        assert_eq!(from_dir, files);

        // Hugging Face's parquet conversion lays a split out as `default/test/0000.parquet`.
        let lite = root.path().join("datasets--princeton-nlp--SWE-bench_Lite/snapshots/r1/default/test");
        write_rows(&lite.join("0000.parquet"), &rows, Codec::Snappy);
        assert_eq!(find_split(Split::Lite, &roots).unwrap(), [lite.join("0000.parquet")]);

        // The datasets library's own cache: a JSON export is read, Arrow files alone are named in the error.
        let arrow = root.path().join("SWE-bench___swe-bench/default/0.0.0/h");
        std::fs::create_dir_all(&arrow).unwrap();
        std::fs::write(arrow.join("swe-bench-test.arrow"), b"").unwrap();
        let e = find_split(Split::Full, &roots).unwrap_err().to_string();
        assert!(e.contains("swe-bench-test.arrow") && e.contains("--dataset FILE"), "{e}");
        std::fs::write(arrow.join("swe-bench-test.jsonl"), b"").unwrap();
        assert_eq!(find_split(Split::Full, &roots).unwrap(), [arrow.join("swe-bench-test.jsonl")]);

        let e = find_split(Split::Full, &[root.path().join("nothing")]).unwrap_err().to_string();
        assert!(e.contains("not in the local Hugging Face cache") && e.contains("--dataset FILE"), "{e}");
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
