//! SWE-bench's environment facts (`env_specs.json`, its `MAP_REPO_VERSION_TO_SPECS`) as environment specs for
//! `environments/`: one TOML file per repository and group of versions with identical facts, with the log format
//! the repository's parser needs and a header that says how the environment is built offline and online.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use srl_sandbox::EnvSpec;

use crate::error::EvalError;
use crate::parse::parser_for_repo;
use crate::script::{EnvFacts, EnvSpecs};

/// The Python of the offline base image (Debian bookworm's python3).
pub const OFFLINE_PYTHON: &str = "3.11";

/// One generated spec file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GeneratedSpec {
    /// `<owner>__<name>-<first version>.toml`
    pub file_name: String,
    pub spec: EnvSpec,
    /// The file's text: the header comment, then the spec as TOML.
    pub text: String,
}

/// Splits SWE-bench's `packages` string into requirement specs: whitespace-separated, single or double quotes
/// group (`'pandas<2.0.0' numpy` gives `pandas<2.0.0`, `numpy`).
pub fn split_packages(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    for c in s.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (None, '\'' | '"') => {
                quote = Some(c);
                any = true;
            }
            (None, c) if c.is_whitespace() => {
                if any {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            (_, c) => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(cur);
    }
    out
}

/// The spec of `repo` at `versions` with `facts`.
pub fn spec_from_facts(repo: &str, versions: &[String], facts: &EnvFacts) -> Result<EnvSpec, EvalError> {
    let log_format = match &facts.log_format {
        Some(f) => crate::parse::LogParser::from_name(f)?,
        None => parser_for_repo(repo).ok_or_else(|| EvalError::UnknownLogFormat(format!("(no parser for {repo})")))?,
    };
    let (test_cmd, before) = facts
        .test_cmd
        .split_last()
        .ok_or_else(|| EvalError::Dataset(format!("{repo} {}: empty test_cmd", versions.join(","))))?;
    let mut eval_commands = facts.eval_commands.clone();
    eval_commands.extend(before.iter().cloned());
    Ok(EnvSpec {
        name: file_stem(repo, versions),
        repos: vec![repo.to_string()],
        versions: versions.to_vec(),
        python: facts.python.clone().unwrap_or_else(|| OFFLINE_PYTHON.into()),
        apt_packages: Vec::new(),
        packages: facts.packages.as_deref().map(split_packages).unwrap_or_default(),
        pip_packages: facts.pip_packages.clone(),
        pre_install: facts.pre_install.clone(),
        install: facts.install.iter().cloned().collect(),
        eval_commands,
        test_cmd: test_cmd.clone(),
        log_format: log_format.as_str().to_string(),
        network: false,
        no_use_env: facts.no_use_env.unwrap_or(false),
        nano_cpus: facts.nano_cpus,
        path: PathBuf::new(),
    })
}

fn file_stem(repo: &str, versions: &[String]) -> String {
    format!("{}-{}", repo.replace('/', "__"), versions.first().map(String::as_str).unwrap_or("any"))
}

/// How a spec is built here and online, for the file's header.
pub fn build_note(spec: &EnvSpec) -> String {
    let needs_files = spec.packages.iter().any(|p| p == "requirements.txt" || p == "environment.yml");
    let offline = if spec.python != OFFLINE_PYTHON {
        format!(
            "Offline: cannot be built on this machine: Python {} is not the base image's Python (Debian bookworm's \
             {OFFLINE_PYTHON}), and no conda channel is reachable.",
            spec.python
        )
    } else if needs_files {
        format!(
            "Offline: Python {OFFLINE_PYTHON} matches the base image, but `packages = {:?}` installs the repository's \
             own requirements, which needs the network (`network = true`) and a git mirror of the repository \
             (`--mirror-dir DIR` holding {}).",
            spec.packages,
            spec.repos[0].replace('/', "__")
        )
    } else {
        format!(
            "Offline: Python {OFFLINE_PYTHON} matches the base image; pip packages come from the host's wheelhouse; \
             the repository needs a git mirror (`--mirror-dir DIR` holding {}).",
            spec.repos[0].replace('/', "__")
        )
    };
    format!(
        "{offline}\nOnline: `--image-source swebench` (on `srl-swe eval`, `replay`, `sandbox build`) pulls SWE-bench's \
         published instance images\n(swebench/sweb.eval.x86_64.<id>), which hold this environment in the conda env \
         `testbed`."
    )
}

/// Every (repo, version) of `facts`, grouped per repository into versions with identical facts, as spec files.
pub fn specs_from_swebench(facts: &EnvSpecs) -> Result<Vec<GeneratedSpec>, EvalError> {
    let mut out = Vec::new();
    for (repo, versions) in &facts.0 {
        let mut groups: Vec<(Vec<String>, &EnvFacts)> = Vec::new();
        let mut sorted: Vec<(&String, &EnvFacts)> = versions.iter().collect();
        sorted.sort_by_key(|a| version_key(a.0));
        for (v, f) in sorted {
            match groups.iter_mut().find(|(_, g)| *g == f) {
                Some((vs, _)) => vs.push(v.clone()),
                None => groups.push((vec![v.clone()], f)),
            }
        }
        for (vs, f) in groups {
            let spec = spec_from_facts(repo, &vs, f)?;
            let body = toml::to_string(&spec).map_err(|e| EvalError::Dataset(format!("{repo}: {e}")))?;
            let mut text = format!(
                "# SWE-bench environment: {repo} {}.\n# Generated by `srl-swe sandbox import-specs` from SWE-bench's \
                 env_specs.json; regenerate rather than edit.\n",
                vs.join(", ")
            );
            for line in build_note(&spec).lines() {
                text += &format!("# {line}\n");
            }
            text.push('\n');
            text += &body;
            out.push(GeneratedSpec { file_name: format!("{}.toml", spec.name), spec, text });
        }
    }
    Ok(out)
}

/// `1.10` after `1.9`: numeric parts compared as numbers.
fn version_key(v: &str) -> Vec<(u64, String)> {
    v.split('.').map(|p| (p.parse().unwrap_or(u64::MAX), p.to_string())).collect()
}

/// Writes the generated specs into `dir` (created), replacing files of the same name and removing other `*.toml`
/// files there (a regenerated folder holds exactly the current facts). Returns the paths written.
pub fn write_specs(specs: &[GeneratedSpec], dir: &Path) -> Result<Vec<PathBuf>, EvalError> {
    std::fs::create_dir_all(dir).map_err(|e| EvalError::io(dir, e))?;
    let keep: std::collections::BTreeSet<&str> = specs.iter().map(|s| s.file_name.as_str()).collect();
    for e in std::fs::read_dir(dir).map_err(|e| EvalError::io(dir, e))?.flatten() {
        let p = e.path();
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if p.extension().is_some_and(|x| x == "toml") && !keep.contains(name) {
            std::fs::remove_file(&p).map_err(|e| EvalError::io(&p, e))?;
        }
    }
    let mut written = Vec::new();
    for s in specs {
        let p = dir.join(&s.file_name);
        srl_core::fs::write_atomic(&p, s.text.as_bytes()).map_err(|e| EvalError::io(&p, e))?;
        written.push(p);
    }
    Ok(written)
}

/// Per (repo, version), the file that serves it, for checks.
pub fn coverage(specs: &[EnvSpec], facts: &EnvSpecs) -> BTreeMap<(String, String), Option<PathBuf>> {
    let mut out = BTreeMap::new();
    for (repo, versions) in &facts.0 {
        for v in versions.keys() {
            out.insert((repo.clone(), v.clone()), EnvSpec::find(specs, repo, v).map(|s| s.path.clone()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_packages_like_a_shell() {
        assert_eq!(
            split_packages("'numpy==1.19.2' scipy  \"pandas<2.0.0\" pytest"),
            vec!["numpy==1.19.2", "scipy", "pandas<2.0.0", "pytest"]
        );
        assert_eq!(split_packages("requirements.txt"), vec!["requirements.txt"]);
        assert!(split_packages("  ").is_empty());
    }

    #[test]
    fn versions_sort_numerically() {
        let mut v = vec!["1.10", "1.9", "1.11", "0.12"];
        v.sort_by_key(|s| version_key(s));
        assert_eq!(v, vec!["0.12", "1.9", "1.10", "1.11"]);
    }
}
