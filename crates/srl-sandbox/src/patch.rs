//! Applying a patch in /testbed with SWE-bench's fallbacks: `git apply`, then `git apply --reject`, then
//! `patch --fuzz`.

use crate::container::Container;
use crate::error::Result;

/// Which method applied the patch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplyMethod {
    /// `git apply --verbose`
    GitApply,
    /// `git apply --verbose --reject` (some hunks may have been rejected: see the log)
    GitApplyReject,
    /// `patch --batch --fuzz=5 -p1 -i` (with `--no-backup-if-mismatch`: no `.orig` files in the tree)
    PatchFuzz,
}

impl ApplyMethod {
    /// The command line, as SWE-bench runs it.
    pub fn command(self) -> &'static str {
        match self {
            ApplyMethod::GitApply => "git apply --verbose",
            ApplyMethod::GitApplyReject => "git apply --verbose --reject",
            ApplyMethod::PatchFuzz => "patch --batch --no-backup-if-mismatch --fuzz=5 -p1 -i",
        }
    }
}

/// What happened when applying a patch. Not applying is a normal result (`method` is `None`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ApplyReport {
    /// The method that worked, `None` when none did (or the patch was empty).
    pub method: Option<ApplyMethod>,
    /// Each attempt: method, exit code, output.
    pub attempts: Vec<(ApplyMethod, Option<i64>, String)>,
}

impl ApplyReport {
    /// True when some method applied it.
    pub fn applied(&self) -> bool {
        self.method.is_some()
    }

    /// Why no method worked (the last lines of each attempt), or which one did.
    pub fn summary(&self) -> String {
        match self.method {
            Some(m) => format!("applied with `{}`", m.command()),
            None if self.attempts.is_empty() => "empty patch: nothing to apply".into(),
            None => {
                let mut s = String::from("no method applied the patch:");
                for (m, code, out) in &self.attempts {
                    let tail: Vec<&str> = out.lines().rev().take(3).collect::<Vec<_>>().into_iter().rev().collect();
                    s += &format!("\n- `{}` exited {:?}: {}", m.command(), code, tail.join(" | "));
                }
                s
            }
        }
    }
}

impl Container {
    /// Apply `patch` in /testbed, trying each method in turn and restoring the tree between attempts (so that a
    /// half-applied `--reject` does not confuse `patch`). An empty patch applies nothing and reports so.
    pub async fn apply_patch(&self, patch: &str) -> Result<ApplyReport> {
        let mut report = ApplyReport { method: None, attempts: Vec::new() };
        if patch.trim().is_empty() {
            return Ok(report);
        }
        let path = "/tmp/.srl-apply.patch";
        let mut data = patch.as_bytes().to_vec();
        if !data.ends_with(b"\n") {
            data.push(b'\n');
        }
        self.write_file_with(path, &data, 0o644, 0, 0).await?;
        // Remember the starting state so that a failed attempt can be undone.
        self.raw(&["bash", "-c", "cd /testbed && git stash create > /tmp/.srl-apply.stash 2>/dev/null; true"]).await?;
        for method in [ApplyMethod::GitApply, ApplyMethod::GitApplyReject, ApplyMethod::PatchFuzz] {
            let cmd = format!("cd /testbed && {} {path} 2>&1", method.command());
            let o = self.raw(&["bash", "-c", &cmd]).await?;
            let out = o.stdout_str() + &o.stderr_str();
            let ok = o.exit_code == Some(0);
            report.attempts.push((method, o.exit_code, out));
            if ok {
                report.method = Some(method);
                break;
            }
            // Restore: tracked files to the start state, new untracked files from this attempt removed.
            self.raw(&[
                "bash",
                "-c",
                "cd /testbed && s=$(cat /tmp/.srl-apply.stash 2>/dev/null); git checkout -q -- . ; \
                 if [ -n \"$s\" ]; then git stash apply -q \"$s\" >/dev/null 2>&1; fi; \
                 find . -name '*.rej' -newer /tmp/.srl-apply.patch -not -path './.git/*' -delete; \
                 find . -name '*.orig' -newer /tmp/.srl-apply.patch -not -path './.git/*' -delete; true",
            ])
            .await?;
        }
        tracing::debug!(method = ?report.method, "apply_patch");
        Ok(report)
    }
}
