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
