//! Test directives, datasets and eval scripts on real SWE-bench Verified rows from ../shared/data (see its README).

use std::path::{Path, PathBuf};

use srl_core::Instance;
use srl_eval::{
    EnvSpecs, EvalScriptConfig, LogParser, Markers, build_eval_script, gold_predictions, load_dataset, test_directives,
    test_files,
};

fn shared(rel: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data").join(rel);
    assert!(
        p.exists(),
        "{} is absent: these tests read the project's shared reference data (../shared/data/README.md)",
        p.display()
    );
    p
}

fn verified() -> Vec<Instance> {
    load_dataset(&shared("swe-bench/verified.jsonl")).expect("verified.jsonl loads")
}

fn get<'a>(all: &'a [Instance], id: &str) -> &'a Instance {
    all.iter().find(|i| i.instance_id == id).unwrap_or_else(|| panic!("{id} not in Verified"))
}

#[test]
fn loads_all_of_verified() {
    let all = verified();
    assert_eq!(all.len(), 500);
    assert!(all.iter().all(|i| !i.fail_to_pass.is_empty() && !i.test_patch.is_empty()));
    let gold = gold_predictions(&all);
    assert_eq!(gold.len(), 500);
    assert!(gold.iter().all(|p| p.model_name_or_path == "gold" && !p.is_empty()));
    // Every Verified repo has a parser.
    for i in &all {
        assert!(srl_eval::parser_for_repo(&i.repo).is_some(), "{}", i.repo);
    }
}

#[test]
fn verified_has_676_truncated_ids() {
    // The ids that 5.x's prefix match exists for: cut inside a parameter, so `[` outnumbers `]`.
    let n: usize = verified()
        .iter()
        .flat_map(|i| i.fail_to_pass.iter().chain(&i.pass_to_pass))
        .filter(|t| t.matches('[').count() > t.matches(']').count())
        .count();
    assert_eq!(n, 676);
}

#[test]
fn directives_of_real_instances() {
    let all = verified();
    let d = |id: &str| test_directives(get(&all, id));
    // Django: dotted module names without `tests/` and `.py`.
    assert_eq!(d("django__django-11099"), ["auth_tests.test_validators"]);
    // Others: the test files as paths.
    assert_eq!(d("astropy__astropy-12907"), ["astropy/modeling/tests/test_separable.py"]);
    assert_eq!(d("sympy__sympy-20590"), ["sympy/core/tests/test_basic.py"]);
    assert_eq!(d("psf__requests-2317"), ["test_requests.py"]);
    assert_eq!(test_files(&get(&all, "django__django-11099").test_patch), ["tests/auth_tests/test_validators.py"]);

    // Non-code files in a test patch are not directives; for Django every directive is a dotted module name.
    let mut saw_data_file = false;
    for i in &all {
        let dirs = test_directives(i);
        // django__django-10097's test patch touches only .txt files: no directive (so the whole suite runs, as in
        // SWE-bench).
        assert_eq!(dirs.is_empty(), i.instance_id == "django__django-10097", "{}: {dirs:?}", i.instance_id);
        for d in &dirs {
            assert!(![".json", ".txt", ".md", ".png", ".yml", ".yaml", ".toml"].iter().any(|e| d.ends_with(e)), "{d}");
            if i.repo == "django/django" {
                assert!(!d.contains('/') && !d.ends_with(".py") && !d.starts_with("tests."), "{}: {d}", i.instance_id);
            }
        }
        saw_data_file |= i.test_patch.lines().any(|l| l.starts_with("diff --git") && l.ends_with(".txt"));
        // Files the test patch creates are not reset.
        for f in test_files(&i.test_patch) {
            assert!(i.test_patch.contains(&format!("--- a/{f}")), "{f}");
        }
    }
    assert!(saw_data_file, "Verified has test patches that touch data files");
}

#[test]
fn directives_skip_data_files_and_new_files_are_not_reset() {
    let all = verified();
    // A .json fixture next to Python tests; Django's directives are module names (models.py is a directive too, as in
    // SWE-bench).
    let i = get(&all, "django__django-15525");
    assert_eq!(
        test_directives(i),
        ["backends.sqlite.test_features", "fixtures_regress.models", "fixtures_regress.tests"]
    );
    // .rst files are code to SWE-bench's filter (only json/png/csv/txt/md/jpg/jpeg/pkl/yml/yaml/toml are not).
    let i = get(&all, "sphinx-doc__sphinx-11510");
    assert_eq!(
        test_directives(i),
        [
            "tests/roots/test-directive-include/baz/baz.rst",
            "tests/roots/test-directive-include/conf.py",
            "tests/roots/test-directive-include/foo.rst",
            "tests/test_directive_other.py"
        ]
    );
    // Only files that existed before the test patch are reset.
    assert_eq!(test_files(&i.test_patch), ["tests/test_directive_other.py"]);
    assert!(test_directives(get(&all, "django__django-10097")).is_empty());
}

#[test]
fn eval_script_for_django_11099() {
    let all = verified();
    let inst = get(&all, "django__django-11099");
    let specs = EnvSpecs::load(&shared("swe-bench/env_specs.json")).expect("env_specs.json loads");
    let env = specs.get(&inst.repo, &inst.version).unwrap();
    assert_eq!(env.log_parser(&inst.repo).unwrap(), LogParser::Django);
    let script = build_eval_script(inst, env, &Markers::default(), &EvalScriptConfig::default());
    let base = &inst.base_commit;
    let lines: Vec<&str> = script.lines().collect();
    assert_eq!(&lines[..2], ["#!/bin/bash", "set -uxo pipefail"]);
    let pos = |needle: &str| {
        lines.iter().position(|l| *l == needle).unwrap_or_else(|| panic!("no line {needle:?} in\n{script}"))
    };
    let reset = format!("git checkout {base} tests/auth_tests/test_validators.py");
    let start = pos(": '>>>>> Start Test Output'");
    let test = pos("./tests/runtests.py --verbosity 2 --settings=test_sqlite --parallel 1 auth_tests.test_validators");
    let end = pos(": '>>>>> End Test Output'");
    assert!(pos("source /opt/miniconda3/bin/activate") < pos("cd /testbed"));
    assert!(pos(&format!("git -c core.fileMode=false diff {base}")) < pos(env.install.as_deref().unwrap()));
    assert!(pos(env.install.as_deref().unwrap()) < pos("git apply -v - <<'EOF_114329324912'"));
    assert!(script.contains(&format!("<<'EOF_114329324912'\n{}\nEOF_114329324912\n", inst.test_patch)));
    assert_eq!(start + 1, test);
    assert_eq!(lines[test + 1], "SWEBENCH_TEST_EXIT_CODE=$?");
    assert_eq!(end, test + 2);
    assert_eq!(lines[end + 1], "echo \">>>>> Test Exit Code: $SWEBENCH_TEST_EXIT_CODE\"");
    assert_eq!(lines.iter().filter(|l| **l == reset).count(), 2);
    assert_eq!(*lines.last().unwrap(), reset);
    for cmd in &env.eval_commands {
        assert!(lines.contains(&cmd.as_str()), "{cmd}");
    }
}

#[test]
fn eval_script_for_sympy_and_astropy() {
    let all = verified();
    let specs = EnvSpecs::load(&shared("swe-bench/env_specs.json")).unwrap();
    let sympy = get(&all, "sympy__sympy-20590");
    let env = specs.get(&sympy.repo, &sympy.version).unwrap();
    let script = build_eval_script(sympy, env, &Markers::default(), &EvalScriptConfig::default());
    assert!(script.contains(
        "\nPYTHONWARNINGS='ignore::UserWarning,ignore::SyntaxWarning' bin/test -C --verbose sympy/core/tests/test_basic.py\n"
    ));
    let astropy = get(&all, "astropy__astropy-12907");
    let env = specs.get(&astropy.repo, &astropy.version).unwrap();
    let cfg = EvalScriptConfig { record_exit_code: false, ..EvalScriptConfig::default() };
    let script = build_eval_script(astropy, env, &Markers::default(), &cfg);
    assert!(script.contains(&format!("\n{} astropy/modeling/tests/test_separable.py\n", env.test_cmd[0])));
    assert!(!script.contains("Test Exit Code"));
    assert!(specs.get("astropy/astropy", "0.0").is_err());
}

/// All of Verified as Hugging Face's hub cache holds it (string columns, test lists JSON-encoded; written here in
/// two snappy shards) reads as the JSONL export does, found by the split's name.
#[test]
fn verified_as_parquet_shards_in_the_hub_cache_reads_as_the_jsonl() {
    use srl_data::parquet::{Codec, ColumnValues, write_columns};
    let text = std::fs::read_to_string(shared("swe-bench/verified.jsonl")).unwrap();
    let rows: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("datasets--SWE-bench--SWE-bench_Verified/snapshots/0123/data");
    std::fs::create_dir_all(&data).unwrap();
    let names: Vec<String> = rows[0].as_object().unwrap().keys().cloned().collect();
    for (k, shard) in rows.chunks(rows.len().div_ceil(2)).enumerate() {
        let columns: Vec<(&str, ColumnValues)> = names
            .iter()
            .map(|n| (n.as_str(), ColumnValues::Str(shard.iter().map(|r| r[n].as_str().map(String::from)).collect())))
            .collect();
        write_columns(&data.join(format!("test-0000{k}-of-00002.parquet")), &columns, Codec::Snappy).unwrap();
    }
    let files = srl_eval::dataset::find_split(srl_eval::Split::Verified, &[root.path().to_path_buf()]).unwrap();
    assert_eq!(files.len(), 2);
    let from_parquet = srl_eval::load_files(&files).unwrap();
    assert_eq!(from_parquet.len(), 500);
    assert_eq!(from_parquet, verified());
}
