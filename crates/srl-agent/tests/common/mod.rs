//! Shared set-up of the srl-agent tests: bundled tasks and their recorded trajectories, a fake environment,
//! small policies, and (for the Docker tests) the sandbox and the instance images.

#![allow(dead_code)]

pub mod stub;

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use srl_agent::{AgentPolicy, Environment, PolicyError, PolicyReply, PolicyRequest};
use srl_core::{ActionKind, Instance, Message, ToolCall, Trajectory};
use srl_sandbox::{ImageBuilder, Observation, Sandbox, TaskSet};
use tokio::sync::OnceCell;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn tasks() -> TaskSet {
    TaskSet::bundled(&root().join("tasks")).unwrap()
}

/// The folder name of a bundled instance (`srl-swe/confparse` -> `confparse`).
pub fn task_name(inst: &Instance) -> &str {
    inst.repo.strip_prefix("srl-swe/").unwrap()
}

/// The recorded expert trajectory of a bundled task (tasks/<name>/trajectory.json, SWE-smith XML chat).
pub fn recorded(inst: &Instance) -> Trajectory {
    let path = root().join("tasks").join(task_name(inst)).join("trajectory.json");
    let mut ts = srl_data::import::read_path(&path, srl_data::Format::Auto).unwrap();
    assert_eq!(ts.len(), 1);
    ts.remove(0)
}

/// An environment that answers from a script: each call must be the next expected one, and gets its recorded
/// observation; `submit` answers with `patch`. Files for the oracle mode come from `files`.
#[derive(Default)]
pub struct FakeEnv {
    pub script: Mutex<VecDeque<(ToolCall, String)>>,
    /// Without a script: every call is accepted and echoed.
    pub echo: bool,
    pub patch: String,
    pub files: HashMap<String, Vec<u8>>,
    /// Calls that ran, in order.
    pub ran: Mutex<Vec<ToolCall>>,
    /// Fail (sandbox error) on this call index.
    pub fail_at: Option<usize>,
}

impl FakeEnv {
    /// Replays `t`'s observations for its actions.
    pub fn replaying(t: &Trajectory) -> Self {
        FakeEnv {
            script: Mutex::new(t.steps.iter().map(|s| (s.action.clone(), s.observation.clone())).collect()),
            patch: t.patch.clone().unwrap_or_default(),
            ..Default::default()
        }
    }

    pub fn echo() -> Self {
        FakeEnv { echo: true, patch: "diff --git a/x b/x\n".into(), ..Default::default() }
    }

    pub fn ran(&self) -> Vec<ToolCall> {
        self.ran.lock().unwrap().clone()
    }
}

impl Environment for FakeEnv {
    fn run<'a>(&'a self, call: &'a ToolCall, _timeout: Duration) -> BoxFuture<'a, Result<Observation, String>> {
        Box::pin(async move {
            let n = {
                let mut ran = self.ran.lock().unwrap();
                ran.push(call.clone());
                ran.len() - 1
            };
            if self.fail_at == Some(n) {
                return Err("the fake daemon went away".to_string());
            }
            let text = if self.echo {
                format!("ran {}", call.name())
            } else {
                let (want, obs) = self.script.lock().unwrap().pop_front().ok_or("script exhausted")?;
                if want != *call {
                    return Err(format!("unexpected call {call}, expected {want}"));
                }
                obs
            };
            let patch = (call.kind() == ActionKind::Submit).then(|| self.patch.clone());
            Ok(Observation { text, patch, ..Default::default() })
        })
    }

    fn diff(&self) -> BoxFuture<'_, Result<String, String>> {
        Box::pin(async move { Ok(self.patch.clone()) })
    }

    fn read_file<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<Vec<u8>, String>> {
        Box::pin(async move { self.files.get(path).cloned().ok_or_else(|| format!("no such file {path}")) })
    }
}

/// Wraps a policy and keeps every context it was given.
pub struct Recording<P> {
    pub inner: P,
    pub prompts: Arc<Mutex<Vec<Vec<Message>>>>,
    pub prefills: Arc<Mutex<Vec<String>>>,
}

impl<P: AgentPolicy> Recording<P> {
    pub fn new(inner: P) -> Self {
        Recording { inner, prompts: Default::default(), prefills: Default::default() }
    }
    pub fn prompts(&self) -> Vec<Vec<Message>> {
        self.prompts.lock().unwrap().clone()
    }
}

impl<P: AgentPolicy> AgentPolicy for Recording<P> {
    fn model_name(&self) -> String {
        self.inner.model_name()
    }
    fn complete<'a>(&'a self, request: PolicyRequest<'a>) -> BoxFuture<'a, Result<PolicyReply, PolicyError>> {
        self.prompts.lock().unwrap().push(request.messages.to_vec());
        self.prefills.lock().unwrap().push(request.prefill.to_string());
        self.inner.complete(request)
    }
}

/// A policy that answers call `t` with `replies[t % len]` (and the given usage), optionally after a delay.
pub struct Canned {
    pub replies: Vec<Result<String, String>>,
    pub usage: srl_agent::TokenUsage,
    pub delay: Duration,
}

impl Canned {
    pub fn new(replies: &[&str]) -> Self {
        Canned {
            replies: replies.iter().map(|s| Ok(s.to_string())).collect(),
            usage: Default::default(),
            delay: Duration::ZERO,
        }
    }
}

impl AgentPolicy for Canned {
    fn model_name(&self) -> String {
        "canned".into()
    }
    fn complete<'a>(&'a self, request: PolicyRequest<'a>) -> BoxFuture<'a, Result<PolicyReply, PolicyError>> {
        Box::pin(async move {
            if !self.delay.is_zero() {
                tokio::time::sleep(self.delay).await;
            }
            match &self.replies[request.turn % self.replies.len()] {
                Ok(text) => Ok(PolicyReply { text: text.clone(), usage: self.usage }),
                Err(e) => Err(PolicyError::Other(e.clone())),
            }
        })
    }
}

pub const BASH_LS: &str = "<think>\nlook\n</think>\n<function=bash>\n<parameter=command>ls</parameter>\n</function>";
pub const SUBMIT: &str = "<think>\ndone\n</think>\n<function=submit>\n</function>";

/// The sandbox, or `None` when `SRL_SKIP_DOCKER=1` (see [`Sandbox::connect_for_test`]).
pub async fn sandbox() -> Option<Sandbox> {
    Sandbox::connect_for_test().await
}

/// The image builder over the repository's recipes and specs, printing build progress.
pub fn builder(sb: &Sandbox) -> ImageBuilder {
    let progress: srl_sandbox::Progress = Arc::new(|l: &str| eprintln!("[build] {l}"));
    ImageBuilder::new(sb, &root().join("docker"), &root().join("environments")).unwrap().progress(progress)
}

static IMAGES: OnceCell<Vec<(Instance, String)>> = OnceCell::const_new();

/// The instance images of every bundled task (built once if missing; cached by content hash).
pub async fn images(sb: &Sandbox) -> &'static [(Instance, String)] {
    IMAGES
        .get_or_init(|| async {
            let b = builder(sb);
            let tasks = tasks();
            let mut out = Vec::new();
            for inst in &tasks.instances {
                let src = tasks.source(inst).unwrap();
                let img = b.ensure_instance(inst, &src).await.expect("instance image").image;
                out.push((inst.clone(), img));
            }
            out
        })
        .await
}
