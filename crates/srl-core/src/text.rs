//! Small text helpers shared by the importers, the prompt renderer, the sandbox, the agent and the CLI.

use std::borrow::Cow;

/// Keeps the head and the tail of `text` when it is longer than `max_chars` characters, with a marker between
/// them that says how many characters were left out. `max_chars == 0` means no limit.
pub fn truncate_middle(text: &str, max_chars: usize) -> Cow<'_, str> {
    if max_chars == 0 {
        return Cow::Borrowed(text);
    }
    // Cheap exit on byte length: a text of at most `max_chars` bytes has at most that many characters.
    if text.len() <= max_chars {
        return Cow::Borrowed(text);
    }
    let n = text.chars().count();
    if n <= max_chars {
        return Cow::Borrowed(text);
    }
    let head = max_chars / 2;
    let tail = max_chars - head;
    let omitted = n - head - tail;
    let head_end = text.char_indices().nth(head).map_or(text.len(), |(i, _)| i);
    let tail_start = text.char_indices().nth(n - tail).map_or(text.len(), |(i, _)| i);
    Cow::Owned(format!(
        "{}\n<response clipped: {omitted} characters omitted>\n{}",
        &text[..head_end],
        &text[tail_start..]
    ))
}

/// Keeps the first `max_chars` characters of `text` when it is longer, then a line that says how many characters
/// were left out. `max_chars == 0` means no limit.
pub fn truncate_end(text: &str, max_chars: usize) -> Cow<'_, str> {
    if max_chars == 0 || text.len() <= max_chars {
        return Cow::Borrowed(text);
    }
    let n = text.chars().count();
    if n <= max_chars {
        return Cow::Borrowed(text);
    }
    let head_end = text.char_indices().nth(max_chars).map_or(text.len(), |(i, _)| i);
    Cow::Owned(format!("{}\n<text clipped: {} characters omitted>", &text[..head_end], n - max_chars))
}

/// Normalises line endings to `\n` (recorded terminals write `\r\n`).
pub fn normalize_newlines(text: &str) -> Cow<'_, str> {
    if text.contains('\r') { Cow::Owned(text.replace("\r\n", "\n")) } else { Cow::Borrowed(text) }
}

/// An error and its sources on one line, `a: b: c`, leaving out a source whose text the line already ends with
/// (many errors print their source themselves).
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut line = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let text = c.to_string();
        if !line.ends_with(&text) {
            line += ": ";
            line += &text;
        }
        cur = c.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_head_and_tail() {
        let text: String = ('a'..='z').collect();
        let out = truncate_middle(&text, 10);
        assert_eq!(out, "abcde\n<response clipped: 16 characters omitted>\nvwxyz");
        assert_eq!(truncate_middle(&text, 26), text);
        assert_eq!(truncate_middle(&text, 0), text);
    }

    #[test]
    fn counts_characters_not_bytes() {
        let text = "ééééé";
        assert_eq!(truncate_middle(text, 5), text);
        assert_eq!(truncate_middle(text, 2), "é\n<response clipped: 3 characters omitted>\né");
    }

    #[test]
    fn keeps_the_head() {
        let text: String = ('a'..='z').collect();
        assert_eq!(truncate_end(&text, 10), "abcdefghij\n<text clipped: 16 characters omitted>");
        assert_eq!(truncate_end(&text, 26), text);
        assert_eq!(truncate_end(&text, 0), text);
        assert_eq!(truncate_end("ééé", 2), "éé\n<text clipped: 1 characters omitted>");
        assert_eq!(truncate_end("ééé", 3), "ééé");
    }

    #[test]
    fn normalizes_crlf() {
        assert_eq!(normalize_newlines("a\r\nb\n"), "a\nb\n");
    }

    #[test]
    fn error_chain_skips_sources_already_printed() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        #[derive(Debug, thiserror::Error)]
        #[error("x.jsonl: {0}")]
        struct Wrap(#[source] std::io::Error);
        #[derive(Debug, thiserror::Error)]
        #[error("loading")]
        struct Outer(#[source] Wrap);
        assert_eq!(super::error_chain(&Outer(Wrap(io))), "loading: x.jsonl: no such file");
    }
}
