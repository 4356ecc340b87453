//! Input and output helpers for commands: `-` is stdin or stdout; JSON Lines in and out.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Reads typed JSON lines; a malformed line is an error naming the file and line.
pub fn read_jsonl<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    srl_data::jsonl::read_records(path)?.into_iter().map(|r| r.map_err(anyhow::Error::from)).collect()
}

/// Writes values as JSON lines to `path` (`-`: stdout).
pub fn write_jsonl<'a, T: Serialize + 'a>(path: &Path, values: impl IntoIterator<Item = &'a T>) -> Result<usize> {
    let mut out = srl_data::jsonl::open_write(path)?;
    let mut n = 0;
    for v in values {
        srl_data::jsonl::write_line(&mut out, v).with_context(|| format!("writing {}", path.display()))?;
        n += 1;
    }
    out.flush().with_context(|| format!("writing {}", path.display()))?;
    Ok(n)
}

/// Writes `value` as pretty JSON with a final newline, atomically (a reader sees the old file or the new one).
pub fn write_json_atomic<T: Serialize + ?Sized>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value).with_context(|| format!("serialising {}", path.display()))? + "\n";
    Ok(srl_eval::write_atomic(path, text.as_bytes())?)
}

/// Writes values as JSON lines, atomically. Returns how many.
pub fn write_jsonl_atomic<'a, T: Serialize + 'a>(
    path: &Path,
    values: impl IntoIterator<Item = &'a T>,
) -> Result<usize> {
    let mut text = String::new();
    let mut n = 0;
    for v in values {
        text += &serde_json::to_string(v).with_context(|| format!("serialising {}", path.display()))?;
        text.push('\n');
        n += 1;
    }
    srl_eval::write_atomic(path, text.as_bytes())?;
    Ok(n)
}
