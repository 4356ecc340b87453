//! Environment specs (`environments/*.toml`): what an environment image holds and how tests run in it.
//!
//! The schema covers SWE-bench's `env_specs.json` facts (`python`, `packages`, `pre_install`, `install`,
//! `pip_packages`, `test_cmd`, `eval_commands`) plus what the offline build needs (`apt_packages`, `log_format`).
//! Unknown keys are errors that name the key and the file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Result, SandboxError};

/// One environment spec. Which instances it serves: `repos` x `versions` (patterns with `*`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvSpec {
    /// Name (default: the file stem); part of the env image name.
    #[serde(default)]
    pub name: String,
    /// Repositories served, `owner/name` patterns (`*` matches any run of characters).
    pub repos: Vec<String>,
    /// Versions served (patterns; default `["*"]`).
    #[serde(default = "star")]
    pub versions: Vec<String>,
    /// Python version (SWE-bench's). Offline builds use the python3 of a Debian suite ([`DebianSuite`]) in a venv
    /// at /opt/venv: the suite named by `suite`, else the one whose python3 is this version.
    pub python: String,
    /// The Debian suite of the offline base (`bullseye`, `bookworm`, `trixie`; [`DebianSuite::ALL`]). Needed when
    /// no suite has `python`; when the suite's Python differs from `python`, `deviation` must say why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suite: Option<String>,
    /// Why the offline build departs from SWE-bench's environment (another Python): recorded in every instance's
    /// `srl_extras.json` and in the run summary, never silent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deviation: Option<String>,
    /// Debian packages; debootstrap installs them into the base image (the base tag hashes them).
    #[serde(default)]
    pub apt_packages: Vec<String>,
    /// SWE-bench's `packages`: pip requirement specs, or `requirements.txt` (the repository's file, installed at
    /// instance build).
    #[serde(default)]
    pub packages: Vec<String>,
    /// pip requirement specs installed into the venv from the host's wheelhouse (`pip download`).
    #[serde(default)]
    pub pip_packages: Vec<String>,
    /// Bounds added here against drift since SWE-bench built its images (an unpinned dependency whose later
    /// releases break the tests of that era: `Pygments<2.19` for sphinx), installed with `pip_packages`; each is
    /// said in the spec file's header.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drift_pins: Vec<String>,
    /// Where `packages = ["requirements.txt"]` or `["environment.yml"]` is read: repository paths tried in order
    /// at the instance's `environment_setup_commit` (SWE-bench's `MAP_REPO_TO_REQS_PATHS` and
    /// `MAP_REPO_TO_ENV_YML_PATHS`); default: the name itself at the repository root.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requirement_files: Vec<String>,
    /// conda package names of an `environment.yml` mapped for the offline build: `pip:<name>` (a PyPI name, with
    /// optional bounds that the conda spec's are added to),
    /// `apt:<package>` (a Debian package, which must be in `apt_packages`) or `skip:<why>`. Unlisted names are
    /// taken as PyPI names.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub conda: BTreeMap<String, String>,
    /// Commands run in /testbed when building the instance image, before `install` (SWE-bench runs them in its
    /// repository set-up; no network by default).
    #[serde(default)]
    pub pre_install: Vec<String>,
    /// Commands run in /testbed when building the instance image (e.g. `pip install -e .`).
    #[serde(default)]
    pub install: Vec<String>,
    /// Commands run before the tests at evaluation.
    #[serde(default)]
    pub eval_commands: Vec<String>,
    /// The test command; the test files are appended.
    pub test_cmd: String,
    /// Log parser name for grading (`pytest`, `django`, `sympy`, ...).
    #[serde(default = "pytest")]
    pub log_format: String,
    /// Whether the env and instance builds may use the network (default false: wheelhouse only).
    #[serde(default)]
    pub network: bool,
    /// SWE-bench's `no_use_env`: the repository is installed into conda's base env rather than `testbed`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_use_env: bool,
    /// SWE-bench's `nano_cpus`: the CPU limit its harness gives this environment's containers (1e9 = one core).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nano_cpus: Option<i64>,
    /// Where the spec was read from (not part of the file).
    #[serde(skip)]
    pub path: PathBuf,
}

/// A Debian suite the offline base images are made from, and its python3.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DebianSuite {
    pub name: &'static str,
    /// Its python3's version, `major.minor`.
    pub python: &'static str,
    /// Its glibc's minor version (2.x): the newest `manylinux_2_x` wheels it runs.
    pub glibc_minor: u32,
}

impl DebianSuite {
    /// The suites Debian's registry serves (buster, with 3.7, is gone).
    pub const ALL: [DebianSuite; 3] = [
        DebianSuite { name: "bullseye", python: "3.9", glibc_minor: 31 },
        DebianSuite { name: "bookworm", python: "3.11", glibc_minor: 36 },
        DebianSuite { name: "trixie", python: "3.13", glibc_minor: 41 },
    ];

    /// The suite called `name`.
    pub fn named(name: &str) -> Option<DebianSuite> {
        DebianSuite::ALL.into_iter().find(|s| s.name == name)
    }

    /// The suite whose python3 is `python` (`3.9`, `3.9.2`).
    pub fn with_python(python: &str) -> Option<DebianSuite> {
        let mm = python_minor(python)?;
        DebianSuite::ALL.into_iter().find(|s| python_minor(s.python) == Some(mm))
    }

    /// The suite whose Python is nearest to `python` (ties: the older Python, whose packages are likelier to
    /// still build old pins), and whether it is an exact match.
    pub fn nearest(python: &str) -> Option<(DebianSuite, bool)> {
        let (maj, min) = python_minor(python)?;
        DebianSuite::ALL
            .into_iter()
            .filter_map(|s| python_minor(s.python).filter(|(m, _)| *m == maj).map(|(_, n)| (s, n)))
            .min_by_key(|(_, n)| (n.abs_diff(min), *n))
            .map(|(s, n)| (s, n == min))
    }
}

/// `(major, minor)` of a version string like `3.9` or `3.9.2`.
fn python_minor(v: &str) -> Option<(u32, u32)> {
    let mut it = v.trim().split('.');
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

fn star() -> Vec<String> {
    vec!["*".into()]
}
fn pytest() -> String {
    "pytest".into()
}

/// Whether `text` matches the glob `pattern` ([`glob::Pattern`]: `*` any run of characters, `/` included, `?` one
/// character, `[...]` a class). An invalid pattern matches nothing ([`EnvSpec::parse`] refuses one).
pub fn glob_match(pattern: &str, text: &str) -> bool {
    glob::Pattern::new(pattern).is_ok_and(|p| p.matches(text))
}

impl EnvSpec {
    /// Parse a spec from TOML text; `file` names it in errors.
    pub fn parse(text: &str, file: &Path) -> Result<EnvSpec> {
        let mut spec: EnvSpec = toml::from_str(text)
            .map_err(|e| SandboxError::Spec { file: file.to_path_buf(), message: e.message().to_string() })?;
        if spec.name.is_empty() {
            spec.name = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        }
        if spec.name.is_empty() || !spec.name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) {
            return Err(SandboxError::Spec {
                file: file.to_path_buf(),
                message: format!("name {:?} must be non-empty ASCII letters, digits, `.`, `_`, `-`", spec.name),
            });
        }
        if let Some((p, e)) =
            spec.repos.iter().chain(&spec.versions).find_map(|p| glob::Pattern::new(p).err().map(|e| (p, e)))
        {
            return Err(SandboxError::Spec { file: file.to_path_buf(), message: format!("pattern {p:?}: {e}") });
        }
        if let Some(name) = &spec.suite {
            let Some(suite) = DebianSuite::named(name) else {
                let known: Vec<&str> = DebianSuite::ALL.iter().map(|s| s.name).collect();
                return Err(SandboxError::Spec {
                    file: file.to_path_buf(),
                    message: format!("suite {name:?} is not one of {}", known.join(", ")),
                });
            };
            if python_minor(suite.python) != python_minor(&spec.python)
                && spec.deviation.as_deref().is_none_or(|d| d.trim().is_empty())
            {
                return Err(SandboxError::Spec {
                    file: file.to_path_buf(),
                    message: format!(
                        "python = {:?} but suite {name:?} has Python {}: say why in `deviation` (it is recorded with \
                         every instance)",
                        spec.python, suite.python
                    ),
                });
            }
        }
        if let Some((k, v)) = spec.conda.iter().find(|(_, v)| {
            !(v.starts_with("pip:") || v.starts_with("apt:") || v.starts_with("skip:"))
                || v.split_once(':').is_some_and(|(_, r)| r.trim().is_empty())
        }) {
            return Err(SandboxError::Spec {
                file: file.to_path_buf(),
                message: format!("conda.{k} = {v:?}: expected `pip:<name>`, `apt:<package>` or `skip:<why>`"),
            });
        }
        spec.path = file.to_path_buf();
        Ok(spec)
    }

    /// The Debian suite of the offline build: `suite`, else the one whose python3 is `python`. An error names the
    /// file and says what to add.
    pub fn debian_suite(&self) -> Result<DebianSuite> {
        if let Some(s) = self.suite.as_deref().and_then(DebianSuite::named) {
            return Ok(s);
        }
        DebianSuite::with_python(&self.python).ok_or_else(|| {
            let have: Vec<String> = DebianSuite::ALL.iter().map(|s| format!("{} ({})", s.name, s.python)).collect();
            SandboxError::Build(format!(
                "{}: python {} is in no Debian suite served here ({}); set `suite` to the nearest one the repository \
                 supports and say why in `deviation`, or use --image-source swebench for SWE-bench's published images",
                self.path.display(),
                self.python,
                have.join(", ")
            ))
        })
    }

    /// Read one spec file.
    pub fn load(file: &Path) -> Result<EnvSpec> {
        let text = std::fs::read_to_string(file)
            .map_err(|e| SandboxError::Spec { file: file.to_path_buf(), message: e.to_string() })?;
        EnvSpec::parse(&text, file)
    }

    /// Read every `*.toml` of a folder and of its subfolders (e.g. `environments/swe-bench/`): the folder's own
    /// files first, each level sorted by name, so a spec there wins over a generated one in [`EnvSpec::find`].
    pub fn load_dir(dir: &Path) -> Result<Vec<EnvSpec>> {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| SandboxError::Spec { file: dir.to_path_buf(), message: e.to_string() })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        let mut specs: Vec<EnvSpec> = entries
            .iter()
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "toml"))
            .map(|f| EnvSpec::load(f))
            .collect::<Result<_>>()?;
        for sub in entries.iter().filter(|p| p.is_dir()) {
            specs.extend(EnvSpec::load_dir(sub)?);
        }
        Ok(specs)
    }

    /// `packages` that are requirement specs (not `requirements.txt` / `environment.yml`, which name files of the
    /// repository): installed with `pip_packages` into the env image.
    pub fn plain_packages(&self) -> impl Iterator<Item = &String> {
        self.packages.iter().filter(|p| !p.ends_with(".txt") && !p.ends_with(".yml") && !p.ends_with(".yaml"))
    }

    /// True when this spec serves `repo` at `version`.
    pub fn matches(&self, repo: &str, version: &str) -> bool {
        self.repos.iter().any(|p| glob_match(p, repo)) && self.versions.iter().any(|p| glob_match(p, version))
    }

    /// The first spec of `specs` serving `repo` at `version`.
    pub fn find<'a>(specs: &'a [EnvSpec], repo: &str, version: &str) -> Option<&'a EnvSpec> {
        specs.iter().find(|s| s.matches(repo, version))
    }

    /// Hash of the build-relevant content (comments and the file path do not count).
    pub fn content_hash(&self) -> String {
        let mut h = Sha256::new();
        h.update(serde_json::to_vec(self).unwrap_or_default());
        hex::encode(h.finalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_names_key_and_file() {
        let err = EnvSpec::parse("repos=['a/*']\npython='3.11'\ntest_cmd='pytest'\nbogus=1\n", Path::new("env/x.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("bogus") && err.contains("env/x.toml"), "{err}");
    }

    #[test]
    fn matching_and_hash() {
        let s = EnvSpec::parse(
            "repos=['srl-swe/*']\nversions=['1.0']\npython='3.11'\ntest_cmd='pytest -rA'\n",
            Path::new("a.toml"),
        )
        .unwrap();
        assert_eq!(s.name, "a");
        assert!(s.matches("srl-swe/datekit", "1.0"));
        assert!(!s.matches("srl-swe/datekit", "2.0"));
        assert!(!s.matches("django/django", "1.0"));
        let s2 = EnvSpec::parse(
            "# comment\nrepos=['srl-swe/*']\nversions=['1.0']\npython='3.11'\ntest_cmd='pytest -rA'\n",
            Path::new("a.toml"),
        )
        .unwrap();
        assert_eq!(s.content_hash(), s2.content_hash());
        assert!(glob_match("a*b*c", "axxbyyc") && !glob_match("a*b*c", "axxc") && glob_match("*", ""));
        assert!(glob_match("django/*", "django/django") && glob_match("3.*", "3.0") && !glob_match("3.*", "4.0"));
        let e = EnvSpec::parse("repos=['a/[']\npython='3.11'\ntest_cmd='pytest'\n", Path::new("b.toml")).unwrap_err();
        assert!(e.to_string().contains("b.toml") && e.to_string().contains("\"a/[\""), "{e}");
    }

    #[test]
    fn suites_by_python_and_deviations_said() {
        assert_eq!(DebianSuite::with_python("3.9.2").unwrap().name, "bullseye");
        assert!(DebianSuite::with_python("3.6").is_none());
        let near = |p: &str| DebianSuite::nearest(p).map(|(s, exact)| (s.name, exact));
        assert_eq!(near("3.6"), Some(("bullseye", false)));
        assert_eq!(near("3.10"), Some(("bullseye", false)), "a tie goes to the older Python");
        assert_eq!(near("3.12"), Some(("bookworm", false)));
        assert_eq!(near("3.13"), Some(("trixie", true)));
        assert_eq!(near("2.7"), None);
        let base = "repos=['a/*']\ntest_cmd='pytest'\n";
        let spec = |extra: &str| EnvSpec::parse(&format!("{base}{extra}"), Path::new("env/x.toml"));
        assert_eq!(spec("python='3.9'").unwrap().debian_suite().unwrap().name, "bullseye");
        // A Python no suite has: an error at build time that says what to add.
        let e = spec("python='3.6'").unwrap().debian_suite().unwrap_err().to_string();
        assert!(e.contains("env/x.toml") && e.contains("python 3.6") && e.contains("deviation"), "{e}");
        // Another suite's Python without a reason is refused; with one it builds there.
        let e = spec("python='3.6'\nsuite='bullseye'").unwrap_err().to_string();
        assert!(e.contains("env/x.toml") && e.contains("deviation") && e.contains("3.9"), "{e}");
        let s = spec("python='3.6'\nsuite='bullseye'\ndeviation='Django 3.0 supports 3.9'").unwrap();
        assert_eq!(s.debian_suite().unwrap().python, "3.9");
        let e = spec("python='3.9'\nsuite='buster'").unwrap_err().to_string();
        assert!(e.contains("buster") && e.contains("bullseye, bookworm, trixie"), "{e}");
        let e = spec("python='3.9'\n[conda]\nhdf5='libhdf5'").unwrap_err().to_string();
        assert!(e.contains("conda.hdf5") && e.contains("skip:"), "{e}");
        assert_eq!(spec("python='3.9'\npackages=['requirements.txt','numpy']").unwrap().plain_packages().count(), 1);
    }

    #[test]
    fn shipped_specs_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../environments");
        let specs = EnvSpec::load_dir(&dir).unwrap();
        assert!(EnvSpec::find(&specs, "srl-swe/datekit", "1.0").is_some());
    }
}
