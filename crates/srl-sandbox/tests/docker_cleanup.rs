//! `cleanup_all` (what the CLI's Ctrl-C handler calls) removes every container of the process. In its own test
//! binary: it would remove the containers of concurrently running tests.

mod common;

use srl_sandbox::{Container, ContainerOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_all_removes_every_live_container() {
    let Some(sb) = common::sandbox().await else { return };
    let imgs = common::images(&sb).await;
    let a = Container::start(&sb, &imgs.env, &ContainerOptions::default()).await.unwrap();
    let _b = Container::start(&sb, &imgs.env, &ContainerOptions::default()).await.unwrap();
    assert_eq!(sb.list_containers(Some(sb.run_id())).await.unwrap().len(), 2);
    assert_eq!(srl_sandbox::cleanup_all(), 2);
    common::assert_clean(&sb).await;
    a.remove().await.unwrap(); // already gone: still Ok
}
