//! Behaviour of the policy on tiny random models (CPU, f32, no network).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use candle_core::{D, DType, Device, IndexOp, Tensor};
use candle_nn::{Optimizer, VarBuilder};
use srl_core::Message;
use srl_policy::files::ModelParts;
use srl_policy::init::{Preset, random_parts};
use srl_policy::model::{Pass, attention_mask, positions};
use srl_policy::{DTypeSpec, LoraConfig, Policy, PolicyOptions, SampleOptions, SamplingParams, Training};

fn tiny() -> ModelParts {
    static PARTS: OnceLock<ModelParts> = OnceLock::new();
    PARTS.get_or_init(|| random_parts(Preset::Tiny, 7).unwrap()).clone()
}

fn opts(training: Training) -> PolicyOptions {
    PolicyOptions { training, ..Default::default() }
}

fn lora_cfg() -> LoraConfig {
    LoraConfig { r: 4, alpha: 8.0, ..Default::default() }
}

fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap()
}

/// Some prompts of different lengths and completions.
fn pairs(p: &Policy) -> Vec<(Vec<u32>, Vec<u32>)> {
    let tok = p.tokenizer();
    let prompt = |s: &str| p.chat_prompt_ids(&[Message::system("sys"), Message::user(s)], 0).unwrap();
    vec![
        (prompt("Fix the parser."), tok.encode("<think>\nlook\n</think>\n\n<function=bash>").unwrap()),
        (prompt("A much longer task text that pads the others on the left."), tok.encode("<think>x</think>").unwrap()),
        (prompt("t"), tok.encode("<function=submit>\n</function><|im_end|>").unwrap()),
    ]
}

/// Randomizes every LoRA B (they start at zero) so that adapters change the outputs.
fn randomize_b(p: &Policy) {
    for (name, v) in p.named_trainable_vars() {
        if name.contains("lora_B") {
            let r = Tensor::randn(0f32, 0.05, v.shape(), &Device::Cpu).unwrap();
            v.set(&r).unwrap();
        }
    }
}

fn write_parts(dir: &Path, parts: &ModelParts) {
    srl_policy::files::write_folder(dir, parts, DType::F32).unwrap();
}

#[test]
fn fused_path_matches_stock_candle_qwen2() {
    for tie in [true, false] {
        let mut parts = tiny();
        parts.config.tie_word_embeddings = tie;
        parts.weights = srl_policy::init::random_weights(&parts.config, 3).unwrap();
        let dir = tempfile::tempdir().unwrap();
        write_parts(dir.path(), &parts);
        let p = Policy::load(dir.path().to_str().unwrap(), &PolicyOptions::default()).unwrap();

        let cfg_text = std::fs::read_to_string(dir.path().join("config.json")).unwrap();
        let stock_cfg: candle_transformers::models::qwen2::Config = serde_json::from_str(&cfg_text).unwrap();
        let file = dir.path().join("model.safetensors");
        let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[&file], DType::F32, &Device::Cpu).unwrap() };
        let mut stock = candle_transformers::models::qwen2::Model::new(&stock_cfg, vb.clone()).unwrap();
        let lm_head = if tie {
            vb.get((stock_cfg.vocab_size, stock_cfg.hidden_size), "model.embed_tokens.weight").unwrap()
        } else {
            vb.get((stock_cfg.vocab_size, stock_cfg.hidden_size), "lm_head.weight").unwrap()
        };

        let ids: Vec<u32> = (0..2 * 12).map(|i| (i * 37 + 5) % 1000).collect();
        let ids = Tensor::from_vec(ids, (2, 12), &Device::Cpu).unwrap();
        let stock_logits = stock.forward(&ids, 0, None).unwrap().broadcast_matmul(&lm_head.t().unwrap()).unwrap();

        let valid = vec![vec![true; 12]; 2];
        let mask = attention_mask(&valid, 12, DType::F32, &Device::Cpu).unwrap();
        let pos = positions(&valid, 12, &Device::Cpu).unwrap();
        let m = p.model();
        for pass in [Pass::fused(), Pass::train()] {
            let h = m.forward_hidden(&ids, &pos, mask.as_ref(), None, pass).unwrap();
            let ours = m.logits(&h).unwrap();
            let d = max_diff(&ours, &stock_logits);
            assert!(d < 1e-4, "tie={tie} {pass:?}: max abs diff {d}");
        }

        let mut causal = candle_transformers::models::qwen2::ModelForCausalLM::new(&stock_cfg, vb).unwrap();
        let last = causal.forward(&ids, 0).unwrap();
        let d = max_diff(&last.squeeze(1).unwrap(), &stock_logits.i((.., 11, ..)).unwrap());
        assert!(d < 1e-4, "ModelForCausalLM: {d}");
    }
}

#[test]
fn kv_cache_decoding_equals_full_forward() {
    let p = Policy::from_parts(tiny(), &PolicyOptions::default()).unwrap();
    let m = p.model().detached();
    let seq: Vec<u32> = (0..10).map(|i| (i * 91 + 3) % 1500).collect();
    let dev = Device::Cpu;
    let ids = Tensor::from_vec(seq.clone(), (1, 10), &dev).unwrap();
    let valid = vec![vec![true; 10]];
    let full = m
        .forward_hidden(
            &ids,
            &positions(&valid, 10, &dev).unwrap(),
            attention_mask(&valid, 10, DType::F32, &dev).unwrap().as_ref(),
            None,
            Pass::fused(),
        )
        .unwrap();
    let full = m.logits(&full).unwrap();
    let mut cache = m.new_cache();
    // Prefill 4 tokens, then one at a time.
    let v4 = vec![vec![true; 4]];
    let h = m
        .forward_hidden(
            &ids.narrow(1, 0, 4).unwrap(),
            &positions(&v4, 4, &dev).unwrap(),
            attention_mask(&v4, 4, DType::F32, &dev).unwrap().as_ref(),
            Some(&mut cache),
            Pass::fused(),
        )
        .unwrap();
    assert!(max_diff(&m.logits(&h).unwrap(), &full.narrow(1, 0, 4).unwrap()) < 1e-4);
    for t in 4..10 {
        let pos = Tensor::from_vec(vec![t as u32], (1, 1), &dev).unwrap();
        let h = m.forward_hidden(&ids.narrow(1, t, 1).unwrap(), &pos, None, Some(&mut cache), Pass::fused()).unwrap();
        let d = max_diff(&m.logits(&h).unwrap(), &full.narrow(1, t, 1).unwrap());
        assert!(d < 1e-4, "step {t}: {d}");
    }
    assert_eq!(cache.seq_len(), 10);
}

#[test]
fn padded_batches_equal_single_rows_and_paths_agree() {
    let p = Policy::from_parts(tiny(), &opts(Training::Lora(lora_cfg()))).unwrap();
    randomize_b(&p);
    let pairs = pairs(&p);
    let batch = p.logprobs(&pairs).unwrap();
    let fused = p.logprobs_detached(&pairs).unwrap();
    assert!(max_diff(&batch.logprobs, &fused.logprobs) < 1e-4);
    assert_eq!(batch.lengths, pairs.iter().map(|x| x.1.len()).collect::<Vec<_>>());
    for (i, pair) in pairs.iter().enumerate() {
        let alone = p.logprobs(std::slice::from_ref(pair)).unwrap();
        let n = pair.1.len();
        let row = batch.logprobs.i((i, 0..n)).unwrap();
        let d = max_diff(&row, &alone.logprobs.i((0, 0..n)).unwrap());
        assert!(d < 1e-4, "row {i}: {d}");
        let m: Vec<f32> = batch.mask.i(i).unwrap().to_vec1().unwrap();
        assert_eq!(m.iter().filter(|&&x| x == 1.0).count(), n);
    }
    // Log-probs are log-probabilities.
    let v: Vec<Vec<f32>> = batch.logprobs.to_vec2().unwrap();
    assert!(v.iter().flatten().all(|x| x.is_finite() && *x <= 0.0));
}

#[test]
fn sampling_is_reproducible_and_its_logprobs_match_training() {
    let p = Policy::from_parts(tiny(), &opts(Training::Lora(lora_cfg()))).unwrap();
    randomize_b(&p);
    let pr = pairs(&p);
    let prompts: Vec<Vec<u32>> = pr.iter().map(|x| x.0.clone()).collect();
    let params = SamplingParams { temperature: 1.0, top_p: 0.95, top_k: 50, max_new_tokens: 12 };
    let so = SampleOptions { n: 3, seed: 42, params };
    let a = p.sample(&prompts, &so).unwrap();
    let b = p.sample(&prompts, &so).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.len(), 9);
    assert_eq!(a[4].prompt_index, 1);
    assert!(a.iter().all(|c| !c.ids.is_empty() && c.ids.len() <= 12 && c.ids.len() == c.logprobs.len()));
    let other = p.sample(&prompts, &SampleOptions { seed: 43, ..so.clone() }).unwrap();
    assert_ne!(a, other);
    // Recompute with the training path.
    let pairs: Vec<(Vec<u32>, Vec<u32>)> = a.iter().map(|c| (prompts[c.prompt_index].clone(), c.ids.clone())).collect();
    let lp = p.logprobs(&pairs).unwrap();
    let rows: Vec<Vec<f32>> = lp.logprobs.to_vec2().unwrap();
    for (c, row) in a.iter().zip(&rows) {
        for (x, y) in c.logprobs.iter().zip(row) {
            assert!((x - y).abs() < 1e-4, "{x} vs {y}");
        }
    }
    // A row's completion does not depend on the rest of the batch (greedy, padded vs alone).
    let greedy = SampleOptions { n: 1, params: SamplingParams::greedy(8), ..Default::default() };
    let batch = p.sample(&prompts, &greedy).unwrap();
    for (i, pr) in prompts.iter().enumerate() {
        let alone = p.sample(std::slice::from_ref(pr), &greedy).unwrap();
        assert_eq!(alone[0].ids, batch[i].ids);
        for (x, y) in alone[0].logprobs.iter().zip(&batch[i].logprobs) {
            assert!((x - y).abs() < 1e-4);
        }
    }
}

fn grads_of(p: &Policy) -> candle_core::backprop::GradStore {
    let lp = p.logprobs(&pairs(p)).unwrap();
    let loss = lp.logprobs.sum_all().unwrap().neg().unwrap();
    loss.backward().unwrap()
}

/// Gradient checkpointing changes neither the log-probs nor the gradients: LoRA (randomized B, so that every
/// adapter has a gradient) and full fine-tuning (the tied embedding's gradient comes from both ends).
#[test]
fn gradient_checkpointing_gives_the_same_logprobs_and_gradients() {
    for training in [Training::Lora(lora_cfg()), Training::Full { keep_reference: false }] {
        let plain = Policy::from_parts(tiny(), &opts(training.clone())).unwrap();
        let mut ckpt = Policy::from_parts(tiny(), &opts(training.clone())).unwrap();
        ckpt.set_gradient_checkpointing(true);
        // The same adapter values in both.
        randomize_b(&plain);
        for ((_, a), (_, b)) in plain.named_trainable_vars().iter().zip(ckpt.named_trainable_vars()) {
            b.set(a.as_tensor()).unwrap();
        }
        let pr = pairs(&plain);
        let adv = Tensor::new(&[[1f32], [-0.5], [0.25]], &Device::Cpu).unwrap();
        let run = |p: &Policy| {
            let lp = p.logprobs(&pr).unwrap();
            let loss = lp.logprobs.broadcast_mul(&adv).unwrap().sum_all().unwrap().neg().unwrap();
            let store = p.backward(&lp, &loss).unwrap();
            (lp.logprobs.clone(), store)
        };
        let (lp_a, g_a) = run(&plain);
        let (lp_b, g_b) = run(&ckpt);
        assert!(max_diff(&lp_a, &lp_b) < 1e-5, "{training:?}: log-probs differ");
        for ((name, va), (_, vb)) in plain.named_trainable_vars().iter().zip(ckpt.named_trainable_vars()) {
            let a = g_a.get(va.as_tensor()).unwrap_or_else(|| panic!("{name}: no gradient without checkpointing"));
            let b = g_b.get(vb.as_tensor()).unwrap_or_else(|| panic!("{name}: no gradient with checkpointing"));
            let scale = a.abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap();
            assert!(scale > 0.0, "{name}: zero gradient");
            let d = max_diff(a, b);
            assert!(d <= 1e-4 * scale.max(1.0), "{training:?} {name}: gradients differ by {d} (scale {scale})");
        }
    }
}

#[test]
fn full_fine_tuning_gives_every_weight_a_gradient() {
    let p = Policy::from_parts(tiny(), &opts(Training::Full { keep_reference: true })).unwrap();
    let vars = p.named_trainable_vars();
    assert_eq!(vars.len(), srl_policy::model::weight_shapes(p.config()).len());
    let grads = grads_of(&p);
    for (name, v) in &vars {
        let g = grads.get(v.as_tensor()).unwrap_or_else(|| panic!("{name}: no gradient"));
        let n = g.sqr().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(n > 0.0, "{name}: zero gradient");
    }
    // (Gradient clipping of a policy's gradients is tested with the trainer's clipping, srl-train's `optim`.)
    // One optimizer step moves the policy, not the reference; the sampling view sees the update.
    let pr = pairs(&p);
    let before = p.reference_logprobs(&pr).unwrap().logprobs;
    let mut opt = candle_nn::AdamW::new(
        p.trainable_vars(),
        candle_nn::ParamsAdamW { lr: 1e-2, weight_decay: 0.0, ..Default::default() },
    )
    .unwrap();
    opt.step(&grads).unwrap();
    let after = p.logprobs(&pr).unwrap().logprobs;
    assert!(max_diff(&before, &after) > 1e-3);
    assert!(max_diff(&before, &p.reference_logprobs(&pr).unwrap().logprobs) < 1e-6);
    assert!(max_diff(&after, &p.logprobs_detached(&pr).unwrap().logprobs) < 1e-4);
    // The trained weights round-trip through a Hugging Face folder.
    let dir = tempfile::tempdir().unwrap();
    p.save_full(dir.path()).unwrap();
    assert!(!dir.path().join("adapter_config.json").exists());
    let q = Policy::load(dir.path().to_str().unwrap(), &PolicyOptions::default()).unwrap();
    assert!(max_diff(&after, &q.logprobs_detached(&pr).unwrap().logprobs) < 1e-4);
    assert!(p.save_adapter(dir.path()).is_err());
}

#[test]
fn lora_trains_adapters_only() {
    let p = Policy::from_parts(tiny(), &opts(Training::Lora(LoraConfig { r: 4, alpha: 8.0, ..Default::default() })))
        .unwrap();
    let vars = p.named_trainable_vars();
    assert_eq!(vars.len(), 2 * 7 * p.config().num_hidden_layers);
    assert!(vars[0].0.starts_with("base_model.model.model.layers.0.self_attn.q_proj.lora_A"));
    let pr = pairs(&p);
    // B = 0: the adapters change nothing yet.
    assert!(max_diff(&p.logprobs(&pr).unwrap().logprobs, &p.reference_logprobs(&pr).unwrap().logprobs) < 1e-6);
    randomize_b(&p);
    let grads = grads_of(&p);
    for (name, v) in &vars {
        let g = grads.get(v.as_tensor()).unwrap_or_else(|| panic!("{name}: no gradient"));
        let n = g.sqr().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(n > 0.0, "{name}: zero gradient");
    }
    for (name, t) in p.base_weights() {
        assert!(grads.get(t).is_none(), "frozen {name} got a gradient");
    }
    let base_before: BTreeMap<String, Tensor> =
        p.base_weights().iter().map(|(k, t)| (k.clone(), t.copy().unwrap())).collect();
    let mut opt = candle_nn::AdamW::new(
        p.trainable_vars(),
        candle_nn::ParamsAdamW { lr: 1e-2, weight_decay: 0.0, ..Default::default() },
    )
    .unwrap();
    opt.step(&grads).unwrap();
    for (k, t) in p.base_weights() {
        assert_eq!(max_diff(t, &base_before[k]), 0.0, "{k} changed");
    }
    // The reference (base without adapters) equals a frozen policy on the same weights.
    let frozen = Policy::from_parts(tiny(), &PolicyOptions::default()).unwrap();
    let d = max_diff(&p.reference_logprobs(&pr).unwrap().logprobs, &frozen.logprobs_detached(&pr).unwrap().logprobs);
    assert!(d < 1e-6);
}

#[test]
fn lora_adapter_saved_reloaded_and_merged_gives_same_logits() {
    let base_dir = tempfile::tempdir().unwrap();
    write_parts(base_dir.path(), &tiny());
    let base = base_dir.path().to_str().unwrap();
    let p = Policy::load(base, &opts(Training::Lora(lora_cfg()))).unwrap();
    randomize_b(&p);
    let pr = pairs(&p);
    let want = p.logprobs_detached(&pr).unwrap().logprobs;

    let ad = tempfile::tempdir().unwrap();
    p.save_adapter(ad.path()).unwrap();
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ad.path().join("adapter_config.json")).unwrap()).unwrap();
    assert_eq!(cfg["peft_type"], "LORA");
    assert_eq!(cfg["r"], 4);
    let st = candle_core::safetensors::load(ad.path().join("adapter_model.safetensors"), &Device::Cpu).unwrap();
    assert!(st.contains_key("base_model.model.model.layers.1.mlp.down_proj.lora_B.weight"));

    let mut q = Policy::load(base, &PolicyOptions::default()).unwrap();
    q.load_adapter(ad.path()).unwrap();
    assert!(max_diff(&q.logprobs_detached(&pr).unwrap().logprobs, &want) < 1e-5);

    let merged = tempfile::tempdir().unwrap();
    p.save_merged(merged.path()).unwrap();
    let m = Policy::load(merged.path().to_str().unwrap(), &PolicyOptions::default()).unwrap();
    let d = max_diff(&m.logprobs_detached(&pr).unwrap().logprobs, &want);
    assert!(d < 1e-4, "merged: {d}");
    assert!(m.lora().is_none());
}

#[test]
fn init_is_deterministic_and_tokenizer_round_trips() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    srl_policy::init_model_dir(a.path(), Preset::Tiny, 1).unwrap();
    srl_policy::init_model_dir(b.path(), Preset::Tiny, 1).unwrap();
    let mut names: Vec<String> =
        std::fs::read_dir(a.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    assert_eq!(
        names,
        ["config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]
    );
    for n in &names {
        assert_eq!(std::fs::read(a.path().join(n)).unwrap(), std::fs::read(b.path().join(n)).unwrap(), "{n}");
    }
    let c = tempfile::tempdir().unwrap();
    srl_policy::init_model_dir(c.path(), Preset::Tiny, 2).unwrap();
    assert_ne!(
        std::fs::read(a.path().join("model.safetensors")).unwrap(),
        std::fs::read(c.path().join("model.safetensors")).unwrap()
    );

    let p = Policy::load(a.path().to_str().unwrap(), &PolicyOptions::default()).unwrap();
    let tok = p.tokenizer();
    eprintln!("tiny vocab: {}", tok.vocab_size());
    assert!(tok.vocab_size() > 1000 && tok.vocab_size() <= 2048 + 22, "{}", tok.vocab_size());
    for text in ["def f(x):\n    return x ** 2\t# é ∑ 😀\r\n", "\u{0}\u{7f}\u{ff}", "<function=bash>ls</function>"]
    {
        let ids = tok.encode(text).unwrap();
        assert_eq!(tok.decode(&ids, false).unwrap(), text);
    }
    let ids = tok.encode("<|im_start|>user\nhi<|im_end|>").unwrap();
    assert_eq!(ids[0], tok.im_start_id());
    assert_eq!(*ids.last().unwrap(), tok.im_end_id());
    assert!(p.stop_ids().contains(&tok.im_end_id()));
}

#[test]
fn chat_prompt_truncates_history_from_the_left() {
    let p = Policy::from_parts(tiny(), &PolicyOptions::default()).unwrap();
    let mut msgs = vec![Message::system("SYSTEM"), Message::user("TASK")];
    for i in 0..6 {
        msgs.push(Message::assistant(format!("action number {i} with some words")));
        msgs.push(Message::user(format!("observation {i} ").repeat(5)));
    }
    let full = p.chat_prompt(&msgs, "", 0).unwrap();
    assert_eq!(full.dropped_messages, 0);
    let text = p.tokenizer().decode(&full.ids, false).unwrap();
    assert_eq!(text, p.tokenizer().template().render(&msgs, true));
    assert!(text.ends_with("<|im_start|>assistant\n"));

    let budget = full.ids.len() * 2 / 3;
    let cut = p.chat_prompt(&msgs, "", budget).unwrap();
    assert!(cut.ids.len() <= budget && !cut.over_budget);
    assert!(cut.dropped_messages >= 2 && cut.dropped_messages.is_multiple_of(2));
    let text = p.tokenizer().decode(&cut.ids, false).unwrap();
    assert!(text.starts_with(
        "<|im_start|>system\nSYSTEM<|im_end|>\n<|im_start|>user\nTASK<|im_end|>\n<|im_start|>assistant\naction number"
    ));
    assert!(!text.contains("action number 0") && text.contains("action number 5"));

    let tiny_budget = p.chat_prompt(&msgs, "", 5).unwrap();
    assert!(tiny_budget.over_budget);
    assert_eq!(tiny_budget.dropped_messages, 12);
}

#[test]
fn bad_folders_get_errors_that_name_the_file() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().to_str().unwrap();
    let e = Policy::load(path, &PolicyOptions::default()).unwrap_err().to_string();
    assert!(e.contains("config.json"), "{e}");
    write_parts(d.path(), &tiny());
    std::fs::remove_file(d.path().join("model.safetensors")).unwrap();
    let e = Policy::load(path, &PolicyOptions::default()).unwrap_err().to_string();
    assert!(e.contains("model.safetensors"), "{e}");
    std::fs::write(d.path().join("config.json"), "{\"vocab_size\": 3}").unwrap();
    let e = Policy::load(path, &PolicyOptions::default()).unwrap_err().to_string();
    assert!(e.contains("config.json"), "{e}");
    // A tensor of the wrong shape.
    let mut parts = tiny();
    let w = parts.weights.get_mut("model.norm.weight").unwrap();
    *w = Tensor::ones(3, DType::F32, &Device::Cpu).unwrap();
    write_parts(d.path(), &parts);
    let e = Policy::load(path, &PolicyOptions::default()).unwrap_err().to_string();
    assert!(e.contains("model.norm.weight") && e.contains("model.safetensors"), "{e}");
    // An uncached repo id says how to download it.
    let e = srl_policy::files::resolve_model_in("Qwen/NotThere", &[d.path().to_path_buf()]).unwrap_err().to_string();
    assert!(e.contains("hf download Qwen/NotThere"), "{e}");
}

#[test]
fn sharded_checkpoints_and_the_hub_cache_load() {
    let hub = tempfile::tempdir().unwrap();
    let snap = hub.path().join("models--Org--Tiny").join("snapshots").join("abc123");
    std::fs::create_dir_all(&snap).unwrap();
    std::fs::create_dir_all(hub.path().join("models--Org--Tiny").join("refs")).unwrap();
    std::fs::write(hub.path().join("models--Org--Tiny").join("refs").join("main"), "abc123\n").unwrap();
    let parts = tiny();
    write_parts(&snap, &parts);
    std::fs::remove_file(snap.join("model.safetensors")).unwrap();
    // Two shards and an index, in bf16 (cast to f32 on load).
    let mut shards = [std::collections::HashMap::new(), std::collections::HashMap::new()];
    let mut map = serde_json::Map::new();
    for (i, (k, t)) in parts.weights.iter().enumerate() {
        shards[i % 2].insert(k.clone(), t.to_dtype(DType::BF16).unwrap());
        map.insert(k.clone(), format!("model-0000{}-of-00002.safetensors", i % 2 + 1).into());
    }
    for (i, s) in shards.iter().enumerate() {
        candle_core::safetensors::save(s, snap.join(format!("model-0000{}-of-00002.safetensors", i + 1))).unwrap();
    }
    let index = serde_json::json!({"metadata": {}, "weight_map": map});
    std::fs::write(snap.join("model.safetensors.index.json"), index.to_string()).unwrap();
    let dir = srl_policy::files::resolve_model_in("Org/Tiny", &[hub.path().to_path_buf()]).unwrap();
    assert_eq!(dir, snap);
    let p = Policy::load(dir.to_str().unwrap(), &PolicyOptions::default()).unwrap();
    assert_eq!(p.dtype(), DType::F32);
    let full = Policy::from_parts(parts, &PolicyOptions::default()).unwrap();
    let pr = pairs(&p);
    // bf16 rounding of the weights only.
    assert!(
        max_diff(&p.logprobs_detached(&pr).unwrap().logprobs, &full.logprobs_detached(&pr).unwrap().logprobs) < 0.05
    );
    std::fs::remove_file(snap.join("model-00002-of-00002.safetensors")).unwrap();
    let e = Policy::load(dir.to_str().unwrap(), &PolicyOptions::default()).unwrap_err().to_string();
    assert!(e.contains("model-00002-of-00002.safetensors"), "{e}");
}

#[test]
fn generation_stops_at_the_token_budget_and_decodes_text() {
    let p = Policy::from_parts(tiny(), &PolicyOptions::default()).unwrap();
    let msgs = [Message::system("sys"), Message::user("hello")];
    let params = SamplingParams { temperature: 0.7, max_new_tokens: 5, ..Default::default() };
    let so = SampleOptions { n: 2, params, ..Default::default() };
    let out = p.generate(&msgs, 0, &so).unwrap();
    assert_eq!(out.len(), 2);
    for c in &out {
        assert!(c.ids.len() <= 5);
        assert_eq!(c.text, p.tokenizer().decode(&c.ids, true).unwrap());
        if c.ids.len() < 5 {
            assert_eq!(c.finish, srl_policy::FinishReason::Stop);
        }
    }
    // Bad input is an error, not a panic.
    assert!(p.sample(&[vec![]], &so).is_err());
    assert!(p.sample(&[vec![u32::MAX]], &so).is_err());
    // Every token a stop token: each completion is one token and stops.
    let mut parts = tiny();
    parts.generation.eos_token_id =
        Some(srl_policy::config::TokenIds::Many((0..parts.config.vocab_size as u32).collect()));
    let s = Policy::from_parts(parts, &PolicyOptions::default()).unwrap();
    for c in s.generate(&msgs, 0, &so).unwrap() {
        assert_eq!((c.ids.len(), c.finish), (1, srl_policy::FinishReason::Stop));
    }
    let lp = p.logprobs(&[(vec![1, 2], vec![])]).unwrap();
    assert_eq!(lp.logprobs.dims(), [1, 0]);
    let _ = lp.logprobs.sum_keepdim(D::Minus1);
}

#[test]
fn bf16_runs_on_cpu_close_to_f32() {
    let f = Policy::from_parts(tiny(), &PolicyOptions::default()).unwrap();
    let o = PolicyOptions { dtype: DTypeSpec::Bf16, training: Training::Lora(lora_cfg()), ..Default::default() };
    let b = Policy::from_parts(tiny(), &o).unwrap();
    assert_eq!(b.model().dtype(), DType::BF16);
    let pr = pairs(&f);
    let want = f.logprobs_detached(&pr).unwrap().logprobs;
    let got = b.logprobs(&pr).unwrap();
    assert_eq!(got.logprobs.dtype(), DType::F32);
    let d = max_diff(&want, &got.logprobs);
    assert!(d < 0.1, "bf16 vs f32: {d}");
    let grads = got.logprobs.sum_all().unwrap().backward().unwrap();
    assert!(b.trainable_vars().iter().any(|v| grads.get(v.as_tensor()).is_some()));
    let so = SampleOptions {
        n: 2,
        params: SamplingParams { max_new_tokens: 4, ..Default::default() },
        ..Default::default()
    };
    let out = b.sample(&[pr[0].0.clone(), pr[1].0.clone()], &so).unwrap();
    assert_eq!(out.len(), 4);
    assert!(out.iter().flat_map(|c| &c.logprobs).all(|x| x.is_finite()));
}

#[test]
fn device_and_dtype_specs_convert() {
    use srl_policy::{DeviceSpec, candle_device, candle_dtype};
    assert!(candle_device(DeviceSpec::Cpu).unwrap().is_cpu());
    assert_eq!(candle_dtype(DTypeSpec::Auto, &Device::Cpu), DType::F32);
    assert_eq!(candle_dtype(DTypeSpec::Bf16, &Device::Cpu), DType::BF16);
    assert_eq!(candle_dtype(DTypeSpec::F16, &Device::Cpu), DType::F16);
    if !cfg!(feature = "cuda") {
        let e = candle_device(DeviceSpec::Cuda(1)).unwrap_err().to_string();
        assert!(e.contains("cuda:1") && e.contains("--features cuda"), "{e}");
        let o = PolicyOptions { device: DeviceSpec::Cuda(0), ..Default::default() };
        let e = Policy::from_parts(tiny(), &o).unwrap_err().to_string();
        assert!(e.contains("no CUDA support"), "{e}");
    }
}
