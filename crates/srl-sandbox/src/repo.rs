//! The repository of an instance at its base commit, made on the host with git2, with no later history reachable.

use std::path::{Path, PathBuf};

use git2::{IndexAddOption, Oid, Repository, Signature, Time};

use crate::error::{Context, Result, SandboxError};

/// Where the repository of an instance comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RepoSource {
    /// A folder holding the files at the base commit (bundled tasks: `tasks/<name>/repo`). The base commit is
    /// made deterministically (see [`bundled_base_commit`]) and must equal the dataset's `base_commit`.
    Files(PathBuf),
    /// A git repository (bare or not) that contains the base commit, e.g. a mirror clone of a SWE-bench repo.
    Git(PathBuf),
}

impl RepoSource {
    /// The source of repo `owner/name` under a mirror folder: `<dir>/<owner>__<name>` (SWE-bench's spelling),
    /// `<dir>/<owner>/<name>`, `<dir>/<name>`, each with or without `.git`.
    pub fn from_mirror(dir: &Path, repo: &str) -> Option<RepoSource> {
        let (owner, name) = repo.split_once('/').unwrap_or(("", repo));
        let candidates = [format!("{owner}__{name}"), format!("{owner}/{name}"), name.to_string()];
        for c in candidates {
            for suffix in ["", ".git"] {
                let p = dir.join(format!("{c}{suffix}"));
                if p.is_dir() {
                    return Some(RepoSource::Git(p));
                }
            }
        }
        None
    }

    /// A short fingerprint of the source for the image tag (the commit decides the content).
    pub(crate) fn describe(&self) -> String {
        match self {
            RepoSource::Files(_) => "files".into(),
            RepoSource::Git(_) => "git".into(),
        }
    }
}

const AUTHOR: &str = "srl-swe";
const EMAIL: &str = "tasks@srl-swe.invalid";
const TIME: i64 = 1735689600;
const MESSAGE: &str = "srl-swe bundled task base\n";

fn copy_tree(src: &Path, dst: &Path) -> Result<()> {
    std::fs::create_dir_all(dst).ctx(|| format!("create {}", dst.display()))?;
    let mut entries: Vec<_> = std::fs::read_dir(src)
        .ctx(|| format!("read {}", src.display()))?
        .collect::<std::result::Result<_, _>>()
        .ctx(|| format!("read {}", src.display()))?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name();
        if name == ".git" || name == "__pycache__" || name == ".pytest_cache" {
            continue;
        }
        let ft = e.file_type().ctx(|| format!("stat {}", e.path().display()))?;
        let to = dst.join(&name);
        if ft.is_symlink() {
            return Err(SandboxError::Other(format!("symlink not allowed in a task repo: {}", e.path().display())));
        } else if ft.is_dir() {
            copy_tree(&e.path(), &to)?;
        } else {
            std::fs::copy(e.path(), &to).ctx(|| format!("copy {}", e.path().display()))?;
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o644))
                .ctx(|| format!("chmod {}", to.display()))?;
        }
    }
    Ok(())
}

/// Make the deterministic base commit of a bundled task in `dest` (created; must not exist or be empty) from the
/// files in `files`: every file (mode 100644; `.gitignore` rules apply as with `git add -A`), author = committer =
/// `srl-swe <tasks@srl-swe.invalid>` at 1735689600 +0000, message `srl-swe bundled task base\n`, no parent.
/// Returns the commit hash (the same as `tasks/tools/make_base.py` computes with the git CLI).
pub fn bundled_base_commit(files: &Path, dest: &Path) -> Result<String> {
    copy_tree(files, dest)?;
    let repo = Repository::init(dest).ctx(|| format!("init {}", dest.display()))?;
    let mut index = repo.index().ctx(|| "index".into())?;
    index.add_all(["*"].iter(), IndexAddOption::DEFAULT, None).ctx(|| "add files".into())?;
    index.write().ctx(|| "write index".into())?;
    let tree_id = index.write_tree().ctx(|| "write tree".into())?;
    let tree = repo.find_tree(tree_id).ctx(|| "find tree".into())?;
    let sig = Signature::new(AUTHOR, EMAIL, &Time::new(TIME, 0)).ctx(|| "signature".into())?;
    let oid = repo.commit(Some("HEAD"), &sig, &sig, MESSAGE, &tree, &[]).ctx(|| "commit".into())?;
    Ok(oid.to_string())
}

/// Check out `base_commit` of the git repository `src` into `dest` with nothing after it reachable: a fresh
/// repository holding only the objects reachable from the base commit (one pack, made by `git fetch` of that
/// commit from `src`: git's pack-objects reuses the mirror's deltas, where copying objects one by one through
/// libgit2 would write every historical blob loose, gigabytes for sympy), a `main` branch at it, no remotes, and
/// the tags of commits up to the base (SWE-bench deletes only later ones; setuptools_scm versions the package from
/// them: pytest's `minversion` checks fail without).
fn git_at_commit(src: &Path, base_commit: &str, dest: &Path) -> Result<String> {
    let from = Repository::open(src).ctx(|| format!("open {}", src.display()))?;
    let oid = Oid::from_str(base_commit).ctx(|| format!("bad commit id {base_commit}"))?;
    let commit = from.find_commit(oid).ctx(|| format!("{base_commit} not in {}", src.display()))?;
    std::fs::create_dir_all(dest).ctx(|| format!("create {}", dest.display()))?;
    let to = Repository::init(dest).ctx(|| format!("init {}", dest.display()))?;
    let src_abs = std::fs::canonicalize(src).ctx(|| format!("resolve {}", src.display()))?;
    let mut refspecs = vec![base_commit.to_string()];
    if let Ok(names) = from.tag_names(None) {
        for name in names.iter().flatten() {
            let Ok(target) = from.revparse_single(&format!("refs/tags/{name}^{{commit}}")) else { continue };
            let t = target.id();
            if t == oid || from.graph_descendant_of(oid, t).unwrap_or(false) {
                refspecs.push(format!("refs/tags/{name}:refs/tags/{name}"));
            }
        }
    }
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dest)
        .args(["fetch", "--quiet", "--no-tags", "--no-write-fetch-head"])
        .arg("--upload-pack=git -c uploadpack.allowAnySHA1InWant=true upload-pack")
        .arg(&src_abs)
        .args(&refspecs)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .ctx(|| "run git fetch (the git command line is needed to copy a mirror's history)".into())?;
    if !out.status.success() {
        return Err(SandboxError::Other(format!(
            "git fetch of {base_commit} from {} failed: {}",
            src.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    to.reference("refs/heads/main", oid, true, "base").ctx(|| "branch".into())?;
    to.set_head("refs/heads/main").ctx(|| "HEAD".into())?;
    let tree = to.find_tree(commit.tree_id()).ctx(|| "tree".into())?;
    let mut co = git2::build::CheckoutBuilder::new();
    co.force();
    to.checkout_tree(tree.as_object(), Some(&mut co)).ctx(|| "checkout".into())?;
    let mut index = to.index().ctx(|| "index".into())?;
    index.read_tree(&tree).ctx(|| "index".into())?;
    index.write().ctx(|| "index".into())?;
    Ok(oid.to_string())
}

/// Make the /testbed repository of an instance in `dest` and return its `HEAD` (which must be `base_commit`).
pub fn prepare_testbed(source: &RepoSource, base_commit: &str, dest: &Path) -> Result<String> {
    match source {
        RepoSource::Files(files) => bundled_base_commit(files, dest),
        RepoSource::Git(src) => git_at_commit(src, base_commit, dest),
    }
}

/// The text of `path` in the repository of `source` at `commit` (a git source), or in its files (a folder source:
/// the files are the base commit). `None` when there is no such file.
pub fn read_file_at(source: &RepoSource, commit: &str, path: &str) -> Result<Option<String>> {
    match source {
        RepoSource::Files(files) => {
            let p = files.join(path);
            Ok(p.is_file().then(|| std::fs::read_to_string(&p)).transpose().ctx(|| format!("read {}", p.display()))?)
        }
        RepoSource::Git(src) => {
            let repo = Repository::open(src).ctx(|| format!("open {}", src.display()))?;
            let oid = Oid::from_str(commit).ctx(|| format!("bad commit id {commit}"))?;
            let c = repo.find_commit(oid).ctx(|| format!("{commit} not in {}", src.display()))?;
            let tree = c.tree().ctx(|| "tree".into())?;
            let Ok(entry) = tree.get_path(Path::new(path)) else { return Ok(None) };
            let Ok(blob) = repo.find_blob(entry.id()) else { return Ok(None) };
            Ok(Some(String::from_utf8_lossy(blob.content()).into_owned()))
        }
    }
}

/// A tar of `dir` placed at `/testbed` (uid/gid 0), `.git` included.
pub(crate) fn tar_testbed(dir: &Path) -> Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    b.mode(tar::HeaderMode::Deterministic);
    b.follow_symlinks(false);
    b.append_dir_all("testbed", dir).ctx(|| format!("tar {}", dir.display()))?;
    b.into_inner().ctx(|| "tar".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The recipe must give the same hash as the git CLI (tasks/tools/make_base.py).
    #[test]
    fn deterministic_commit_matches_git_cli() {
        let tmp = tempfile::tempdir().unwrap();
        let files = tmp.path().join("repo");
        std::fs::create_dir_all(files.join("pkg")).unwrap();
        std::fs::write(files.join("pkg/a.py"), "print(1)\n").unwrap();
        std::fs::write(files.join("README.md"), "hi\n").unwrap();
        std::fs::write(files.join(".gitignore"), "*.log\n").unwrap();
        std::fs::write(files.join("x.log"), "ignored\n").unwrap();
        let ours = bundled_base_commit(&files, &tmp.path().join("ours")).unwrap();
        let cli = tmp.path().join("cli");
        copy_tree(&files, &cli).unwrap();
        let git = |args: &[&str]| {
            let out = std::process::Command::new("git")
                .args(["-c", "core.autocrlf=false"])
                .args(args)
                .current_dir(&cli)
                .env("GIT_AUTHOR_NAME", AUTHOR)
                .env("GIT_AUTHOR_EMAIL", EMAIL)
                .env("GIT_AUTHOR_DATE", "1735689600 +0000")
                .env("GIT_COMMITTER_NAME", AUTHOR)
                .env("GIT_COMMITTER_EMAIL", EMAIL)
                .env("GIT_COMMITTER_DATE", "1735689600 +0000")
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .env("GIT_CONFIG_GLOBAL", "/dev/null")
                .output()
                .expect("git CLI");
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8(out.stdout).unwrap()
        };
        git(&["init", "-q"]);
        git(&["add", "-A"]);
        git(&["commit", "-q", "-m", "srl-swe bundled task base"]);
        assert_eq!(ours, git(&["rev-parse", "HEAD"]).trim());
    }

    #[test]
    fn git_source_hides_later_history() {
        let tmp = tempfile::tempdir().unwrap();
        let files = tmp.path().join("files");
        std::fs::create_dir_all(&files).unwrap();
        std::fs::write(files.join("a.txt"), "one\n").unwrap();
        let src = tmp.path().join("src");
        let base = bundled_base_commit(&files, &src).unwrap();
        // A later "fix" commit in the source.
        let repo = Repository::open(&src).unwrap();
        std::fs::write(src.join("a.txt"), "the fix\n").unwrap();
        let mut idx = repo.index().unwrap();
        idx.add_path(Path::new("a.txt")).unwrap();
        let tree = repo.find_tree(idx.write_tree().unwrap()).unwrap();
        let sig = Signature::now("x", "x@y").unwrap();
        let parent = repo.find_commit(Oid::from_str(&base).unwrap()).unwrap();
        let fix = repo.commit(Some("HEAD"), &sig, &sig, "fix", &tree, &[&parent]).unwrap();
        repo.tag_lightweight("v1.0", parent.as_object(), false).unwrap();
        repo.tag("v1.1", &repo.find_object(fix, None).unwrap(), &sig, "the fix release", false).unwrap();
        let dest = tmp.path().join("dest");
        let head = prepare_testbed(&RepoSource::Git(src.clone()), &base, &dest).unwrap();
        assert_eq!(head, base);
        assert_eq!(std::fs::read_to_string(dest.join("a.txt")).unwrap(), "one\n");
        let out = Repository::open(&dest).unwrap();
        assert!(out.find_commit(fix).is_err(), "the fix must not be in the testbed's object store");
        // The tag of the base is kept (setuptools_scm needs it), the later one is not.
        assert_eq!(out.tag_names(None).unwrap().iter().flatten().collect::<Vec<_>>(), vec!["v1.0"]);
        assert!(out.statuses(None).unwrap().is_empty());
    }
}
