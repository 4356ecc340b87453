//! `x W^T` for a frozen `W` inside a graph, on the CPU: the backward gives `x`'s gradient and nothing else.
//!
//! candle's matmul backward computes both operands' gradients whatever they are: for a frozen weight it spends
//! the product `grad^T x` (as many FLOPs as the forward) on a weight-sized gradient that nobody reads, and the
//! gradient store keeps it until the backward ends, so a LoRA backward of the 0.5B model computed and held a
//! gradient for every base weight (1.4 GB in f32). This op's forward is the same product through `gemm` (f32,
//! or bf16 widened to f32 as candle does), its backward only `grad W`.

use candle_core::{CpuStorage, CustomOp2, DType, Layout, Shape, Tensor};

use crate::error::Result;

/// Whether [`matmul_t`] applies: `x2` in a graph, `w` frozen and contiguous, both f32 or both bf16, on the CPU.
pub fn applies(x2: &Tensor, w: &Tensor) -> bool {
    x2.track_op()
        && !w.track_op()
        && x2.device().is_cpu()
        && matches!(x2.dtype(), DType::F32 | DType::BF16)
        && x2.dtype() == w.dtype()
        && w.is_contiguous()
}

/// `x2 w^T` for `x2` `[m, k]` and `w` `[n, k]`, in their dtype, differentiable with respect to `x2` only.
pub fn matmul_t(x2: &Tensor, w: &Tensor) -> Result<Tensor> {
    Ok(x2.contiguous()?.apply_op2(w, FrozenMatmulT)?)
}

struct FrozenMatmulT;

/// The f32 values of a contiguous f32 or bf16 storage (bf16 widened into a new vector).
fn as_f32<'a>(s: &'a CpuStorage, l: &Layout, what: &str) -> candle_core::Result<std::borrow::Cow<'a, [f32]>> {
    let (start, end) = l
        .contiguous_offsets()
        .ok_or_else(|| candle_core::Error::Msg(format!("frozen matmul: {what} not contiguous")))?;
    match s {
        CpuStorage::F32(v) => Ok(std::borrow::Cow::Borrowed(&v[start..end])),
        CpuStorage::BF16(v) => Ok(std::borrow::Cow::Owned(v[start..end].iter().map(|x| x.to_f32()).collect())),
        _ => Err(candle_core::Error::Msg(format!("frozen matmul: {what} is neither f32 nor bf16"))),
    }
}

impl CustomOp2 for FrozenMatmulT {
    fn name(&self) -> &'static str {
        "srl-frozen-matmul-t"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (m, k) = l1.shape().dims2()?;
        let (n, k2) = l2.shape().dims2()?;
        if k != k2 {
            return Err(candle_core::Error::Msg(format!("frozen matmul: x is [{m}, {k}] but w is [{n}, {k2}]")));
        }
        let x = as_f32(s1, l1, "x")?;
        let w = as_f32(s2, l2, "w")?;
        let mut out = vec![0f32; m * n];
        if m > 0 && n > 0 {
            let threads = candle_core::utils::get_num_threads();
            let par = if threads > 1 { gemm::Parallelism::Rayon(threads) } else { gemm::Parallelism::None };
            // rhs (k x n) is w^T: element (kk, j) is w[j * k + kk].
            crate::cpu_attention::mm_par(m, n, k, &mut out, n, false, (&x, k, 1), (&w, 1, k), 1.0, par);
        }
        let storage = match s1 {
            CpuStorage::BF16(_) => CpuStorage::BF16(out.into_iter().map(half::bf16::from_f32).collect()),
            _ => CpuStorage::F32(out),
        };
        Ok((storage, Shape::from((m, n))))
    }

    fn bwd(
        &self,
        _x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        Ok((Some(grad.matmul(w)?), None))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Var};

    use super::*;

    /// Forward and `x`'s gradient equal candle's `x.matmul(w.t())` (to f32 rounding); no gradient for `w`.
    #[test]
    fn equals_candles_matmul_and_gives_no_weight_gradient() -> Result<()> {
        let dev = Device::Cpu;
        let x = Var::from_tensor(&Tensor::randn(0f32, 1., (37, 24), &dev)?)?;
        let w = Tensor::randn(0f32, 1., (19, 24), &dev)?;
        let g = Tensor::randn(0f32, 1., (37, 19), &dev)?;
        assert!(applies(x.as_tensor(), &w));
        let ours = matmul_t(x.as_tensor(), &w)?;
        let theirs = x.as_tensor().matmul(&w.t()?)?;
        let diff = (&ours - &theirs)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(diff < 1e-5, "forward differs by {diff}");
        let ours_g = (ours * &g)?.sum_all()?.backward()?;
        let theirs_g = (theirs * &g)?.sum_all()?.backward()?;
        let (a, b) = (ours_g.get(x.as_tensor()).unwrap(), theirs_g.get(x.as_tensor()).unwrap());
        let diff = (a - b)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(diff < 1e-5, "x gradient differs by {diff}");
        assert!(ours_g.get(&w).is_none());
        // bf16: the same product rounded once.
        let (xb, wb) = (x.as_tensor().to_dtype(DType::BF16)?, w.to_dtype(DType::BF16)?);
        let xb = Var::from_tensor(&xb)?;
        let yb = matmul_t(xb.as_tensor(), &wb)?;
        assert_eq!(yb.dtype(), DType::BF16);
        let want = xb.as_tensor().to_dtype(DType::F32)?.matmul(&wb.to_dtype(DType::F32)?.t()?)?;
        let diff = (yb.to_dtype(DType::F32)? - want)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(diff < 0.1, "bf16 forward differs by {diff}");
        // Not in a graph, or a trainable weight: candle's matmul is used instead.
        assert!(!applies(&x.as_tensor().detach(), &w));
        assert!(!applies(x.as_tensor(), Var::from_tensor(&w)?.as_tensor()));
        Ok(())
    }
}
