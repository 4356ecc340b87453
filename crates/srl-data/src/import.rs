//! Reading trajectories from files and folders, in any supported format.
//!
//! A file holds one record (a JSON object), several (a JSON list, JSON Lines, or the rows of a Parquet file as
//! Hugging Face keeps datasets), and a folder is searched for `.json`, `.jsonl`, `.traj`, `.traj.json` and
//! `.parquet` files. Each record's format is detected from its keys unless one is forced; a `messages` field that
//! is a JSON string (as in SWE-smith's published trajectories) is read as the list it encodes. Errors name the
//! file and the line (JSON Lines), item (JSON list) or row (Parquet).

use std::path::{Path, PathBuf};

use serde_json::Value;
use srl_core::Trajectory;

use crate::{DataError, mini_swe_agent, openhands, swe_agent, swe_smith};

srl_core::choice_enum! {
    /// A trajectory format.
    #[derive(Default)]
    pub enum Format: "format" {
        /// Detect per record.
        #[default]
        Auto = "auto",
        /// SWE-smith / SWE-agent XML function-calling chat (`messages`).
        SweSmith = "swe-smith" | "swe-smith-xml" | "xml",
        /// SWE-agent `.traj` (0.x text actions or 1.x `tool_calls`).
        SweAgent = "swe-agent" | "traj",
        /// mini-swe-agent `.traj.json`.
        MiniSweAgent = "mini-swe-agent" | "mini",
        /// OpenHands `output.jsonl` (event stream).
        OpenHands = "openhands",
        /// srl-swe's own canonical trajectory (`srl-swe data import` output).
        Canonical = "canonical",
    }
}

impl Format {
    /// The canonical name (`swe-smith`, ...).
    pub fn name(self) -> &'static str {
        self.as_str()
    }
}

/// Options for [`read_paths`].
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// Force a format instead of detecting it per record.
    pub format: Format,
    /// Skip malformed records (reported in [`Imported::skipped`]) instead of failing on the first.
    pub skip_invalid: bool,
}

/// A record that was skipped, and why.
#[derive(Clone, Debug)]
pub struct Skipped {
    pub location: String,
    pub error: String,
}

/// What an import produced.
#[derive(Clone, Debug, Default)]
pub struct Imported {
    pub trajectories: Vec<Trajectory>,
    pub skipped: Vec<Skipped>,
}

/// Reads every trajectory under `paths` (files or folders; `-` is stdin).
pub fn read_paths(paths: &[PathBuf], opts: &ImportOptions) -> Result<Imported, DataError> {
    let mut out = Imported::default();
    for path in paths {
        for file in expand(path)? {
            read_file_into(&file, opts, &mut out)?;
        }
    }
    Ok(out)
}

/// Reads one file or folder, failing on the first malformed record.
pub fn read_path(path: &Path, format: Format) -> Result<Vec<Trajectory>, DataError> {
    let opts = ImportOptions { format, skip_invalid: false };
    Ok(read_paths(&[path.to_path_buf()], &opts)?.trajectories)
}

fn is_trajectory_file(p: &Path) -> bool {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    ([".json", ".jsonl", ".traj"].iter().any(|ext| name.ends_with(ext)) || crate::parquet::is_parquet(p))
        // SWE-bench harness artifacts that sit beside trajectories are not trajectories.
        && !matches!(name, "report.json" | "summary.json" | "config.json")
}

fn expand(path: &Path) -> Result<Vec<PathBuf>, DataError> {
    if path.as_os_str() == "-" || !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| DataError::io(&dir, e))?;
        for entry in entries {
            let p = entry.map_err(|e| DataError::io(&dir, e))?.path();
            if p.is_dir() {
                stack.push(p);
            } else if is_trajectory_file(&p) {
                files.push(p);
            }
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(DataError::Empty { path: path.to_path_buf() });
    }
    Ok(files)
}

fn read_file_into(path: &Path, opts: &ImportOptions, out: &mut Imported) -> Result<(), DataError> {
    if crate::parquet::is_parquet(path) {
        return read_parquet_into(path, opts, out);
    }
    let text = crate::jsonl::read_to_string(path)?;
    let shown = path.display().to_string();
    let trimmed = text.trim_start();
    // One JSON document (object or list), else JSON Lines.
    let records: Vec<(String, Result<Value, DataError>)> = match serde_json::from_str::<Value>(trimmed) {
        Ok(Value::Array(items)) => {
            items.into_iter().enumerate().map(|(i, v)| (format!("{shown}: item {}", i + 1), Ok(v))).collect()
        }
        Ok(v) => vec![(shown.clone(), Ok(v))],
        Err(whole) => {
            let lines: Vec<(usize, &str)> =
                text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()).map(|(n, l)| (n + 1, l)).collect();
            if lines.len() <= 1 {
                // Not JSON Lines either: report the document's own error.
                let location = shown.clone();
                vec![(location.clone(), Err(DataError::Json { location, source: whole }))]
            } else {
                lines
                    .into_iter()
                    .map(|(n, l)| {
                        let location = format!("{shown}:{n}");
                        let v = serde_json::from_str(l)
                            .map_err(|source| DataError::Json { location: location.clone(), source });
                        (location, v)
                    })
                    .collect()
            }
        }
    };
    for (location, value) in records {
        add_record(path, location, value, opts, out)?;
    }
    Ok(())
}

/// The rows of a Parquet file, one record each (`FILE: row N`). A file that breaks off ends with an error even
/// under `skip_invalid`: the rows after it cannot be read.
fn read_parquet_into(path: &Path, opts: &ImportOptions, out: &mut Imported) -> Result<(), DataError> {
    for row in crate::parquet::rows(path)? {
        let row = row?;
        let location = format!("{}: row {}", path.display(), row.row);
        let value = row.columns.map(Value::Object).map_err(|message| DataError::record(&location, message));
        add_record(path, location, value, opts, out)?;
    }
    Ok(())
}

fn add_record(
    path: &Path,
    location: String,
    value: Result<Value, DataError>,
    opts: &ImportOptions,
    out: &mut Imported,
) -> Result<(), DataError> {
    let result = value.and_then(|v| {
        let ctx = Ctx { path, location: &location };
        parse_record(v, opts.format, &ctx)
    });
    match result {
        Ok(mut t) => {
            if t.source.is_empty() {
                t.source = location;
            }
            out.trajectories.push(t);
        }
        Err(e) if opts.skip_invalid => {
            tracing::warn!("skipping {location}: {e}");
            out.skipped.push(Skipped { location, error: e.to_string() });
        }
        Err(e) => return Err(e),
    }
    Ok(())
}

/// Where a record came from, for error messages and side files (e.g. mini-swe-agent's eval logs).
pub(crate) struct Ctx<'a> {
    pub path: &'a Path,
    pub location: &'a str,
}

impl Ctx<'_> {
    pub fn err(&self, message: impl Into<String>) -> DataError {
        DataError::record(self.location, message)
    }
}

/// Detects the format of one record from its keys.
pub fn detect(v: &Value) -> Option<Format> {
    let obj = v.as_object()?;
    let has = |k: &str| obj.contains_key(k);
    if has("steps") && has("task") {
        return Some(Format::Canonical);
    }
    if has("trajectory") && has("history") {
        return Some(Format::SweAgent);
    }
    if has("history") && (has("instruction") || has("instance") || has("test_result")) {
        return Some(Format::OpenHands);
    }
    if has("messages") {
        let mini =
            obj.get("trajectory_format").and_then(Value::as_str).is_some_and(|f| f.starts_with("mini-swe-agent"))
                || obj.get("info").and_then(|i| i.get("mini_version")).is_some()
                || obj["messages"].as_array().is_some_and(|m| m.iter().any(|x| x["role"] == "exit"));
        return Some(if mini { Format::MiniSweAgent } else { Format::SweSmith });
    }
    None
}

/// A `messages` field holding the chat as a JSON string (a Parquet or JSON Lines export of SWE-smith's
/// trajectories) is replaced by the list it encodes.
fn decode_messages(v: &mut Value, ctx: &Ctx) -> Result<(), DataError> {
    let Some(Value::String(text)) = v.get("messages") else { return Ok(()) };
    let list = match serde_json::from_str::<Value>(text) {
        Ok(list @ Value::Array(_)) => list,
        Ok(_) => return Err(ctx.err("field `messages` is a JSON string but not of a list")),
        Err(e) => return Err(ctx.err(format!("field `messages` is a string but not JSON: {e}"))),
    };
    v["messages"] = list;
    Ok(())
}

fn parse_record(mut v: Value, format: Format, ctx: &Ctx) -> Result<Trajectory, DataError> {
    decode_messages(&mut v, ctx)?;
    let v = &v;
    let format = match format {
        Format::Auto => detect(v).ok_or_else(|| {
            let keys: Vec<&str> = v.as_object().map(|o| o.keys().map(String::as_str).collect()).unwrap_or_default();
            ctx.err(format!(
                "cannot tell the trajectory format of this record (keys: {}); pass --format ({})",
                if keys.is_empty() { "none: not a JSON object".to_string() } else { keys.join(", ") },
                Format::NAMES[1..].join(", ")
            ))
        })?,
        f => f,
    };
    let mut t = match format {
        Format::SweSmith => swe_smith::from_record(v, ctx)?,
        Format::SweAgent => swe_agent::from_record(v, ctx)?,
        Format::MiniSweAgent => mini_swe_agent::from_record(v, ctx)?,
        Format::OpenHands => openhands::from_record(v, ctx)?,
        Format::Canonical => serde_json::from_value::<Trajectory>(v.clone())
            .map_err(|e| ctx.err(format!("not a canonical trajectory: {e}")))?,
        Format::Auto => unreachable!("resolved above"),
    };
    if t.source_format.is_empty() {
        t.source_format = format.name().to_string();
    }
    Ok(t)
}

// Helpers shared by the format modules.

/// `v[key]` as an array, or an error naming the field.
pub(crate) fn array_field<'a>(v: &'a Value, key: &str, ctx: &Ctx) -> Result<&'a Vec<Value>, DataError> {
    v.get(key).and_then(Value::as_array).ok_or_else(|| ctx.err(format!("field `{key}` is missing or not a list")))
}

/// A message's text content: a string, or OpenAI-style content parts (`[{"type": "text", "text": ...}]`).
pub(crate) fn content_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str).or(p.as_str()))
            .collect::<Vec<_>>()
            .join(""),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The text between `<tag>` and `</tag>`, trimmed.
pub(crate) fn between_tags<'a>(text: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = text.find(&open)? + open.len();
    let end = text[start..].find(&close)? + start;
    Some(text[start..end].trim())
}

/// An observation as the canonical form stores it: `OBSERVATION:` prefix removed, `\r\n` made `\n`, and
/// SWE-agent's no-output sentence made empty.
pub(crate) fn clean_observation(raw: &str) -> String {
    let text = srl_core::text::normalize_newlines(raw);
    let t = text.as_ref();
    let t = t
        .strip_prefix("OBSERVATION:\n")
        .or_else(|| t.strip_prefix("OBSERVATION:"))
        .or_else(|| t.strip_prefix("Observation: "))
        .or_else(|| t.strip_prefix("Observation:\n"))
        .unwrap_or(t);
    if t.trim() == srl_core::prompt::NO_OUTPUT {
        return String::new();
    }
    t.to_string()
}

/// A trajectory's id from its file name: the part before the first `.` (`x__y-1.traj` -> `x__y-1`).
pub(crate) fn id_from_path(path: &Path) -> String {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("unknown");
    name.split('.').next().unwrap_or(name).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_are_cleaned() {
        assert_eq!(clean_observation("OBSERVATION:\na\r\nb"), "a\nb");
        assert_eq!(clean_observation("Observation: x"), "x");
        assert_eq!(clean_observation(srl_core::prompt::NO_OUTPUT), "");
        assert_eq!(clean_observation("plain"), "plain");
    }

    #[test]
    fn formats_parse_and_detect() {
        assert_eq!("swe-smith".parse::<Format>().unwrap(), Format::SweSmith);
        assert!("nope".parse::<Format>().unwrap_err().to_string().contains("`mini-swe-agent`"));
        let v: Value = serde_json::json!({"messages": []});
        assert_eq!(detect(&v), Some(Format::SweSmith));
        let v: Value = serde_json::json!({"messages": [], "trajectory_format": "mini-swe-agent-1.1"});
        assert_eq!(detect(&v), Some(Format::MiniSweAgent));
        assert_eq!(detect(&serde_json::json!({"a": 1})), None);
    }
}
