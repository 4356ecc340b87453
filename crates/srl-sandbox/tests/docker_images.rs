//! Image layers against the real Docker daemon: build, cache, tag changes, the instance repository.

mod common;

use std::time::Instant;

use srl_sandbox::{Container, ContainerOptions, ExecOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_are_cached_and_instances_are_clean() {
    let Some(sb) = common::sandbox().await else { return };
    let t0 = Instant::now();
    let imgs = common::images(&sb).await;
    eprintln!("first ensure of all images: {:.1?}", t0.elapsed());

    // Second run: nothing is built.
    let b = common::builder(&sb);
    let t1 = Instant::now();
    assert!(!b.ensure_base().await.unwrap().built);
    let tasks = common::tasks();
    for inst in &tasks.instances {
        let r = b.ensure_instance(inst, &tasks.source(inst).unwrap()).await.unwrap();
        assert!(!r.built, "{} was rebuilt", r.image);
    }
    eprintln!("second ensure of all images: {:.1?}", t1.elapsed());
    assert!(t1.elapsed().as_secs() < 30);

    // A changed spec gives another tag (so it would be rebuilt); an unchanged one the same.
    let spec = b.spec_for("srl-swe/datekit", "1.0").unwrap().clone();
    assert_eq!(b.env_image(&spec).unwrap(), imgs.env);
    let mut changed = spec.clone();
    changed.pip_packages.push("iniconfig==2.0.0".into());
    assert_ne!(b.env_image(&changed).unwrap(), imgs.env);

    // Every instance: HEAD is the base commit, nothing else reachable, clean status, pytest available.
    for (inst, image) in &imgs.instances {
        let c = Container::start(&sb, image, &ContainerOptions::default()).await.unwrap();
        let out = c
            .exec(
                "git rev-parse HEAD && git log --all --oneline | wc -l && git count-objects -v | grep -c . && \
                 test -z \"$(git status --porcelain)\" && echo clean && python -m pytest --version",
                &ExecOptions::default(),
            )
            .await
            .unwrap();
        assert!(out.success(), "{}: {}", inst.instance_id, out.output);
        let lines: Vec<&str> = out.output.lines().collect();
        assert_eq!(lines[0], inst.base_commit);
        assert_eq!(lines[1], "1", "only the base commit is reachable");
        assert!(out.output.contains("clean"));
        assert!(out.output.contains("pytest 8"), "{}", out.output);
        c.remove().await.unwrap();
    }
    common::assert_clean(&sb).await;
}
