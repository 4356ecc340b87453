//! AdamW with exportable state (candle's has none), global gradient-norm clipping over accumulated
//! gradients, and the learning-rate schedule.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor, Var};

use crate::config::ScheduleKind;
use crate::error::{Result, TrainError};

/// Gradients summed over micro-batches, one slot per variable (in the optimizer's order).
pub struct GradAccum {
    pub grads: Vec<Option<Tensor>>,
}

impl GradAccum {
    pub fn new(n: usize) -> Self {
        GradAccum { grads: vec![None; n] }
    }

    /// Adds the gradients of `vars` found in `store`.
    pub fn add(&mut self, store: &candle_core::backprop::GradStore, vars: &[Var]) -> Result<()> {
        for (slot, v) in self.grads.iter_mut().zip(vars) {
            if let Some(g) = store.get(v.as_tensor()) {
                let g = g.to_dtype(DType::F32)?;
                *slot = Some(match slot.take() {
                    Some(acc) => (acc + g)?,
                    None => g,
                });
            }
        }
        Ok(())
    }
}

/// Scales `grads` so that their global L2 norm is at most `max_norm` (0: no clipping); returns the norm before.
/// The one gradient clipping of the workspace (candle has none): SFT and GRPO steps clip the gradients they
/// accumulated over micro-batches ([`GradAccum`]), so a single backward pass is the one-micro-batch case.
pub fn clip_grad_norm(grads: &mut [Option<Tensor>], max_norm: f64) -> Result<f64> {
    let mut sq = 0f64;
    for g in grads.iter().flatten() {
        sq += g.sqr()?.sum_all()?.to_scalar::<f32>()? as f64;
    }
    let norm = sq.sqrt();
    if max_norm > 0.0 && norm > max_norm {
        let s = max_norm / norm;
        for g in grads.iter_mut().flatten() {
            *g = (&*g * s)?;
        }
    }
    Ok(norm)
}

/// The learning rate at optimizer step `step` (0-based): linear warm-up over `warmup` steps, then constant or
/// cosine decay to `min_ratio * peak` at `total`.
pub fn lr_at(kind: ScheduleKind, peak: f64, step: usize, warmup: usize, total: usize, min_ratio: f64) -> f64 {
    if warmup > 0 && step < warmup {
        return peak * (step + 1) as f64 / warmup as f64;
    }
    match kind {
        ScheduleKind::Cosine => {
            let span = total.saturating_sub(warmup).max(1) as f64;
            let p = ((step - warmup.min(step)) as f64 / span).min(1.0);
            let c = 0.5 * (1.0 + (std::f64::consts::PI * p).cos());
            peak * (min_ratio + (1.0 - min_ratio) * c)
        }
        ScheduleKind::Constant => peak,
    }
}

/// AdamW hyper-parameters.
#[derive(Clone, Debug)]
pub struct AdamWParams {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

/// AdamW (decoupled weight decay, bias-corrected moments) over named variables; decay only where `decay[i]`.
pub struct AdamW {
    pub params: AdamWParams,
    names: Vec<String>,
    vars: Vec<Var>,
    decay: Vec<bool>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    /// Updates done.
    pub t: u64,
}

impl AdamW {
    /// `no_decay`: substrings of names that get no weight decay.
    pub fn new(named: Vec<(String, Var)>, params: AdamWParams, no_decay: &[String]) -> Result<Self> {
        let mut names = Vec::new();
        let mut vars = Vec::new();
        let mut decay = Vec::new();
        let mut m = Vec::new();
        let mut v = Vec::new();
        for (n, var) in named {
            decay.push(params.weight_decay > 0.0 && !no_decay.iter().any(|s| n.contains(s.as_str())));
            let z = Tensor::zeros(var.shape(), DType::F32, var.device())?;
            m.push(z.clone());
            v.push(z);
            names.push(n);
            vars.push(var);
        }
        Ok(AdamW { params, names, vars, decay, m, v, t: 0 })
    }

    pub fn vars(&self) -> &[Var] {
        &self.vars
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// One update with learning rate `lr` from `grads` (slot `i` for variable `i`; `None`: no update of its
    /// moments or weights, but decay still applies).
    pub fn step(&mut self, grads: &[Option<Tensor>], lr: f64) -> Result<()> {
        self.t += 1;
        let p = &self.params;
        let bc1 = 1.0 - p.beta1.powi(self.t as i32);
        let bc2 = 1.0 - p.beta2.powi(self.t as i32);
        for (i, grad) in grads.iter().enumerate().take(self.vars.len()) {
            let var = &self.vars[i];
            let w = var.as_tensor().to_dtype(DType::F32)?;
            let mut w = if self.decay[i] { (w * (1.0 - lr * p.weight_decay))? } else { w };
            if let Some(g) = grad {
                let m = ((&self.m[i] * p.beta1)? + (g * (1.0 - p.beta1))?)?;
                let v = ((&self.v[i] * p.beta2)? + (g.sqr()? * (1.0 - p.beta2))?)?;
                let mhat = (&m / bc1)?;
                let vhat = (&v / bc2)?;
                let upd = (mhat / (vhat.sqrt()? + p.eps)?)?;
                w = (w - (upd * lr)?)?;
                self.m[i] = m;
                self.v[i] = v;
            }
            var.set(&w.to_dtype(var.dtype())?)?;
        }
        Ok(())
    }

    /// Saves the moments and step count as safetensors (`m.<name>`, `v.<name>`, `t`).
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut map: HashMap<String, Tensor> = HashMap::new();
        for (i, n) in self.names.iter().enumerate() {
            map.insert(format!("m.{n}"), self.m[i].clone());
            map.insert(format!("v.{n}"), self.v[i].clone());
        }
        map.insert("t".into(), Tensor::new(&[self.t as i64], &Device::Cpu)?);
        candle_core::safetensors::save(&map, path)?;
        Ok(())
    }

    /// Loads what [`AdamW::save`] wrote; every variable must be there with its shape.
    pub fn load(&mut self, path: &Path) -> Result<()> {
        let dev = self.vars.first().map(|v| v.device().clone()).unwrap_or(Device::Cpu);
        let map =
            candle_core::safetensors::load(path, &dev).map_err(|e| TrainError::checkpoint(path, e.to_string()))?;
        for (i, n) in self.names.iter().enumerate() {
            for (slot, key) in [(&mut self.m[i], format!("m.{n}")), (&mut self.v[i], format!("v.{n}"))] {
                let t = map.get(&key).ok_or_else(|| TrainError::checkpoint(path, format!("no tensor {key}")))?;
                if t.shape() != self.vars[i].shape() {
                    return Err(TrainError::checkpoint(path, format!("{key}: shape {:?}", t.shape())));
                }
                *slot = t.to_dtype(DType::F32)?;
            }
        }
        let t = map.get("t").ok_or_else(|| TrainError::checkpoint(path, "no tensor t"))?;
        self.t = t.to_vec1::<i64>()?.first().copied().unwrap_or(0) as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grad_clipping_hand_computed() {
        // Gradients (3, 4) and (0): norm 5. Clip to 1: (0.6, 0.8).
        let dev = Device::Cpu;
        let mut g =
            vec![Some(Tensor::new(&[3.0f32, 4.0], &dev).unwrap()), None, Some(Tensor::new(&[0.0f32], &dev).unwrap())];
        let n = clip_grad_norm(&mut g, 1.0).unwrap();
        assert!((n - 5.0).abs() < 1e-6);
        let v = g[0].as_ref().unwrap().to_vec1::<f32>().unwrap();
        assert!((v[0] - 0.6).abs() < 1e-6 && (v[1] - 0.8).abs() < 1e-6);
        // Below the limit: unchanged, norm reported.
        let n = clip_grad_norm(&mut g, 10.0).unwrap();
        assert!((n - 1.0).abs() < 1e-6);
        assert!((g[0].as_ref().unwrap().to_vec1::<f32>().unwrap()[0] - 0.6).abs() < 1e-6);
        // 0: off.
        let mut g = vec![Some(Tensor::new(&[30.0f32, 40.0], &dev).unwrap())];
        assert!((clip_grad_norm(&mut g, 0.0).unwrap() - 50.0).abs() < 1e-4);
        assert_eq!(g[0].as_ref().unwrap().to_vec1::<f32>().unwrap(), vec![30.0, 40.0]);
    }

    #[test]
    fn clips_a_backward_pass() {
        // A GradStore's gradients, accumulated over two micro-batches, then clipped: gradient (7, 7) twice.
        let dev = Device::Cpu;
        let a = Var::new(&[1.0f32, 2.0], &dev).unwrap();
        let loss =
            ((a.as_tensor() * 3.0).unwrap().sum_all().unwrap() + (a.as_tensor() * 4.0).unwrap().sum_all()).unwrap(); // grad 7, 7
        let mut acc = GradAccum::new(1);
        acc.add(&loss.backward().unwrap(), std::slice::from_ref(&a)).unwrap();
        let n = clip_grad_norm(&mut acc.grads, 1.0).unwrap();
        assert!((n - 98f64.sqrt()).abs() < 1e-5);
        let y = acc.grads[0].as_ref().unwrap().to_vec1::<f32>().unwrap();
        assert!((y[0] - 0.5f32.sqrt()).abs() < 1e-6 && (y[1] - y[0]).abs() < 1e-7);
        let mut acc = GradAccum::new(1);
        for _ in 0..2 {
            acc.add(&loss.backward().unwrap(), std::slice::from_ref(&a)).unwrap();
        }
        assert!((clip_grad_norm(&mut acc.grads, 0.0).unwrap() - 2.0 * 98f64.sqrt()).abs() < 1e-4);
    }

    #[test]
    fn clipping_scales_a_policy_gradient_to_the_limit() {
        // Every weight of a fully trained tiny policy: the global norm comes down to the limit.
        let parts = srl_policy::random_parts(srl_policy::Preset::Tiny, 0).unwrap();
        let opts = srl_policy::PolicyOptions {
            training: srl_policy::Training::Full { keep_reference: false },
            ..Default::default()
        };
        let p = srl_policy::Policy::from_parts(parts, &opts).unwrap();
        let ids = p.tokenizer().encode("ls -la /testbed").unwrap();
        let lp = p.logprobs(&[(ids.clone(), ids)]).unwrap();
        let store = lp.logprobs.sum_all().unwrap().neg().unwrap().backward().unwrap();
        let vars = p.trainable_vars();
        let mut acc = GradAccum::new(vars.len());
        acc.add(&store, &vars).unwrap();
        assert!(acc.grads.iter().all(Option::is_some));
        let before = clip_grad_norm(&mut acc.grads, 1e-3).unwrap();
        assert!(before > 1e-3);
        let after = clip_grad_norm(&mut acc.grads, f64::INFINITY).unwrap();
        assert!((after - 1e-3).abs() < 1e-6, "{after}");
    }

    #[test]
    fn adamw_hand_computed() {
        // First step of Adam: update = lr * g / (|g| + eps) = lr * sign(g). Decay multiplies by (1 - lr * wd).
        let dev = Device::Cpu;
        let w = Var::new(&[1.0f32, -1.0], &dev).unwrap();
        let b = Var::new(&[1.0f32], &dev).unwrap();
        let params = AdamWParams { beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.1 };
        let mut opt =
            AdamW::new(vec![("w".into(), w.clone()), ("x.bias".into(), b.clone())], params, &["bias".into()]).unwrap();
        let g = vec![Some(Tensor::new(&[0.5f32, -2.0], &dev).unwrap()), Some(Tensor::new(&[3.0f32], &dev).unwrap())];
        opt.step(&g, 0.01).unwrap();
        let wv = w.as_tensor().to_vec1::<f32>().unwrap();
        assert!((wv[0] - (1.0 * 0.999 - 0.01)).abs() < 1e-6, "{wv:?}");
        assert!((wv[1] - (-0.999 + 0.01)).abs() < 1e-6, "{wv:?}");
        assert!((b.as_tensor().to_vec1::<f32>().unwrap()[0] - 0.99).abs() < 1e-6);
        // Second step with the same gradient: m_hat = g, v_hat = g^2 again -> same-size step.
        opt.step(&g, 0.01).unwrap();
        assert!((b.as_tensor().to_vec1::<f32>().unwrap()[0] - 0.98).abs() < 1e-5);
        // Save/load round trip.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("opt.safetensors");
        opt.save(&p).unwrap();
        let params = opt.params.clone();
        let mut o2 = AdamW::new(vec![("w".into(), w), ("x.bias".into(), b)], params, &["bias".into()]).unwrap();
        o2.load(&p).unwrap();
        assert_eq!(o2.t, 2);
        assert_eq!(o2.m[0].to_vec1::<f32>().unwrap(), opt.m[0].to_vec1::<f32>().unwrap());
    }

    #[test]
    fn schedules() {
        assert_eq!(lr_at(ScheduleKind::Constant, 1.0, 0, 0, 10, 0.0), 1.0);
        assert!((lr_at(ScheduleKind::Constant, 1.0, 0, 4, 10, 0.0) - 0.25).abs() < 1e-12);
        assert!((lr_at(ScheduleKind::Cosine, 1.0, 4, 4, 14, 0.0) - 1.0).abs() < 1e-12);
        assert!((lr_at(ScheduleKind::Cosine, 1.0, 9, 4, 14, 0.0) - 0.5).abs() < 1e-12);
        assert!((lr_at(ScheduleKind::Cosine, 1.0, 14, 4, 14, 0.1) - 0.1).abs() < 1e-12);
    }
}
