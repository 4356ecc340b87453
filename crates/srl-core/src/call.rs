//! The SWE-agent XML function call: `<function=NAME>` then `<parameter=KEY>VALUE</parameter>` blocks then `</function>`.
//!
//! The parser is tolerant of what models write around a call (free text before it, a `<tool_call>` wrapper, a
//! missing final newline) and precise about why a text is not one well-formed call. Parameter values are
//! stripped of surrounding whitespace, as SWE-agent's own `XMLFunctionCallingParser` does (the expert data was
//! executed that way), and the aliases it accepts (`execute_bash` for `bash`, `finish` for `submit`) map to the
//! canonical names. [`ToolCall::render`] is the one canonical rendering; `parse(render(x)) == x` for every call.

use std::fmt;
use std::ops::Range;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

const FN_OPEN: &str = "<function=";
const FN_CLOSE: &str = "</function>";
const PARAM_OPEN: &str = "<parameter=";
const PARAM_CLOSE: &str = "</parameter>";

/// Why a text is not exactly one well-formed call (or a well-formed `<think>` + call completion).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    #[error("no function call found: expected `<function=NAME>`")]
    NoCall,
    #[error("{count} function calls found: exactly one is allowed")]
    MultipleCalls { count: usize },
    #[error("`<function=` at byte {at} is not closed by `>` on the same line")]
    UnclosedFunctionTag { at: usize },
    #[error("`<parameter=` at byte {at} is not closed by `>` on the same line")]
    UnclosedParameterTag { at: usize },
    #[error("invalid {what} {name:?}: must be non-empty, without whitespace, `<` or `>`")]
    InvalidName { what: &'static str, name: String },
    #[error("parameter `{key}` is not closed by `</parameter>`")]
    UnclosedParameter { key: String },
    #[error("function `{name}` is not closed by `</function>`")]
    UnclosedFunction { name: String },
    #[error(
        "unexpected text {text:?} inside function `{name}`: only `<parameter=KEY>...</parameter>` blocks may stand there"
    )]
    StrayText { name: String, text: String },
    #[error("parameter `{key}` is given twice")]
    DuplicateParameter { key: String },
    #[error("value of parameter `{key}` contains `</parameter>` followed by a tag, which this format cannot express")]
    Unrepresentable { key: String },
    #[error("the completion does not start with `<think>`")]
    MissingThink,
    #[error("`<think>` is not closed by `</think>`")]
    UnclosedThink,
    #[error("unexpected text {text:?} between `</think>` and the function call")]
    TextBeforeCall { text: String },
    #[error("unexpected text {text:?} after `</function>`")]
    TextAfterCall { text: String },
}

impl CallError {
    /// A short stable code for statistics (`no_call`, `multiple_calls`, ...).
    pub fn code(&self) -> &'static str {
        match self {
            CallError::NoCall => "no_call",
            CallError::MultipleCalls { .. } => "multiple_calls",
            CallError::UnclosedFunctionTag { .. } => "unclosed_function_tag",
            CallError::UnclosedParameterTag { .. } => "unclosed_parameter_tag",
            CallError::InvalidName { .. } => "invalid_name",
            CallError::UnclosedParameter { .. } => "unclosed_parameter",
            CallError::UnclosedFunction { .. } => "unclosed_function",
            CallError::StrayText { .. } => "stray_text",
            CallError::DuplicateParameter { .. } => "duplicate_parameter",
            CallError::Unrepresentable { .. } => "unrepresentable",
            CallError::MissingThink => "missing_think",
            CallError::UnclosedThink => "unclosed_think",
            CallError::TextBeforeCall { .. } => "text_before_call",
            CallError::TextAfterCall { .. } => "text_after_call",
        }
    }
}

/// What an action does, the same for every agent format where the meaning is the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// `bash`: a shell command.
    Bash,
    /// `str_replace_editor view`.
    View,
    /// `str_replace_editor create`.
    Create,
    /// `str_replace_editor str_replace`.
    StrReplace,
    /// `str_replace_editor insert`.
    Insert,
    /// `str_replace_editor undo_edit`.
    UndoEdit,
    /// `submit`.
    Submit,
    /// Any other tool (kept as it was written, e.g. SWE-agent 0.x windowed commands).
    Other,
}

impl ActionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Bash => "bash",
            ActionKind::View => "view",
            ActionKind::Create => "create",
            ActionKind::StrReplace => "str_replace",
            ActionKind::Insert => "insert",
            ActionKind::UndoEdit => "undo_edit",
            ActionKind::Submit => "submit",
            ActionKind::Other => "other",
        }
    }

    /// True for the kinds that change files.
    pub fn is_edit(self) -> bool {
        matches!(self, ActionKind::Create | ActionKind::StrReplace | ActionKind::Insert | ActionKind::UndoEdit)
    }
}

/// One function call. Construct it with [`ToolCall::new`] (or the helpers), which normalises values the way
/// the parser does, so that every `ToolCall` survives a render/parse round trip unchanged.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ToolCall {
    name: String,
    params: Vec<(String, String)>,
}

impl ToolCall {
    /// A call of tool `name` with `params` in order. Values are stripped of surrounding whitespace (as SWE-agent
    /// does); names and keys must be non-empty without whitespace, `<` or `>`; keys must be unique.
    pub fn new<N, K, V>(name: N, params: impl IntoIterator<Item = (K, V)>) -> Result<Self, CallError>
    where
        N: Into<String>,
        K: Into<String>,
        V: AsRef<str>,
    {
        let name = canonical_name(name.into().trim());
        check_name("function name", &name)?;
        let mut out: Vec<(String, String)> = Vec::new();
        for (k, v) in params {
            let key: String = k.into().trim().to_string();
            check_name("parameter name", &key)?;
            if out.iter().any(|(k, _)| *k == key) {
                return Err(CallError::DuplicateParameter { key });
            }
            let value = py_strip(v.as_ref()).to_string();
            if has_ambiguous_close(&value) {
                return Err(CallError::Unrepresentable { key });
            }
            out.push((key, value));
        }
        Ok(Self { name, params: out })
    }

    /// `bash` with `command`.
    pub fn bash(command: &str) -> Self {
        Self::new("bash", [("command", command)]).unwrap_or_else(|_| Self::unrepresentable_fallback("bash", command))
    }

    /// `submit` (no parameters).
    pub fn submit() -> Self {
        Self { name: "submit".into(), params: Vec::new() }
    }

    /// `str_replace_editor` with `command`, `path` and further parameters.
    pub fn editor(command: &str, path: &str, extra: &[(&str, &str)]) -> Result<Self, CallError> {
        let mut params = vec![("command", command), ("path", path)];
        params.extend_from_slice(extra);
        Self::new("str_replace_editor", params)
    }

    // A command text that holds `</parameter>` followed by a tag cannot be written as one call; such a text
    // comes only from another agent's recording. Breaking the closing tag keeps the call parseable.
    fn unrepresentable_fallback(name: &str, command: &str) -> Self {
        let value = py_strip(command).replace(PARAM_CLOSE, "</parameter >");
        Self { name: name.into(), params: vec![("command".into(), value)] }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn params(&self) -> &[(String, String)] {
        &self.params
    }

    /// The value of parameter `key`, if given.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    pub fn kind(&self) -> ActionKind {
        match self.name.as_str() {
            "bash" => ActionKind::Bash,
            "submit" => ActionKind::Submit,
            "str_replace_editor" => match self.param("command") {
                Some("view") => ActionKind::View,
                Some("create") => ActionKind::Create,
                Some("str_replace") => ActionKind::StrReplace,
                Some("insert") => ActionKind::Insert,
                Some("undo_edit") => ActionKind::UndoEdit,
                _ => ActionKind::Other,
            },
            _ => ActionKind::Other,
        }
    }

    /// The canonical rendering: `<function=NAME>\n` then `<parameter=KEY>VALUE</parameter>\n` per parameter,
    /// then `</function>`.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(self.rendered_len());
        self.render_into(&mut out);
        out
    }

    /// [`render`](Self::render) into an existing buffer (appends).
    pub fn render_into(&self, out: &mut String) {
        out.push_str(FN_OPEN);
        out.push_str(&self.name);
        out.push_str(">\n");
        for (k, v) in &self.params {
            out.push_str(PARAM_OPEN);
            out.push_str(k);
            out.push('>');
            out.push_str(v);
            out.push_str(PARAM_CLOSE);
            out.push('\n');
        }
        out.push_str(FN_CLOSE);
    }

    fn rendered_len(&self) -> usize {
        FN_OPEN.len()
            + self.name.len()
            + 2
            + self
                .params
                .iter()
                .map(|(k, v)| PARAM_OPEN.len() + k.len() + 1 + v.len() + PARAM_CLOSE.len() + 1)
                .sum::<usize>()
            + FN_CLOSE.len()
    }

    /// Finds exactly one call in `text` (free text may surround it). Returns the call and its byte range.
    pub fn extract(text: &str) -> Result<(ToolCall, Range<usize>), CallError> {
        let start = text.find(FN_OPEN).ok_or(CallError::NoCall)?;
        let (call, end) = parse_call_at(text, start)?;
        let extra = count_calls(&text[end..]);
        if extra > 0 {
            return Err(CallError::MultipleCalls { count: extra + 1 });
        }
        Ok((call, start..end))
    }

    /// Splits an assistant message into its reasoning (the text around the call, trimmed, as SWE-agent takes it)
    /// and the call.
    pub fn split_thought(text: &str) -> Result<(String, ToolCall), CallError> {
        let (call, range) = Self::extract(text)?;
        let mut thought = String::with_capacity(text.len() - range.len());
        thought.push_str(&text[..range.start]);
        thought.push_str(&text[range.end..]);
        let trimmed = thought.trim();
        let trimmed = trimmed.strip_suffix("</tool_call>").unwrap_or(trimmed).trim_end();
        let trimmed = trimmed.strip_suffix("<tool_call>").unwrap_or(trimmed).trim_end();
        Ok((trimmed.to_string(), call))
    }
}

impl fmt::Display for ToolCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

/// Parses a text that is exactly one call, with optional whitespace and `<tool_call>` wrapper around it.
impl FromStr for ToolCall {
    type Err = CallError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let body = strip_wrapper(s);
        if !body.starts_with(FN_OPEN) {
            return match body.find(FN_OPEN) {
                Some(i) => Err(CallError::TextBeforeCall { text: excerpt(&body[..i]) }),
                None => Err(CallError::NoCall),
            };
        }
        let (call, end) = parse_call_at(body, 0)?;
        check_tail(&body[end..])?;
        Ok(call)
    }
}

impl Serialize for ToolCall {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.render())
    }
}

impl<'de> Deserialize<'de> for ToolCall {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Parses a policy completion: `<think>...</think>` followed by exactly one call (optionally in a
/// `<tool_call>` wrapper), and nothing else but whitespace. Returns the think text and the call.
pub fn parse_completion(text: &str) -> Result<(String, ToolCall), CallError> {
    let t = text.trim_start();
    let rest = t.strip_prefix("<think>").ok_or(CallError::MissingThink)?;
    let close = rest.find("</think>").ok_or(CallError::UnclosedThink)?;
    let think = &rest[..close];
    let after = &rest[close + "</think>".len()..];
    let call: ToolCall = after.parse()?;
    Ok((think.trim().to_string(), call))
}

/// Where a completion's first call ends: the byte just past the `</function>` of the first complete call after
/// `</think>`, or `None` while there is none (no `</think>` yet, no call after it yet, or one still open or
/// malformed). Anything a completion holds after that point makes it malformed ([`parse_completion`]), so samplers
/// stop there, as SWE-agent-style harnesses stop on `</function>`; a `</function>` inside a parameter value or
/// inside the thought does not stop them.
pub fn first_call_end(text: &str) -> Option<usize> {
    const THINK_CLOSE: &str = "</think>";
    let from = text.find(THINK_CLOSE)? + THINK_CLOSE.len();
    let start = from + text[from..].find(FN_OPEN)?;
    parse_call_at(text, start).ok().map(|(_, end)| end)
}

fn strip_wrapper(s: &str) -> &str {
    let t = s.trim_start();
    let t = t.strip_prefix("<tool_call>").unwrap_or(t);
    t.trim_start()
}

fn check_tail(tail: &str) -> Result<(), CallError> {
    let t = tail.trim_start();
    let t = t.strip_prefix("</tool_call>").unwrap_or(t).trim();
    if t.is_empty() {
        return Ok(());
    }
    let extra = count_calls(t);
    if extra > 0 {
        return Err(CallError::MultipleCalls { count: extra + 1 });
    }
    Err(CallError::TextAfterCall { text: excerpt(t) })
}

fn count_calls(s: &str) -> usize {
    s.matches(FN_OPEN).count()
}

fn excerpt(s: &str) -> String {
    const MAX: usize = 60;
    let s = s.trim();
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_string(),
    }
}

/// Parses the call whose `<function=` starts at byte `start`; returns it and the byte just past `</function>`.
fn parse_call_at(text: &str, start: usize) -> Result<(ToolCall, usize), CallError> {
    let name_start = start + FN_OPEN.len();
    let name_end = tag_end(text, name_start).ok_or(CallError::UnclosedFunctionTag { at: start })?;
    let name = canonical_name(text[name_start..name_end].trim());
    check_name("function name", &name)?;
    let mut pos = name_end + 1;
    let mut params: Vec<(String, String)> = Vec::new();
    loop {
        pos = skip_ws(text, pos);
        let rest = &text[pos..];
        if rest.starts_with(FN_CLOSE) {
            return Ok((ToolCall { name, params }, pos + FN_CLOSE.len()));
        }
        if rest.is_empty() {
            return Err(CallError::UnclosedFunction { name });
        }
        if !rest.starts_with(PARAM_OPEN) {
            let stop = rest.find('<').filter(|&i| i > 0).unwrap_or(rest.len());
            return Err(CallError::StrayText { name, text: excerpt(&rest[..stop]) });
        }
        let key_start = pos + PARAM_OPEN.len();
        let key_end = tag_end(text, key_start).ok_or(CallError::UnclosedParameterTag { at: pos })?;
        let key = text[key_start..key_end].trim().to_string();
        check_name("parameter name", &key)?;
        let value_start = key_end + 1;
        let value_end = value_end(text, value_start).ok_or_else(|| {
            if text[value_start..].contains(PARAM_CLOSE) {
                CallError::UnclosedFunction { name: name.clone() }
            } else {
                CallError::UnclosedParameter { key: key.clone() }
            }
        })?;
        if params.iter().any(|(k, _)| *k == key) {
            return Err(CallError::DuplicateParameter { key });
        }
        params.push((key, py_strip(&text[value_start..value_end]).to_string()));
        pos = value_end + PARAM_CLOSE.len();
    }
}

/// The byte of the `>` closing a tag whose name starts at `from`, if it comes before any newline.
fn tag_end(text: &str, from: usize) -> Option<usize> {
    let rest = &text[from..];
    let i = rest.find(['>', '\n'])?;
    (rest.as_bytes()[i] == b'>').then_some(from + i)
}

/// A value ends at the first `</parameter>` that is followed (after whitespace) by `<parameter=` or
/// `</function>`: so a value may itself mention `</parameter>`.
fn value_end(text: &str, from: usize) -> Option<usize> {
    let mut search = from;
    while let Some(i) = text[search..].find(PARAM_CLOSE) {
        let at = search + i;
        if closes_value(&text[at + PARAM_CLOSE.len()..]) {
            return Some(at);
        }
        search = at + PARAM_CLOSE.len();
    }
    None
}

fn closes_value(after: &str) -> bool {
    let t = after.trim_start();
    t.starts_with(PARAM_OPEN) || t.starts_with(FN_CLOSE)
}

/// True when `value` could not be told apart from its own closing tag once rendered.
fn has_ambiguous_close(value: &str) -> bool {
    let mut search = 0;
    while let Some(i) = value[search..].find(PARAM_CLOSE) {
        let at = search + i;
        if closes_value(&value[at + PARAM_CLOSE.len()..]) {
            return true;
        }
        search = at + PARAM_CLOSE.len();
    }
    // The rendered value is followed by `</parameter>\n`: a value ending in a prefix of a tag that starts
    // with `</parameter>` is fine because only a full `</parameter>` + tag closes it.
    false
}

fn skip_ws(text: &str, mut pos: usize) -> usize {
    for c in text[pos..].chars() {
        if !is_py_space(c) {
            break;
        }
        pos += c.len_utf8();
    }
    pos
}

fn canonical_name(name: &str) -> String {
    match name {
        "execute_bash" => "bash".to_string(),
        "finish" => "submit".to_string(),
        other => other.to_string(),
    }
}

fn check_name(what: &'static str, name: &str) -> Result<(), CallError> {
    if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c == '<' || c == '>') {
        return Err(CallError::InvalidName { what, name: name.to_string() });
    }
    Ok(())
}

/// Python's `str.isspace` (what `str.strip()` removes): Unicode White_Space plus the ASCII separators 0x1C-0x1F.
pub fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `str.strip()`.
pub fn py_strip(s: &str) -> &str {
    s.trim_matches(is_py_space)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_expert_format() {
        let text = "Let's look.\n\n<function=str_replace_editor>\n<parameter=command>view</parameter>\n<parameter=path>/testbed/a.py</parameter>\n<parameter=view_range>[1, 20]</parameter>\n</function>";
        let (thought, call) = ToolCall::split_thought(text).unwrap();
        assert_eq!(thought, "Let's look.");
        assert_eq!(call.name(), "str_replace_editor");
        assert_eq!(call.param("path"), Some("/testbed/a.py"));
        assert_eq!(call.param("view_range"), Some("[1, 20]"));
        assert_eq!(call.kind(), ActionKind::View);
        assert_eq!(call.render(), text["Let's look.\n\n".len()..]);
    }

    #[test]
    fn values_span_lines_and_are_stripped_like_swe_agent() {
        let text = "<function=str_replace_editor>\n<parameter=command>str_replace</parameter>\n<parameter=path>/a.py</parameter>\n<parameter=old_str>\n    x = 1\n    y = 2\n</parameter>\n<parameter=new_str>    x = 3\n</parameter>\n</function>";
        let call: ToolCall = text.parse().unwrap();
        assert_eq!(call.param("old_str"), Some("x = 1\n    y = 2"));
        assert_eq!(call.param("new_str"), Some("x = 3"));
        assert_eq!(call.kind(), ActionKind::StrReplace);
    }

    #[test]
    fn tolerates_wrappers_and_missing_newlines() {
        let call: ToolCall =
            "<tool_call>\n<function=bash><parameter=command>ls</parameter></function></tool_call>".parse().unwrap();
        assert_eq!(call, ToolCall::bash("ls"));
        let call: ToolCall = "  <function=submit>\n</function>".parse().unwrap();
        assert_eq!(call, ToolCall::submit());
        assert_eq!(ToolCall::submit().render(), "<function=submit>\n</function>");
    }

    #[test]
    fn aliases_map_to_canonical_names() {
        let call: ToolCall = "<function=execute_bash>\n<parameter=command>ls</parameter>\n</function>".parse().unwrap();
        assert_eq!(call.name(), "bash");
        let call: ToolCall = "<function=finish>\n</function>".parse().unwrap();
        assert_eq!(call.kind(), ActionKind::Submit);
    }

    #[test]
    fn unknown_tools_are_kept() {
        let call: ToolCall = "<function=search_dir>\n<parameter=term>foo</parameter>\n</function>".parse().unwrap();
        assert_eq!(call.name(), "search_dir");
        assert_eq!(call.kind(), ActionKind::Other);
    }

    #[test]
    fn a_value_may_mention_the_closing_tag() {
        let call = ToolCall::bash("echo '</parameter>' > x");
        let back: ToolCall = call.render().parse().unwrap();
        assert_eq!(back, call);
    }

    #[test]
    fn errors_say_why() {
        let cases: &[(&str, CallError)] = &[
            ("just text", CallError::NoCall),
            ("<function=bash\n<parameter=command>ls</parameter></function>", CallError::UnclosedFunctionTag { at: 0 }),
            ("<function=bash>\n<parameter=command>ls\n", CallError::UnclosedParameter { key: "command".into() }),
            (
                "<function=bash>\n<parameter=command>ls</parameter>\n",
                CallError::UnclosedFunction { name: "bash".into() },
            ),
            (
                "<function=bash>\nhello<parameter=command>ls</parameter>\n</function>",
                CallError::StrayText { name: "bash".into(), text: "hello".into() },
            ),
            (
                "<function=bash>\n<parameter=command>ls</parameter>\n<parameter=command>pwd</parameter>\n</function>",
                CallError::DuplicateParameter { key: "command".into() },
            ),
            (
                "<function=bash>\n<parameter=command>ls</parameter>\n</function>\n<function=submit>\n</function>",
                CallError::MultipleCalls { count: 2 },
            ),
            (
                "<function=bash>\n<parameter=command>ls</parameter>\n</function> and more",
                CallError::TextAfterCall { text: "and more".into() },
            ),
            ("<function=>\n</function>", CallError::InvalidName { what: "function name", name: String::new() }),
        ];
        for (text, want) in cases {
            assert_eq!(text.parse::<ToolCall>().unwrap_err(), *want, "{text}");
        }
    }

    #[test]
    fn first_call_end_is_past_the_first_complete_call_after_think() {
        let call = "<function=bash>\n<parameter=command>ls</parameter>\n</function>";
        let text = format!("x\n</think>\n{call}\n<function=submit>\n</function>");
        let end = first_call_end(&text).unwrap();
        assert!(text[..end].ends_with(call));
        assert!(parse_completion(&format!("<think>\n{}", &text[..end])).is_ok());
        // Still thinking, a call written in the thought, an open value or a value mentioning the close tag: no end.
        assert_eq!(first_call_end(&format!("thinking about {call}")), None);
        assert_eq!(first_call_end("</think>\n<function=bash>\n<parameter=command>echo '</function>'"), None);
        let xml = "</think>\n<function=bash>\n<parameter=command>echo '</function>'</parameter>\n</function>";
        assert_eq!(first_call_end(xml), Some(xml.len()));
        assert_eq!(first_call_end("</think>\nI would run ls."), None);
    }

    #[test]
    fn completions_need_think_then_one_call() {
        let ok = "<think>\nlook around\n</think>\n<function=bash>\n<parameter=command>ls</parameter>\n</function>";
        let (think, call) = parse_completion(ok).unwrap();
        assert_eq!(think, "look around");
        assert_eq!(call, ToolCall::bash("ls"));
        assert_eq!(parse_completion(&format!("{ok}</tool_call>\n")).unwrap().1, call);
        assert_eq!(parse_completion("<function=submit>\n</function>").unwrap_err(), CallError::MissingThink);
        assert_eq!(parse_completion("<think>a <function=submit>\n</function>").unwrap_err(), CallError::UnclosedThink);
        assert_eq!(parse_completion("<think>a</think> ok").unwrap_err(), CallError::NoCall);
        assert_eq!(
            parse_completion("<think>a</think> so: <function=submit>\n</function>").unwrap_err(),
            CallError::TextBeforeCall { text: "so:".into() }
        );
    }

    #[test]
    fn new_rejects_what_cannot_round_trip() {
        assert!(matches!(ToolCall::new("ba sh", [("command", "ls")]), Err(CallError::InvalidName { .. })));
        assert!(matches!(
            ToolCall::new("bash", [("command", "a</parameter>\n</function>")]),
            Err(CallError::Unrepresentable { .. })
        ));
        let call = ToolCall::bash("a</parameter>\n</function>");
        assert_eq!(call.render().parse::<ToolCall>().unwrap(), call);
    }

    #[test]
    fn serde_is_the_rendered_string() {
        let call = ToolCall::editor("create", "/t/a.py", &[("file_text", "print(1)\n")]).unwrap();
        let json = serde_json::to_string(&call).unwrap();
        assert_eq!(json, serde_json::to_string(&call.render()).unwrap());
        let back: ToolCall = serde_json::from_str(&json).unwrap();
        assert_eq!(back, call);
    }
}
