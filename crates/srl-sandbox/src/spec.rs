//! Environment specs (`environments/*.toml`): what an environment image holds and how tests run in it.
//!
//! The schema covers SWE-bench's `env_specs.json` facts (`python`, `packages`, `pre_install`, `install`,
//! `pip_packages`, `test_cmd`, `eval_commands`) plus what the offline build needs (`apt_packages`, `log_format`).
//! Unknown keys are errors that name the key and the file.

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
    /// Python version. Offline builds use the base image's Debian python3 (bookworm: 3.11) in a venv at
    /// /opt/venv; another version needs `--image-source swebench`.
    pub python: String,
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
    /// Commands run in the env image before the pip installs (no network by default).
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
        spec.path = file.to_path_buf();
        Ok(spec)
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
    fn shipped_specs_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../environments");
        let specs = EnvSpec::load_dir(&dir).unwrap();
        assert!(EnvSpec::find(&specs, "srl-swe/datekit", "1.0").is_some());
    }
}
