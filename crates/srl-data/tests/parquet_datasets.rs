//! Trajectory datasets as Hugging Face keeps them (SWE-smith's published trajectories: Parquet shards with a
//! `messages` column, as a list of `{role, content}` structs or as a JSON string), written by the test from the
//! real SWE-smith samples under ../shared/data/trajectories, and imported as the JSON files import.

use std::path::{Path, PathBuf};

use serde_json::Value;
use srl_core::Trajectory;
use srl_data::parquet::{Codec, ColumnValues, write_columns};
use srl_data::{Format, ImportOptions, read_path, read_paths};

fn smith_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/trajectories/swe-smith-xml");
    assert!(dir.exists(), "the shared data is missing: expected {} (see ../shared/data/README.md)", dir.display());
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files
}

struct Sample {
    json: Trajectory,
    messages: Vec<(String, String)>,
    messages_json: String,
}

fn samples() -> Vec<Sample> {
    smith_files()
        .iter()
        .map(|f| {
            let v: Value = serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap();
            let messages = v["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| (m["role"].as_str().unwrap().to_string(), m["content"].as_str().unwrap().to_string()))
                .collect();
            let json = read_path(f, Format::Auto).unwrap().pop().unwrap();
            Sample { json, messages, messages_json: v["messages"].to_string() }
        })
        .collect()
}

fn strs(v: impl IntoIterator<Item = Option<String>>) -> ColumnValues {
    ColumnValues::Str(v.into_iter().collect())
}

/// The trajectory a JSON record gave, with what the Parquet row adds or leaves out.
fn same_trajectory(got: &Trajectory, want: &Trajectory) {
    assert_eq!(got.instance_id, want.instance_id);
    assert_eq!(got.task, want.task, "{}", want.instance_id);
    assert_eq!(got.steps, want.steps, "{}", want.instance_id);
    assert_eq!(got.source_format, "swe-smith");
}

#[test]
fn a_parquet_trajectory_dataset_imports_as_its_json_records() {
    let samples = samples();
    assert_eq!(samples.len(), 6);
    let (a, b) = samples.split_at(3);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();

    // Shard 0: the chat as a list of structs, every column SWE-smith's dataset has.
    write_columns(
        &data.join("xml-00000-of-00002.parquet"),
        &[
            ("messages", ColumnValues::Messages(a.iter().map(|s| Some(s.messages.clone())).collect())),
            ("instance_id", strs(a.iter().map(|s| Some(s.json.instance_id.clone())))),
            ("resolved", ColumnValues::Bool(a.iter().map(|s| s.json.resolved).collect())),
            ("model", strs(a.iter().map(|_| Some("claude-3-7-sonnet-20250219".to_string())))),
            ("traj_id", strs(a.iter().map(|s| Some(format!("{}.t1", s.json.instance_id))))),
            ("patch", strs(a.iter().enumerate().map(|(i, _)| Some(format!("diff --git a/f{i} b/f{i}\n"))))),
        ],
        Codec::Snappy,
    )
    .unwrap();
    // Shard 1: the chat as a JSON string, zstd pages, no model or patch column, one id missing (null).
    let ids: Vec<Option<String>> =
        b.iter().enumerate().map(|(i, s)| (i != 1).then(|| s.json.instance_id.clone())).collect();
    write_columns(
        &data.join("xml-00001-of-00002.parquet"),
        &[
            ("instance_id", strs(ids)),
            ("messages", strs(b.iter().map(|s| Some(s.messages_json.clone())))),
            ("resolved", ColumnValues::Bool(b.iter().map(|s| s.json.resolved).collect())),
            ("traj_id", strs(b.iter().map(|s| Some(format!("{}.t2", s.json.instance_id))))),
        ],
        Codec::Zstd,
    )
    .unwrap();

    // The folder is searched as any folder of trajectories is; shards are read in name order, rows in row order.
    let got = read_paths(&[dir.path().to_path_buf()], &ImportOptions::default()).unwrap();
    assert!(got.skipped.is_empty());
    let ts = got.trajectories;
    assert_eq!(ts.len(), 6);
    for (i, (t, s)) in ts.iter().zip(&samples).enumerate() {
        let shard = if i < 3 { "xml-00000-of-00002.parquet" } else { "xml-00001-of-00002.parquet" };
        assert!(t.source.ends_with(&format!("{shard}: row {}", i % 3 + 1)), "{}", t.source);
        assert_eq!(t.resolved, s.json.resolved);
        if i == 4 {
            // No instance id: the row's traj_id stands in.
            assert_eq!(t.instance_id, format!("{}.t2", s.json.instance_id));
            let mut t = t.clone();
            t.instance_id = s.json.instance_id.clone();
            same_trajectory(&t, &s.json);
            continue;
        }
        same_trajectory(t, &s.json);
        if i < 3 {
            assert_eq!(t.model.as_deref(), Some("claude-3-7-sonnet-20250219"));
            assert_eq!(t.patch.as_deref(), Some(format!("diff --git a/f{i} b/f{i}\n").as_str()));
        } else {
            assert_eq!((t.model.as_deref(), t.patch.as_deref()), (None, None));
        }
    }
    // One file names itself, and a forced format reads it too.
    let one = read_path(&data.join("xml-00001-of-00002.parquet"), Format::SweSmith).unwrap();
    assert_eq!(one.len(), 3);
    same_trajectory(&one[2], &b[2].json);
}

#[test]
fn bad_rows_are_named_by_file_row_and_column() {
    let samples = samples();
    let good = &samples[0];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("train-00000-of-00001.parquet");
    write_columns(
        &path,
        &[
            ("instance_id", strs([Some(good.json.instance_id.clone()), Some("b".into()), Some("c".into()), None])),
            (
                "messages",
                strs([Some(good.messages_json.clone()), Some("[{\"role\": ".into()), Some("{}".into()), None]),
            ),
        ],
        Codec::Gzip,
    )
    .unwrap();
    let shown = path.display().to_string();
    let e = read_path(&path, Format::Auto).unwrap_err().to_string();
    assert!(e.starts_with(&format!("{shown}: row 2: field `messages` is a string but not JSON")), "{e}");

    let opts = ImportOptions { skip_invalid: true, ..Default::default() };
    let got = read_paths(std::slice::from_ref(&path), &opts).unwrap();
    assert_eq!(got.trajectories.len(), 1);
    same_trajectory(&got.trajectories[0], &good.json);
    let skipped: Vec<(String, String)> = got.skipped.into_iter().map(|s| (s.location, s.error)).collect();
    assert_eq!(skipped.len(), 3);
    assert_eq!(skipped[0].0, format!("{shown}: row 2"));
    assert_eq!(skipped[1].0, format!("{shown}: row 3"));
    assert!(skipped[1].1.contains("field `messages` is a JSON string but not of a list"), "{}", skipped[1].1);
    assert!(skipped[2].1.starts_with(&format!("{shown}: row 4: field `messages` is missing")), "{}", skipped[2].1);
    let e = read_paths(&[path], &ImportOptions { format: Format::SweSmith, skip_invalid: false }).unwrap_err();
    assert!(e.to_string().contains("row 2"), "{e}");

    // A file that is not Parquet names itself.
    let fake = dir.path().join("fake.parquet");
    std::fs::write(&fake, "{\"messages\": []}").unwrap();
    let e = read_path(&fake, Format::Auto).unwrap_err().to_string();
    assert!(e.starts_with(&format!("{}: not a readable Parquet file", fake.display())), "{e}");
}
