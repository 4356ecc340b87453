//! A SWE-bench instance (one row of the dataset), in SWE-bench's own schema.

use serde::{Deserialize, Deserializer, Serialize};

/// One SWE-bench row. `FAIL_TO_PASS` and `PASS_TO_PASS` are JSON-encoded strings in the published dataset and
/// plain lists in some exports: both are read.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    pub instance_id: String,
    #[serde(default)]
    pub repo: String,
    #[serde(default)]
    pub base_commit: String,
    /// The gold patch.
    #[serde(default)]
    pub patch: String,
    #[serde(default)]
    pub test_patch: String,
    #[serde(default)]
    pub problem_statement: String,
    #[serde(default)]
    pub hints_text: String,
    #[serde(default)]
    pub created_at: String,
    #[serde(default)]
    pub version: String,
    #[serde(rename = "FAIL_TO_PASS", default, deserialize_with = "test_list")]
    pub fail_to_pass: Vec<String>,
    #[serde(rename = "PASS_TO_PASS", default, deserialize_with = "test_list")]
    pub pass_to_pass: Vec<String>,
    #[serde(default)]
    pub environment_setup_commit: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub difficulty: Option<String>,
}

fn test_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        List(Vec<String>),
        Encoded(String),
        Null(()),
    }
    match Either::deserialize(d)? {
        Either::List(v) => Ok(v),
        Either::Encoded(s) if s.trim().is_empty() => Ok(Vec::new()),
        Either::Encoded(s) => serde_json::from_str(&s)
            .map_err(|e| serde::de::Error::custom(format!("test list is a string but not a JSON list: {e}"))),
        Either::Null(()) => Ok(Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_encoded_and_plain_lists() {
        let a: Instance =
            serde_json::from_str(r#"{"instance_id":"x","FAIL_TO_PASS":"[\"t1\", \"t2\"]","PASS_TO_PASS":["t3"]}"#)
                .unwrap();
        assert_eq!(a.fail_to_pass, ["t1", "t2"]);
        assert_eq!(a.pass_to_pass, ["t3"]);
        let err = serde_json::from_str::<Instance>(r#"{"instance_id":"x","FAIL_TO_PASS":"t1"}"#).unwrap_err();
        assert!(err.to_string().contains("not a JSON list"), "{err}");
    }
}
