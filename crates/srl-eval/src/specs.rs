//! SWE-bench's environment facts (`env_specs.json`, its `MAP_REPO_VERSION_TO_SPECS`) as environment specs for
//! `environments/`: one TOML file per repository and group of versions with identical facts, with the log format
//! the repository's parser needs and a header that says how the environment is built offline and online.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use srl_sandbox::{DebianSuite, EnvSpec};

use crate::error::EvalError;
use crate::parse::parser_for_repo;
use crate::script::{EnvFacts, EnvSpecs};

/// The Python of the default offline base image (Debian bookworm's python3): specs without a `python`.
pub const OFFLINE_PYTHON: &str = "3.11";

/// SWE-bench's `MAP_REPO_TO_REQS_PATHS`: where `packages = "requirements.txt"` is read, first found wins.
const REQS_PATHS: &[(&str, &[&str])] = &[
    ("dbt-labs/dbt-core", &["dev-requirements.txt", "dev_requirements.txt"]),
    ("django/django", &["tests/requirements/py3.txt"]),
    ("matplotlib/matplotlib", &["requirements/dev/dev-requirements.txt", "requirements/testing/travis_all.txt"]),
    ("pallets/flask", &["requirements/dev.txt"]),
    ("pylint-dev/pylint", &["requirements_test.txt"]),
    ("pyvista/pyvista", &["requirements_test.txt", "requirements.txt"]),
    ("sqlfluff/sqlfluff", &["requirements_dev.txt"]),
    ("sympy/sympy", &["requirements-dev.txt", "requirements-test.txt"]),
];

/// SWE-bench's `MAP_REPO_TO_ENV_YML_PATHS`: where `packages = "environment.yml"` is read.
const ENV_YML_PATHS: &[(&str, &[&str])] = &[
    ("matplotlib/matplotlib", &["environment.yml"]),
    ("pydata/xarray", &["ci/requirements/environment.yml", "environment.yml"]),
];

/// conda names in those environment.yml files that are not the PyPI name of the same package, and what the
/// offline build does with them (`pip:`, `apt:`, `skip:`; see [`EnvSpec::conda`]), for every environment.yml.
const CONDA_NAMES: &[(&str, &str)] = &[
    ("matplotlib-base", "pip:matplotlib"),
    ("dask-core", "pip:dask"),
    ("netcdf4", "pip:netCDF4"),
    // conda-forge's solver picks an iris that accepts the pinned dask (2022.8.1); on PyPI every release with a wheel
    // (3.5 on) requires `dask[array]>=2022.9.0`, so the bound makes pip take 3.4's sdist (pure Python).
    ("iris", "pip:scitools-iris<3.5"),
    ("pseudonetcdf", "pip:PseudoNetCDF"),
    ("pytables", "pip:tables"),
    ("cdms2", "skip:conda-forge only (no PyPI release); its tests are skipped without it"),
    ("hdf5", "skip:a C library: h5py's and netCDF4's wheels bundle it"),
    ("libnetcdf", "skip:a C library: netCDF4's wheels bundle it"),
    ("pynio", "skip:conda-forge only (no PyPI release)"),
    ("pkg-config", "skip:in every base image"),
    ("compilers", "skip:gcc and g++ are in every base image"),
    ("c-compiler", "skip:gcc is in every base image"),
    ("cxx-compiler", "skip:g++ is in every base image"),
    ("ipykernel", "pip:ipykernel"),
    ("nodejs", "skip:not a Python package; no Node.js offline"),
    ("pre-commit", "skip:a git hook runner, not used by the tests"),
];

/// Bounds added against drift since SWE-bench built its images (`pip install` of an unpinned dependency now gets
/// releases that did not exist then): `(repo, requirement, why)`, the spec's `drift_pins`, said in its header.
const DRIFT_PINS: &[(&str, &str, &str)] = &[(
    "sphinx-doc/sphinx",
    "Pygments<2.19",
    "Pygments 2.19 (January 2025) emits whitespace tokens (`<span class=\"w\"> </span>`) that the HTML tests of \
     these sphinx versions do not expect",
)];

/// Per repository, conda names of its environment.yml that are C libraries or programs: Debian packages of its
/// base image.
const CONDA_APT: &[(&str, &str, &str)] = &[
    ("matplotlib/matplotlib", "graphviz", "graphviz"),
    ("matplotlib/matplotlib", "ffmpeg", "ffmpeg"),
    ("matplotlib/matplotlib", "imagemagick", "imagemagick"),
    ("matplotlib/matplotlib", "freetype", "libfreetype6-dev"),
    ("matplotlib/matplotlib", "qhull", "libqhull-dev"),
];

/// Python versions a repository version declares support for, where SWE-bench's Python is in no Debian suite
/// served here (from the releases' `python_requires` and classifiers): `(repo, version prefix, oldest, newest)`.
const PYTHON_SUPPORT: &[(&str, &str, &str, &str)] = &[
    ("django/django", "3.0", "3.6", "3.9"),
    ("django/django", "3.1", "3.6", "3.9"),
    ("django/django", "3.2", "3.6", "3.10"),
    ("django/django", "4.0", "3.8", "3.10"),
    ("django/django", "2.2", "3.5", "3.9"),
    ("django/django", "2.0", "3.4", "3.7"),
    ("django/django", "2.1", "3.5", "3.7"),
    ("django/django", "1.11", "2.7", "3.7"),
    ("pydata/xarray", "0.12", "3.8", "3.10"),
    ("pydata/xarray", "2022", "3.8", "3.10"),
    ("matplotlib/matplotlib", "3.5", "3.7", "3.10"),
    ("matplotlib/matplotlib", "3.6", "3.8", "3.11"),
    ("matplotlib/matplotlib", "3.7", "3.8", "3.11"),
    ("scikit-learn/scikit-learn", "0.2", "3.5", "3.7"),
    ("scikit-learn/scikit-learn", "1.3", "3.8", "3.12"),
    ("astropy/astropy", "1.3", "2.7", "3.6"),
];

/// The Debian suite a spec is built on offline, and the deviation to record when its Python is not SWE-bench's:
/// the suite with that Python; else the nearest one (see [`DebianSuite::nearest`]), with the repository
/// version's declared support when known.
pub fn offline_suite(repo: &str, versions: &[String], python: &str) -> (Option<DebianSuite>, Option<String>) {
    let Some((suite, exact)) = DebianSuite::nearest(python) else { return (None, None) };
    if exact {
        return (Some(suite), None);
    }
    let support: Vec<String> = versions
        .iter()
        .filter_map(|v| {
            PYTHON_SUPPORT
                .iter()
                .find(|(r, pre, _, _)| *r == repo && v.starts_with(pre))
                .map(|(_, _, lo, hi)| (v, lo, hi))
        })
        .map(|(v, lo, hi)| {
            let key = |p: &str| p.split('.').map(|x| x.parse::<u32>().unwrap_or(0)).collect::<Vec<_>>();
            let ok = key(lo) <= key(suite.python) && key(suite.python) <= key(hi);
            format!("{v} supports {lo}-{hi}{}", if ok { "" } else { ", not it" })
        })
        .collect();
    let support = if support.is_empty() {
        "the repository's own support for it is not recorded here".to_string()
    } else {
        format!("{repo} {}", support.join("; "))
    };
    let text = format!(
        "SWE-bench specifies Python {python}, which no Debian suite served here has; built with Debian {}'s Python {} \
         (the nearest): {support}",
        suite.name, suite.python
    );
    (Some(suite), Some(text))
}

/// `apt-get install` commands of `pre_install` (they need the network) as Debian packages of the base, and the
/// other commands as they are.
fn split_apt(pre_install: &[String]) -> (Vec<String>, Vec<String>) {
    let (mut apt, mut rest) = (Vec::new(), Vec::new());
    for cmd in pre_install {
        if !cmd.contains("apt-get") {
            rest.push(cmd.clone());
            continue;
        }
        for part in cmd.split("&&") {
            let words: Vec<&str> = part.split_whitespace().collect();
            if let Some(i) = words.iter().position(|w| *w == "install") {
                apt.extend(words[i + 1..].iter().filter(|w| !w.starts_with('-')).map(|w| w.to_string()));
            }
        }
    }
    (apt, rest)
}

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
    let python = facts.python.clone().unwrap_or_else(|| OFFLINE_PYTHON.into());
    let (suite, deviation) = offline_suite(repo, versions, &python);
    let packages = facts.packages.as_deref().map(split_packages).unwrap_or_default();
    let (mut apt_packages, pre_install) = split_apt(&facts.pre_install);
    let table = |t: &[(&str, &[&str])]| {
        t.iter().find(|(r, _)| *r == repo).map(|(_, p)| p.iter().map(|s| s.to_string()).collect()).unwrap_or_default()
    };
    let requirement_files: Vec<String> = if packages.iter().any(|p| p == "requirements.txt") {
        table(REQS_PATHS)
    } else if packages.iter().any(|p| p == "environment.yml") {
        table(ENV_YML_PATHS)
    } else {
        Vec::new()
    };
    let conda: BTreeMap<String, String> = if packages.iter().any(|p| p == "environment.yml") {
        let apt = CONDA_APT.iter().filter(|(r, _, _)| *r == repo).map(|(_, k, p)| (*k, format!("apt:{p}")));
        CONDA_NAMES
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .chain(apt.map(|(k, v)| (k.to_string(), v)))
            .collect()
    } else {
        BTreeMap::new()
    };
    apt_packages.extend(conda.values().filter_map(|v| v.strip_prefix("apt:")).map(str::to_string));
    apt_packages.sort();
    apt_packages.dedup();
    Ok(EnvSpec {
        name: file_stem(repo, versions),
        repos: vec![repo.to_string()],
        versions: versions.to_vec(),
        python,
        suite: suite.filter(|_| deviation.is_some()).map(|s| s.name.to_string()),
        deviation,
        apt_packages,
        packages,
        pip_packages: facts.pip_packages.clone(),
        drift_pins: DRIFT_PINS.iter().filter(|(r, _, _)| *r == repo).map(|(_, p, _)| p.to_string()).collect(),
        requirement_files,
        conda,
        pre_install,
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
pub fn build_note(spec: &EnvSpec, dropped_apt: &[String]) -> String {
    let mirror = spec.repos[0].replace('/', "__");
    let mut offline = match spec.debian_suite() {
        Err(_) => format!("Offline: cannot be built: Python {} is in no Debian suite served here.", spec.python),
        Ok(suite) => format!(
            "Offline: Debian {}'s Python {} in a venv; pip packages (sdists included, built in the image) downloaded on \
             the host for that Python; the repository from a git mirror (`--mirror-dir DIR` holding {mirror}).",
            suite.name, suite.python
        ),
    };
    if let Some(d) = &spec.deviation {
        offline += &format!("\nDeviation: {d}.");
    }
    for (_, pin, why) in DRIFT_PINS.iter().filter(|(r, _, _)| spec.repos.iter().any(|s| s == r)) {
        offline += &format!("\nDrift pin (`drift_pins`, installed with pip_packages): {pin}: {why}.");
    }
    if !spec.requirement_files.is_empty() {
        offline += &format!(
            "\n`packages = {:?}`: read from the mirror at the instance's environment_setup_commit ({}).",
            spec.packages,
            spec.requirement_files.join(", ")
        );
    }
    if !spec.conda.is_empty() {
        offline += "\nconda names mapped (`conda`): `pip:` a PyPI name, `apt:` a Debian package of the base, `skip:` left out.";
    }
    if !dropped_apt.is_empty() {
        offline += &format!(
            "\n`apt-get install` of pre_install (network) made `apt_packages` of the base: {}.",
            dropped_apt.join(" ")
        );
    }
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
            let (dropped_apt, _) = split_apt(&f.pre_install);
            let body = toml::to_string(&spec).map_err(|e| EvalError::Dataset(format!("{repo}: {e}")))?;
            let mut text = format!(
                "# SWE-bench environment: {repo} {}.\n# Generated by `srl-swe sandbox import-specs` from SWE-bench's \
                 env_specs.json; regenerate rather than edit.\n",
                vs.join(", ")
            );
            for line in build_note(&spec, &dropped_apt).lines() {
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
    fn pythons_map_to_suites_and_deviations_are_said() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let (suite, dev) = offline_suite("sympy/sympy", &v(&["1.1"]), "3.9");
        assert_eq!((suite.unwrap().name, dev), ("bullseye", None));
        let (suite, dev) = offline_suite("django/django", &v(&["3.0", "3.1"]), "3.6");
        let dev = dev.unwrap();
        assert_eq!(suite.unwrap().name, "bullseye");
        assert!(
            dev.starts_with("SWE-bench specifies Python 3.6") && dev.contains("Debian bullseye's Python 3.9"),
            "{dev}"
        );
        assert!(dev.contains("3.0 supports 3.6-3.9; 3.1 supports 3.6-3.9"), "{dev}");
        let (_, dev) = offline_suite("astropy/astropy", &v(&["1.3"]), "3.6");
        assert!(dev.unwrap().contains("1.3 supports 2.7-3.6, not it"));
        let (_, dev) = offline_suite("foo/bar", &v(&["1.0"]), "3.12");
        assert!(dev.unwrap().contains("bookworm's Python 3.11"));
    }

    #[test]
    fn apt_get_in_pre_install_becomes_base_packages() {
        let pre = vec![
            "apt-get update && apt-get install -y locales".to_string(),
            "echo 'en_US UTF-8' > /etc/locale.gen".to_string(),
            "apt-get -y update && DEBIAN_FRONTEND=noninteractive apt-get install -y imagemagick ffmpeg".to_string(),
        ];
        let (apt, rest) = split_apt(&pre);
        assert_eq!(apt, vec!["locales", "imagemagick", "ffmpeg"]);
        assert_eq!(rest, vec!["echo 'en_US UTF-8' > /etc/locale.gen"]);
    }

    #[test]
    fn versions_sort_numerically() {
        let mut v = vec!["1.10", "1.9", "1.11", "0.12"];
        v.sort_by_key(|s| version_key(s));
        assert_eq!(v, vec!["0.12", "1.9", "1.10", "1.11"]);
    }
}
