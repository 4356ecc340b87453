//! The `data`, `reward` and `model eval-steps` commands, run as a user runs them, on the real shared trajectories.

use common::{lines, ok, shared, srl, srl_stdin, text};
use serde_json::Value;

mod common;

#[test]
fn import_writes_canonical_trajectories() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("t.jsonl");
    let xml = shared("swe-smith-xml");
    ok(&srl(&["data", "import", xml.to_str().unwrap(), "--output", out.to_str().unwrap()]));
    let ts = lines(&out);
    assert_eq!(ts.len(), 6);
    for t in &ts {
        for key in ["instance_id", "task", "steps", "patch", "resolved"] {
            assert!(t.get(key).is_some(), "missing {key}");
        }
        let step = &t["steps"][0];
        assert!(step["action"].as_str().unwrap().starts_with("<function="));
        assert!(step.get("thought").is_some() && step.get("observation").is_some());
    }
    // Canonical output is itself importable, and steps can be built from it.
    let steps = dir.path().join("s.jsonl");
    ok(&srl(&["data", "steps", out.to_str().unwrap(), "--output", steps.to_str().unwrap()]));
    assert_eq!(lines(&steps).len(), 128);
}

#[test]
fn steps_with_window_holdout_and_filter() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("train.jsonl");
    let xml = shared("swe-smith-xml");
    let err = ok(&srl(&[
        "data",
        "steps",
        xml.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--drop-unresolved",
        "--holdout-ids",
        "pydantic__pydantic.acb0f10f.pr_8316",
    ]));
    let _ = err;
    let train = lines(&out);
    let valid = lines(&dir.path().join("train.valid.jsonl"));
    // 128 actions in all; moto (28) and pandas 53856 (17) are unresolved; pydantic (22) held out.
    assert_eq!(train.len(), 128 - 28 - 17 - 22);
    assert_eq!(valid.len(), 22);
    assert!(valid.iter().all(|e| e["instance_id"] == "pydantic__pydantic.acb0f10f.pr_8316"));
    for e in &train {
        for key in ["instance_id", "step_index", "n_steps", "messages", "expert_action", "expert_thought"] {
            assert!(e.get(key).is_some(), "missing {key}");
        }
        let k = e["step_index"].as_u64().unwrap() as usize;
        assert_eq!(e["messages"].as_array().unwrap().len(), 2 + 2 * k.min(2), "window 2");
        assert!(
            !e["expert_action"].as_str().unwrap().contains(e["expert_thought"].as_str().unwrap())
                || e["expert_thought"] == ""
        );
    }
    // `--window all` keeps the whole history; the observation budget cuts long ones.
    let all = dir.path().join("all.jsonl");
    ok(&srl(&[
        "data",
        "steps",
        xml.to_str().unwrap(),
        "--output",
        all.to_str().unwrap(),
        "--window",
        "all",
        "--max-observation-chars",
        "100",
    ]));
    let all = lines(&all);
    let last = all.iter().max_by_key(|e| e["step_index"].as_u64().unwrap()).unwrap();
    assert_eq!(last["messages"].as_array().unwrap().len(), 2 + 2 * last["step_index"].as_u64().unwrap() as usize);
    assert!(all.iter().any(|e| e.to_string().contains("characters omitted")));
}

#[test]
fn stats_describe_every_format() {
    let out = ok(&srl(&["data", "stats", shared("").to_str().unwrap(), "--json"]));
    let s: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(s["trajectories"], 12);
    assert_eq!(s["steps"], 128 + 12 + 11 + 42 + 22 + 33 + 48);
    assert_eq!(s["by_format"]["openhands"], 3);
    assert!(s["actions_per_tool"]["bash"].as_u64().unwrap() > 100);
    assert!(s["prompt_chars"]["p50"].as_u64().unwrap() > 1000);
    let text = ok(&srl(&["data", "stats", shared("swe-smith-xml").to_str().unwrap()]));
    assert!(text.contains("actions per tool") && text.contains("str_replace"));
}

#[test]
fn reward_commands_keep_order() {
    let out = ok(&srl_stdin(
        &["reward", "similarity", "--input", "-"],
        "{\"a\": \"abcd\", \"b\": \"bcde\"}\n{\"a\": \"\", \"b\": \"\"}\n{\"a\": \"qabxcd\", \"b\": \"abycdf\"}\n",
    ));
    let ratios: Vec<f64> =
        out.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()["ratio"].as_f64().unwrap()).collect();
    assert_eq!(ratios, [0.75, 1.0, 0.6666666666666666]);

    let expert = "<function=bash>\n<parameter=command>ls</parameter>\n</function>";
    let input = [
        serde_json::json!({"completion": format!("<think>x</think>\n{expert}"), "expert_action": expert}),
        serde_json::json!({"completion": expert, "expert_action": expert}),
    ]
    .iter()
    .map(|v| v.to_string() + "\n")
    .collect::<String>();
    let out = ok(&srl_stdin(&["reward", "score", "--input", "-"], &input));
    let rows: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows[0]["reward"], 1.0);
    assert_eq!(rows[0]["format_ok"], true);
    assert_eq!(rows[0]["action"], expert);
    assert_eq!(rows[1]["reward"], -1.0);
    assert_eq!(rows[1]["format_ok"], false);
}

/// Pairs are scored on every core: many pairs of very different lengths (so threads finish out of order) come
/// back in input order, each bit-identical to the library's value.
#[test]
fn reward_similarity_in_parallel_keeps_order_and_values() {
    let pairs: Vec<(String, String)> = (0..600)
        .map(|i| {
            let a = format!("line {i}\n").repeat(1 + (i * 37) % 150);
            let b = format!("line {}\n", i + 1).repeat(1 + (i * 11) % 90) + &a[..a.len() / 2];
            (a, b)
        })
        .collect();
    let input: String = pairs.iter().map(|(a, b)| serde_json::json!({"a": a, "b": b}).to_string() + "\n").collect();
    let out = ok(&srl_stdin(&["reward", "similarity", "--input", "-"], &input));
    // Compared as text: the shortest representation that reads back as the same f64.
    let got: Vec<&str> = out.lines().collect();
    let want: Vec<String> =
        pairs.iter().map(|(a, b)| serde_json::json!({"ratio": srl_reward::similarity(a, b)}).to_string()).collect();
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g, w, "pair {i}");
    }
}

/// The input is read whole and its lines parsed on every core: CRLF endings, blank lines, escaped and plain
/// strings (borrowed from the input) give the values the library gives, in order.
#[test]
fn reward_similarity_reads_crlf_blank_lines_and_escapes() {
    let pairs = [("abcd", "bcde"), ("tab\t \"quoted\" é😀\n", "tab \"quoted\"\n"), ("", "")];
    let mut input = String::new();
    for (i, (a, b)) in pairs.iter().enumerate() {
        input += &serde_json::json!({"a": a, "b": b}).to_string();
        input += if i == 0 { "\r\n\n   \n" } else { "\n" };
    }
    let out = ok(&srl_stdin(&["reward", "similarity", "--input", "-"], &input));
    let want: Vec<String> =
        pairs.iter().map(|(a, b)| serde_json::json!({"ratio": srl_reward::similarity(a, b)}).to_string()).collect();
    assert_eq!(out.lines().collect::<Vec<_>>(), want);
}

#[test]
fn bad_input_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("pairs.jsonl");
    std::fs::write(&f, "{\"a\": \"x\", \"b\": \"y\"}\n{\"a\": 1}\n").unwrap();
    let out = srl(&["reward", "similarity", "--input", f.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("pairs.jsonl:2"), "{err}");

    let t = dir.path().join("t.jsonl");
    let good = std::fs::read_to_string(shared("swe-smith-xml/conan-io__conan.86f29e13.pr_17531.json")).unwrap();
    let good: Value = serde_json::from_str(&good).unwrap();
    std::fs::write(&t, format!("{}\n{{oops\n{}\n", good, good)).unwrap();
    let out = srl(&["data", "import", t.to_str().unwrap(), "--output", "-"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("t.jsonl:2"));
    let out = srl(&["data", "import", t.to_str().unwrap(), "--output", "-", "--skip-invalid"]);
    assert_eq!(ok(&out).lines().count(), 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("skipped 1 invalid record"));

    let out = srl(&["data", "import", "/nonexistent/file.json", "--output", "-"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/file.json"));
}

#[test]
fn every_command_has_help() {
    for args in [
        &["--help"][..],
        &["data", "--help"],
        &["data", "import", "--help"],
        &["data", "steps", "--help"],
        &["data", "stats", "--help"],
        &["reward", "similarity", "--help"],
        &["reward", "score", "--help"],
        &["model", "eval-steps", "--help"],
    ] {
        let out = ok(&srl(args));
        assert!(out.contains("Usage:"), "{args:?}");
    }
}

/// `model eval-steps` on real step examples (shared SWE-smith trajectories) with the tiny random model: a line per
/// completion, each scored as the reward scores it, and the summary over them.
#[test]
fn eval_steps_scores_every_completion() {
    let dir = tempfile::tempdir().unwrap();
    let (model, examples, out) = (dir.path().join("m"), dir.path().join("ex.jsonl"), dir.path().join("r.jsonl"));
    ok(&srl(&["model", "init", "--out", model.to_str().unwrap()]));
    let xml = shared("swe-smith-xml");
    ok(&srl(&["data", "steps", xml.to_str().unwrap(), "--output", examples.to_str().unwrap()]));
    let args = ["model", "eval-steps", "--model", model.to_str().unwrap(), "--examples", examples.to_str().unwrap()];
    let more = ["--limit", "3", "--samples", "2", "--temperature", "1", "--max-new-tokens", "8", "--output"];
    let stdout = ok(&srl(&[&args[..], &more[..], &[out.to_str().unwrap()]].concat()));
    assert!(stdout.contains("3 examples, 6 completions: format rate 0.000, mean reward -1.000"), "{stdout}");
    assert!(stdout.contains("action kind"), "{stdout}");
    let rows = lines(&out);
    assert_eq!(rows.len(), 6);
    let wanted = lines(&examples);
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r["sample"], (i % 2) as u64);
        assert_eq!(r["expert_action"], wanted[i / 2]["expert_action"]);
        let scored = srl_reward::Scorer::new(r["expert_action"].as_str().unwrap(), srl_reward::Metric::Difflib)
            .score(r["completion"].as_str().unwrap());
        assert_eq!(
            (r["reward"].as_f64().unwrap(), r["format_ok"].as_bool().unwrap()),
            (scored.reward, scored.format_ok)
        );
    }
    let bad = srl(&[&args[..], &["--temperature=-1"]].concat());
    assert!(!bad.status.success() && text(&bad.stderr).contains("temperature"), "{}", text(&bad.stderr));
}

/// `model import-gguf` refuses what is not a GGUF, naming the file, and a non-empty folder without --force.
#[test]
fn import_gguf_refuses_bad_input_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("notes.gguf");
    std::fs::write(&bad, "hello").unwrap();
    let out_dir = dir.path().join("out");
    let o = srl(&["model", "import-gguf", bad.to_str().unwrap(), "--out", out_dir.to_str().unwrap()]);
    assert!(!o.status.success());
    let e = text(&o.stderr);
    assert!(e.contains(bad.to_str().unwrap()) && e.contains("not a readable GGUF"), "{e}");
    let missing = dir.path().join("missing.gguf");
    let o = srl(&["model", "import-gguf", missing.to_str().unwrap(), "--out", out_dir.to_str().unwrap()]);
    assert!(!o.status.success() && text(&o.stderr).contains("missing.gguf"), "{}", text(&o.stderr));
    std::fs::create_dir_all(&out_dir).unwrap();
    std::fs::write(out_dir.join("keep.txt"), "x").unwrap();
    let o = srl(&["model", "import-gguf", bad.to_str().unwrap(), "--out", out_dir.to_str().unwrap()]);
    assert!(!o.status.success() && text(&o.stderr).contains("--force"), "{}", text(&o.stderr));
    assert!(out_dir.join("keep.txt").exists());
}

/// A trajectory dataset as Hugging Face keeps it (SWE-smith's published trajectories: Parquet shards with the chat
/// in a `messages` column, here as a list of structs in one shard and as a JSON string in the other) imports,
/// builds steps and is described exactly as the JSON files it was made from.
#[test]
fn a_parquet_trajectory_dataset_reads_as_its_json_files() {
    use srl_data::parquet::{Codec, ColumnValues, write_columns};
    let xml = shared("swe-smith-xml");
    let mut files: Vec<_> = std::fs::read_dir(&xml).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let records: Vec<Value> =
        files.iter().map(|f| serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap()).collect();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("hub/data");
    std::fs::create_dir_all(&data).unwrap();
    for (k, shard) in records.chunks(3).enumerate() {
        let ids = ColumnValues::Str(shard.iter().map(|r| r["instance_id"].as_str().map(String::from)).collect());
        let resolved = ColumnValues::Bool(shard.iter().map(|r| r["outcome"]["resolved"].as_bool()).collect());
        let text = |key: &str| ColumnValues::Str(shard.iter().map(|r| r[key].as_str().map(String::from)).collect());
        let messages = if k == 0 {
            ColumnValues::Messages(
                shard
                    .iter()
                    .map(|r| {
                        let m = r["messages"].as_array().unwrap().iter();
                        Some(
                            m.map(|m| (m["role"].as_str().unwrap().into(), m["content"].as_str().unwrap().into()))
                                .collect(),
                        )
                    })
                    .collect(),
            )
        } else {
            ColumnValues::Str(shard.iter().map(|r| Some(r["messages"].to_string())).collect())
        };
        let path = data.join(format!("xml-0000{k}-of-00002.parquet"));
        let columns = [
            ("messages", messages),
            ("instance_id", ids),
            ("resolved", resolved),
            ("model", text("model")),
            ("patch", text("patch")),
        ];
        write_columns(&path, &columns, Codec::Snappy).unwrap();
    }
    let hub = dir.path().join("hub");
    let (from_json, from_parquet) = (dir.path().join("json.jsonl"), dir.path().join("parquet.jsonl"));
    ok(&srl(&["data", "import", xml.to_str().unwrap(), "--output", from_json.to_str().unwrap()]));
    ok(&srl(&["data", "import", hub.to_str().unwrap(), "--output", from_parquet.to_str().unwrap()]));
    let without_source = |mut t: Value| {
        let source = t.as_object_mut().unwrap().remove("source").unwrap();
        (t, source.as_str().unwrap().to_string())
    };
    let (a, b) = (lines(&from_json), lines(&from_parquet));
    assert_eq!(b.len(), 6);
    for (i, (a, b)) in a.into_iter().zip(b).enumerate() {
        let (b, source) = without_source(b);
        assert_eq!(without_source(a).0, b);
        assert!(source.ends_with(&format!("-of-00002.parquet: row {}", i % 3 + 1)), "{source}");
    }
    let steps = dir.path().join("steps.jsonl");
    ok(&srl(&["data", "steps", hub.to_str().unwrap(), "--output", steps.to_str().unwrap(), "--drop-unresolved"]));
    assert_eq!(lines(&steps).len(), 128 - 28 - 17);
    let stats: Value = serde_json::from_str(&ok(&srl(&["data", "stats", hub.to_str().unwrap(), "--json"]))).unwrap();
    assert_eq!((stats["trajectories"].as_u64(), stats["steps"].as_u64()), (Some(6), Some(128)));

    // A row whose chat is not JSON: the error names the file, the row and the field; --skip-invalid goes on.
    let bad = dir.path().join("bad.parquet");
    let messages = ColumnValues::Str(vec![Some(records[0]["messages"].to_string()), Some("[{\"role\"".into())]);
    write_columns(&bad, &[("messages", messages)], Codec::Zstd).unwrap();
    let out = srl(&["data", "import", bad.to_str().unwrap(), "--output", "-"]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success() && stderr.contains("bad.parquet: row 2: field `messages`"), "{stderr}");
    let out = ok(&srl(&["data", "import", bad.to_str().unwrap(), "--output", "-", "--skip-invalid"]));
    assert_eq!(out.lines().count(), 1);
}
