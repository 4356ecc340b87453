//! GRPO's math: group-normalized advantages, the dynamic-sampling filter, the clipped surrogate with a
//! token-level mean, and the k3 KL estimator. Pure functions, unit-tested against hand-computed values.

use candle_core::Tensor;

use crate::error::Result;

/// Mean and population standard deviation.
pub fn mean_std(xs: &[f64]) -> (f64, f64) {
    if xs.is_empty() {
        return (0.0, 0.0);
    }
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// GRPO advantages of one group: `(r - mean) / (std + 1e-6)` (population std). A group with equal rewards
/// gets zero advantages.
pub fn group_advantages(rewards: &[f64]) -> Vec<f64> {
    let (mean, std) = mean_std(rewards);
    rewards.iter().map(|r| (r - mean) / (std + 1e-6)).collect()
}

/// Dynamic sampling: whether a group is kept (its reward std is above `eps`).
pub fn keep_group(rewards: &[f64], eps: f64) -> bool {
    mean_std(rewards).1 > eps
}

/// The clipped surrogate per token, as in PPO: `min(ratio * A, clip(ratio, 1 - lo, 1 + hi) * A)` with
/// `ratio = exp(logp - old_logp)`. `logp`, `old_logp`: `[B, T]`; `adv`: `[B]` (one advantage per completion).
/// Returns `(surrogate [B, T], ratio [B, T])`; the surrogate is to be maximised.
pub fn clipped_surrogate(logp: &Tensor, old_logp: &Tensor, adv: &Tensor, lo: f64, hi: f64) -> Result<(Tensor, Tensor)> {
    let ratio = (logp - old_logp)?.exp()?;
    let adv = adv.unsqueeze(1)?.broadcast_as(ratio.shape())?;
    let unclipped = (&ratio * &adv)?;
    let clipped = (ratio.clamp(1.0 - lo, 1.0 + hi)? * &adv)?;
    Ok((unclipped.minimum(&clipped)?, ratio))
}

/// k3 estimator of KL(pi || ref) per token: `exp(ref - logp) - (ref - logp) - 1` (non-negative, unbiased).
pub fn k3_kl(logp: &Tensor, ref_logp: &Tensor) -> Result<Tensor> {
    let d = (ref_logp - logp)?;
    Ok(((d.exp()? - &d)? - 1.0)?)
}

/// Sum of `x * mask` divided by `denom` (the token count of the whole batch, so that micro-batches add up to
/// the token-level mean).
pub fn masked_sum_over(x: &Tensor, mask: &Tensor, denom: f64) -> Result<Tensor> {
    Ok(((x * mask)?.sum_all()? / denom.max(1.0))?)
}

/// Token-level mean of `x` over `mask` (for logging).
pub fn masked_mean(x: &Tensor, mask: &Tensor) -> Result<f64> {
    let n = mask.sum_all()?.to_scalar::<f32>()? as f64;
    let s = (x * mask)?.sum_all()?.to_scalar::<f32>()? as f64;
    Ok(if n > 0.0 { s / n } else { 0.0 })
}

/// The GRPO loss of a micro-batch (to minimise): `-(sum of surrogate over tokens) / total_tokens + beta *
/// (sum of k3 over tokens) / total_tokens`. With `total_tokens` the completion tokens of the whole batch, the
/// micro-batch losses add up to the token-level mean. Returns `(loss, clipped token count, kl sum)`.
pub struct GrpoLossParts {
    pub loss: Tensor,
    /// Tokens whose ratio fell outside the clip range.
    pub clipped_tokens: f64,
    /// Sum of k3 over tokens (0 when beta is 0 and no reference was given).
    pub kl_sum: f64,
}

/// The scalars of [`grpo_loss`]: the clip range `[1 - clip_lo, 1 + clip_hi]`, the KL weight, and the completion
/// tokens of the whole batch (the loss's denominator).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LossScalars {
    pub clip_lo: f64,
    pub clip_hi: f64,
    pub beta: f64,
    pub total_tokens: f64,
}

pub fn grpo_loss(
    logp: &Tensor,
    old_logp: &Tensor,
    ref_logp: Option<&Tensor>,
    mask: &Tensor,
    adv: &Tensor,
    scalars: LossScalars,
) -> Result<GrpoLossParts> {
    let LossScalars { clip_lo, clip_hi, beta, total_tokens } = scalars;
    let (surr, ratio) = clipped_surrogate(logp, old_logp, adv, clip_lo, clip_hi)?;
    let mut loss = masked_sum_over(&surr, mask, total_tokens)?.neg()?;
    let mut kl_sum = 0.0;
    if let Some(r) = ref_logp {
        let kl = k3_kl(logp, r)?;
        kl_sum = (kl.detach() * mask)?.sum_all()?.to_scalar::<f32>()? as f64;
        if beta > 0.0 {
            loss = (loss + (masked_sum_over(&kl, mask, total_tokens)? * beta)?)?;
        }
    }
    let r = ratio.detach();
    let out = (r.lt(1.0 - clip_lo)?.to_dtype(candle_core::DType::F32)?
        + r.gt(1.0 + clip_hi)?.to_dtype(candle_core::DType::F32)?)?;
    let clipped_tokens = (out * mask)?.sum_all()?.to_scalar::<f32>()? as f64;
    Ok(GrpoLossParts { loss, clipped_tokens, kl_sum })
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn scalars(beta: f64) -> LossScalars {
        LossScalars { clip_lo: 0.2, clip_hi: 0.2, beta, total_tokens: 2.0 }
    }

    fn t2(v: &[&[f32]]) -> Tensor {
        let rows = v.len();
        let cols = v[0].len();
        Tensor::from_vec(v.iter().flat_map(|r| r.iter().copied()).collect::<Vec<_>>(), (rows, cols), &Device::Cpu)
            .unwrap()
    }

    #[test]
    fn advantages_hand_computed() {
        // rewards 1, 0, 0, 1: mean 0.5, population std 0.5 -> +-1 (up to the 1e-6 guard).
        let a = group_advantages(&[1.0, 0.0, 0.0, 1.0]);
        for (x, want) in a.iter().zip([1.0, -1.0, -1.0, 1.0]) {
            assert!((x - want).abs() < 1e-5, "{a:?}");
        }
        // 0.2, 0.4, 0.9: mean 0.5, var (0.09 + 0.01 + 0.16) / 3, std 0.294392
        let a = group_advantages(&[0.2, 0.4, 0.9]);
        let std = (0.26f64 / 3.0).sqrt();
        assert!((a[0] - (-0.3 / std)).abs() < 1e-5);
        assert!((a[2] - (0.4 / std)).abs() < 1e-5);
        assert!(a.iter().sum::<f64>().abs() < 1e-9);
        assert_eq!(group_advantages(&[0.3, 0.3, 0.3]), vec![0.0; 3]);
    }

    #[test]
    fn dynamic_sampling_filter() {
        assert!(!keep_group(&[-1.0, -1.0, -1.0, -1.0], 1e-4));
        assert!(!keep_group(&[0.5, 0.5], 0.0)); // std 0 is "at or below" eps = 0
        assert!(keep_group(&[0.5, 0.5001], 0.0));
        // std of [0, 0.002] is 0.001
        assert!(!keep_group(&[0.0, 0.002], 0.001));
        assert!(keep_group(&[0.0, 0.002], 0.000999));
    }

    #[test]
    fn clipped_surrogate_hand_computed() {
        // ratios e^0.5 = 1.6487 and e^-0.5 = 0.6065; eps 0.2.
        let old = t2(&[&[0.0, 0.0], &[0.0, 0.0]]);
        let new = t2(&[&[0.5, -0.5], &[0.5, -0.5]]);
        let adv = Tensor::new(&[1.0f32, -1.0], &Device::Cpu).unwrap();
        let (s, r) = clipped_surrogate(&new, &old, &adv, 0.2, 0.2).unwrap();
        let s = s.to_vec2::<f32>().unwrap();
        let r = r.to_vec2::<f32>().unwrap();
        assert!((r[0][0] - 0.5f32.exp()).abs() < 1e-6);
        // A = +1: min(1.6487, 1.2) = 1.2; min(0.6065, 0.8) = 0.6065
        assert!((s[0][0] - 1.2).abs() < 1e-6);
        assert!((s[0][1] - (-0.5f32).exp()).abs() < 1e-6);
        // A = -1: min(-1.6487, -1.2) = -1.6487; min(-0.6065, -0.8) = -0.8
        assert!((s[1][0] + 0.5f32.exp()).abs() < 1e-6);
        assert!((s[1][1] + 0.8).abs() < 1e-6);
    }

    #[test]
    fn clipped_tokens_get_no_gradient() {
        let x = Var::from_tensor(&t2(&[&[0.5, 0.0]])).unwrap();
        let old = t2(&[&[0.0, 0.0]]);
        let adv = Tensor::new(&[1.0f32], &Device::Cpu).unwrap();
        let mask = t2(&[&[1.0, 1.0]]);
        let parts = grpo_loss(x.as_tensor(), &old, None, &mask, &adv, scalars(0.0)).unwrap();
        // loss = -(1.2 + 1) / 2
        assert!((parts.loss.to_scalar::<f32>().unwrap() + 1.1).abs() < 1e-6);
        assert_eq!(parts.clipped_tokens, 1.0);
        let g = parts.loss.backward().unwrap();
        let g = g.get(x.as_tensor()).unwrap().to_vec2::<f32>().unwrap();
        // d/dx of -ratio/2 at x=0 is -0.5; the clipped token has gradient 0.
        assert!(g[0][0].abs() < 1e-7 && (g[0][1] + 0.5).abs() < 1e-6, "{g:?}");
    }

    #[test]
    fn token_mask_and_mean() {
        // Row 0 has 3 tokens, row 1 one token (2 padding). Token-level mean: (1+2+3+10)/4 = 4.
        let x = t2(&[&[1.0, 2.0, 3.0], &[10.0, 99.0, 99.0]]);
        let m = t2(&[&[1.0, 1.0, 1.0], &[1.0, 0.0, 0.0]]);
        assert!((masked_mean(&x, &m).unwrap() - 4.0).abs() < 1e-9);
        // Two micro-batches over the batch total (4 tokens) add up to the same mean.
        let a = masked_sum_over(&x.narrow(0, 0, 1).unwrap(), &m.narrow(0, 0, 1).unwrap(), 4.0).unwrap();
        let b = masked_sum_over(&x.narrow(0, 1, 1).unwrap(), &m.narrow(0, 1, 1).unwrap(), 4.0).unwrap();
        let total = a.to_scalar::<f32>().unwrap() + b.to_scalar::<f32>().unwrap();
        assert!((total - 4.0).abs() < 1e-6);
    }

    #[test]
    fn k3_hand_computed() {
        // d = ref - logp = 0.5: e^0.5 - 0.5 - 1 = 0.148721; d = 0: 0.
        let logp = t2(&[&[-1.0, -2.0]]);
        let r = t2(&[&[-0.5, -2.0]]);
        let k = k3_kl(&logp, &r).unwrap().to_vec2::<f32>().unwrap();
        assert!((k[0][0] - (0.5f32.exp() - 1.5)).abs() < 1e-6);
        assert!(k[0][1].abs() < 1e-7);
        let mask = t2(&[&[1.0, 1.0]]);
        let adv = Tensor::new(&[0.0f32], &Device::Cpu).unwrap();
        let p = grpo_loss(&logp, &logp, Some(&r), &mask, &adv, scalars(0.1)).unwrap();
        assert!((p.loss.to_scalar::<f32>().unwrap() - 0.1 * 0.148721 / 2.0).abs() < 1e-6);
    }
}
