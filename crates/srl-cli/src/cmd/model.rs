//! `srl-swe model ...`: create, inspect and sample from Hugging Face model folders (the candle policy).

use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, bail};
use srl_core::{DTypeSpec, DeviceSpec, Message, SamplingParams};
use srl_data::StepExample;
use srl_policy::init::Preset;
use srl_policy::{Config, Policy, PolicyOptions, SampleOptions, TrainedModel};
use srl_reward::Metric;
use srl_train::{StepEvalOptions, StepResult, evaluate_steps};

use crate::support::choice;
use crate::support::io::read_jsonl;

#[derive(Debug, clap::Subcommand)]
pub enum ModelCmd {
    /// Write a random model (seeded) and a byte-level BPE tokenizer trained on the project's own text, with
    /// Qwen2.5's special tokens, as a Hugging Face folder. Nothing is downloaded.
    Init(InitArgs),
    /// Sample completions of a chat and print them.
    Generate(Box<GenerateArgs>),
    /// Print a model's config, parameter counts and memory estimates (weights are not loaded).
    Info(InfoArgs),
    /// Score a model on step examples (as `srl-swe data steps` writes them) with the SRL reward: format rate, mean
    /// reward and similarity, overall and per action kind; one JSON line per completion with --output. The
    /// trainer's validation runs the same code.
    EvalSteps(Box<EvalStepsArgs>),
    /// Turn a GGUF file of a Qwen2-family model (llama.cpp's format; several FILEs are parts, read in order as one
    /// file) into a Hugging Face folder: config.json as transformers 5 writes it, every tensor dequantized under
    /// its Hugging Face name, tokenizer.json with the model's added tokens, tokenizer_config.json with the file's
    /// chat template, generation_config.json. `scripts/fetch_model.sh` downloads the real models and runs this.
    ImportGguf(ImportGgufArgs),
    /// Measure the policy on a model folder: prefill tokens/s of a ~3,000-token chat prompt, greedy decoding at
    /// batch 1 and sampled decoding at batch 8 (64 new tokens each, after that prompt), and one GRPO micro-batch
    /// with LoRA r=16 on every projection (4 rollouts of 1,000 + 128 tokens: log-probs, then backward), with each
    /// phase's peak RSS. The text is this program's own source, so the work is the same every run.
    /// `scripts/bench_policy.sh` runs it beside the same work in PyTorch. Threads: RAYON_NUM_THREADS.
    Bench(BenchArgs),
}

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// A Hugging Face model folder, or a repo id in the local Hugging Face cache.
    #[arg(long)]
    model: String,
    /// `f32` or `bf16` (`auto`: f32 on CPU).
    #[arg(long, default_value = "f32", value_parser = choice::<DTypeSpec>())]
    dtype: DTypeSpec,
    /// Write the report as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write the work (token ids, sizes, LoRA settings) as JSON here, for the reference side.
    #[arg(long)]
    work: Option<PathBuf>,
    /// Only these phases (comma-separated: prefill, greedy_b1, sampled_b8, grpo_fwd, grpo_bwd); default all.
    #[arg(long, value_delimiter = ',')]
    phases: Vec<String>,
    #[arg(long, default_value_t = 3000)]
    prefill_tokens: usize,
    #[arg(long, default_value_t = 64)]
    decode_tokens: usize,
    #[arg(long, default_value_t = 8)]
    decode_batch: usize,
    #[arg(long, default_value_t = 4)]
    train_rollouts: usize,
    #[arg(long, default_value_t = 1000)]
    train_prompt_tokens: usize,
    #[arg(long, default_value_t = 128)]
    train_completion_tokens: usize,
    #[arg(long, default_value_t = 16)]
    lora_r: usize,
    /// Rollouts per forward/backward in the GRPO phases (gradients summed); 0: all at once.
    #[arg(long, default_value_t = 0)]
    train_micro_batch: usize,
    /// Gradient checkpointing in the GRPO phases (both sides).
    #[arg(long)]
    gradient_checkpointing: bool,
}

#[derive(Debug, clap::Args)]
pub struct ImportGgufArgs {
    /// The GGUF file, or its parts in order.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Folder to write (created; must be empty unless --force).
    #[arg(long)]
    out: PathBuf,
    /// Dtype of the written weights: `f32` (exact dequantized values) or `bf16` (half the size).
    #[arg(long, default_value = "f32", value_parser = choice::<DTypeSpec>())]
    dtype: DTypeSpec,
    /// Overwrite files in a non-empty folder.
    #[arg(long)]
    force: bool,
}

#[derive(Debug, clap::Args)]
pub struct EvalStepsArgs {
    /// A Hugging Face folder, a PEFT adapter folder, a trainer's `final/`, or a repo id in the local cache.
    #[arg(long)]
    model: String,
    /// Step examples, JSON Lines (`-`: stdin).
    #[arg(long)]
    examples: PathBuf,
    /// Only the first N examples (0: all).
    #[arg(long, default_value_t = 0)]
    limit: usize,
    /// Completions per example (1 at temperature 0: greedy, as the trainer validates).
    #[arg(long, default_value_t = 1)]
    samples: usize,
    /// Sampling temperature (0: greedy).
    #[arg(long, default_value_t = 0.0)]
    temperature: f64,
    #[arg(long, default_value_t = 1.0)]
    top_p: f64,
    /// Top-k cut (0: off).
    #[arg(long, default_value_t = 0)]
    top_k: usize,
    #[arg(long, default_value_t = 512)]
    max_new_tokens: usize,
    /// Prompt token budget; older history is dropped from the left (0: no limit).
    #[arg(long, default_value_t = 4096)]
    max_prompt_tokens: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// `difflib` (the paper's reward) or `lcs`.
    #[arg(long, default_value = "difflib", value_parser = choice::<Metric>())]
    metric: Metric,
    /// Write one JSON line per completion here (`-`: stdout).
    #[arg(long)]
    output: Option<PathBuf>,
    /// The start of the assistant turn written into each prompt (e.g. `$'<think>\n'`); completions are scored
    /// after it. Default: the model folder's prompt.json (a trainer's `final/`), else none.
    #[arg(long)]
    prefill: Option<String>,
    /// `cpu`, or `cuda` / `cuda:N` (needs the `cuda` feature).
    #[arg(long, default_value = "cpu")]
    device: DeviceSpec,
    /// `auto` (f32 on CPU, bf16 on CUDA), `f32`, `bf16` or `f16`.
    #[arg(long, default_value = "auto", value_parser = choice::<DTypeSpec>())]
    dtype: DTypeSpec,
}

#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// Folder to write (created; must be empty unless --force).
    #[arg(long)]
    out: PathBuf,
    /// `tiny` (hidden 64, 2 layers), `small` (hidden 256, 4 layers), or `qwen2.5-0.5b-shapes` (random, ~2 GB).
    #[arg(long, default_value = "tiny")]
    preset: Preset,
    /// Seed of the random weights; the same seed writes byte-identical files.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Overwrite files in a non-empty folder.
    #[arg(long)]
    force: bool,
}

#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    /// A Hugging Face model folder, or a repo id in the local Hugging Face cache.
    #[arg(long)]
    model: String,
    /// A JSON file (`-`: stdin) with the chat: a list of `{"role", "content"}` messages, or an object with a
    /// `messages` (or `prompt`) list, such as a step example.
    #[arg(long, conflicts_with = "prompt", required_unless_present = "prompt")]
    messages: Option<PathBuf>,
    /// A single user message.
    #[arg(long)]
    prompt: Option<String>,
    /// System message for --prompt (default: the chat template's default).
    #[arg(long, requires = "prompt")]
    system: Option<String>,
    /// A PEFT LoRA adapter folder to apply.
    #[arg(long)]
    adapter: Option<PathBuf>,
    #[arg(long, default_value_t = 256)]
    max_new_tokens: usize,
    /// Prompt token budget; older history is dropped from the left (0: no limit).
    #[arg(long, default_value_t = 0)]
    max_prompt_tokens: usize,
    /// Sampling temperature; 0 is greedy. Default: generation_config.json's, else 0.
    #[arg(long)]
    temperature: Option<f64>,
    /// Nucleus sampling mass (default: generation_config.json's, else 1).
    #[arg(long)]
    top_p: Option<f64>,
    /// Top-k cut (0: off; default: generation_config.json's, else 0).
    #[arg(long)]
    top_k: Option<usize>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Completions to sample (one batch).
    #[arg(long, default_value_t = 1)]
    n: usize,
    /// `cpu`, or `cuda` / `cuda:N` (needs the `cuda` feature).
    #[arg(long, default_value = "cpu")]
    device: DeviceSpec,
    /// `auto` (f32 on CPU, bf16 on CUDA), `f32`, `bf16` or `f16`.
    #[arg(long, default_value = "auto", value_parser = choice::<DTypeSpec>())]
    dtype: DTypeSpec,
    /// Print the completions as JSON (ids, text, log-probs, finish reason).
    #[arg(long)]
    json: bool,
    /// The start of the assistant turn, written after the generation prompt and continued by the model (e.g.
    /// `$'<think>\n'`); printed completions begin with it.
    #[arg(long, default_value = "")]
    prefill: String,
}

#[derive(Debug, clap::Args)]
pub struct InfoArgs {
    /// A Hugging Face model folder, or a repo id in the local Hugging Face cache.
    #[arg(long)]
    model: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// `println!` that ends quietly when stdout is closed (e.g. piped into `head`) instead of panicking.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        match writeln!(std::io::stdout().lock(), $($arg)*) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            other => other?,
        }
    }};
}

pub fn run(cmd: ModelCmd) -> anyhow::Result<()> {
    match cmd {
        ModelCmd::Init(a) => init(a),
        ModelCmd::Generate(a) => generate(*a),
        ModelCmd::Info(a) => info(a),
        ModelCmd::EvalSteps(a) => eval_steps(*a),
        ModelCmd::ImportGguf(a) => import_gguf(a),
        ModelCmd::Bench(a) => bench(a),
    }
}

fn check_out_dir(out: &std::path::Path, force: bool) -> anyhow::Result<()> {
    if out.exists() && !force {
        let non_empty = std::fs::read_dir(out).with_context(|| out.display().to_string())?.next().is_some();
        if non_empty {
            bail!("{} is not empty (use --force to overwrite)", out.display());
        }
    }
    Ok(())
}

fn import_gguf(a: ImportGgufArgs) -> anyhow::Result<()> {
    let dtype = match a.dtype {
        DTypeSpec::F32 => srl_policy::DType::F32,
        DTypeSpec::Bf16 => srl_policy::DType::BF16,
        other => bail!("--dtype {other}: import writes f32 or bf16"),
    };
    check_out_dir(&a.out, a.force)?;
    let t = std::time::Instant::now();
    let r = srl_policy::import_gguf(&a.files, &a.out, dtype)?;
    let c = &r.config;
    let types: Vec<String> = r.tensor_types.iter().map(|(k, n)| format!("{k} {n}")).collect();
    say!(
        "wrote {} from {} ({} bytes{}) in {:.1} s: {} parameters in {}, hidden {}, {} layers, vocab {}{}; tensors: {}",
        a.out.display(),
        r.name.as_deref().unwrap_or("a GGUF file"),
        r.gguf_bytes,
        if a.files.len() > 1 { format!(", {} parts", a.files.len()) } else { String::new() },
        t.elapsed().as_secs_f64(),
        c.num_params(),
        a.dtype,
        c.hidden_size,
        c.num_hidden_layers,
        c.vocab_size,
        if r.unused_tokens > 0 {
            format!(" ({} unused padding tokens left out of tokenizer.json)", r.unused_tokens)
        } else {
            String::new()
        },
        types.join(", ")
    );
    Ok(())
}

fn bench(a: BenchArgs) -> anyhow::Result<()> {
    const KNOWN: [&str; 5] = ["prefill", "greedy_b1", "sampled_b8", "grpo_fwd", "grpo_bwd"];
    if let Some(p) = a.phases.iter().find(|p| !KNOWN.contains(&p.as_str())) {
        bail!("--phases: unknown phase `{p}` (choices: {})", KNOWN.join(", "));
    }
    let opts = srl_policy::bench::BenchOptions {
        model: a.model,
        dtype: a.dtype,
        prefill_tokens: a.prefill_tokens,
        decode_tokens: a.decode_tokens,
        decode_batch: a.decode_batch,
        train_rollouts: a.train_rollouts,
        train_prompt_tokens: a.train_prompt_tokens,
        train_completion_tokens: a.train_completion_tokens,
        lora_r: a.lora_r,
        train_micro_batch: a.train_micro_batch,
        gradient_checkpointing: a.gradient_checkpointing,
        phases: a.phases,
    };
    let mb = |b: Option<u64>| b.map(|b| format!("{:.0}", b as f64 / 1e6)).unwrap_or_else(|| "-".into());
    say!("{:<12} {:>8} {:>9} {:>10} {:>14}", "phase", "tokens", "seconds", "tokens/s", "peak RSS (MB)");
    let (report, work) = srl_policy::bench::run(&opts, &mut |r| {
        println!(
            "{:<12} {:>8} {:>9.2} {:>10.1} {:>14}",
            r.name,
            r.tokens,
            r.secs,
            r.tokens_per_sec,
            mb(r.peak_rss_bytes)
        );
    })?;
    say!(
        "{} ({}), {} threads, prompt {} tokens{}",
        report.model,
        report.dtype,
        report.threads,
        report.prompt_tokens,
        report.cpu.as_deref().map(|c| format!(", {c}")).unwrap_or_default()
    );
    if let Some(p) = &a.json {
        srl_core::fs::write_atomic(p, serde_json::to_string_pretty(&report)?.as_bytes())?;
    }
    if let Some(p) = &a.work {
        srl_core::fs::write_atomic(p, serde_json::to_string(&work)?.as_bytes())?;
    }
    Ok(())
}

fn init(a: InitArgs) -> anyhow::Result<()> {
    check_out_dir(&a.out, a.force)?;
    let parts = srl_policy::init_model_dir(&a.out, a.preset, a.seed)?;
    let c = &parts.config;
    say!(
        "wrote {} ({:?}, seed {}): {} parameters, hidden {}, {} layers, vocab {}",
        a.out.display(),
        a.preset,
        a.seed,
        c.num_params(),
        c.hidden_size,
        c.num_hidden_layers,
        c.vocab_size
    );
    Ok(())
}

fn read_messages(path: &PathBuf) -> anyhow::Result<Vec<Message>> {
    let mut text = String::new();
    if path.as_os_str() == "-" {
        std::io::stdin().read_to_string(&mut text)?;
    } else {
        text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
    }
    let v: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{}: invalid JSON", path.display()))?;
    let list = match &v {
        serde_json::Value::Array(_) => v.clone(),
        serde_json::Value::Object(o) => match o.get("messages").or_else(|| o.get("prompt")) {
            Some(l) => l.clone(),
            None => bail!("{}: an object needs a `messages` or `prompt` list", path.display()),
        },
        _ => bail!("{}: expected a list of messages", path.display()),
    };
    serde_json::from_value(list).with_context(|| format!("{}: messages need `role` and `content`", path.display()))
}

fn generate(a: GenerateArgs) -> anyhow::Result<()> {
    let mut policy = Policy::load(&a.model, &PolicyOptions { device: a.device, dtype: a.dtype, ..Default::default() })?;
    if let Some(dir) = &a.adapter {
        policy.load_adapter(dir)?;
    }
    let messages = match (&a.messages, &a.prompt) {
        (Some(path), _) => read_messages(path)?,
        (None, Some(p)) => {
            let mut m = Vec::new();
            if let Some(s) = &a.system {
                m.push(Message::system(s.clone()));
            }
            m.push(Message::user(p.clone()));
            m
        }
        (None, None) => bail!("give --messages FILE or --prompt TEXT"),
    };
    let g = policy.generation_config();
    let params = SamplingParams {
        temperature: a.temperature.unwrap_or(if g.do_sample == Some(true) {
            g.temperature.unwrap_or(1.0)
        } else {
            0.0
        }),
        top_p: a.top_p.unwrap_or(g.top_p.unwrap_or(1.0)),
        top_k: a.top_k.unwrap_or(g.top_k.unwrap_or(0)),
        max_new_tokens: a.max_new_tokens,
    };
    let opts = SampleOptions { n: a.n, seed: a.seed, params };
    let prompt = policy.chat_prompt(&messages, &a.prefill, a.max_prompt_tokens)?;
    if prompt.dropped_messages > 0 {
        eprintln!("note: dropped {} history messages to fit {} tokens", prompt.dropped_messages, a.max_prompt_tokens);
    }
    if prompt.over_budget {
        eprintln!(
            "note: the system message and the task alone take {} tokens, over --max-prompt-tokens {}; kept whole",
            prompt.ids.len(),
            a.max_prompt_tokens
        );
    }
    let t = std::time::Instant::now();
    let out = policy.sample(std::slice::from_ref(&prompt.ids), &opts)?;
    let secs = t.elapsed().as_secs_f64();
    if a.json {
        say!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        for (i, c) in out.iter().enumerate() {
            if out.len() > 1 {
                say!("--- completion {i} ({:?}, {} tokens)", c.finish, c.ids.len());
            }
            say!("{}{}", a.prefill, c.text);
        }
    }
    let n: usize = out.iter().map(|c| c.ids.len()).sum();
    eprintln!(
        "{n} tokens in {secs:.2} s ({:.1} tok/s), prompt {} tokens, temperature {}",
        n as f64 / secs.max(1e-9),
        prompt.ids.len(),
        opts.params.temperature
    );
    Ok(())
}

fn info(a: InfoArgs) -> anyhow::Result<()> {
    let dir = srl_policy::files::resolve_model(&a.model)?;
    let cfg = Config::from_file(&dir.join(srl_policy::files::CONFIG))?;
    let files = srl_policy::files::weight_files(&dir)?;
    let file_bytes: u64 = files.iter().filter_map(|f| std::fs::metadata(f).ok()).map(|m| m.len()).sum();
    let params = cfg.num_params() as f64;
    let lora16 = lora_params(&cfg, 16) as f64;
    let gb = |x: f64| x / 1e9;
    let est = serde_json::json!({
        "folder": dir.display().to_string(),
        "weight_files": files.iter().map(|f| f.file_name().map(|n| n.to_string_lossy().to_string())).collect::<Vec<_>>(),
        "weight_file_bytes": file_bytes,
        "params": cfg.num_params(),
        "weights_gb": {"f32": gb(params * 4.0), "bf16": gb(params * 2.0)},
        "kv_cache_bytes_per_token": {"f32": cfg.kv_bytes_per_token(4), "bf16": cfg.kv_bytes_per_token(2)},
        "lora_r16_all_projections": {"params": lora16 as u64, "adamw_state_gb_f32": gb(lora16 * 16.0)},
        "full_finetune_adamw_gb_f32": gb(params * 16.0),
        "full_finetune_adamw_note": "weights + gradients + two AdamW moments, f32; activations extra",
    });
    if a.json {
        say!("{}", serde_json::to_string_pretty(&serde_json::json!({"config": cfg, "estimates": est}))?);
        return Ok(());
    }
    say!("config: {}", serde_json::to_string_pretty(&cfg)?);
    say!("folder: {}", dir.display());
    say!("weight files: {} ({:.2} GB on disk)", files.len(), gb(file_bytes as f64));
    say!(
        "parameters: {} ({:.1} M); embeddings {}",
        cfg.num_params(),
        params / 1e6,
        if cfg.tie_word_embeddings { "tied" } else { "untied" }
    );
    say!("weights in memory: {:.2} GB f32, {:.2} GB bf16", gb(params * 4.0), gb(params * 2.0));
    say!("KV cache: {} bytes/token f32, {} bytes/token bf16", cfg.kv_bytes_per_token(4), cfg.kv_bytes_per_token(2));
    say!("LoRA r=16 on all projections: {} trainable params ({:.1} M)", lora16 as u64, lora16 / 1e6);
    say!(
        "full fine-tuning with AdamW in f32: ~{:.2} GB (weights, grads, 2 moments; activations extra)",
        gb(params * 16.0)
    );
    Ok(())
}

/// Trainable parameters of LoRA rank `r` on all seven projections of every layer.
fn lora_params(cfg: &Config, r: usize) -> usize {
    let (h, i) = (cfg.hidden_size, cfg.intermediate_size);
    let q = cfg.num_attention_heads * cfg.head_dim();
    let kv = cfg.num_kv_heads() * cfg.head_dim();
    let per_layer = r * ((h + q) + 2 * (h + kv) + (q + h) + 2 * (h + i) + (i + h));
    per_layer * cfg.num_hidden_layers
}

fn eval_steps(a: EvalStepsArgs) -> anyhow::Result<()> {
    let mut examples: Vec<StepExample> = read_jsonl(&a.examples)?;
    if a.limit > 0 {
        examples.truncate(a.limit);
    }
    if examples.is_empty() {
        bail!("{}: no step examples", a.examples.display());
    }
    let params =
        SamplingParams { temperature: a.temperature, top_p: a.top_p, top_k: a.top_k, max_new_tokens: a.max_new_tokens };
    params.validate().map_err(anyhow::Error::msg)?;
    let trained = TrainedModel::open(std::path::Path::new(&a.model))?;
    let opts = PolicyOptions { device: a.device, dtype: a.dtype, ..Default::default() };
    let policy = trained.load(&opts).with_context(|| format!("loading --model {}", a.model))?;
    let prefill = match &a.prefill {
        Some(p) => p.clone(),
        None => trained.prompt_config().map(|p| p.prefill.clone()).unwrap_or_default(),
    };
    let eval = StepEvalOptions { samples: a.samples.max(1), seed: a.seed, params, metric: a.metric, batch: 8, prefill };
    // One line per completion as it is scored, flushed: a long evaluation cut short keeps what it did.
    let mut out = match &a.output {
        Some(p) => Some((p, srl_data::jsonl::open_write(p)?)),
        None => None,
    };
    let mut write_err: Option<anyhow::Error> = None;
    let bar = crate::support::progress::bar(examples.len() * eval.samples);
    let mut ids = |i: usize| Ok(policy.chat_prompt(&examples[i].messages, &eval.prefill, a.max_prompt_tokens)?.ids);
    let summary = evaluate_steps(&policy, &examples, &mut ids, &eval, &mut |r: &StepResult| {
        bar.inc(1);
        if let (Some((path, w)), None) = (&mut out, &write_err) {
            let written = srl_data::jsonl::write_line(w.as_mut(), r).and_then(|_| w.flush());
            write_err = written.with_context(|| format!("writing {}", path.display())).err();
        }
    });
    bar.finish_and_clear();
    let summary = summary?;
    if let Some(e) = write_err {
        return Err(e);
    }
    let t = &summary.all;
    say!(
        "{} examples, {} completions: format rate {:.3}, mean reward {:.3}, similarity {:.3}",
        summary.examples,
        t.completions,
        t.format_rate(),
        t.reward_mean(),
        t.similarity()
    );
    say!("{:<24} {:>11} {:>7} {:>7} {:>10}", "action kind", "completions", "format", "reward", "similarity");
    for (kind, t) in &summary.by_kind {
        say!(
            "{kind:<24} {:>11} {:>7.3} {:>7.3} {:>10.3}",
            t.completions,
            t.format_rate(),
            t.reward_mean(),
            t.similarity()
        );
    }
    Ok(())
}
