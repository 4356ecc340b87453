//! Random models for tests, benchmarks and the CPU quickstart: a seeded random Qwen2 and a byte-level BPE
//! tokenizer trained on the project's own text, carrying Qwen2.5's special tokens. Nothing is downloaded.

use std::collections::BTreeMap;
use std::path::Path;

use candle_core::{Device, Tensor};
use rand::SeedableRng;
use serde_json::json;
use tokenizers::models::ModelWrapper;
use tokenizers::models::TrainerWrapper;
use tokenizers::models::bpe::{BPE, BpeTrainerBuilder};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, SplitDelimiterBehavior, Tokenizer};

use crate::chat::{ChatTemplate, ENDOFTEXT, IM_END, IM_START};
use crate::config::{Config, GenerationConfig, TokenIds};
use crate::error::{PolicyError, Result};
use crate::files::ModelParts;
use crate::model::weight_shapes;
use crate::rng::normal_vec;

/// Qwen2's pre-tokenizer split (digits one by one, words with their leading space, punctuation runs, newlines).
pub const QWEN_SPLIT_PATTERN: &str =
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Qwen2.5's added tokens in id order, with whether each is special.
pub const QWEN_ADDED_TOKENS: [(&str, bool); 22] = [
    (ENDOFTEXT, true),
    (IM_START, true),
    (IM_END, true),
    ("<|object_ref_start|>", true),
    ("<|object_ref_end|>", true),
    ("<|box_start|>", true),
    ("<|box_end|>", true),
    ("<|quad_start|>", true),
    ("<|quad_end|>", true),
    ("<|vision_start|>", true),
    ("<|vision_end|>", true),
    ("<|vision_pad|>", true),
    ("<|image_pad|>", true),
    ("<|video_pad|>", true),
    ("<tool_call>", false),
    ("</tool_call>", false),
    ("<|fim_prefix|>", false),
    ("<|fim_middle|>", false),
    ("<|fim_suffix|>", false),
    ("<|fim_pad|>", false),
    ("<|repo_name|>", false),
    ("<|file_sep|>", false),
];

/// The text the tokenizer is trained on: the system prompt, a rendered task and a corpus of agent turns,
/// Python, shell and diffs compiled into the crate.
pub fn corpus() -> String {
    let mut s = String::new();
    s.push_str(srl_core::prompt::SYSTEM_PROMPT);
    s.push('\n');
    s.push_str(&srl_core::prompt::render_task(
        "The parser drops quoted values: `parse_line('a = \"b c\"')` returns the quotes. It should strip them.",
    ));
    s.push('\n');
    s.push_str(include_str!("corpus.txt"));
    s
}

srl_core::choice_enum! {
    /// Model sizes for random models.
    pub enum Preset: "preset" {
        /// hidden 64, 2 layers, 4 heads (2 KV), vocab ~2k: forward passes in milliseconds.
        Tiny = "tiny",
        /// hidden 256, 4 layers, 4 heads (2 KV), vocab ~4k.
        Small = "small",
        /// The shapes of Qwen2.5-0.5B (hidden 896, 24 layers, 14 heads, 2 KV, vocab 151936), random weights:
        /// for benchmarks (about 2 GB in f32).
        Qwen25_05B = "qwen2.5-0.5b-shapes",
    }
}

impl Preset {
    /// BPE vocabulary target of the trained tokenizer (before Qwen's 22 added tokens).
    pub fn tokenizer_vocab(self) -> usize {
        match self {
            Preset::Tiny => 2048,
            Preset::Small | Preset::Qwen25_05B => 4096,
        }
    }

    /// The config for a tokenizer of `tokenizer_vocab` tokens.
    pub fn config(self, tokenizer: &Tokenizer) -> Config {
        let (hidden, inter, layers, heads, kv, vocab) = match self {
            Preset::Tiny => (64, 176, 2, 4, 2, tokenizer.get_vocab_size(true)),
            Preset::Small => (256, 704, 4, 4, 2, tokenizer.get_vocab_size(true)),
            Preset::Qwen25_05B => (896, 4864, 24, 14, 2, 151936),
        };
        let eot = tokenizer.token_to_id(ENDOFTEXT);
        let im_end = tokenizer.token_to_id(IM_END);
        Config {
            vocab_size: vocab,
            hidden_size: hidden,
            intermediate_size: inter,
            num_hidden_layers: layers,
            num_attention_heads: heads,
            num_key_value_heads: Some(kv),
            max_position_embeddings: 32768,
            rope_theta: Some(1_000_000.0),
            rope_parameters: None,
            rope_scaling: None,
            rms_norm_eps: 1e-6,
            tie_word_embeddings: true,
            hidden_act: "silu".into(),
            sliding_window: Some(32768),
            use_sliding_window: false,
            max_window_layers: Some(layers),
            bos_token_id: eot,
            eos_token_id: im_end.map(TokenIds::One),
            dtype: Some("float32".into()),
            model_type: Some("qwen2".into()),
            architectures: Some(vec!["Qwen2ForCausalLM".into()]),
            extra: BTreeMap::new(),
        }
    }
}

/// Trains a byte-level BPE (Qwen2's pre-tokenizer, every byte in the alphabet) on [`corpus`] to `vocab_size`
/// tokens at most, then appends Qwen2.5's 22 added tokens. Deterministic.
pub fn train_tokenizer(vocab_size: usize) -> Result<Tokenizer> {
    let err = |e: tokenizers::Error| PolicyError::Tokenize(e.to_string());
    let mut tok = Tokenizer::new(ModelWrapper::BPE(BPE::default()));
    tok.with_normalizer(Some(tokenizers::normalizers::NFC)).map_err(err)?;
    let split = Split::new(SplitPattern::Regex(QWEN_SPLIT_PATTERN.into()), SplitDelimiterBehavior::Isolated, false)
        .map_err(err)?;
    let byte_level = ByteLevel::new(false, false, false);
    tok.with_pre_tokenizer(Some(Sequence::new(vec![split.into(), byte_level.into()])));
    tok.with_decoder(Some(ByteLevel::new(false, false, false)));
    tok.with_post_processor(Some(ByteLevel::new(false, false, false)));
    let trainer = BpeTrainerBuilder::new()
        .vocab_size(vocab_size)
        .min_frequency(1)
        .show_progress(false)
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .build();
    let mut trainer = TrainerWrapper::from(trainer);
    let text = corpus();
    tok.train(&mut trainer, text.split_inclusive('\n')).map_err(err)?;
    for (t, special) in QWEN_ADDED_TOKENS {
        let added = AddedToken::from(t, special);
        if special {
            tok.add_special_tokens([added]).map_err(err)?;
        } else {
            tok.add_tokens([added]).map_err(err)?;
        }
    }
    Ok(tok)
}

/// Seeded random weights for `cfg` (f32, CPU): matrices and biases N(0, 0.02²), norm weights 1 + N(0, 0.1²)
/// (not exactly 1, so tests see them), drawn in [`weight_shapes`] order from ChaCha8 seeded with `seed`.
pub fn random_weights(cfg: &Config, seed: u64) -> Result<BTreeMap<String, Tensor>> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut out = BTreeMap::new();
    for (name, shape) in weight_shapes(cfg) {
        let n: usize = shape.iter().product();
        let v = if name.ends_with("norm.weight") {
            normal_vec(&mut rng, n, 0.1).into_iter().map(|x| x + 1.0).collect()
        } else {
            normal_vec(&mut rng, n, 0.02)
        };
        out.insert(name, Tensor::from_vec(v, shape, &Device::Cpu)?);
    }
    Ok(out)
}

/// The `generation_config.json` of Qwen2.5 instruct models, for a tokenizer.
pub fn generation_config(tokenizer: &Tokenizer) -> GenerationConfig {
    let eot = tokenizer.token_to_id(ENDOFTEXT);
    let ids: Vec<u32> = [tokenizer.token_to_id(IM_END), eot].into_iter().flatten().collect();
    GenerationConfig {
        bos_token_id: eot,
        eos_token_id: Some(TokenIds::Many(ids)),
        pad_token_id: eot,
        do_sample: Some(true),
        temperature: Some(0.7),
        top_p: Some(0.8),
        top_k: Some(20),
        extra: BTreeMap::new(),
    }
}

/// `tokenizer_config.json` for Python users (Qwen2's tokenizer class, the chat template as Jinja).
pub fn tokenizer_config(template: &ChatTemplate, max_len: usize) -> serde_json::Value {
    json!({
        "add_bos_token": false,
        "add_prefix_space": false,
        "bos_token": null,
        "chat_template": template.jinja(),
        "clean_up_tokenization_spaces": false,
        "eos_token": IM_END,
        "errors": "replace",
        "model_max_length": max_len,
        "pad_token": ENDOFTEXT,
        "split_special_tokens": false,
        "tokenizer_class": "Qwen2Tokenizer",
        "unk_token": null
    })
}

/// A random model of `preset` with seed `seed`, in memory.
pub fn random_parts(preset: Preset, seed: u64) -> Result<ModelParts> {
    let tok = train_tokenizer(preset.tokenizer_vocab())?;
    let config = preset.config(&tok);
    let weights = random_weights(&config, seed)?;
    let tokenizer_json = tok.to_string(true).map_err(|e| PolicyError::Tokenize(e.to_string()))?;
    let tc = tokenizer_config(&ChatTemplate::default(), config.max_position_embeddings);
    Ok(ModelParts {
        generation: generation_config(&tok),
        tokenizer_json,
        tokenizer_config_json: Some(serde_json::to_string_pretty(&tc).unwrap_or_default() + "\n"),
        config,
        weights,
    })
}

/// Writes a random model of `preset` as a Hugging Face folder at `dir` (config.json, generation_config.json,
/// tokenizer.json, tokenizer_config.json, model.safetensors in f32). The same seed gives byte-identical files.
pub fn init_model_dir(dir: &Path, preset: Preset, seed: u64) -> Result<ModelParts> {
    let parts = random_parts(preset, seed)?;
    crate::files::write_folder(dir, &parts, candle_core::DType::F32)?;
    tracing::info!(dir = %dir.display(), ?preset, seed, "wrote a random model");
    Ok(parts)
}
