//! SWE-bench predictions: files in JSONL, a JSON list or a JSON object keyed by instance id, and the `gold` and
//! `empty` pseudo-predictions.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use srl_core::Instance;

use crate::error::EvalError;

/// One prediction, in SWE-bench's schema. `model_patch: None` is a JSON `null` (SWE-bench's `patch_is_None`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prediction {
    pub instance_id: String,
    #[serde(default)]
    pub model_name_or_path: String,
    #[serde(default)]
    pub model_patch: Option<String>,
}

impl Prediction {
    /// True when the patch is missing or blank: SWE-bench does not run these and counts them as empty patches.
    pub fn is_empty(&self) -> bool {
        self.model_patch.as_deref().is_none_or(|p| p.trim().is_empty())
    }
}

/// What `--predictions` names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PredictionSource {
    /// The dataset's own patches (model name `gold`).
    Gold,
    /// An empty patch for every instance (model name `empty`): what the tests give without a fix.
    Empty,
    File(PathBuf),
}

impl PredictionSource {
    pub fn parse(s: &str) -> PredictionSource {
        match s {
            "gold" => PredictionSource::Gold,
            "empty" => PredictionSource::Empty,
            path => PredictionSource::File(PathBuf::from(path)),
        }
    }

    /// The predictions for `instances` (the `gold`/`empty` sources) or read from the file.
    pub fn load(&self, instances: &[Instance]) -> Result<Vec<Prediction>, EvalError> {
        match self {
            PredictionSource::Gold => Ok(gold_predictions(instances)),
            PredictionSource::Empty => Ok(empty_predictions(instances)),
            PredictionSource::File(p) => load_predictions(p),
        }
    }
}

/// The gold patch of each instance, model name `gold`.
pub fn gold_predictions(instances: &[Instance]) -> Vec<Prediction> {
    instances
        .iter()
        .map(|i| Prediction {
            instance_id: i.instance_id.clone(),
            model_name_or_path: "gold".into(),
            model_patch: Some(i.patch.clone()),
        })
        .collect()
}

/// An empty patch for each instance, model name `empty`.
pub fn empty_predictions(instances: &[Instance]) -> Vec<Prediction> {
    instances
        .iter()
        .map(|i| Prediction {
            instance_id: i.instance_id.clone(),
            model_name_or_path: "empty".into(),
            model_patch: Some(String::new()),
        })
        .collect()
}

/// Reads predictions from JSONL, a JSON list, or a JSON object keyed by instance id (whose values may omit
/// `instance_id`). Errors name the file and the line (JSONL), item (list) or key (object). A `.jsonl` file is always
/// read as JSONL; otherwise a file that parses as one JSON value is a list or an object, else JSONL.
pub fn load_predictions(path: &Path) -> Result<Vec<Prediction>, EvalError> {
    let text = std::fs::read_to_string(path).map_err(|e| EvalError::io(path, e))?;
    parse_predictions(&text, path)
}

/// [`load_predictions`] on text; `path` only names the source in errors.
pub fn parse_predictions(text: &str, path: &Path) -> Result<Vec<Prediction>, EvalError> {
    let is_jsonl = path.extension().is_some_and(|e| e == "jsonl");
    if !is_jsonl && let Ok(value) = serde_json::from_str::<serde_json::Value>(text) {
        return match value {
            serde_json::Value::Array(items) => items
                .into_iter()
                .enumerate()
                .map(|(i, v)| serde_json::from_value(v).map_err(|e| EvalError::parse(path, format!("item {i}"), e)))
                .collect(),
            serde_json::Value::Object(map) if map.contains_key("instance_id") => {
                serde_json::from_value(serde_json::Value::Object(map))
                    .map(|p| vec![p])
                    .map_err(|e| EvalError::parse(path, "item 0", e))
            }
            serde_json::Value::Object(map) => map
                .into_iter()
                .map(|(k, mut v)| {
                    if let serde_json::Value::Object(o) = &mut v {
                        o.entry("instance_id").or_insert_with(|| serde_json::Value::String(k.clone()));
                    }
                    let p: Prediction =
                        serde_json::from_value(v).map_err(|e| EvalError::parse(path, format!("key {k:?}"), e))?;
                    if p.instance_id != k {
                        return Err(EvalError::parse(
                            path,
                            format!("key {k:?}"),
                            format!("instance_id {:?} differs from its key", p.instance_id),
                        ));
                    }
                    Ok(p)
                })
                .collect(),
            _ => Err(EvalError::parse(path, "line 1", "expected a JSON list, object or JSONL")),
        };
    }
    crate::error::parse_json_lines(text, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_all_three_encodings() {
        let p = Path::new("preds.json");
        let jsonl = "{\"instance_id\":\"a\",\"model_name_or_path\":\"m\",\"model_patch\":\"d\"}\n\n{\"instance_id\":\"b\",\"model_name_or_path\":\"m\",\"model_patch\":null}\n";
        let v = parse_predictions(jsonl, p).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[1].model_patch, None);
        assert!(v[1].is_empty());
        let list = r#"[{"instance_id":"a","model_name_or_path":"m","model_patch":"d"}]"#;
        assert_eq!(parse_predictions(list, p).unwrap()[0].instance_id, "a");
        let dict = r#"{"a":{"model_name_or_path":"m","model_patch":"d"},"b":{"instance_id":"b","model_patch":""}}"#;
        let v = parse_predictions(dict, p).unwrap();
        assert_eq!(v.iter().map(|p| p.instance_id.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert!(v[1].is_empty());
    }

    #[test]
    fn errors_name_file_and_place() {
        let e = parse_predictions("{\"instance_id\":\"a\"}\n{oops}\n", Path::new("p.jsonl")).unwrap_err();
        assert!(e.to_string().starts_with("p.jsonl: line 2:"), "{e}");
        let e = parse_predictions(r#"[{"instance_id":"a"},{"model_patch":"x"}]"#, Path::new("p.json")).unwrap_err();
        assert!(e.to_string().starts_with("p.json: item 1:"), "{e}");
        let e = parse_predictions(r#"{"a":{"model_patch":3}}"#, Path::new("p.json")).unwrap_err();
        assert!(e.to_string().starts_with("p.json: key \"a\":"), "{e}");
    }
}
