//! The tokenizer and Qwen2.5's chat template (ChatML), with history truncation from the left.

use std::path::Path;

use srl_core::{Message, Role};

use crate::error::{PolicyError, Result};

/// `<|im_start|>`: opens a ChatML turn.
pub const IM_START: &str = "<|im_start|>";
/// `<|im_end|>`: closes a ChatML turn; the policy's completions stop on it.
pub const IM_END: &str = "<|im_end|>";
/// `<|endoftext|>`: Qwen's end of document, also its padding token.
pub const ENDOFTEXT: &str = "<|endoftext|>";
/// The system message Qwen2.5's template inserts when a chat has none.
pub const QWEN_DEFAULT_SYSTEM: &str = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";

/// How chats are rendered to text (Qwen2.5's ChatML template, without the tool-definition preamble).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatTemplate {
    /// Inserted as the system message when the first message is not one (Qwen2.5's template does this);
    /// `None` inserts nothing.
    pub default_system: Option<String>,
}

impl Default for ChatTemplate {
    fn default() -> Self {
        ChatTemplate { default_system: Some(QWEN_DEFAULT_SYSTEM.to_string()) }
    }
}

impl ChatTemplate {
    /// Renders `messages` as Qwen2.5's template does: `<|im_start|>role\ncontent<|im_end|>\n` per message, tool
    /// replies grouped into one user turn inside `<tool_response>` tags, then `<|im_start|>assistant\n` when
    /// `add_generation_prompt`.
    pub fn render(&self, messages: &[Message], add_generation_prompt: bool) -> String {
        let mut s = String::new();
        if messages.first().map(|m| m.role) != Some(Role::System)
            && let Some(sys) = &self.default_system
        {
            push_turn(&mut s, "system", sys);
        }
        for (i, m) in messages.iter().enumerate() {
            match m.role {
                Role::Tool => {
                    let prev_tool = i > 0 && messages[i - 1].role == Role::Tool;
                    let next_tool = messages.get(i + 1).is_some_and(|n| n.role == Role::Tool);
                    if !prev_tool {
                        s.push_str(IM_START);
                        s.push_str("user");
                    }
                    s.push_str("\n<tool_response>\n");
                    s.push_str(&m.content);
                    s.push_str("\n</tool_response>");
                    if !next_tool {
                        s.push_str(IM_END);
                        s.push('\n');
                    }
                }
                role => push_turn(&mut s, role.as_str(), &m.content),
            }
        }
        if add_generation_prompt {
            s.push_str(IM_START);
            s.push_str("assistant\n");
        }
        s
    }

    /// The Jinja form of [`ChatTemplate::render`] for `tokenizer_config.json`, so Python tools render alike.
    pub fn jinja(&self) -> String {
        let default = self.default_system.as_deref().unwrap_or("");
        let head = if self.default_system.is_some() {
            format!(
                "{{%- if messages[0]['role'] != 'system' %}}{{{{- '<|im_start|>system\\n{default}<|im_end|>\\n' }}}}{{%- endif %}}"
            )
        } else {
            String::new()
        };
        head + "{%- for message in messages %}{%- if message.role == 'tool' %}\
{%- if loop.first or messages[loop.index0 - 1].role != 'tool' %}{{- '<|im_start|>user' }}{%- endif %}\
{{- '\\n<tool_response>\\n' + message.content + '\\n</tool_response>' }}\
{%- if loop.last or messages[loop.index0 + 1].role != 'tool' %}{{- '<|im_end|>\\n' }}{%- endif %}\
{%- else %}{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}{%- endif %}\
{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
    }
}

fn push_turn(s: &mut String, role: &str, content: &str) {
    s.push_str(IM_START);
    s.push_str(role);
    s.push('\n');
    s.push_str(content);
    s.push_str(IM_END);
    s.push('\n');
}

/// A chat prompt as token ids, with what truncation dropped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatPrompt {
    pub ids: Vec<u32>,
    /// History messages dropped from the left to fit the budget.
    pub dropped_messages: usize,
    /// True when even the kept head (system and task) exceeds the budget; the ids are then longer than it.
    /// Logged at debug level only: callers warn (once, with a count, in the trainer).
    pub over_budget: bool,
}

/// A Hugging Face `tokenizer.json` with the ids of Qwen's chat tokens.
#[derive(Clone)]
pub struct ChatTokenizer {
    tok: tokenizers::Tokenizer,
    im_start: u32,
    im_end: u32,
    endoftext: Option<u32>,
    template: ChatTemplate,
}

impl std::fmt::Debug for ChatTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTokenizer")
            .field("vocab", &self.tok.get_vocab_size(true))
            .field("im_start", &self.im_start)
            .field("im_end", &self.im_end)
            .finish()
    }
}

impl ChatTokenizer {
    /// Loads `tokenizer.json`; it must know `<|im_start|>` and `<|im_end|>`.
    pub fn from_file(path: &Path) -> Result<Self> {
        if !path.exists() {
            return Err(PolicyError::MissingFile { path: path.to_path_buf() });
        }
        let tok = tokenizers::Tokenizer::from_file(path)
            .map_err(|e| PolicyError::Tokenizer { path: path.to_path_buf(), message: e.to_string() })?;
        Self::new(tok).map_err(|message| PolicyError::Tokenizer { path: path.to_path_buf(), message })
    }

    /// Wraps a tokenizer; errs (with a message) when it lacks the ChatML tokens.
    pub fn new(tok: tokenizers::Tokenizer) -> std::result::Result<Self, String> {
        let id = |t: &str| tok.token_to_id(t).ok_or_else(|| format!("has no `{t}` token"));
        Ok(ChatTokenizer {
            im_start: id(IM_START)?,
            im_end: id(IM_END)?,
            endoftext: tok.token_to_id(ENDOFTEXT),
            tok,
            template: ChatTemplate::default(),
        })
    }

    pub fn inner(&self) -> &tokenizers::Tokenizer {
        &self.tok
    }
    pub fn template(&self) -> &ChatTemplate {
        &self.template
    }
    pub fn set_template(&mut self, template: ChatTemplate) {
        self.template = template;
    }
    pub fn im_start_id(&self) -> u32 {
        self.im_start
    }
    pub fn im_end_id(&self) -> u32 {
        self.im_end
    }
    pub fn endoftext_id(&self) -> Option<u32> {
        self.endoftext
    }
    /// The vocabulary size, added tokens included.
    pub fn vocab_size(&self) -> usize {
        self.tok.get_vocab_size(true)
    }

    /// Token ids of `text` (no special tokens are added; special-token strings in the text are matched, as in
    /// Hugging Face's tokenizer).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self.tok.encode(text, false).map_err(|e| PolicyError::Tokenize(e.to_string()))?;
        Ok(enc.get_ids().to_vec())
    }

    /// Text of `ids`; special tokens are skipped when `skip_special`.
    pub fn decode(&self, ids: &[u32], skip_special: bool) -> Result<String> {
        self.tok.decode(ids, skip_special).map_err(|e| PolicyError::Tokenize(e.to_string()))
    }

    /// Renders `messages` with the chat template and the generation prompt, then `prefill` (the start of the
    /// assistant turn, [`srl_core::PromptConfig::prefill`]), and tokenizes. When the prompt is longer than
    /// `max_tokens` (0: no limit), history is dropped from the left, a round (two messages) at a time; the system
    /// message and the task (the first user message) are always kept.
    pub fn chat_prompt(&self, messages: &[Message], prefill: &str, max_tokens: usize) -> Result<ChatPrompt> {
        let render = |m: &[Message]| self.template.render(m, true) + prefill;
        let ids = self.encode(&render(messages))?;
        if max_tokens == 0 || ids.len() <= max_tokens {
            return Ok(ChatPrompt { ids, dropped_messages: 0, over_budget: false });
        }
        // The head: an optional system message and the first user message after it.
        let mut head = usize::from(messages.first().is_some_and(|m| m.role == Role::System));
        if let Some(p) = messages[head..].iter().position(|m| m.role == Role::User) {
            head += p + 1;
        }
        let history = messages.len() - head;
        let mut drop = 2.min(history);
        loop {
            let kept: Vec<Message> =
                messages[..head].iter().chain(&messages[head + drop..]).cloned().collect::<Vec<_>>();
            let ids = self.encode(&render(&kept))?;
            if ids.len() <= max_tokens || drop == history {
                let over_budget = ids.len() > max_tokens;
                if over_budget {
                    // Debug only: callers see `over_budget` and summarise (a trainer meets this for every prompt).
                    tracing::debug!(
                        tokens = ids.len(),
                        max_tokens,
                        "the system message and the task alone exceed the prompt budget"
                    );
                }
                tracing::debug!(dropped = drop, tokens = ids.len(), "prompt truncated from the left");
                return Ok(ChatPrompt { ids, dropped_messages: drop, over_budget });
            }
            drop = (drop + 2).min(history);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_chatml_with_generation_prompt() {
        let t = ChatTemplate::default();
        let m = [Message::system("S"), Message::user("T"), Message::assistant("A"), Message::user("O")];
        assert_eq!(
            t.render(&m, true),
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nT<|im_end|>\n<|im_start|>assistant\nA<|im_end|>\n\
<|im_start|>user\nO<|im_end|>\n<|im_start|>assistant\n"
        );
        assert_eq!(
            t.render(&[Message::user("hi")], false),
            format!("<|im_start|>system\n{QWEN_DEFAULT_SYSTEM}<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n")
        );
    }

    #[test]
    fn groups_tool_replies() {
        let t = ChatTemplate { default_system: None };
        let m =
            [Message::user("q"), Message::new(Role::Tool, "a"), Message::new(Role::Tool, "b"), Message::assistant("x")];
        assert_eq!(
            t.render(&m, false),
            "<|im_start|>user\nq<|im_end|>\n<|im_start|>user\n<tool_response>\na\n</tool_response>\n<tool_response>\nb\n\
</tool_response><|im_end|>\n<|im_start|>assistant\nx<|im_end|>\n"
        );
    }
}
