//! The one prompt renderer: (task, history window) -> chat messages.
//!
//! Invariant: the step builder (training) and the agent loop (inference) both call [`render_prompt`], so a
//! policy sees at inference exactly the bytes it was trained on. The context is the system message (tools
//! and output format), the task, then the last K action/observation rounds (K = 2 as in the SRL paper).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::message::Message;
use crate::text::{truncate_end, truncate_middle};
use crate::trajectory::Step;

/// What the environment says when a command printed nothing (SWE-agent's wording).
pub const NO_OUTPUT: &str = "Your command ran successfully and did not produce any output.";

/// The system message: the tools (SWE-agent's `bash`, `str_replace_editor`, `submit`) and the output format.
pub const SYSTEM_PROMPT: &str = r#"You are a helpful assistant that can interact with a computer to solve tasks.
<IMPORTANT>
* If user provides a path, you should NOT assume it's relative to the current working directory. Instead, you should explore the file system to find the file before working on it.
</IMPORTANT>

You have access to the following functions:

---- BEGIN FUNCTION #1: bash ----
Description: Execute a bash command in the terminal.

Parameters:
  (1) command (string, required): The bash command to execute.
---- END FUNCTION #1 ----

---- BEGIN FUNCTION #2: submit ----
Description: Finish the interaction when the task is complete OR if the assistant cannot proceed further with the task.
No parameters are required for this function.
---- END FUNCTION #2 ----

---- BEGIN FUNCTION #3: str_replace_editor ----
Description: Custom editing tool for viewing, creating and editing files
* State is persistent across command calls and discussions with the user
* If `path` is a file, `view` displays the result of applying `cat -n`. If `path` is a directory, `view` lists non-hidden files and directories up to 2 levels deep
* The `create` command cannot be used if the specified `path` already exists as a file
* If a `command` generates a long output, it will be truncated and marked with `<response clipped>`
* The `undo_edit` command will revert the last edit made to the file at `path`

Notes for using the `str_replace` command:
* The `old_str` parameter should match EXACTLY one or more consecutive lines from the original file. Be mindful of whitespaces!
* If the `old_str` parameter is not unique in the file, the replacement will not be performed. Make sure to include enough context in `old_str` to make it unique
* The `new_str` parameter should contain the edited lines that should replace the `old_str`

Parameters:
  (1) command (string, required): The commands to run. Allowed options are: `view`, `create`, `str_replace`, `insert`, `undo_edit`.
  (2) path (string, required): Absolute path to file or directory, e.g. `/testbed/file.py` or `/testbed`.
  (3) file_text (string, optional): Required parameter of `create` command, with the content of the file to be created.
  (4) old_str (string, optional): Required parameter of `str_replace` command containing the string in `path` to replace.
  (5) new_str (string, optional): Optional parameter of `str_replace` command containing the new string (if not given, no string will be added). Required parameter of `insert` command containing the string to insert.
  (6) insert_line (integer, optional): Required parameter of `insert` command. The `new_str` will be inserted AFTER the line `insert_line` of `path`.
  (7) view_range (array, optional): Optional parameter of `view` command when `path` points to a file. If none is given, the full file is shown. If provided, the file will be shown in the indicated line number range, e.g. [11, 12] will show lines 11 and 12. Indexing at 1 to start. Setting `[start_line, -1]` shows all lines from `start_line` to the end of the file.
---- END FUNCTION #3 ----

Reply with your reasoning inside <think>...</think>, then exactly ONE function call in this format, with nothing after it:

<think>
Your reasoning about what to do next.
</think>
<function=example_function_name>
<parameter=example_parameter_1>value_1</parameter>
<parameter=example_parameter_2>
This is the value for the second parameter
that can span
multiple lines
</parameter>
</function>"#;

/// A short system message for small models and CPU runs: the output format and the three tools' names and
/// parameters, without SWE-agent's tool documentation (about a tenth of [`SYSTEM_PROMPT`]'s length).
pub const COMPACT_SYSTEM_PROMPT: &str = r#"You solve tasks in the repository at /testbed. Functions:
* bash(command): run a shell command.
* str_replace_editor(command, path, file_text, old_str, new_str, insert_line, view_range): command is view, create, str_replace, insert or undo_edit.
* submit(): finish.
Reply with <think>...</think>, then exactly ONE call:
<function=NAME>
<parameter=PARAM>VALUE</parameter>
</function>"#;

/// The system message for small instruct models ([`SystemPrompt::Instruct`]): [`COMPACT_SYSTEM_PROMPT`]'s tools, the
/// reply's two parts spelled out, and two example replies. Without the examples Qwen2.5-Coder-0.5B-Instruct, given
/// the `<think>\n` prefill, answers in prose and never calls (0 of 24 held-out SWE-smith steps well-formed). With
/// this message and the `<think>\nNext step:` prefill (greedy, 1,024 new tokens, the sampler stopping at the first
/// call), on the 19 held-out steps whose expert call is at most 400 characters: the 1.5B writes 18 well-formed calls,
/// the 0.5B 15 (its failures: two file creates that loop until the budget ends, one `</think>` with nothing after it,
/// one parameter tag without its name). The earlier one-line wording gave the 0.5B 13 of 19 at 512 tokens, and 14
/// at 1,024 with a line on the parameter syntax added. With `<think>\n` alone about half are well-formed, most of
/// the others the last observation or the task copied into the thought.
pub const INSTRUCT_SYSTEM_PROMPT: &str = r#"You solve tasks in the repository at /testbed by calling one function per reply. Functions:
* bash(command): run a shell command.
* str_replace_editor(command, path, file_text, old_str, new_str, insert_line, view_range): command is view, create, str_replace, insert or undo_edit.
* submit(): finish.
Every reply has two parts, in this order, and nothing else:
1. a short thought inside <think>...</think>;
2. one function call: <function=NAME>, then <parameter=NAME>VALUE</parameter> for each parameter, then </function>.
A reply ends with </function>, never with </think>. Keep new files short.

Example replies:

<think>
Find the file that defines the class.
</think>
<function=bash>
<parameter=command>grep -rn "class Config" /testbed --include=*.py</parameter>
</function>

<think>
Read the function before changing it.
</think>
<function=str_replace_editor>
<parameter=command>view</parameter>
<parameter=path>/testbed/pkg/config.py</parameter>
</function>"#;

crate::choice_enum! {
    /// Which system message a prompt starts with.
    #[derive(Default)]
    pub enum SystemPrompt: "system prompt" {
        /// SWE-agent's system message with the full tool documentation ([`SYSTEM_PROMPT`]), as in SWE-smith's
        /// data.
        #[default]
        SweAgent = "swe-agent",
        /// [`COMPACT_SYSTEM_PROMPT`]: the output format and the tools' names and parameters only.
        Compact = "compact",
        /// [`INSTRUCT_SYSTEM_PROMPT`]: the compact tools and two example replies, for small instruct models.
        Instruct = "instruct",
    }
}

impl SystemPrompt {
    /// The message text.
    pub fn text(self) -> &'static str {
        match self {
            SystemPrompt::SweAgent => SYSTEM_PROMPT,
            SystemPrompt::Compact => COMPACT_SYSTEM_PROMPT,
            SystemPrompt::Instruct => INSTRUCT_SYSTEM_PROMPT,
        }
    }

    /// The name used in configs: `"swe-agent"` or `"compact"`.
    pub fn name(self) -> &'static str {
        self.as_str()
    }
}

crate::choice_enum! {
    /// How the task message frames the issue text.
    #[derive(Default)]
    pub enum TaskPrompt: "task prompt" {
        /// SWE-smith's message ([`render_task`]): the upload note, the issue in `<pr_description>` tags and the
        /// five-step instructions (about 1,000 characters besides the issue).
        #[default]
        SweSmith = "swe-smith",
        /// [`render_task_compact`]: the issue in `<pr_description>` tags and one line of instruction.
        Compact = "compact",
    }
}

impl TaskPrompt {
    /// The user message that states `task`.
    pub fn render(self, task: &str) -> String {
        match self {
            TaskPrompt::SweSmith => render_task(task),
            TaskPrompt::Compact => render_task_compact(task),
        }
    }

    /// The name used in configs: `"swe-smith"` or `"compact"`.
    pub fn name(self) -> &'static str {
        self.as_str()
    }
}

/// How many past action/observation rounds the context keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Window {
    /// The last K rounds.
    Last(usize),
    /// The whole history.
    All,
}

impl Default for Window {
    fn default() -> Self {
        Window::Last(2)
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Window::Last(k) => write!(f, "{k}"),
            Window::All => f.write_str("all"),
        }
    }
}

impl FromStr for Window {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "all" => Ok(Window::All),
            t => t
                .parse()
                .map(Window::Last)
                .map_err(|_| format!("window must be a number of rounds or `all`, got {s:?}")),
        }
    }
}

impl Serialize for Window {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Window::Last(k) => s.serialize_u64(*k as u64),
            Window::All => s.serialize_str("all"),
        }
    }
}

impl<'de> Deserialize<'de> for Window {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(Window::Last(n as usize)),
            Raw::S(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// The file beside a trained model (`<run>/final/prompt.json`) holding the [`PromptConfig`] it was trained with.
pub const PROMPT_CONFIG_FILE: &str = "prompt.json";

/// How a prompt is rendered. Defaults: window 2, observations cut to 8000 characters, SWE-agent's system
/// message, SWE-smith's task message, the task whole.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PromptConfig {
    /// Past action/observation rounds kept (`2`, or `"all"`).
    pub window: Window,
    /// Observations longer than this many characters keep their head and tail (0: no limit).
    pub max_observation_chars: usize,
    /// The system message (`"swe-agent"`, default, or `"compact"`).
    pub system: SystemPrompt,
    /// The task message's framing (`"swe-smith"`, default, or `"compact"`).
    pub task: TaskPrompt,
    /// Task (issue) texts longer than this many characters keep their head, with a line saying how much was
    /// left out (0, default: no limit).
    pub max_task_chars: usize,
    /// Text the assistant turn starts with before the model writes (for example `"<think>\n"`, so an instruct
    /// model that would skip the reasoning block opens it). It is part of the prompt, never a target: the model
    /// continues it, and the reward, the agent loop and the trainer all read the prefill followed by what the model
    /// wrote. Default: none.
    pub prefill: String,
}

impl Default for PromptConfig {
    fn default() -> Self {
        Self {
            window: Window::default(),
            max_observation_chars: 8000,
            system: SystemPrompt::default(),
            task: TaskPrompt::default(),
            max_task_chars: 0,
            prefill: String::new(),
        }
    }
}

impl PromptConfig {
    /// What the model must write for the whole turn to be `full`: `full` without the prefill; `None` when `full`
    /// does not begin with it (an SFT target that cannot follow this prompt).
    pub fn after_prefill<'a>(&self, full: &'a str) -> Option<&'a str> {
        full.strip_prefix(self.prefill.as_str())
    }
}

/// The user message that states the task (the issue text between `<pr_description>` tags, as SWE-smith does).
pub fn render_task(task: &str) -> String {
    format!(
        "<uploaded_files>\n/testbed\n</uploaded_files>\n\
I've uploaded a python code repository in the directory /testbed. Consider the following PR description:\n\n\
<pr_description>\n{}\n</pr_description>\n\n\
Can you help me implement the necessary changes to the repository so that the requirements specified in the <pr_description> are met?\n\
I've already taken care of all changes to any of the test files described in the <pr_description>. This means you DON'T have to modify the testing logic or any of the tests in any way!\n\
Your task is to make the minimal changes to non-tests files in the /testbed directory to ensure the <pr_description> is satisfied.\n\
Follow these steps to resolve the issue:\n\
1. As a first step, it might be a good idea to find and read code relevant to the <pr_description>\n\
2. Create a script to reproduce the error and execute it with `python <filename.py>` using the bash tool, to confirm the error\n\
3. Edit the source code of the repo to resolve the issue\n\
4. Rerun your reproduce script and confirm that the error is fixed!\n\
5. Think about edgecases and make sure your fix handles them as well",
        task.trim()
    )
}

/// The short task message of [`TaskPrompt::Compact`]: the issue between `<pr_description>` tags and one line of
/// instruction.
pub fn render_task_compact(task: &str) -> String {
    format!(
        "<pr_description>\n{}\n</pr_description>\n\
Make the minimal changes to non-test files in /testbed so that the <pr_description> is satisfied.",
        task.trim()
    )
}

/// The user message that carries an observation, as the expert data writes it.
pub fn render_observation(observation: &str, max_chars: usize) -> String {
    if observation.trim().is_empty() {
        return NO_OUTPUT.to_string();
    }
    format!("OBSERVATION:\n{}", truncate_middle(observation, max_chars))
}

/// The context for the next action after `history`: system, task (cut to `cfg.max_task_chars`), then the last
/// rounds of the window.
pub fn render_prompt(task: &str, history: &[Step], cfg: &PromptConfig) -> Vec<Message> {
    let keep = match cfg.window {
        Window::All => history.len(),
        Window::Last(k) => k.min(history.len()),
    };
    let mut messages = Vec::with_capacity(2 + 2 * keep);
    messages.push(Message::system(cfg.system.text()));
    messages.push(Message::user(cfg.task.render(&truncate_end(task.trim(), cfg.max_task_chars))));
    for step in &history[history.len() - keep..] {
        messages.push(Message::assistant(step.action.render()));
        messages.push(Message::user(render_observation(&step.observation, cfg.max_observation_chars)));
    }
    messages
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::ToolCall;
    use crate::message::Role;

    fn step(cmd: &str, obs: &str) -> Step {
        Step { thought: format!("THOUGHT {cmd}"), action: ToolCall::bash(cmd), observation: obs.into() }
    }

    #[test]
    fn the_prefill_starts_the_turn_and_old_prompt_files_read_without_it() {
        let cfg = PromptConfig { prefill: "<think>\n".into(), ..Default::default() };
        assert_eq!(cfg.after_prefill("<think>\nwhy"), Some("why"));
        assert_eq!(cfg.after_prefill("<think>why"), None);
        let old = r#"{"window": 2, "max_observation_chars": 8000, "system": "compact", "task": "swe-smith", "max_task_chars": 0}"#;
        let p: PromptConfig = serde_json::from_str(old).unwrap();
        assert_eq!(p.prefill, "");
        let back: PromptConfig = serde_json::from_str(&serde_json::to_string(&cfg).unwrap()).unwrap();
        assert_eq!(back, cfg);
    }

    #[test]
    fn first_step_sees_the_task_alone() {
        let m = render_prompt("Fix it.", &[], &PromptConfig::default());
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].role, Role::System);
        assert!(m[1].content.contains("<pr_description>\nFix it.\n</pr_description>"));
    }

    #[test]
    fn window_keeps_the_last_rounds_without_thoughts() {
        let h = [step("a", "1"), step("b", ""), step("c", "3")];
        let m = render_prompt("t", &h, &PromptConfig::default());
        assert_eq!(m.len(), 6);
        assert_eq!(m[2].content, ToolCall::bash("b").render());
        assert_eq!(m[3].content, NO_OUTPUT);
        assert_eq!(m[5].content, "OBSERVATION:\n3");
        assert!(m.iter().all(|x| !x.content.contains("THOUGHT")));
        let all = PromptConfig { window: Window::All, ..Default::default() };
        assert_eq!(render_prompt("t", &h, &all).len(), 8);
        let none = PromptConfig { window: Window::Last(0), ..Default::default() };
        assert_eq!(render_prompt("t", &h, &none).len(), 2);
    }

    #[test]
    fn long_observations_are_cut() {
        let h = [step("a", &"x".repeat(100))];
        let cfg = PromptConfig { max_observation_chars: 10, ..Default::default() };
        let m = render_prompt("t", &h, &cfg);
        assert!(m[3].content.contains("<response clipped: 90 characters omitted>"));
    }

    #[test]
    fn compact_system_and_task_cut() {
        let cfg = PromptConfig {
            system: SystemPrompt::Compact,
            task: TaskPrompt::Compact,
            max_task_chars: 5,
            ..Default::default()
        };
        let m = render_prompt("  Fix the parser.  ", &[step("a", "1")], &cfg);
        assert_eq!(m[0].content, COMPACT_SYSTEM_PROMPT);
        assert_eq!(
            m[1].content,
            "<pr_description>\nFix t\n<text clipped: 10 characters omitted>\n</pr_description>\n\
             Make the minimal changes to non-test files in /testbed so that the <pr_description> is satisfied."
        );
        assert_eq!(m[2].content, ToolCall::bash("a").render());
        assert!(COMPACT_SYSTEM_PROMPT.len() * 8 < SYSTEM_PROMPT.len());
        // The default is SWE-agent's message and the whole task.
        let d = render_prompt("Fix the parser.", &[], &PromptConfig::default());
        assert_eq!(d[0].content, SYSTEM_PROMPT);
        assert_eq!(d[1].content, render_task("Fix the parser."));
        // Each tool of the full message is named in the compact one.
        for tool in ["bash", "str_replace_editor", "submit"] {
            assert!(COMPACT_SYSTEM_PROMPT.contains(&format!("{tool}(")), "{tool}");
        }
    }

    #[test]
    fn system_prompt_names() {
        for s in [SystemPrompt::SweAgent, SystemPrompt::Compact] {
            assert_eq!(s.name().parse::<SystemPrompt>().unwrap(), s);
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{}\"", s.name()));
        }
        for t in [TaskPrompt::SweSmith, TaskPrompt::Compact] {
            assert_eq!(t.name().parse::<TaskPrompt>().unwrap(), t);
            assert_eq!(serde_json::to_string(&t).unwrap(), format!("\"{}\"", t.name()));
        }
        assert!("short".parse::<SystemPrompt>().is_err());
        assert!("short".parse::<TaskPrompt>().is_err());
        let c: PromptConfig =
            serde_json::from_str(r#"{"system":"compact","task":"compact","max_task_chars":100}"#).unwrap();
        assert_eq!((c.system, c.task, c.max_task_chars), (SystemPrompt::Compact, TaskPrompt::Compact, 100));
        assert_eq!(c.window, Window::Last(2));
        assert!(serde_json::from_str::<PromptConfig>(r#"{"system":"short"}"#).is_err());
    }

    #[test]
    fn window_parses() {
        assert_eq!("all".parse::<Window>().unwrap(), Window::All);
        assert_eq!("3".parse::<Window>().unwrap(), Window::Last(3));
        assert!("x".parse::<Window>().is_err());
        let c: PromptConfig = serde_json::from_str(r#"{"window":"all"}"#).unwrap();
        assert_eq!(c.window, Window::All);
    }
}
