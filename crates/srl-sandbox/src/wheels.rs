//! The offline side of Python environments: what `pip download` on the host is asked for (the image's Python and
//! platform), which requirements a failed `pip install` in the image was missing, and SWE-bench's requirement
//! files (`requirements.txt` with its `-r` includes, `environment.yml` with its conda names mapped to PyPI).

use std::collections::BTreeMap;

use crate::spec::DebianSuite;

/// pip, setuptools and wheel installed into every venv first (Debian's bundled pip is 20.3 on bullseye): pinned so
/// that an environment is the same whenever it is built.
pub const BOOTSTRAP: [&str; 3] = ["pip==24.2", "setuptools==69.5.1", "wheel==0.43.0"];

/// `pip download` flags selecting wheels for the python3 and glibc of `suite` on x86-64 (CPython ABI, abi3 and
/// pure-Python wheels; every manylinux tag its glibc runs).
pub fn target_args(suite: &DebianSuite) -> Vec<String> {
    let nodot = suite.python.replace('.', "");
    let mut a = vec![
        "--python-version".to_string(),
        suite.python.to_string(),
        "--implementation".into(),
        "cp".into(),
        "--abi".into(),
        format!("cp{nodot}"),
        "--abi".into(),
        "abi3".into(),
        "--abi".into(),
        "none".into(),
    ];
    for minor in (17..=suite.glibc_minor).rev() {
        a.push("--platform".into());
        a.push(format!("manylinux_2_{minor}_x86_64"));
    }
    for legacy in ["manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"] {
        a.push("--platform".into());
        a.push(legacy.into());
    }
    a
}

/// A Python program for the host's python3 that downloads the sdist of one requirement (`argv[1]`, `name` with
/// optional PEP 440 specifiers) into a folder (`argv[2]`) from PyPI's JSON API (`$SRL_PYPI_JSON`, default
/// `https://pypi.org/pypi`), checking its sha256: the newest non-yanked release that matches and has an sdist.
/// `pip download` cannot be used for an sdist of another Python: it builds the sdist's metadata with the host's
/// Python, which fails for old sdists (Cython 0.27 on 3.11).
pub const SDIST_FETCH: &str = r#"
import hashlib, json, os, sys, urllib.error, urllib.parse, urllib.request
from pip._vendor.packaging.requirements import Requirement
from pip._vendor.packaging.version import InvalidVersion, Version
req, dest = Requirement(sys.argv[1]), sys.argv[2]
base = os.environ.get("SRL_PYPI_JSON", "https://pypi.org/pypi").rstrip("/")
index = f"{base}/{req.name}/json"
try:
    with urllib.request.urlopen(index, timeout=60) as r:
        releases = json.load(r)["releases"]
except urllib.error.HTTPError as e:
    sys.exit(f"{req.name}: {e.code} {e.reason} from {index}")
def key(v):
    try:
        return Version(v)
    except InvalidVersion:
        return None
found = []
for v, files in releases.items():
    k = key(v)
    sdists = [f for f in files if f.get("packagetype") == "sdist" and not f.get("yanked")]
    if k is not None and sdists and req.specifier.contains(k, prereleases=True):
        found.append((k, sdists[0]))
if not found:
    sys.exit(f"no sdist of {req} on {base}")
_, f = max(found, key=lambda x: x[0])
data = urllib.request.urlopen(urllib.parse.urljoin(index, f["url"]), timeout=300).read()
if hashlib.sha256(data).hexdigest() != f["digests"]["sha256"]:
    sys.exit(f"sha256 mismatch for {f['filename']}")
path = os.path.join(dest, f["filename"])
with open(path + ".part", "wb") as out:
    out.write(data)
os.replace(path + ".part", path)
print("saved", path)
"#;

/// The requirements a failed `pip install` could not find (its `No matching distribution found for X` lines,
/// build dependencies of sdists included), in order, without repeats, and without their environment markers.
pub fn missing_requirements(pip_output: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in pip_output.lines() {
        let Some((_, rest)) = line.split_once("No matching distribution found for ") else { continue };
        // The image's pip has already found the marker true; the host's pip would judge it by its own Python.
        let req = rest.split(';').next().unwrap_or("").trim().trim_end_matches('.').to_string();
        if !req.is_empty() && !out.contains(&req) {
            out.push(req);
        }
    }
    out
}

/// The dependencies behind a failed resolution (the `X 1.0 depends on Y<0.5.0 and >=0.4.3` lines under pip's
/// `The conflict is caused by:`), as requirements (`Y<0.5.0,>=0.4.3`), in order, without repeats and markers. The
/// host fetches each, so the image's pip finds a version that all of them accept: a wheelhouse made of separate
/// downloads may hold only the newest `Y`, which one of them excludes (pylint 2.9: black wants
/// `mypy-extensions>=0.4.3`, mypy 0.910 wants `<0.5.0`).
pub fn conflict_requirements(pip_output: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (_, req) in conflict_lines(pip_output) {
        let req = req.split(';').next().unwrap_or("").trim().replace(" and ", ",").replace(' ', "");
        if !req.is_empty() && !out.contains(&req) {
            out.push(req);
        }
    }
    out
}

/// The `(X 1.0, Y<0.5.0 and >=0.4.3)` of each `X 1.0 depends on Y<0.5.0 and >=0.4.3` line in the section under
/// pip's `The conflict is caused by:` (its `The user requested ...` lines have no dependent and are left out).
fn conflict_lines(pip_output: &str) -> impl Iterator<Item = (&str, &str)> {
    let section = pip_output.split_once("The conflict is caused by:").map_or("", |(_, rest)| rest);
    section
        .lines()
        .map(str::trim)
        .skip_while(|l| l.is_empty())
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(" depends on "))
}

/// The packages whose dependencies conflict (the `X` of pip's `X 1.0 depends on ...` lines), in order, without
/// repeats. Downloaded together on the host, whose pip sees every version on the index, they resolve to versions
/// that agree (xarray's environment.yml: the newest aiobotocore wants `botocore<1.42.92`, the newest boto3
/// `>=1.42.97`; an older boto3 fits both), which the image's pip then finds in the wheelhouse.
pub fn conflict_dependents(pip_output: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (who, _) in conflict_lines(pip_output) {
        let Some(name) = who.split_whitespace().next() else { continue };
        if !out.iter().any(|n| n == name) {
            out.push(name.to_string());
        }
    }
    out
}

/// The versions that the user asked for in a failed resolution (`dask==2022.8.1` of pip's `The user requested
/// (constraint) dask==2022.8.1` line under `The conflict is caused by:`), in order, without repeats. A dependent
/// resolved on the host under them gets a version that fits them (xarray 0.12: the newest distributed wants the
/// newest dask, the spec pins dask 2022.8.1; `pip download distributed -c <that pin>` finds distributed 2022.8.1).
pub fn conflict_pins(pip_output: &str) -> Vec<String> {
    let section = pip_output.split_once("The conflict is caused by:").map_or("", |(_, rest)| rest);
    let mut out: Vec<String> = Vec::new();
    for line in section.lines().map(str::trim).skip_while(|l| l.is_empty()).take_while(|l| !l.is_empty()) {
        let Some(rest) = line.strip_prefix("The user requested ") else { continue };
        let req = rest.trim_start_matches("(constraint)").split(';').next().unwrap_or("").trim();
        // The project being installed (`sphinx 3.0.1.dev20261208 (from /testbed)`): its release, as a pin that
        // the index can serve.
        if let Some((name, version)) =
            req.strip_suffix(')').and_then(|r| r.split_once(" (from ")).and_then(|(nv, _)| nv.split_once(' '))
        {
            let release: Vec<&str> = version.split('.').take_while(|p| p.chars().all(|c| c.is_ascii_digit())).collect();
            let pin = format!("{name}=={}", release.join("."));
            if !release.is_empty() && !out.contains(&pin) {
                out.push(pin);
            }
            continue;
        }
        let req = req.replace(" and ", ",").replace(' ', "");
        if !req.is_empty() && !out.contains(&req) {
            out.push(req);
        }
    }
    out
}

/// The dependents of a failed resolution whose requirement excludes a version that the user pinned (`rasterio 1.4.3
/// depends on numpy>=1.24` under `The user requested (constraint) numpy==1.23.0`), in order, without repeats: the
/// ones that need another version, bounded away from the release in conflict (`rasterio<1.4.3`; `>` when the
/// excluding clause is an upper bound). Resolved alone on the host under the pins they are quick (`pip download rasterio
/// -c numpy==1.23.0` finds rasterio 1.3), where all of a conflict's dependents together can keep pip backtracking
/// for many minutes (xarray's environment.yml: 17 of them, one of them an sdist that a wheel-only resolution never
/// takes). A clause this cannot compare (a pre-release, a wildcard, `~=`) counts as excluding.
pub fn dependents_excluding_pins(pip_output: &str) -> Vec<String> {
    let pins: Vec<(String, String)> = conflict_pins(pip_output)
        .iter()
        .filter_map(|p| {
            let (name, version) = p.split_once("==")?;
            Some((project_name(name)?, version.split(',').next()?.to_string()))
        })
        .collect();
    let mut out: Vec<String> = Vec::new();
    for (who, req) in conflict_lines(pip_output) {
        let req = req.split(';').next().unwrap_or("").trim();
        let Some(name) = project_name(req) else { continue };
        let Some((_, pinned)) = pins.iter().find(|(n, _)| *n == name) else { continue };
        let spec = req.find(|c: char| "=<>!~".contains(c)).map_or("", |i| &req[i..]);
        let excluding: Vec<&str> = spec
            .split(" and ")
            .flat_map(|s| s.split(','))
            .map(str::trim)
            .filter(|clause| !clause.is_empty() && !clause_admits(clause, pinned))
            .collect();
        let mut words = who.split_whitespace();
        let (Some(dependent), version) = (words.next(), words.next()) else { continue };
        if excluding.is_empty() || out.iter().any(|n| project_name(n) == project_name(dependent)) {
            continue;
        }
        // A lower bound above the pin: this release of the dependent is too new, an older one may fit; an upper
        // bound below it: too old. Bounded so, the host cannot hand back the same release (or a newer one that
        // drops the dependency altogether but breaks the bounds of whoever asked for it).
        let lower = excluding.iter().all(|c| c.starts_with('>'));
        let upper = excluding.iter().all(|c| c.starts_with('<'));
        out.push(match version.filter(|v| release_cmp(v, v).is_some()) {
            Some(v) if lower => format!("{dependent}<{v}"),
            Some(v) if upper => format!("{dependent}>{v}"),
            _ => dependent.to_string(),
        });
    }
    out
}

/// Each dependent name with the bounds of a requirement already known for it (`sphinxcontrib-applehelp` becomes
/// `sphinxcontrib-applehelp<=1.0.7`, the bound that sphinx 3.0's set-up writes into setup.py): resolved again on the
/// host without it, the newest release (2.0.0) would come back rather than the one that fits (1.0.4).
pub fn with_known_bounds(dependents: &[String], known: &[String]) -> Vec<String> {
    dependents
        .iter()
        .map(|d| {
            if d.contains(|c: char| "=<>!~".contains(c)) {
                return d.clone();
            }
            let name = project_name(d);
            known
                .iter()
                .rev()
                .find(|k| project_name(k) == name && k.contains(|c: char| "=<>!~".contains(c)))
                .map_or_else(|| d.clone(), |k| k.split(';').next().unwrap_or(k).trim().to_string())
        })
        .collect()
}

/// Whether a version clause (`>=1.24`, `<2.1`, `!=1.5.0`, `==1.23.0`) admits `version`; `false` where it cannot
/// tell (see [`dependents_excluding_pins`]).
fn clause_admits(clause: &str, version: &str) -> bool {
    use std::cmp::Ordering::*;
    let op_len = clause.find(|c: char| !"=<>!~".contains(c)).unwrap_or(clause.len());
    let (op, bound) = (&clause[..op_len], clause[op_len..].trim());
    let Some(ord) = release_cmp(version, bound) else { return false };
    match op {
        ">=" => ord != Less,
        ">" => ord == Greater,
        "<=" => ord != Greater,
        "<" => ord == Less,
        "==" | "===" => ord == Equal,
        "!=" => ord != Equal,
        _ => false,
    }
}

/// Two plain release versions (`1.23.0`, `1.24`) compared with missing parts as zeros, or `None` for anything else
/// (a pre-release, a local version, a wildcard).
fn release_cmp(a: &str, b: &str) -> Option<std::cmp::Ordering> {
    let parse = |v: &str| v.split('.').map(|p| p.parse::<u64>().ok()).collect::<Option<Vec<u64>>>();
    let (mut a, mut b) = (parse(a)?, parse(b)?);
    let n = a.len().max(b.len());
    a.resize(n, 0);
    b.resize(n, 0);
    Some(a.cmp(&b))
}

/// Shell lines that let `tox --current-env -e<env>` (tox-current-env, SWE-bench's sphinx test command) run in the
/// venv: the plugin makes `.tox/<env>/bin/python` a link to the running Python (`/opt/venv/bin/python`), and a
/// venv's Python started through a second link finds no `pyvenv.cfg` beside it, so it runs as the system Python
/// without the venv's packages (`No module named pytest`; a conda env, SWE-bench's, has no such file to find).
/// Each env folder gets the venv's `pyvenv.cfg` and its `lib`. Empty when the command does not use tox's
/// `--current-env`.
pub fn tox_current_env_setup(test_cmd: &str, venv: &str) -> String {
    let words: Vec<&str> = test_cmd.split_whitespace().collect();
    if !words.contains(&"tox") || !words.contains(&"--current-env") {
        return String::new();
    }
    let mut envs: Vec<&str> = Vec::new();
    for (i, w) in words.iter().enumerate() {
        let list = match *w {
            "-e" | "--env" => words.get(i + 1).copied().unwrap_or(""),
            w => w.strip_prefix("-e").or_else(|| w.strip_prefix("--env=")).map_or("", |v| v.trim_start_matches('=')),
        };
        envs.extend(
            list.split(',')
                .filter(|e| !e.is_empty() && e.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))),
        );
    }
    let mut out = String::new();
    for e in envs {
        out += &format!("mkdir -p .tox/{e} && cp {venv}/pyvenv.cfg .tox/{e}/ && ln -sfn {venv}/lib .tox/{e}/lib\n");
    }
    out
}

/// A requirement's project name as PEP 503 compares names (`MarkupSafe`, `markupsafe` and `Markup_Safe` are one),
/// or `None` for an option line (`--index-url ...`) or a URL.
fn project_name(req: &str) -> Option<String> {
    let req = req.trim();
    if req.is_empty() || req.starts_with('-') || req.contains("://") {
        return None;
    }
    let end = req.find(|c: char| !(c.is_ascii_alphanumeric() || "-_.".contains(c))).unwrap_or(req.len());
    let name = &req[..end];
    if name.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        let c = if "_.".contains(c) { '-' } else { c.to_ascii_lowercase() };
        if !(c == '-' && out.ends_with('-')) {
            out.push(c);
        }
    }
    Some(out)
}

/// The spec's pins that may constrain (pip's `-c`) the resolution of a requirement file: those of projects the file
/// does not give a version of its own. SWE-bench installs the file, then the pins over it; a pin that contradicts
/// the file's own (flask's `requirements/dev.txt` has `markupsafe==2.1.2`, the spec pins 2.1.1) would make the
/// file's resolution impossible, and wins afterwards anyway.
pub fn pin_constraints(pins: &[String], reqs: &[String]) -> Vec<String> {
    let versioned: Vec<String> = reqs
        .iter()
        .filter_map(|r| {
            let r = r.split(';').next().unwrap_or("");
            let name = project_name(r)?;
            r.contains(['=', '<', '>', '~', '!', '@']).then_some(name)
        })
        .collect();
    pins.iter().filter(|p| project_name(p).is_none_or(|n| !versioned.contains(&n))).cloned().collect()
}

/// A requirements file with its `-r`/`--requirement` includes inlined (paths relative to the including file, read
/// through `read`), and, as SWE-bench does, without comments, blank lines and installs of the repository itself
/// (`-e .`, `.[test]`). `Err` names a file that `read` cannot find.
pub fn flatten_requirements(path: &str, read: &dyn Fn(&str) -> Option<String>) -> Result<Vec<String>, String> {
    fn go(
        path: &str,
        read: &dyn Fn(&str) -> Option<String>,
        depth: usize,
        out: &mut Vec<String>,
    ) -> Result<(), String> {
        if depth > 8 {
            return Err(format!("{path}: `-r` includes nest deeper than 8"));
        }
        let text = read(path).ok_or_else(|| format!("{path} is not in the repository at that commit"))?;
        let dir = path.rsplit_once('/').map(|(d, _)| format!("{d}/")).unwrap_or_default();
        for raw in text.lines() {
            let line = raw.split(" #").next().unwrap_or("").trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with("-e .") || line.starts_with(".[") {
                continue;
            }
            if line == "." {
                continue;
            }
            let include = line
                .strip_prefix("-r ")
                .or_else(|| line.strip_prefix("--requirement "))
                .or_else(|| line.strip_prefix("--requirement="));
            match include {
                Some(inc) => go(&normalize(&format!("{dir}{}", inc.trim())), read, depth + 1, out)?,
                None => out.push(line.to_string()),
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    go(path, read, 0, &mut out)?;
    Ok(out)
}

/// `a/b/../c` as `a/c`.
fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

/// The dependencies of a conda `environment.yml`: its conda specs and the specs of its `pip:` list. A small
/// reader for the layout these files have (`dependencies:`, `- item`, a nested `- pip:` list), not general YAML.
pub fn environment_yml_dependencies(text: &str) -> (Vec<String>, Vec<String>) {
    let (mut conda, mut pip) = (Vec::new(), Vec::new());
    let mut in_deps = false;
    let mut pip_indent: Option<usize> = None;
    for raw in text.lines() {
        let line = raw.split(" #").next().unwrap_or("").trim_end();
        let body = line.trim_start();
        if body.is_empty() || body.starts_with('#') {
            continue;
        }
        let indent = line.len() - body.len();
        if indent == 0 {
            in_deps = body.starts_with("dependencies:");
            pip_indent = None;
            continue;
        }
        if !in_deps {
            continue;
        }
        let Some(item) = body.strip_prefix("- ").map(|s| s.trim().trim_matches(|c| c == '"' || c == '\'')) else {
            continue;
        };
        if let Some(pi) = pip_indent {
            if indent > pi {
                pip.push(item.to_string());
                continue;
            }
            pip_indent = None;
        }
        if item == "pip:" {
            pip_indent = Some(indent);
        } else {
            conda.push(item.to_string());
        }
    }
    (conda, pip)
}

/// What became of one conda dependency in the offline build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CondaDep {
    /// A pip requirement spec.
    Pip(String),
    /// A Debian package (it must be in the spec's `apt_packages`).
    Apt(String),
    /// Left out, and why.
    Skip(String),
}

/// A conda spec (`name`, `name=1.2`, `name>=1.2`, `channel::name`) mapped through `table` (conda name ->
/// `pip:<requirement>`, `apt:<package>`, `skip:<why>`; unlisted names are PyPI names). conda's `=1.2` (any 1.2.x)
/// becomes pip's `==1.2.*`. A `pip:` requirement may carry its own bounds (`pip:scitools-iris<3.5`): the conda
/// spec's are added to them. `python` and `pip` themselves are skipped: the venv has them.
pub fn map_conda(spec: &str, table: &BTreeMap<String, String>) -> CondaDep {
    let spec = spec.rsplit_once("::").map(|(_, s)| s).unwrap_or(spec).trim();
    let cut = spec.find(|c: char| "=<>!~ ".contains(c)).unwrap_or(spec.len());
    let (name, constraint) = (spec[..cut].trim(), spec[cut..].trim());
    if name == "python" || name == "pip" {
        return CondaDep::Skip(format!("{name}: the venv's own"));
    }
    let constraint = match constraint.strip_prefix('=') {
        Some(v) if !v.starts_with('=') => {
            let v = v.trim().trim_end_matches(".*").trim_end_matches('*').trim_end_matches('.');
            format!("=={v}.*")
        }
        _ => constraint.replace(' ', ""),
    };
    match table.get(name).map(|v| v.split_once(':').unwrap_or(("pip", v))) {
        Some(("skip", why)) => CondaDep::Skip(format!("{name}: {}", why.trim())),
        Some(("apt", pkg)) => CondaDep::Apt(pkg.trim().to_string()),
        Some((_, pip_req)) => {
            let pip_req = pip_req.trim();
            let bounded = pip_req.contains(|c: char| "=<>!~".contains(c));
            let sep = if bounded && !constraint.is_empty() { "," } else { "" };
            CondaDep::Pip(format!("{pip_req}{sep}{constraint}"))
        }
        None => CondaDep::Pip(format!("{name}{constraint}")),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_resolution_conflict_names_the_dependencies_to_fetch() {
        let out = "INFO: pip is looking at multiple versions of mypy\n\
ERROR: Cannot install -r /tmp/r.txt (line 1) and -r /tmp/r.txt (line 4) because these package versions have conflicting dependencies.\n\
\n\
The conflict is caused by:\n\
    black 21.7b0 depends on mypy-extensions>=0.4.3\n\
    mypy 0.910 depends on mypy-extensions<0.5.0 and >=0.4.3\n\
    The user requested (constraint) markupsafe==2.1.1\n\
    foo 1.0 depends on typing-extensions>=3.7; python_version < \"3.8\"\n\
    bar 2.0 depends on mypy-extensions>=0.4.3\n\
\n\
To fix this you could try to:\n\
    baz 1 depends on nothing-after-the-section\n";
        assert_eq!(
            conflict_requirements(out),
            vec!["mypy-extensions>=0.4.3", "mypy-extensions<0.5.0,>=0.4.3", "typing-extensions>=3.7"]
        );
        assert!(conflict_requirements("ERROR: No matching distribution found for x").is_empty());
        assert_eq!(conflict_dependents(out), vec!["black", "mypy", "foo", "bar"]);
        assert!(conflict_dependents("ERROR: No matching distribution found for x").is_empty());
        assert_eq!(conflict_pins(out), vec!["markupsafe==2.1.1"]);
        let xarray = "ERROR: Cannot install distributed because these package versions have conflicting dependencies.\n\
\n\
The conflict is caused by:\n\
    The user requested dask==2022.8.1\n\
    The user requested (constraint) dask==2022.8.1\n\
    distributed 2024.8.0 depends on dask==2024.8.0\n\
\n\
To fix this you could try to:\n\
    The user requested (constraint) after-the-section==1\n";
        assert_eq!(conflict_pins(xarray), vec!["dask==2022.8.1"]);
        assert_eq!(conflict_dependents(xarray), vec!["distributed"]);
        assert!(conflict_pins("ERROR: No matching distribution found for x").is_empty());
        let numpy = "ERROR: Cannot install -r r.txt (line 3) and numpy because these package versions have conflicting \
dependencies.\n\nThe conflict is caused by:\n    The user requested numpy\n    bottleneck 1.5.0 depends on numpy\n    \
cartopy 0.23.0 depends on numpy>=1.21\n    cftime 1.6.4.post1 depends on numpy>1.13.3; python_version < \"3.12.0.rc1\"\n    \
h5py 3.14.0 depends on numpy>=1.19.3\n    numba 0.60.0 depends on numpy<2.1 and >=1.22\n    pandas 1.5.3 depends on \
numpy>=1.20.3; python_version < \"3.10\"\n    rasterio 1.4.3 depends on numpy>=1.24\n    old 0.1 depends on numpy<1.23\n    \
odd 1.0 depends on numpy>=1.23.0rc1\n    fine 1.0 depends on numpy!=1.22.0,<=1.23\n    \
The user requested (constraint) numpy==1.23.0\n\nTo fix this you could try to:\n";
        assert_eq!(dependents_excluding_pins(numpy), vec!["rasterio<1.4.3", "old>0.1", "odd<1.0"]);
        assert!(dependents_excluding_pins(out).is_empty(), "no pinned project among the dependencies");
        assert_eq!(dependents_excluding_pins(xarray), vec!["distributed"], "== is neither bound");
        // The project under install is pinned at its release: sphinx 3.0's `sphinxcontrib-applehelp<=1.0.7` got
        // 1.0.7, which wants Sphinx>=5; resolved again under sphinx==3.0.1 it is 1.0.4.
        let local = "The conflict is caused by:\n    The user requested sphinx 3.0.1.dev20261208 (from /testbed)\n    \
sphinx[test] 3.0.1.dev20261208 depends on sphinx 3.0.1.dev20261208 (from /testbed)\n    \
sphinxcontrib-applehelp 1.0.7 depends on Sphinx>=5\n\nTo fix this you could try to:\n";
        assert_eq!(conflict_pins(local), vec!["sphinx==3.0.1"]);
        assert_eq!(dependents_excluding_pins(local), vec!["sphinxcontrib-applehelp<1.0.7"]);
        let known = ["Jinja2<3.0".to_string(), "sphinxcontrib_applehelp<=1.0.7 ; python_version>'3'".to_string()];
        assert_eq!(
            with_known_bounds(&["sphinxcontrib-applehelp".into(), "docutils".into(), "jinja2>2".into()], &known),
            vec!["sphinxcontrib_applehelp<=1.0.7", "docutils", "jinja2>2"]
        );
    }

    #[test]
    fn tox_current_envs_get_the_venvs_configuration() {
        let lines = tox_current_env_setup("tox --current-env -epy39 -v --", "/opt/venv");
        assert_eq!(
            lines,
            "mkdir -p .tox/py39 && cp /opt/venv/pyvenv.cfg .tox/py39/ && ln -sfn /opt/venv/lib .tox/py39/lib\n"
        );
        let two = tox_current_env_setup("tox --current-env -e py39,lint -- -x", "/v");
        assert!(two.contains(".tox/py39/") && two.contains(".tox/lint/") && two.lines().count() == 2, "{two}");
        assert_eq!(tox_current_env_setup("pytest -rA", "/opt/venv"), "");
        assert_eq!(tox_current_env_setup("tox -epy39", "/opt/venv"), "", "without --current-env tox makes its own");
        assert_eq!(tox_current_env_setup("tox --current-env -e'$(x)'", "/v"), "", "odd names are left alone");
    }

    #[test]
    fn pins_that_a_requirement_file_versions_itself_do_not_constrain_it() {
        let pins: Vec<String> =
            ["setuptools==70.0.0", "MarkupSafe==2.1.1", "Jinja2==3.1.2", "numpy==1.23.0", "zope.interface==5.4"]
                .map(String::from)
                .to_vec();
        let reqs: Vec<String> =
            ["markupsafe==2.1.2", "jinja2", "numpy>=1.20 ; python_version>'3'", "zope-interface~=5.0"]
                .map(String::from)
                .to_vec();
        // markupsafe and numpy and zope.interface carry the file's own versions; jinja2 is bare there.
        assert_eq!(pin_constraints(&pins, &reqs), vec!["setuptools==70.0.0".to_string(), "Jinja2==3.1.2".to_string()]);
        assert_eq!(pin_constraints(&pins, &[]), pins);
        assert_eq!(project_name("Markup_Safe.x==1"), Some("markup-safe-x".into()));
        assert_eq!(project_name("--index-url https://x"), None);
    }

    use super::*;

    #[test]
    fn targets_the_suites_python_and_glibc() {
        let a = target_args(&DebianSuite::named("bullseye").unwrap()).join(" ");
        assert!(a.starts_with("--python-version 3.9 --implementation cp --abi cp39 --abi abi3 --abi none"), "{a}");
        assert!(a.contains("manylinux_2_31_x86_64") && a.contains("manylinux_2_17_x86_64"), "{a}");
        assert!(!a.contains("manylinux_2_32_x86_64") && a.ends_with("--platform manylinux1_x86_64"), "{a}");
    }

    #[test]
    fn finds_what_pip_could_not_find() {
        let out = "Processing ./x\n  ERROR: Could not find a version that satisfies the requirement setuptools>=40.8.0 \
                   (from versions: none)\n  ERROR: No matching distribution found for setuptools>=40.8.0\n\
                   ERROR: No matching distribution found for MarkupSafe==2.1.1\n\
                   ERROR: No matching distribution found for setuptools>=40.8.0\n\
                   ERROR: No matching distribution found for exceptiongroup>=1.0.0rc8; python_version < \"3.11\"\n";
        assert_eq!(
            missing_requirements(out),
            vec!["setuptools>=40.8.0", "MarkupSafe==2.1.1", "exceptiongroup>=1.0.0rc8"]
        );
        assert!(missing_requirements("Successfully installed x-1.0").is_empty());
    }

    #[test]
    fn requirement_files_inline_their_includes() {
        let files: BTreeMap<&str, &str> = BTreeMap::from([
            ("requirements/dev.txt", "-r docs.txt\n-r tests.txt\ntox==4.4.0  # via -r dev.in\n-e .\n"),
            ("requirements/docs.txt", "# docs\nSphinx==6.1.3\n\n"),
            ("requirements/tests.txt", "--requirement ../requirements-base.txt\npytest==7.2.1\n.[test]\n"),
            ("requirements-base.txt", "click==8.1.3\n"),
        ]);
        let read = |p: &str| files.get(p).map(|s| s.to_string());
        assert_eq!(
            flatten_requirements("requirements/dev.txt", &read).unwrap(),
            vec!["Sphinx==6.1.3", "click==8.1.3", "pytest==7.2.1", "tox==4.4.0"]
        );
        let e = flatten_requirements("requirements/none.txt", &read).unwrap_err();
        assert!(e.contains("requirements/none.txt"), "{e}");
    }

    #[test]
    fn reads_environment_yml_and_maps_conda_names() {
        let yml = "name: xarray-tests\nchannels:\n  - conda-forge\ndependencies:\n  - numpy<1.24\n  - matplotlib-base\n  \
                   - lxml    # Optional dep of pydap\n  # - pynio: not compatible\n  - cdms2\n  - hdf5\n  - python=3.10\n  \
                   - pip\n  - pip:\n    - numbagg\n    - \"git-dep>=1\"\n  - zarr=2.12\n";
        let (conda, pip) = environment_yml_dependencies(yml);
        assert_eq!(
            conda,
            vec!["numpy<1.24", "matplotlib-base", "lxml", "cdms2", "hdf5", "python=3.10", "pip", "zarr=2.12"]
        );
        assert_eq!(pip, vec!["numbagg", "git-dep>=1"]);
        let table = BTreeMap::from([
            ("matplotlib-base".to_string(), "pip:matplotlib".to_string()),
            ("cdms2".to_string(), "skip:conda-forge only".to_string()),
            ("hdf5".to_string(), "apt:libhdf5-dev".to_string()),
            ("iris".to_string(), "pip:scitools-iris<3.5".to_string()),
        ]);
        let mapped: Vec<CondaDep> = conda.iter().map(|c| map_conda(c, &table)).collect();
        assert_eq!(
            mapped,
            vec![
                CondaDep::Pip("numpy<1.24".into()),
                CondaDep::Pip("matplotlib".into()),
                CondaDep::Pip("lxml".into()),
                CondaDep::Skip("cdms2: conda-forge only".into()),
                CondaDep::Apt("libhdf5-dev".into()),
                CondaDep::Skip("python: the venv's own".into()),
                CondaDep::Skip("pip: the venv's own".into()),
                CondaDep::Pip("zarr==2.12.*".into()),
            ]
        );
        assert_eq!(map_conda("conda-forge::numpy==1.23.0", &table), CondaDep::Pip("numpy==1.23.0".into()));
        assert_eq!(map_conda("iris", &table), CondaDep::Pip("scitools-iris<3.5".into()));
        assert_eq!(map_conda("iris>=3.2", &table), CondaDep::Pip("scitools-iris<3.5,>=3.2".into()));
    }
}
