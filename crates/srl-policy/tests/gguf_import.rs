//! `import_gguf` on GGUF files the test writes (a tiny qwen2 model: quantized and f32 tensors, a byte-level BPE
//! vocabulary with control, user-defined and unused tokens): the folder loads and equals the dequantized file,
//! parts read as one file, and broken files are refused with the file and the cause.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{DType, Device, Tensor};
use srl_policy::{Policy, PolicyOptions, SampleOptions, SamplingParams};

const HIDDEN: usize = 64;
const FFN: usize = 128;
const LAYERS: usize = 2;

/// GPT-2's byte-to-character map (the alphabet of byte-level BPE).
fn byte_chars() -> Vec<char> {
    let mut out = vec!['\0'; 256];
    let mut n = 0;
    for b in 0..256u32 {
        let printable = (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
        out[b as usize] = if printable {
            char::from_u32(b).unwrap()
        } else {
            n += 1;
            char::from_u32(255 + n).unwrap()
        };
    }
    out
}

struct Spec {
    arch: &'static str,
    drop_key: Option<&'static str>,
}

/// Writes the tiny model's GGUF and returns its bytes and the tensors as written (dequantized, by GGUF name).
fn tiny_gguf(spec: &Spec) -> (Vec<u8>, HashMap<String, Tensor>) {
    let dev = Device::Cpu;
    let mut tokens: Vec<String> = byte_chars().iter().map(|c| c.to_string()).collect();
    let mut types = vec![1u32; tokens.len()];
    tokens.push("he".into());
    types.push(1);
    for (t, ty) in [
        ("<|endoftext|>", 3),
        ("<|im_start|>", 3),
        ("<|im_end|>", 3),
        ("<tool_call>", 4),
        ("</tool_call>", 4),
        ("[PAD263]", 5),
    ] {
        tokens.push(t.into());
        types.push(ty);
    }
    let vocab = tokens.len();
    let id = |t: &str| tokens.iter().position(|x| x == t).unwrap() as u32;
    let mut meta: Vec<(String, Value)> = vec![
        ("general.architecture".into(), Value::String(spec.arch.into())),
        ("general.name".into(), Value::String("tiny test qwen".into())),
        ("qwen2.block_count".into(), Value::U32(LAYERS as u32)),
        ("qwen2.context_length".into(), Value::U32(4096)),
        ("qwen2.embedding_length".into(), Value::U32(HIDDEN as u32)),
        ("qwen2.feed_forward_length".into(), Value::U32(FFN as u32)),
        ("qwen2.attention.head_count".into(), Value::U32(4)),
        ("qwen2.attention.head_count_kv".into(), Value::U32(2)),
        ("qwen2.rope.freq_base".into(), Value::F32(1_000_000.0)),
        ("qwen2.attention.layer_norm_rms_epsilon".into(), Value::F32(1e-6)),
        ("tokenizer.ggml.model".into(), Value::String("gpt2".into())),
        ("tokenizer.ggml.pre".into(), Value::String("qwen2".into())),
        ("tokenizer.ggml.tokens".into(), Value::Array(tokens.iter().map(|t| Value::String(t.clone())).collect())),
        ("tokenizer.ggml.token_type".into(), Value::Array(types.iter().map(|t| Value::I32(*t as i32)).collect())),
        ("tokenizer.ggml.merges".into(), Value::Array(vec![Value::String("h e".into())])),
        ("tokenizer.ggml.eos_token_id".into(), Value::U32(id("<|im_end|>"))),
        ("tokenizer.ggml.bos_token_id".into(), Value::U32(id("<|endoftext|>"))),
        ("tokenizer.ggml.padding_token_id".into(), Value::U32(id("<|endoftext|>"))),
        ("tokenizer.chat_template".into(), Value::String("{{ messages }}".into())),
    ];
    meta.retain(|(k, _)| Some(k.as_str()) != spec.drop_key);

    let mut seed = 1u32;
    let mut rand = |shape: &[usize]| {
        let n: usize = shape.iter().product();
        let v: Vec<f32> = (0..n)
            .map(|_| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (seed >> 8) as f32 / (1u32 << 24) as f32 * 0.2 - 0.1
            })
            .collect();
        Tensor::from_vec(v, shape, &dev).unwrap()
    };
    let mut qs: Vec<(String, QTensor)> = Vec::new();
    let mut push = |name: String, shape: &[usize], ty: GgmlDType| {
        let t = rand(shape);
        qs.push((name, QTensor::quantize(&t, ty).unwrap()));
    };
    push("token_embd.weight".into(), &[vocab, HIDDEN], GgmlDType::Q8_0);
    push("output.weight".into(), &[vocab, HIDDEN], GgmlDType::Q8_0);
    push("output_norm.weight".into(), &[HIDDEN], GgmlDType::F32);
    for l in 0..LAYERS {
        let b = |n: &str| format!("blk.{l}.{n}");
        push(b("attn_q.weight"), &[HIDDEN, HIDDEN], GgmlDType::Q8_0);
        push(b("attn_q.bias"), &[HIDDEN], GgmlDType::F32);
        push(b("attn_k.weight"), &[32, HIDDEN], GgmlDType::Q4_0);
        push(b("attn_k.bias"), &[32], GgmlDType::F32);
        push(b("attn_v.weight"), &[32, HIDDEN], GgmlDType::Q5_0);
        push(b("attn_v.bias"), &[32], GgmlDType::F32);
        push(b("attn_output.weight"), &[HIDDEN, HIDDEN], GgmlDType::Q8_0);
        push(b("ffn_gate.weight"), &[FFN, HIDDEN], GgmlDType::Q8_0);
        push(b("ffn_up.weight"), &[FFN, HIDDEN], GgmlDType::Q8_0);
        push(b("ffn_down.weight"), &[HIDDEN, FFN], GgmlDType::Q8_0);
        push(b("attn_norm.weight"), &[HIDDEN], GgmlDType::F32);
        push(b("ffn_norm.weight"), &[HIDDEN], GgmlDType::F32);
    }
    let written: HashMap<String, Tensor> =
        qs.iter().map(|(n, q)| (n.clone(), q.dequantize(&Device::Cpu).unwrap())).collect();
    let mut buf = std::io::Cursor::new(Vec::new());
    let meta_refs: Vec<(&str, &Value)> = meta.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let q_refs: Vec<(&str, &QTensor)> = qs.iter().map(|(k, v)| (k.as_str(), v)).collect();
    gguf_file::write(&mut buf, &meta_refs, &q_refs).unwrap();
    (buf.into_inner(), written)
}

fn write_parts(dir: &Path, bytes: &[u8], cuts: &[usize]) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut start = 0;
    for (i, &end) in cuts.iter().chain(std::iter::once(&bytes.len())).enumerate() {
        let p = dir.join(format!("part{:02}.bin", i + 1));
        std::fs::write(&p, &bytes[start..end]).unwrap();
        files.push(p);
        start = end;
    }
    files
}

#[test]
fn imports_a_split_gguf_into_a_folder_that_loads_and_equals_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let (bytes, written) = tiny_gguf(&Spec { arch: "qwen2", drop_key: None });
    // Three parts cut at odd places (inside the header and inside a tensor).
    let files = write_parts(tmp.path(), &bytes, &[1001, bytes.len() / 2 + 7]);
    let out = tmp.path().join("model");
    let report = srl_policy::import_gguf(&files, &out, DType::F32).unwrap();
    assert_eq!(report.gguf_bytes, bytes.len() as u64);
    assert_eq!(report.name.as_deref(), Some("tiny test qwen"));
    assert_eq!(report.unused_tokens, 1);
    assert_eq!(report.tensor_types["Q8_0"], 2 + LAYERS * 5);
    assert_eq!(report.tensor_types["Q5_0"], LAYERS);
    assert_eq!(report.tensor_types["Q4_0"], LAYERS);

    // config.json as transformers 5 writes it.
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["rope_parameters"], serde_json::json!({"rope_theta": 1_000_000.0, "rope_type": "default"}));
    // The top-level key stays beside it for transformers 4 and candle-transformers (equal, or loading refuses it).
    assert_eq!(config["rope_theta"], 1_000_000.0);
    assert!(config.get("torch_dtype").is_none(), "{config}");
    assert_eq!(config["dtype"], "float32");
    assert_eq!(config["rms_norm_eps"], 1e-6);
    assert_eq!(config["tie_word_embeddings"], false);
    assert_eq!(config["num_key_value_heads"], 2);
    assert_eq!(config["architectures"][0], "Qwen2ForCausalLM");
    let generation: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("generation_config.json")).unwrap()).unwrap();
    assert_eq!(generation["eos_token_id"], serde_json::json!([259, 257]));
    let tc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("tokenizer_config.json")).unwrap()).unwrap();
    assert_eq!(tc["chat_template"], "{{ messages }}");
    assert_eq!(tc["eos_token"], "<|im_end|>");
    assert_eq!(tc["added_tokens_decoder"]["260"]["special"], false);

    // Weights under Hugging Face names, equal to the file's dequantized tensors.
    let policy = Policy::load(out.to_str().unwrap(), &PolicyOptions::default()).unwrap();
    let base = policy.base_weights();
    for (hf, g) in [
        ("model.embed_tokens.weight", "token_embd.weight"),
        ("lm_head.weight", "output.weight"),
        ("model.layers.1.self_attn.k_proj.weight", "blk.1.attn_k.weight"),
        ("model.layers.0.self_attn.v_proj.weight", "blk.0.attn_v.weight"),
        ("model.layers.1.mlp.down_proj.weight", "blk.1.ffn_down.weight"),
        ("model.layers.0.post_attention_layernorm.weight", "blk.0.ffn_norm.weight"),
    ] {
        let diff = (&base[hf] - &written[g]).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert_eq!(diff, 0.0, "{hf}");
    }

    // The tokenizer: merges, added tokens matched in text, `<tool_call>` kept when special tokens are skipped,
    // the unused padding entry gone.
    let tok = policy.tokenizer();
    let ids = tok.encode("<|im_start|>user\nhe<tool_call>x</tool_call><|im_end|>").unwrap();
    let c = byte_chars();
    let byte = |b: u8| c.iter().position(|&x| x == c[b as usize]).unwrap() as u32;
    assert_eq!(
        ids,
        vec![258, byte(b'u'), byte(b's'), byte(b'e'), byte(b'r'), byte(b'\n'), 256, 260, byte(b'x'), 261, 259]
    );
    assert_eq!(tok.decode(&ids, true).unwrap(), "user\nhe<tool_call>x</tool_call>");
    assert_eq!(tok.decode(&ids, false).unwrap(), "<|im_start|>user\nhe<tool_call>x</tool_call><|im_end|>");
    assert_eq!(tok.inner().token_to_id("[PAD263]"), None);
    let mut stops = policy.stop_ids().to_vec();
    stops.sort();
    assert_eq!(stops, [257, 259]);

    // It runs: greedy sampling of a chat gives the same ids twice.
    let prompt = policy.chat_prompt_ids(&[srl_core::Message::user("he")], 0).unwrap();
    let opts = SampleOptions { n: 1, seed: 0, params: SamplingParams::greedy(8) };
    let a = policy.sample(std::slice::from_ref(&prompt), &opts).unwrap();
    let b = policy.sample(std::slice::from_ref(&prompt), &opts).unwrap();
    assert_eq!(a[0].ids, b[0].ids);

    // bf16 halves the weights file.
    let out16 = tmp.path().join("model16");
    srl_policy::import_gguf(&files, &out16, DType::BF16).unwrap();
    let size = |d: &Path| std::fs::metadata(d.join("model.safetensors")).unwrap().len();
    assert!(size(&out16) * 2 < size(&out) + 4096, "{} vs {}", size(&out16), size(&out));
    let c16: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out16.join("config.json")).unwrap()).unwrap();
    assert_eq!(c16["dtype"], "bfloat16");
}

#[test]
fn refuses_another_architecture_a_missing_key_and_a_truncated_file() {
    let tmp = tempfile::tempdir().unwrap();
    let err = |bytes: &[u8], name: &str| {
        let p = tmp.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        let e = srl_policy::import_gguf(std::slice::from_ref(&p), &tmp.path().join("out"), DType::F32).unwrap_err();
        let e = e.to_string();
        assert!(e.contains(p.to_str().unwrap()), "{e}");
        assert!(!tmp.path().join("out").join("model.safetensors").exists());
        e
    };
    let (llama, _) = tiny_gguf(&Spec { arch: "llama", drop_key: None });
    let e = err(&llama, "llama.gguf");
    assert!(e.contains("general.architecture") && e.contains("llama") && e.contains("qwen2"), "{e}");

    let (no_layers, _) = tiny_gguf(&Spec { arch: "qwen2", drop_key: Some("qwen2.block_count") });
    let e = err(&no_layers, "missing.gguf");
    assert!(e.contains("qwen2.block_count") && e.contains("missing"), "{e}");

    let (ok, _) = tiny_gguf(&Spec { arch: "qwen2", drop_key: None });
    let e = err(&ok[..ok.len() - 100], "truncated.gguf");
    assert!(e.contains("truncated"), "{e}");
    let e = err(&ok[..500], "header.gguf");
    assert!(e.contains("truncated") || e.contains("not a readable GGUF"), "{e}");
    let e = err(b"not a gguf at all", "text.gguf");
    assert!(e.contains("not a readable GGUF"), "{e}");
}
