//! Importers against every real trajectory file under ../shared/data/trajectories.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use srl_core::{ActionKind, Trajectory};
use srl_data::{Format, ImportOptions, read_path, read_paths};

fn shared(rel: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/trajectories").join(rel);
    assert!(p.exists(), "the shared data is missing: expected {} (see ../shared/data/README.md)", p.display());
    p
}

fn one(rel: &str) -> Trajectory {
    let mut v = read_path(&shared(rel), Format::Auto).unwrap();
    assert_eq!(v.len(), 1, "{rel}");
    v.pop().unwrap()
}

fn kinds(t: &Trajectory) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for s in &t.steps {
        let key = if s.action.kind() == ActionKind::Other {
            s.action.name().to_string()
        } else {
            s.action.kind().as_str().to_string()
        };
        *m.entry(key).or_insert(0) += 1;
    }
    m
}

fn counts(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

type Tools = &'static [(&'static str, usize)];
/// (file, steps, resolved, tools, has a patch)
type SmithCase = (&'static str, usize, Option<bool>, Tools, bool);

fn check_clean(t: &Trajectory) {
    for (i, s) in t.steps.iter().enumerate() {
        assert!(!s.observation.starts_with("OBSERVATION:"), "{}: step {i} keeps the prefix", t.instance_id);
        // Every action survives its own canonical round trip.
        assert_eq!(s.action.render().parse::<srl_core::ToolCall>().unwrap(), s.action);
    }
    assert!(!t.task.trim().is_empty());
}

#[test]
fn swe_smith_xml_files() {
    let cases: &[SmithCase] = &[
        (
            "arrow-py__arrow.1d70d009.lm_rewrite__nuzjfyur.json",
            15,
            Some(true),
            &[("bash", 6), ("create", 2), ("str_replace", 1), ("view", 4), ("submit", 2)],
            true,
        ),
        (
            "conan-io__conan.86f29e13.pr_17531.json",
            9,
            None,
            &[("bash", 4), ("create", 1), ("str_replace", 1), ("view", 2), ("submit", 1)],
            false,
        ),
        (
            "getmoto__moto.694ce1f4.pr_6159.json",
            28,
            Some(false),
            &[("bash", 14), ("create", 1), ("str_replace", 7), ("view", 5), ("submit", 1)],
            false,
        ),
        (
            "pandas-dev__pandas.95280573.pr_53652.json",
            37,
            Some(true),
            &[("bash", 18), ("create", 2), ("str_replace", 2), ("view", 13), ("submit", 2)],
            false,
        ),
        (
            "pandas-dev__pandas.95280573.pr_53856.json",
            17,
            Some(false),
            &[("bash", 9), ("create", 2), ("str_replace", 1), ("view", 3), ("submit", 2)],
            true,
        ),
        (
            "pydantic__pydantic.acb0f10f.pr_8316.json",
            22,
            Some(true),
            &[("bash", 11), ("create", 2), ("str_replace", 6), ("view", 1), ("submit", 2)],
            false,
        ),
    ];
    for (file, steps, resolved, tools, has_patch) in cases {
        let t = one(&format!("swe-smith-xml/{file}"));
        assert_eq!(t.source_format, "swe-smith");
        assert_eq!(t.instance_id, file.trim_end_matches(".json"));
        assert_eq!(t.steps.len(), *steps, "{file}");
        assert_eq!(t.resolved, *resolved, "{file}");
        assert_eq!(kinds(&t), counts(tools), "{file}");
        assert_eq!(t.patch.is_some(), *has_patch, "{file}");
        assert_eq!(t.steps.last().unwrap().action.kind(), ActionKind::Submit);
        check_clean(&t);
    }
    // The task is the PR description alone, without SWE-smith's instructions around it.
    let t = one("swe-smith-xml/pydantic__pydantic.acb0f10f.pr_8316.json");
    assert!(t.task.starts_with("`to_snake` alias generator bug"));
    assert!(!t.task.contains("<pr_description>") && !t.task.contains("Can you help me"));
    // The first action and its observation, verbatim but for \r\n.
    assert_eq!(t.steps[0].action, srl_core::ToolCall::bash("find /testbed -type f -name \"*.py\" | grep -i alias"));
    assert!(
        t.steps[0].observation.starts_with("/testbed/pydantic/alias_generators.py\n/testbed/pydantic/aliases.py\n")
    );
    assert!(t.steps.iter().all(|s| !s.observation.contains("\r\n")), "terminal line endings are normalised");
    assert!(t.steps[0].thought.starts_with("I'll help you implement"));
    // An empty observation is stored empty.
    assert!(t.steps.iter().any(|s| s.observation.is_empty()));
}

#[test]
fn swe_smith_records_round_trip() {
    for file in std::fs::read_dir(shared("swe-smith-xml")).unwrap() {
        let t = one(&format!("swe-smith-xml/{}", file.unwrap().file_name().to_str().unwrap()));
        let rec = srl_data::swe_smith::to_record(&t);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.json");
        std::fs::write(&path, serde_json::to_string(&rec).unwrap()).unwrap();
        let mut back = read_path(&path, Format::Auto).unwrap().pop().unwrap();
        back.source = t.source.clone();
        assert_eq!(back, t);
    }
}

#[test]
fn swe_agent_0x_text_actions() {
    let t = one("swe-agent/pydicom__pydicom-1458.traj");
    assert_eq!(t.instance_id, "pydicom__pydicom-1458");
    assert_eq!(t.steps.len(), 12);
    assert_eq!(
        kinds(&t),
        counts(&[("bash", 3), ("edit", 5), ("find_file", 1), ("create", 1), ("view", 1), ("submit", 1)])
    );
    assert_eq!(t.exit_status.as_deref(), Some("submitted"));
    // The final patch equals the one published beside it.
    // (the published file lost trailing spaces on context lines: compare without them)
    let want = std::fs::read_to_string(shared("swe-agent/pydicom__pydicom-1458.patch")).unwrap();
    let strip = |p: &str| p.trim().lines().map(str::trim_end).collect::<Vec<_>>().join("\n");
    assert_eq!(strip(t.patch.as_deref().unwrap()), strip(&want));
    // `edit` knows the file that was open.
    let edit = t
        .steps
        .iter()
        .find(|s| s.action.name() == "edit" && s.action.param("path") != Some("/pydicom__pydicom/reproduce_bug.py"))
        .unwrap();
    assert_eq!(edit.action.param("path"), Some("/pydicom__pydicom/pydicom/pixel_data_handlers/numpy_handler.py"));
    assert!(t.task.starts_with("Pixel Representation attribute should be optional"));
    check_clean(&t);
}

#[test]
fn swe_agent_1x_function_calls() {
    let t = one("swe-agent/marshmallow-code__marshmallow-1867.function_calling_replace.traj");
    assert_eq!(t.instance_id, "marshmallow-code__marshmallow-1867");
    assert_eq!(t.steps.len(), 11);
    assert_eq!(
        kinds(&t),
        counts(&[
            ("bash", 4),
            ("find_file", 1),
            ("insert", 1),
            ("create", 1),
            ("str_replace", 2),
            ("view", 1),
            ("submit", 1)
        ])
    );
    assert!(t.patch.as_deref().unwrap().starts_with("diff --git a/src/marshmallow/fields.py"));
    // Search/replace edits on the open file become str_replace with its path.
    let edit = t.steps.iter().find(|s| s.action.kind() == ActionKind::StrReplace).unwrap();
    assert_eq!(edit.action.param("path"), Some("/testbed/src/marshmallow/fields.py"));
    assert_eq!(edit.action.param("old_str"), Some("return int(value.total_seconds() / base_unit.total_seconds())"));
    // The tool footer is not part of observations.
    assert!(t.steps.iter().all(|s| !s.observation.contains("(Current directory:")));
    assert_eq!(t.steps[2].observation, "344");
    check_clean(&t);
}

#[test]
fn mini_swe_agent_run() {
    let t = one("mini-swe-agent/django__django-11099.traj.json");
    assert_eq!(t.instance_id, "django__django-11099");
    assert_eq!(t.source_format, "mini-swe-agent");
    assert_eq!(t.steps.len(), 42);
    assert_eq!(kinds(&t), counts(&[("bash", 41), ("submit", 1)]));
    assert_eq!(t.resolved, Some(true), "from eval_logs/<id>/report.json");
    let want = std::fs::read_to_string(shared("mini-swe-agent/eval_logs/django__django-11099/patch.diff")).unwrap();
    assert_eq!(t.patch.as_deref().map(str::trim), Some(want.trim()));
    assert!(t.task.starts_with("UsernameValidator allows trailing newline in usernames"));
    assert!(t.steps[0].observation.starts_with("./django/contrib/postgres/validators.py"));
    assert!(!t.steps[0].observation.contains("<returncode>"));
    // 12 commands printed nothing (`<output>\n</output>`): their observations are empty, as a replay's are.
    let bash_empty = t.steps.iter().filter(|s| s.action.name() == "bash" && s.observation.is_empty()).count();
    assert_eq!(bash_empty, 12);
    // One output was too long: its head, the elided count and its tail, without mini-swe-agent's tags.
    let long: Vec<&str> =
        t.steps.iter().map(|s| s.observation.as_str()).filter(|o| o.contains("characters elided]")).collect();
    assert_eq!(long.len(), 1);
    assert!(long[0].starts_with("The output of your last command was too long."), "{}", &long[0][..200]);
    assert!(
        t.steps.iter().all(|s| !s.observation.contains("<output_head>") && !s.observation.contains("<returncode>"))
    );
    check_clean(&t);
}

#[test]
fn openhands_event_stream() {
    let ts = read_path(&shared("openhands/multi_swe_bench_ponyc.output.jsonl"), Format::Auto).unwrap();
    assert_eq!(ts.len(), 3);
    let want: &[(&str, usize, Tools)] = &[
        ("ponylang__ponyc-4595", 22, &[("bash", 13), ("str_replace", 2), ("view", 6), ("submit", 1)]),
        ("ponylang__ponyc-4593", 33, &[("bash", 12), ("insert", 1), ("str_replace", 10), ("view", 9), ("submit", 1)]),
        ("ponylang__ponyc-4588", 48, &[("bash", 24), ("insert", 3), ("str_replace", 13), ("view", 8)]),
    ];
    for (t, (id, n, tools)) in ts.iter().zip(want) {
        assert_eq!(t.instance_id, *id);
        assert_eq!(t.steps.len(), *n, "{id}");
        assert_eq!(kinds(t), counts(tools), "{id}");
        assert!(t.patch.as_deref().unwrap().starts_with("diff --git"), "{id}");
        assert!(t.source.ends_with(&format!(":{}", ts.iter().position(|x| x.instance_id == *id).unwrap() + 1)));
        check_clean(t);
    }
    // Observations follow their actions by `cause`.
    assert!(ts[0].steps[0].observation.contains("BUILD.md"));
    assert!(ts[2].exit_status.as_deref().unwrap().contains("maximum iteration"));
}

#[test]
fn a_folder_imports_every_format() {
    let all = read_path(&shared(""), Format::Auto).unwrap();
    let mut by_format = BTreeMap::new();
    for t in &all {
        *by_format.entry(t.source_format.clone()).or_insert(0) += 1;
    }
    assert_eq!(by_format, counts(&[("swe-smith", 6), ("swe-agent", 2), ("mini-swe-agent", 1), ("openhands", 3)]));
}

#[test]
fn forcing_the_wrong_format_says_so() {
    let err = read_path(&shared("swe-agent/pydicom__pydicom-1458.traj"), Format::MiniSweAgent).unwrap_err().to_string();
    assert!(err.contains("pydicom__pydicom-1458.traj") && err.contains("messages"), "{err}");
}

#[test]
fn malformed_lines_name_file_and_line_and_can_be_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read_to_string(shared("swe-smith-xml/conan-io__conan.86f29e13.pr_17531.json")).unwrap();
    let good: serde_json::Value = serde_json::from_str(&good).unwrap();
    let path = dir.path().join("mixed.jsonl");
    let lines = [
        serde_json::to_string(&good).unwrap(),
        "{not json".into(),
        r#"{"foo": 1}"#.into(),
        serde_json::to_string(&good).unwrap(),
    ];
    std::fs::write(&path, lines.join("\n")).unwrap();
    let err = read_path(&path, Format::Auto).unwrap_err().to_string();
    assert!(err.contains("mixed.jsonl:2") && err.contains("invalid JSON"), "{err}");
    let out =
        read_paths(std::slice::from_ref(&path), &ImportOptions { skip_invalid: true, ..Default::default() }).unwrap();
    assert_eq!(out.trajectories.len(), 2);
    assert_eq!(out.skipped.len(), 2);
    assert!(out.skipped[1].location.ends_with("mixed.jsonl:3"));
    assert!(out.skipped[1].error.contains("cannot tell the trajectory format") && out.skipped[1].error.contains("foo"));
}

#[test]
fn canonical_trajectories_read_back() {
    let all = read_path(&shared("swe-smith-xml"), Format::Auto).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("canon.jsonl");
    let text: Vec<String> = all.iter().map(|t| serde_json::to_string(t).unwrap()).collect();
    std::fs::write(&path, text.join("\n") + "\n").unwrap();
    let back = read_path(&path, Format::Auto).unwrap();
    assert_eq!(back.len(), all.len());
    for (a, b) in all.iter().zip(&back) {
        assert_eq!(a.steps, b.steps);
        assert_eq!(b.source_format, "swe-smith", "the original format is kept");
    }
}
