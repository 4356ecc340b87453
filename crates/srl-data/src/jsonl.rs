//! JSON Lines: one JSON value a line; `-` means stdin or stdout.

use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::DataError;

/// Opens `path` for reading (`-`: stdin).
pub fn open_read(path: &Path) -> Result<Box<dyn BufRead>, DataError> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(BufReader::new(std::io::stdin())));
    }
    let f = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    Ok(Box::new(BufReader::new(f)))
}

/// Reads all of `path` (`-`: stdin) as text.
pub fn read_to_string(path: &Path) -> Result<String, DataError> {
    let mut s = String::new();
    open_read(path)?.read_to_string(&mut s).map_err(|e| DataError::io(path, e))?;
    Ok(s)
}

/// Opens `path` for writing (`-`: stdout), creating parent folders.
pub fn open_write(path: &Path) -> Result<Box<dyn Write>, DataError> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(BufWriter::new(std::io::stdout())));
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| DataError::io(parent, e))?;
    }
    let f = std::fs::File::create(path).map_err(|e| DataError::io(path, e))?;
    Ok(Box::new(BufWriter::new(f)))
}

/// Reads typed records, one a line (blank lines skipped). Each error names the file and line.
pub fn read_records<T: DeserializeOwned>(path: &Path) -> Result<Vec<Result<T, DataError>>, DataError> {
    let reader = open_read(path)?;
    let mut out = Vec::new();
    for (n, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| DataError::io(path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        let location = format!("{}:{}", path.display(), n + 1);
        out.push(serde_json::from_str(&line).map_err(|source| DataError::Json { location, source }));
    }
    Ok(out)
}

/// Writes `value` as one JSON line.
pub fn write_line<T: Serialize>(out: &mut dyn Write, value: &T) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    out.write_all(b"\n")
}
