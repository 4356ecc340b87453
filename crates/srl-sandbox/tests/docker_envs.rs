//! Environments built offline against the real Docker daemon, with pip packages downloaded on the host from PyPI:
//! a bundled task on another Debian suite (Python 3.9 on bullseye), an sdist-only pin built in the image, a
//! repository of the test's own with a C extension, requirement files read from a git repository at the
//! environment set-up commit, and an install that rewrites tracked files (the set-up commit).

mod common;

use std::path::Path;
use std::sync::Arc;

use srl_core::Instance;
use srl_sandbox::{Container, ContainerOptions, ExecOptions, ImageBuilder, RepoSource, Sandbox};

fn builder(sb: &Sandbox, env_dir: &Path) -> ImageBuilder {
    let progress: srl_sandbox::Progress = Arc::new(|l: &str| eprintln!("[build] {l}"));
    ImageBuilder::new(sb, &common::root().join("docker"), env_dir).unwrap().progress(progress)
}

async fn run(sb: &Sandbox, image: &str, cmd: &str) -> String {
    let c = Container::start(sb, image, &ContainerOptions::default()).await.unwrap();
    let out = c.exec(cmd, &ExecOptions::default()).await.unwrap();
    c.remove().await.unwrap();
    assert!(out.success(), "{cmd}:\n{}", out.output);
    out.output
}

/// One of the bundled tasks with its environment on Python 3.9 (Debian bullseye) instead of bookworm's 3.11, with
/// an sdist-only pin (docopt 0.6.2 has no wheel at all) and pytest's dependencies for 3.9 (exceptiongroup,
/// tomli) left for the build to find.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bundled_task_builds_on_bullseyes_python_3_9_with_an_sdist_pin() {
    let Some(sb) = common::sandbox().await else { return };
    let env = tempfile::tempdir().unwrap();
    std::fs::write(
        env.path().join("bundled-py39.toml"),
        "repos = [\"srl-swe/*\"]\nversions = [\"1.0\"]\npython = \"3.9\"\n\
         pip_packages = [\"pytest==8.3.4\", \"pluggy==1.5.0\", \"iniconfig==2.0.0\", \"packaging==24.2\", \"docopt==0.6.2\"]\n\
         test_cmd = \"pytest -rA\"\n",
    )
    .unwrap();
    let b = builder(&sb, env.path());
    let tasks = common::tasks();
    let inst = tasks.instances.iter().find(|i| i.instance_id == "srl-swe__exprcalc-1").unwrap();
    let spec = b.spec_for(&inst.repo, &inst.version).unwrap().clone();
    assert_eq!(spec.debian_suite().unwrap().name, "bullseye");
    assert!(b.base_image_for(&spec).unwrap().starts_with("srl-swe/base.bullseye:"));
    let image = b.ensure_instance(inst, &tasks.source(inst).unwrap()).await.unwrap().image;
    let out = run(
        &sb,
        &image,
        "git rev-parse HEAD && test -z \"$(git status --porcelain)\" && echo clean && cat /etc/debian_version \
         && python -c 'import sys, docopt, exceptiongroup; print(\"py\", *sys.version_info[:2]); print(\"docopt\", docopt.__version__)' \
         && python -m pytest --version && echo \"pip: $PIP_NO_INDEX $PIP_FIND_LINKS\"",
    )
    .await;
    assert!(out.contains("py 3 9") && out.contains("docopt 0.6.2") && out.contains("pytest 8.3.4"), "{out}");
    assert!(out.contains(&inst.base_commit) && out.contains("clean") && out.contains("\n11."), "{out}");
    // pip in the image is offline, on the wheelhouse only.
    assert!(out.contains("pip: 1 /opt/srl-wheels"), "{out}");
    // The bundled environment (bookworm, 3.11) is another image on another base.
    let bundled = common::builder(&sb);
    let default = bundled.spec_for(&inst.repo, &inst.version).unwrap().clone();
    assert_ne!(bundled.base_image_for(&default).unwrap(), b.base_image_for(&spec).unwrap());
}

/// A repository of the test's own with a C extension (built by `pip install -e .` in the image, with the
/// compilers of the base and setuptools found in the wheelhouse for its build isolation), an sdist-only pin
/// with a C extension of its own for this Python (MarkupSafe 2.1.1 has no cp311 wheel: flask's case), its
/// requirement file read at the environment set-up commit (not the base commit), and an install step that
/// rewrites a tracked file: that change is committed as the set-up, so the agent's patch does not carry it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_c_extension_repository_with_an_sdist_pin_and_its_requirements_file() {
    let Some(sb) = common::sandbox().await else { return };
    let tmp = tempfile::tempdir().unwrap();
    let env = tmp.path().join("env");
    std::fs::create_dir_all(&env).unwrap();
    std::fs::write(
        env.join("cext.toml"),
        "repos = [\"test/cext\"]\npython = \"3.11\"\npackages = [\"requirements.txt\"]\n\
         requirement_files = [\"requirements/test.txt\"]\npip_packages = [\"MarkupSafe==2.1.1\"]\n\
         pre_install = [\"sed -i 's/^mode = .*/mode = offline/' settings.cfg\"]\n\
         install = [\"python -m pip install -e .\"]\ntest_cmd = \"pytest -rA\"\n",
    )
    .unwrap();
    // The repository: the set-up commit has the requirement file; the base commit (later) changed it to
    // something that does not exist, so reading it at the base commit would fail the build.
    let repo_dir = tmp.path().join("cext");
    let files: &[(&str, &str)] = &[
        (
            "pyproject.toml",
            "[build-system]\nrequires = [\"setuptools>=61\"]\nbuild-backend = \"setuptools.build_meta\"\n",
        ),
        (
            "setup.py",
            "from setuptools import Extension, setup\n\nsetup(name=\"cext\", version=\"0.1\", packages=[\"cext\"],\n      \
             ext_modules=[Extension(\"cext._fast\", [\"cext/fast.c\"])])\n",
        ),
        ("cext/__init__.py", "from cext._fast import add\n"),
        (
            "cext/fast.c",
            "#define PY_SSIZE_T_CLEAN\n#include <Python.h>\n\nstatic PyObject *add(PyObject *self, PyObject *args) {\n    \
             long a, b;\n    if (!PyArg_ParseTuple(args, \"ll\", &a, &b)) return NULL;\n    return PyLong_FromLong(a + b);\n}\n\n\
             static PyMethodDef methods[] = {{\"add\", add, METH_VARARGS, \"a + b\"}, {NULL, NULL, 0, NULL}};\n\
             static struct PyModuleDef mod = {PyModuleDef_HEAD_INIT, \"_fast\", NULL, -1, methods};\n\
             PyMODINIT_FUNC PyInit__fast(void) { return PyModule_Create(&mod); }\n",
        ),
        ("settings.cfg", "mode = online\n"),
        ("requirements/test.txt", "-r base.txt\niniconfig==2.0.0\n"),
        ("requirements/base.txt", "# the tests\npytest==8.3.4\n"),
    ];
    let repo = git2::Repository::init(&repo_dir).unwrap();
    let sig = git2::Signature::now("t", "t@example.invalid").unwrap();
    let commit = |files: &[(&str, &str)], parent: Option<git2::Oid>| {
        for (p, text) in files {
            let f = repo_dir.join(p);
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(f, text).unwrap();
        }
        let mut idx = repo.index().unwrap();
        idx.add_all(["*"], git2::IndexAddOption::DEFAULT, None).unwrap();
        idx.write().unwrap();
        let tree = repo.find_tree(idx.write_tree().unwrap()).unwrap();
        let parents: Vec<git2::Commit> = parent.map(|p| repo.find_commit(p).unwrap()).into_iter().collect();
        let refs: Vec<&git2::Commit> = parents.iter().collect();
        repo.commit(Some("HEAD"), &sig, &sig, "c", &tree, &refs).unwrap()
    };
    let setup = commit(files, None);
    let base = commit(&[("requirements/base.txt", "no-such-package-srl-swe==0.0.1\n")], Some(setup));
    let inst = Instance {
        instance_id: "test__cext-1".into(),
        repo: "test/cext".into(),
        version: "1.0".into(),
        base_commit: base.to_string(),
        environment_setup_commit: setup.to_string(),
        ..Instance::default()
    };
    let b = builder(&sb, &env);
    let image = b.ensure_instance(&inst, &RepoSource::Git(repo_dir.clone())).await.unwrap().image;
    let c = Container::start(&sb, &image, &ContainerOptions::default()).await.unwrap();
    let out = c
        .exec(
            "test -z \"$(git status --porcelain)\" && echo clean && git log --format=%s -n 2 && \
             python -c 'import cext, markupsafe, markupsafe._speedups, iniconfig; print(\"sum\", cext.add(2, 3)); \
             print(\"markupsafe\", markupsafe.__version__)' && python -m pytest --version && cat settings.cfg",
            &ExecOptions::default(),
        )
        .await
        .unwrap();
    assert!(out.success(), "{}", out.output);
    assert!(out.output.contains("sum 5") && out.output.contains("markupsafe 2.1.1"), "{}", out.output);
    assert!(out.output.contains("pytest 8.3.4") && out.output.contains("mode = offline"), "{}", out.output);
    assert!(out.output.contains("srl-swe: environment set-up") && out.output.contains("clean"), "{}", out.output);
    // The agent's patch holds its own change only, not the set-up's.
    c.exec("echo '# touched' >> cext/__init__.py", &ExecOptions::default()).await.unwrap();
    let patch = c.submit_patch(Some(&inst.base_commit)).await.unwrap();
    assert!(patch.contains("+# touched") && !patch.contains("settings.cfg"), "{patch}");
    c.remove().await.unwrap();
}

/// A requirement file that cannot be installed (a package that is nowhere) fails its instance with pip's reason;
/// a second instance with the same requirements and environment fails at once with the first one's error, rather
/// than downloading and resolving again (a validation of xarray's 22 instances retried a failing resolution for
/// minutes each).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_requirement_file_is_not_retried_for_the_next_instance() {
    let Some(sb) = common::sandbox().await else { return };
    let tmp = tempfile::tempdir().unwrap();
    let env = tmp.path().join("env");
    std::fs::create_dir_all(&env).unwrap();
    std::fs::write(
        env.join("bad.toml"),
        "repos = [\"test/bad\"]\npython = \"3.11\"\npackages = [\"requirements.txt\"]\ntest_cmd = \"pytest -rA\"\n",
    )
    .unwrap();
    let repo_dir = tmp.path().join("bad");
    std::fs::create_dir_all(&repo_dir).unwrap();
    std::fs::write(repo_dir.join("requirements.txt"), "no-such-package-srl-swe==0.0.1\n").unwrap();
    let repo = git2::Repository::init(&repo_dir).unwrap();
    let sig = git2::Signature::now("t", "t@example.invalid").unwrap();
    let mut idx = repo.index().unwrap();
    idx.add_all(["*"], git2::IndexAddOption::DEFAULT, None).unwrap();
    idx.write().unwrap();
    let tree = repo.find_tree(idx.write_tree().unwrap()).unwrap();
    let head = repo.commit(Some("HEAD"), &sig, &sig, "c", &tree, &[]).unwrap().to_string();
    let inst = |n: u32| Instance {
        instance_id: format!("test__bad-{n}"),
        repo: "test/bad".into(),
        version: "1.0".into(),
        base_commit: head.clone(),
        environment_setup_commit: head.clone(),
        ..Instance::default()
    };
    let b = builder(&sb, &env);
    let source = RepoSource::Git(repo_dir.clone());
    let first = b.ensure_instance(&inst(1), &source).await.unwrap_err().to_string();
    assert!(first.contains("no-such-package-srl-swe") && !first.contains("earlier in this run"), "{first}");
    let second = b.ensure_instance(&inst(2), &source).await.unwrap_err().to_string();
    assert!(second.contains("failed earlier in this run for test__bad-1"), "{second}");
    assert!(second.contains("no-such-package-srl-swe"), "{second}");
}
