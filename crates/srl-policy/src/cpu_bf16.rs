//! `x W^T` for bf16 `x` with few rows on the CPU, reading the bf16 weight directly.
//!
//! candle 0.11's CPU matmul has no bf16 kernel: it widens both operands to new f32 vectors, multiplies and
//! narrows back. For a prefill that copy is small beside the product, but in decoding (one to a few rows) it
//! writes and reads the whole weight in f32 at every step, three times the traffic of the f32 model, so bf16
//! decoding ran slower than f32. Here each thread widens a few weight rows at a time into a buffer that stays in
//! cache and takes their dot products with the f32 rows of `x`, so a step reads each bf16 weight once: half the
//! bytes of the f32 model. Products and sums are f32; the result is f32 (the caller rounds it to bf16, as
//! candle's path does). Without a backward: only for tensors outside any graph (sampling, log-probs without
//! gradient).

use candle_core::{CpuStorage, CustomOp2, DType, Layout, Shape, Tensor};

use crate::error::Result;

/// The most rows of `x` this path takes; more go through candle's matmul (whose widening is then cheap beside
/// the product).
pub const MAX_ROWS: usize = 16;

/// Whether [`matmul_t`] applies: bf16 on the CPU, at most [`MAX_ROWS`] rows, no graph, contiguous `w`.
pub fn applies(x2: &Tensor, w: &Tensor) -> bool {
    x2.dtype() == DType::BF16
        && w.dtype() == DType::BF16
        && x2.device().is_cpu()
        && x2.dim(0).is_ok_and(|m| m <= MAX_ROWS)
        && !x2.track_op()
        && !w.track_op()
        && w.is_contiguous()
}

/// `x2 w^T` in f32 for `x2` `[m, k]` and `w` `[n, k]`, both bf16 (see the module doc).
pub fn matmul_t(x2: &Tensor, w: &Tensor) -> Result<Tensor> {
    Ok(x2.contiguous()?.apply_op2_no_bwd(w, &Bf16MatmulT)?)
}

struct Bf16MatmulT;

fn bf16_bits(s: &CpuStorage, l: &Layout, what: &str) -> candle_core::Result<(*const u16, usize)> {
    let (start, end) =
        l.contiguous_offsets().ok_or_else(|| candle_core::Error::Msg(format!("bf16 matmul: {what} not contiguous")))?;
    match s {
        // `half::bf16` is a `repr(transparent)` u16.
        CpuStorage::BF16(v) => Ok((v[start..end].as_ptr() as *const u16, end - start)),
        _ => Err(candle_core::Error::Msg(format!("bf16 matmul: {what} is not bf16"))),
    }
}

impl CustomOp2 for Bf16MatmulT {
    fn name(&self) -> &'static str {
        "srl-bf16-matmul-t"
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
            return Err(candle_core::Error::Msg(format!("bf16 matmul: [{m}, {k}] x [{n}, {k2}]^T")));
        }
        let (xp, xl) = bf16_bits(s1, l1, "x")?;
        let (wp, wl) = bf16_bits(s2, l2, "w")?;
        // SAFETY: both point into live storage of `xl` / `wl` u16-sized elements (bf16 is a transparent u16).
        let (x, w) = unsafe { (std::slice::from_raw_parts(xp, xl), std::slice::from_raw_parts(wp, wl)) };
        let x: Vec<f32> = x.iter().map(|&b| widen(b)).collect();
        let mut out = vec![0f32; m * n];
        let threads = candle_core::utils::get_num_threads().clamp(1, n.max(1));
        // Output columns (weight rows) split into one contiguous range per thread; each thread writes its own
        // transposed block [cols, m], copied into `out` afterwards.
        let per = n.div_ceil(threads);
        let blocks: Vec<Vec<f32>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let (x, w) = (&x, w);
                    s.spawn(move || {
                        let (c0, c1) = (t * per, ((t + 1) * per).min(n));
                        let mut block = vec![0f32; (c1.saturating_sub(c0)) * m];
                        if c1 > c0 {
                            columns(x, m, k, &w[c0 * k..c1 * k], &mut block);
                        }
                        block
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("bf16 matmul thread")).collect()
        });
        for (t, block) in blocks.iter().enumerate() {
            let c0 = t * per;
            for (j, col) in block.chunks_exact(m.max(1)).enumerate() {
                for (i, v) in col.iter().enumerate() {
                    out[i * n + c0 + j] = *v;
                }
            }
        }
        Ok((CpuStorage::F32(out), Shape::from((m, n))))
    }
}

#[inline(always)]
fn widen(b: u16) -> f32 {
    f32::from_bits((b as u32) << 16)
}

/// `block[j * m + i] = x[i] . w[j]` for the weight rows `w` (`[cols, k]` bf16 bits) and `x` (`[m, k]` f32).
fn columns(x: &[f32], m: usize, k: usize, w: &[u16], block: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has the features the function is compiled for.
            return unsafe { columns_avx512(x, m, k, w, block) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: as above.
            return unsafe { columns_avx2(x, m, k, w, block) };
        }
    }
    columns_generic(x, m, k, w, block)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn columns_avx512(x: &[f32], m: usize, k: usize, w: &[u16], block: &mut [f32]) {
    columns_generic(x, m, k, w, block)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn columns_avx2(x: &[f32], m: usize, k: usize, w: &[u16], block: &mut [f32]) {
    columns_generic(x, m, k, w, block)
}

/// Lanes of the independent partial sums (a vector's worth or two, so the compiler vectorizes the dot product
/// without reassociating a single sum).
const LANES: usize = 16;

#[inline(always)]
fn columns_generic(x: &[f32], m: usize, k: usize, w: &[u16], block: &mut [f32]) {
    let mut row = vec![0f32; k];
    let body = k - k % LANES;
    for (j, wr) in w.chunks_exact(k).enumerate() {
        for (r, &b) in row.iter_mut().zip(wr) {
            *r = widen(b);
        }
        for i in 0..m {
            let xr = &x[i * k..(i + 1) * k];
            let mut acc = [0f32; LANES];
            for (xc, rc) in xr[..body].chunks_exact(LANES).zip(row[..body].chunks_exact(LANES)) {
                for l in 0..LANES {
                    acc[l] += xc[l] * rc[l];
                }
            }
            let mut sum = 0f32;
            for a in acc {
                sum += a;
            }
            for (a, b) in xr[body..].iter().zip(&row[body..]) {
                sum += a * b;
            }
            block[j * m + i] = sum;
        }
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device, Tensor};

    fn sines(n: usize, f: f64) -> Tensor {
        (Tensor::arange(0u32, n as u32, &Device::Cpu).unwrap().to_dtype(DType::F32).unwrap() * f)
            .unwrap()
            .sin()
            .unwrap()
    }

    #[test]
    fn equals_candles_widening_matmul_to_bf16_rounding() {
        for (m, k, n) in [(1, 896, 300), (3, 40, 7), (16, 130, 97), (2, 5, 1)] {
            let x = sines(m * k, 0.37).reshape((m, k)).unwrap().to_dtype(DType::BF16).unwrap();
            let w = sines(n * k, 0.011).reshape((n, k)).unwrap().to_dtype(DType::BF16).unwrap();
            assert!(super::applies(&x, &w));
            let got = super::matmul_t(&x, &w).unwrap();
            assert_eq!(got.dims(), [m, n]);
            let want = x.to_dtype(DType::F32).unwrap().matmul(&w.to_dtype(DType::F32).unwrap().t().unwrap()).unwrap();
            let d = (got - &want).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap();
            let d = d.to_scalar::<f32>().unwrap();
            let scale = want.abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap();
            assert!(d <= 1e-5 * scale.max(1.0) * (k as f32).sqrt(), "{m}x{k}x{n}: {d} (scale {scale})");
        }
    }
}
