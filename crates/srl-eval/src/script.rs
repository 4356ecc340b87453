//! The eval script: SWE-bench's `make_eval_script_list` as pure string building, to be run in the instance's
//! container with stdout and stderr merged (the markers also appear in `set -x` traces on stderr).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize};
use srl_core::Instance;

use crate::directives::{test_directives, test_files};
use crate::error::EvalError;
use crate::log::Markers;
use crate::parse::{LogParser, parser_for_repo};

/// Environment facts of one (repo, version), as in `env_specs.json` (SWE-bench's `MAP_REPO_VERSION_TO_SPECS`).
/// Only `test_cmd`, `eval_commands`, `install` and `log_format` matter to the eval script and grading; the rest is
/// for the image builder.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvFacts {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packages: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pre_install: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pip_packages: Vec<String>,
    /// The test command; a list runs its earlier entries first and the last one with the directives.
    #[serde(deserialize_with = "string_or_list")]
    pub test_cmd: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub eval_commands: Vec<String>,
    /// A log format name ([`LogParser::from_name`]); absent: the repository's parser ([`parser_for_repo`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_use_env: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nano_cpus: Option<i64>,
}

fn string_or_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Either::deserialize(d)? {
        Either::One(s) => vec![s],
        Either::Many(v) => v,
    })
}

impl EnvFacts {
    /// The log parser: `log_format` when set, else the repository's.
    pub fn log_parser(&self, repo: &str) -> Result<LogParser, EvalError> {
        match &self.log_format {
            Some(name) => LogParser::from_name(name),
            None => parser_for_repo(repo).ok_or_else(|| EvalError::UnknownLogFormat(format!("(no parser for {repo})"))),
        }
    }
}

/// `env_specs.json`: repo -> version -> facts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EnvSpecs(pub BTreeMap<String, BTreeMap<String, EnvFacts>>);

impl EnvSpecs {
    pub fn load(path: &Path) -> Result<EnvSpecs, EvalError> {
        let text = std::fs::read_to_string(path).map_err(|e| EvalError::io(path, e))?;
        serde_json::from_str(&text).map_err(|e| EvalError::parse(path, format!("line {}", e.line()), e))
    }

    pub fn get(&self, repo: &str, version: &str) -> Result<&EnvFacts, EvalError> {
        self.0
            .get(repo)
            .and_then(|v| v.get(version))
            .ok_or_else(|| EvalError::NoEnvFacts { repo: repo.into(), version: version.into() })
    }
}

/// Container-side settings of the eval script. Defaults are SWE-bench's images: `/testbed`, conda env `testbed`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvalScriptConfig {
    pub repo_dir: String,
    /// `source <conda_activate>` then `conda activate <conda_env>`; `None` skips activation (a venv image).
    pub conda_env: Option<String>,
    pub conda_activate: String,
    pub heredoc_delimiter: String,
    /// Record the test command's exit code after the end marker (5.x); needed for the exit-code check.
    pub record_exit_code: bool,
}

impl Default for EvalScriptConfig {
    fn default() -> Self {
        EvalScriptConfig {
            repo_dir: "/testbed".into(),
            conda_env: Some("testbed".into()),
            conda_activate: "/opt/miniconda3/bin/activate".into(),
            heredoc_delimiter: "EOF_114329324912".into(),
            record_exit_code: true,
        }
    }
}

/// The shell variable the script keeps the test exit code in (5.x's name).
pub const TEST_EXIT_CODE_VAR: &str = "SWEBENCH_TEST_EXIT_CODE";

/// Quotes a word for bash when it holds anything but `[A-Za-z0-9_./:=@+,%-]`.
fn sh_word(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "_./:=@+,%-".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// SWE-bench's eval script for `instance`: `set -uxo pipefail` (no `-e`, so the final reset always runs); activate;
/// eval_commands; `git status`/`git show`/`git diff <base>` for the log; re-run install; reset the test files and
/// apply the test patch; start marker; `<test_cmd> <directives>`; record its exit code; end marker; the exit code
/// line; reset the test files again.
pub fn build_eval_script(instance: &Instance, env: &EnvFacts, markers: &Markers, cfg: &EvalScriptConfig) -> String {
    let dir = sh_word(&cfg.repo_dir);
    let base = sh_word(&instance.base_commit);
    let files: Vec<String> = test_files(&instance.test_patch).iter().map(|f| sh_word(f)).collect();
    let reset = (!files.is_empty()).then(|| format!("git checkout {base} {}", files.join(" ")));
    let activate = |out: &mut Vec<String>| {
        if let Some(env_name) = &cfg.conda_env {
            out.push(format!("source {}", sh_word(&cfg.conda_activate)));
            out.push(format!("conda activate {}", sh_word(env_name)));
        }
    };
    let mut lines: Vec<String> = vec!["#!/bin/bash".into(), "set -uxo pipefail".into()];
    activate(&mut lines);
    lines.push(format!("cd {dir}"));
    lines.extend(env.eval_commands.iter().cloned());
    lines.push(format!("git config --global --add safe.directory {dir}"));
    lines.push(format!("cd {dir}"));
    lines.push("git status".into());
    lines.push("git show".into());
    lines.push(format!("git -c core.fileMode=false diff {base}"));
    activate(&mut lines);
    lines.extend(env.install.iter().cloned());
    lines.extend(reset.iter().cloned());
    lines.push(format!("git apply -v - <<'{d}'\n{}\n{d}", instance.test_patch, d = cfg.heredoc_delimiter));
    let (test_cmd, before) = env.test_cmd.split_last().map_or(("", &[][..]), |(l, b)| (l.as_str(), b));
    lines.extend(before.iter().cloned());
    lines.push(format!(": '{}'", markers.start));
    let mut cmd = test_cmd.to_string();
    for d in test_directives(instance) {
        cmd.push(' ');
        cmd.push_str(&sh_word(&d));
    }
    lines.push(cmd);
    if cfg.record_exit_code {
        lines.push(format!("{TEST_EXIT_CODE_VAR}=$?"));
    }
    lines.push(format!(": '{}'", markers.end));
    if cfg.record_exit_code {
        lines.push(format!("echo \"{}: ${TEST_EXIT_CODE_VAR}\"", markers.exit_code));
    }
    lines.extend(reset);
    let mut script = lines.join("\n");
    script.push('\n');
    script
}
