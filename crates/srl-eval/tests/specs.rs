//! The environment specs for SWE-bench Verified in environments/swe-bench are current with SWE-bench's
//! env_specs.json (../shared/data), and every repo/version pair of it is served with its facts.

use std::path::PathBuf;

use srl_eval::specs::coverage;
use srl_eval::{EnvSpecs, env_facts, load_dataset, specs_from_swebench};
use srl_sandbox::EnvSpec;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn facts() -> EnvSpecs {
    EnvSpecs::load(&root().join("../shared/data/swe-bench/env_specs.json")).unwrap()
}

#[test]
fn committed_specs_are_regenerated_byte_for_byte() {
    let generated = specs_from_swebench(&facts()).unwrap();
    let dir = root().join("environments/swe-bench");
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    on_disk.sort();
    let mut names: Vec<String> = generated.iter().map(|g| g.file_name.clone()).collect();
    names.sort();
    assert_eq!(on_disk, names, "run `srl-swe sandbox import-specs ../shared/data/swe-bench/env_specs.json`");
    for g in &generated {
        let text = std::fs::read_to_string(dir.join(&g.file_name)).unwrap();
        assert_eq!(text, g.text, "{} is stale: regenerate it", g.file_name);
    }
}

#[test]
fn every_verified_pair_is_served_with_its_facts() {
    let facts = facts();
    let specs = EnvSpec::load_dir(&root().join("environments")).unwrap();
    let cov = coverage(&specs, &facts);
    assert_eq!(cov.len(), 80);
    for ((repo, version), path) in &cov {
        let path = path.as_ref().unwrap_or_else(|| panic!("no spec serves {repo} {version}"));
        let spec = EnvSpec::find(&specs, repo, version).unwrap();
        assert_eq!(&spec.path, path);
        let want = facts.get(repo, version).unwrap();
        let got = env_facts(spec);
        assert_eq!(got.test_cmd, want.test_cmd, "{repo} {version}");
        assert_eq!(got.install, want.install, "{repo} {version}");
        assert_eq!(got.eval_commands, want.eval_commands, "{repo} {version}");
        assert_eq!(got.pip_packages, want.pip_packages, "{repo} {version}");
        // `apt-get install` needs the network: its packages are in the base image instead.
        let offline: Vec<String> = want.pre_install.iter().filter(|c| !c.contains("apt-get")).cloned().collect();
        assert_eq!(got.pre_install, offline, "{repo} {version}");
        for cmd in want.pre_install.iter().filter(|c| c.contains("apt-get install")) {
            let last = cmd.split_whitespace().last().unwrap();
            assert!(spec.apt_packages.iter().any(|p| p == last), "{repo} {version}: {last} of {cmd:?}");
        }
        assert_eq!(got.python, want.python, "{repo} {version}");
        assert_eq!(spec.no_use_env, want.no_use_env.unwrap_or(false));
        assert_eq!(spec.nano_cpus, want.nano_cpus);
        // The log format is the repository's parser, as SWE-bench grades it.
        assert_eq!(got.log_parser(repo).unwrap(), srl_eval::parser_for_repo(repo).unwrap(), "{repo}");
        // Built on the Debian suite with SWE-bench's Python, or on the nearest one with the deviation recorded.
        let text = std::fs::read_to_string(path).unwrap();
        // Pins against drift since SWE-bench's images are separate from its pip_packages, and said in the header.
        if repo == "sphinx-doc/sphinx" {
            assert_eq!(spec.drift_pins, vec!["Pygments<2.19".to_string()], "{repo} {version}");
            assert!(text.contains("# Drift pin (`drift_pins`, installed with pip_packages): Pygments<2.19"), "{text}");
        } else {
            assert!(spec.drift_pins.is_empty(), "{repo} {version}");
        }
        let suite = spec.debian_suite().unwrap();
        if suite.python == spec.python {
            assert!(spec.deviation.is_none() && spec.suite.is_none(), "{repo} {version}");
        } else {
            let d = spec.deviation.as_deref().unwrap_or_else(|| panic!("{repo} {version}: no deviation"));
            assert!(d.contains(&format!("Python {}", spec.python)) && d.contains(suite.name), "{d}");
            assert!(text.contains(&format!("# Deviation: {d}")), "{}", path.display());
        }
    }
    // Every instance of SWE-bench Verified has an environment.
    let verified = load_dataset(&root().join("../shared/data/swe-bench/verified.jsonl")).unwrap();
    assert_eq!(verified.len(), 500);
    for i in &verified {
        assert!(EnvSpec::find(&specs, &i.repo, &i.version).is_some(), "{} {} {}", i.instance_id, i.repo, i.version);
    }
    // The bundled tasks keep their own spec.
    assert_eq!(EnvSpec::find(&specs, "srl-swe/datekit", "1.0").unwrap().name, "bundled-py311");
}
