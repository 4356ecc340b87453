//! Attention on the CPU, one block of queries at a time, never holding the `[B, H, T_q, T_k]` scores: without a
//! graph (sampling, prefill, reference log-probs) and in training, with a backward that recomputes each block.
//!
//! candle's ops compute `softmax(q k^T * scale + mask) v` as candle ops: for a 3,000-token prefill
//! that is a 504 MB score tensor per layer (14 heads), a mask added to all of it, a softmax over all of it, and
//! `repeat_kv` copies of the keys and values for each query head; at a causal mask half of those scores are
//! masked out and computed anyway. In decoding the `repeat_kv` copies of the whole KV cache, every layer, every
//! step, cost more memory traffic than the step's weights.
//!
//! Here each task is one (row, query head, block of [`BLOCK`] queries): its scores against the keys up to the
//! block's last visible one (a causal mask skips the rest), the mask added, candle's softmax (max, `exp(x - max)`,
//! sum, divide), and the product with the values, both products through `gemm` (candle's own matmul kernels) on
//! f32; the key/value head of a query head is indexed (grouped-query attention), not copied. Tasks run on rayon.
//! In training the same forward keeps only `q`, `k`, `v` and the output for the backward (FlashAttention's
//! recomputation; see `Attention::grads`) where candle's ops keep five score-sized tensors a layer: at 4 rollouts
//! of 1,128 tokens that is about 34 GB over the 24 layers of the 0.5B model.
//! bf16 inputs are widened per task and the result rounded back, as candle's bf16 path does. Results equal the
//! candle path to float rounding (the sums run in another order): tested below, and by the parity tests.

use candle_core::{CpuStorage, CustomOp3, DType, Layout, Shape, Tensor};
use rayon::prelude::*;

use crate::error::Result;

/// Queries per task.
pub const BLOCK: usize = 64;

/// An additive attention mask `[B, 1, T_q, T_k]` read once per forward pass (every layer uses it), with the end
/// of each query row's visible keys (one past the last finite entry). Clones share the values (each layer's op
/// holds one).
#[derive(Clone, Debug)]
pub struct HostMask {
    values: std::sync::Arc<[f32]>,
    ends: std::sync::Arc<[usize]>,
    b: usize,
    t_q: usize,
    t_k: usize,
}

impl HostMask {
    /// The mask of [`crate::model::attention_mask`] (any dtype) on the host.
    pub fn new(mask: &Tensor) -> Result<HostMask> {
        let (b, one, t_q, t_k) = mask.dims4()?;
        if one != 1 {
            return Err(
                candle_core::Error::Msg(format!("attention mask [{b}, {one}, {t_q}, {t_k}]: dim 1 must be 1")).into()
            );
        }
        let values = mask.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        let ends: Vec<usize> = values
            .chunks_exact(t_k.max(1))
            .map(|row| row.iter().rposition(|v| v.is_finite()).map_or(0, |j| j + 1))
            .collect();
        Ok(HostMask { values: values.into(), ends: ends.into(), b, t_q, t_k })
    }
}

/// Whether [`attention`] applies: CPU tensors, f32 or bf16.
pub fn applies(q: &Tensor, k: &Tensor, v: &Tensor) -> bool {
    [q, k, v].iter().all(|t| t.device().is_cpu() && matches!(t.dtype(), DType::F32 | DType::BF16))
}

/// `softmax(q k^T * scale + mask) v` for `q` `[B, H, T_q, D]` and `k`, `v` `[B, H_kv, T_k, D]` (`H` a multiple of
/// `H_kv`; query head `h` reads key/value head `h / (H / H_kv)`). `mask`: `[B, 1, T_q, T_k]` as [`HostMask`], or
/// `None` for every key visible to every query. Returns `[B, H, T_q, D]` in `q`'s dtype.
pub fn attention(q: &Tensor, k: &Tensor, v: &Tensor, mask: Option<&HostMask>, scale: f64) -> Result<Tensor> {
    let op = Attention { mask: mask.cloned(), scale: scale as f32 };
    let (qc, kc, vc) = (q.contiguous()?, k.contiguous()?, v.contiguous()?);
    let out = if [q, k, v].iter().any(|t| t.track_op()) {
        qc.apply_op3(&kc, &vc, op)?
    } else {
        qc.apply_op3_no_bwd(&kc, &vc, &op)?
    };
    Ok(out.to_dtype(q.dtype())?)
}

struct Attention {
    mask: Option<HostMask>,
    scale: f32,
}

/// A contiguous f32 or bf16 slice of a storage.
enum Data<'a> {
    F32(&'a [f32]),
    Bf16(&'a [half::bf16]),
}

impl Data<'_> {
    fn of<'a>(s: &'a CpuStorage, l: &Layout, what: &str) -> candle_core::Result<Data<'a>> {
        let (start, end) = l
            .contiguous_offsets()
            .ok_or_else(|| candle_core::Error::Msg(format!("attention: {what} not contiguous")))?;
        match s {
            CpuStorage::F32(v) => Ok(Data::F32(&v[start..end])),
            CpuStorage::BF16(v) => Ok(Data::Bf16(&v[start..end])),
            _ => Err(candle_core::Error::Msg(format!("attention: {what} is neither f32 nor bf16"))),
        }
    }

    /// Elements `range` as f32: borrowed when f32, widened into `buf` when bf16.
    fn f32s<'b>(&'b self, range: std::ops::Range<usize>, buf: &'b mut Vec<f32>) -> &'b [f32] {
        match self {
            Data::F32(v) => &v[range],
            Data::Bf16(v) => {
                buf.clear();
                buf.extend(v[range].iter().map(|x| x.to_f32()));
                buf
            }
        }
    }
}

impl CustomOp3 for Attention {
    fn name(&self) -> &'static str {
        "srl-cpu-attention"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (b, h, t_q, d) = l1.shape().dims4()?;
        let (b2, h_kv, t_k, d2) = l2.shape().dims4()?;
        if l3.shape().dims() != l2.shape().dims() || b2 != b || d2 != d || h_kv == 0 || h % h_kv != 0 {
            return Err(candle_core::Error::Msg(format!(
                "attention: q {:?}, k {:?}, v {:?}",
                l1.shape().dims(),
                l2.shape().dims(),
                l3.shape().dims()
            )));
        }
        if let Some(m) = &self.mask
            && (m.b, m.t_q, m.t_k) != (b, t_q, t_k)
        {
            return Err(candle_core::Error::Msg(format!(
                "attention: mask [{}, 1, {}, {}] for q [{b}, {h}, {t_q}, {d}] and k of {t_k} keys",
                m.b, m.t_q, m.t_k
            )));
        }
        let (q, k, v) = (Data::of(s1, l1, "q")?, Data::of(s2, l2, "k")?, Data::of(s3, l3, "v")?);
        let group = h / h_kv;
        let blocks = t_q.div_ceil(BLOCK).max(1);
        let mut out = vec![0f32; b * h * t_q * d];
        let tasks: Vec<(usize, usize)> = (0..b * h).flat_map(|bh| (0..blocks).map(move |blk| (bh, blk))).collect();
        let per_head = t_q * d;
        let results: Vec<(usize, usize, Vec<f32>)> = tasks
            .par_iter()
            .map(|&(bh, blk)| {
                let (bb, hh) = (bh / h, bh % h);
                let kv = bb * h_kv + hh / group;
                let (i0, i1) = (blk * BLOCK, ((blk + 1) * BLOCK).min(t_q));
                let rows = i1 - i0;
                let end = self.block_end(bb, t_q, t_k, i0, i1);
                let (mut qb, mut kb, mut vb) = (Vec::new(), Vec::new(), Vec::new());
                let qs = q.f32s(bh * per_head + i0 * d..bh * per_head + i1 * d, &mut qb);
                let ks = k.f32s(kv * t_k * d..(kv * t_k + end) * d, &mut kb);
                let vs = v.f32s(kv * t_k * d..(kv * t_k + end) * d, &mut vb);
                let mut scores = vec![0f32; rows * end];
                mm(rows, end, d, &mut scores, end, false, (qs, d, 1), (ks, 1, d), 1.0);
                for (r, row) in scores.chunks_exact_mut(end).enumerate() {
                    softmax_row(row, self.scale, self.mask_row(bb, t_q, t_k, i0 + r, end));
                }
                let mut o = vec![0f32; rows * d];
                mm(rows, d, end, &mut o, d, false, (&scores, end, 1), (vs, d, 1), 1.0);
                (bh, i0, o)
            })
            .collect();
        for (bh, i0, o) in results {
            out[bh * per_head + i0 * d..][..o.len()].copy_from_slice(&o);
        }
        Ok((CpuStorage::F32(out), Shape::from((b, h, t_q, d))))
    }

    fn bwd(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (b, h, t_q, d) = q.dims4()?;
        let (_, h_kv, t_k, _) = k.dims4()?;
        let host = |t: &Tensor| t.detach().to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>();
        let (dq, dk, dv) =
            self.grads((b, h, h_kv, t_q, t_k, d), &host(q)?, &host(k)?, &host(v)?, &host(res)?, &host(grad_res)?);
        let dev = q.device();
        let dq = Tensor::from_vec(dq, (b, h, t_q, d), dev)?.to_dtype(q.dtype())?;
        let dk = Tensor::from_vec(dk, (b, h_kv, t_k, d), dev)?.to_dtype(k.dtype())?;
        let dv = Tensor::from_vec(dv, (b, h_kv, t_k, d), dev)?.to_dtype(v.dtype())?;
        Ok((Some(dq), Some(dk), Some(dv)))
    }
}

impl Attention {
    /// The gradients of `q`, `k`, `v` for the output gradient `dout` (FlashAttention's backward, recomputing each
    /// block's probabilities instead of keeping them): per block `P = softmax(S)`, `dV += P^T dO`,
    /// `dS = P * (dO V^T - rowsum(dO * O))`, `dQ = scale dS K`, `dK += scale dS^T Q`. One task per (row, key/value
    /// head) accumulates the `dK`, `dV` of its query heads.
    #[allow(clippy::too_many_arguments)]
    fn grads(
        &self,
        dims: (usize, usize, usize, usize, usize, usize),
        q: &[f32],
        k: &[f32],
        v: &[f32],
        out: &[f32],
        dout: &[f32],
    ) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let (b, h, h_kv, t_q, t_k, d) = dims;
        let group = h / h_kv;
        let per_head = t_q * d;
        let blocks = t_q.div_ceil(BLOCK);
        let parts: Vec<(Vec<f32>, Vec<f32>, Vec<f32>)> = (0..b * h_kv)
            .into_par_iter()
            .map(|kv| {
                let bb = kv / h_kv;
                let ks = &k[kv * t_k * d..][..t_k * d];
                let vs = &v[kv * t_k * d..][..t_k * d];
                let (mut dk, mut dv) = (vec![0f32; t_k * d], vec![0f32; t_k * d]);
                let mut dq = vec![0f32; group * per_head];
                for g in 0..group {
                    let bh = bb * h + (kv % h_kv) * group + g;
                    for blk in 0..blocks {
                        let (i0, i1) = (blk * BLOCK, ((blk + 1) * BLOCK).min(t_q));
                        let rows = i1 - i0;
                        let end = self.block_end(bb, t_q, t_k, i0, i1);
                        let qb = &q[bh * per_head + i0 * d..][..rows * d];
                        let ob = &out[bh * per_head + i0 * d..][..rows * d];
                        let gb = &dout[bh * per_head + i0 * d..][..rows * d];
                        let mut p = vec![0f32; rows * end];
                        mm(rows, end, d, &mut p, end, false, (qb, d, 1), (ks, 1, d), 1.0);
                        for (r, row) in p.chunks_exact_mut(end).enumerate() {
                            softmax_row(row, self.scale, self.mask_row(bb, t_q, t_k, i0 + r, end));
                        }
                        // dV[:end] += P^T dO
                        mm(end, d, rows, &mut dv, d, true, (&p, 1, end), (gb, d, 1), 1.0);
                        // dP = dO V^T, then dS = P * (dP - rowsum(dO * O)) in place of dP.
                        let mut ds = vec![0f32; rows * end];
                        mm(rows, end, d, &mut ds, end, false, (gb, d, 1), (vs, 1, d), 1.0);
                        for r in 0..rows {
                            let dot: f32 = gb[r * d..][..d].iter().zip(&ob[r * d..][..d]).map(|(a, b)| a * b).sum();
                            for (x, pv) in ds[r * end..][..end].iter_mut().zip(&p[r * end..][..end]) {
                                *x = pv * (*x - dot);
                            }
                        }
                        // dQ = scale dS K[:end];  dK[:end] += scale dS^T Q
                        let dqb = &mut dq[g * per_head + i0 * d..][..rows * d];
                        mm(rows, d, end, dqb, d, false, (&ds, end, 1), (ks, d, 1), self.scale);
                        mm(end, d, rows, &mut dk, d, true, (&ds, 1, end), (qb, d, 1), self.scale);
                    }
                }
                (dq, dk, dv)
            })
            .collect();
        let (mut dq, mut dk, mut dv) = (vec![0f32; q.len()], Vec::with_capacity(k.len()), Vec::with_capacity(v.len()));
        for (kv, (pq, pk, pv)) in parts.into_iter().enumerate() {
            let (bb, first) = (kv / h_kv, (kv % h_kv) * group);
            dq[(bb * h + first) * per_head..][..group * per_head].copy_from_slice(&pq);
            dk.extend(pk);
            dv.extend(pv);
        }
        (dq, dk, dv)
    }

    /// One past the last key that queries `i0..i1` of row `bb` see (at least 1).
    fn block_end(&self, bb: usize, t_q: usize, t_k: usize, i0: usize, i1: usize) -> usize {
        match &self.mask {
            Some(m) => (i0..i1).map(|i| m.ends[bb * t_q + i]).max().unwrap_or(0),
            None => t_k,
        }
        .max(1)
    }

    /// The first `end` mask values of query `i` of row `bb`.
    fn mask_row(&self, bb: usize, t_q: usize, t_k: usize, i: usize, end: usize) -> Option<&[f32]> {
        self.mask.as_ref().map(|m| &m.values[(bb * t_q + i) * t_k..][..end])
    }
}

/// `dst (m x n, row stride dst_rs) = [dst +] beta * lhs (m x k) * rhs (k x n)`, each operand given as
/// `(slice, row stride, column stride)`, through `gemm` on one thread (the caller's tasks are the parallelism).
#[allow(clippy::too_many_arguments)]
fn mm(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    dst_rs: usize,
    accumulate: bool,
    lhs: (&[f32], usize, usize),
    rhs: (&[f32], usize, usize),
    beta: f32,
) {
    mm_par(m, n, k, dst, dst_rs, accumulate, lhs, rhs, beta, gemm::Parallelism::None)
}

/// [`mm`] with gemm's own parallelism (for one large product rather than many small ones).
#[allow(clippy::too_many_arguments)]
pub(crate) fn mm_par(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    dst_rs: usize,
    accumulate: bool,
    lhs: (&[f32], usize, usize),
    rhs: (&[f32], usize, usize),
    beta: f32,
    parallelism: gemm::Parallelism,
) {
    let span = |rows: usize, cols: usize, rs: usize, cs: usize| (rows.max(1) - 1) * rs + (cols.max(1) - 1) * cs + 1;
    assert!(dst.len() >= span(m, n, dst_rs, 1), "mm: dst too short");
    assert!(lhs.0.len() >= span(m, k, lhs.1, lhs.2), "mm: lhs too short");
    assert!(rhs.0.len() >= span(k, n, rhs.1, rhs.2), "mm: rhs too short");
    // SAFETY: the asserts above keep every element gemm touches inside the slices.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_rs as isize,
            accumulate,
            lhs.0.as_ptr(),
            lhs.2 as isize,
            lhs.1 as isize,
            rhs.0.as_ptr(),
            rhs.2 as isize,
            rhs.1 as isize,
            1f32,
            beta,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// `row * scale + mask`, then candle's softmax of it in place (max, `exp(x - max)`, sum, divide).
fn softmax_row(row: &mut [f32], scale: f32, mask: Option<&[f32]>) {
    match mask {
        Some(m) => row.iter_mut().zip(m).for_each(|(x, m)| *x = *x * scale + m),
        None => row.iter_mut().for_each(|x| *x *= scale),
    }
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0f32;
    for x in row.iter_mut() {
        *x = (*x - max).exp();
        sum += *x;
    }
    row.iter_mut().for_each(|x| *x /= sum);
}

#[cfg(test)]
mod tests {
    use candle_core::{D, DType, Device, Tensor};

    use super::*;
    use crate::model::attention_mask;

    fn sines(dims: &[usize], f: f64) -> Tensor {
        let n: usize = dims.iter().product();
        (Tensor::arange(0u32, n as u32, &Device::Cpu).unwrap().to_dtype(DType::F32).unwrap() * f)
            .unwrap()
            .sin()
            .unwrap()
            .reshape(dims)
            .unwrap()
    }

    /// The candle ops of the model's differentiable path.
    fn reference(q: &Tensor, k: &Tensor, v: &Tensor, mask: Option<&Tensor>, scale: f64) -> Tensor {
        let group = q.dim(1).unwrap() / k.dim(1).unwrap();
        let k = candle_transformers::utils::repeat_kv(k.clone(), group).unwrap().contiguous().unwrap();
        let v = candle_transformers::utils::repeat_kv(v.clone(), group).unwrap().contiguous().unwrap();
        let s = (q.matmul(&k.transpose(2, 3).unwrap()).unwrap() * scale).unwrap();
        let s = match mask {
            Some(m) => s.broadcast_add(m).unwrap(),
            None => s,
        };
        candle_nn::ops::softmax(&s, D::Minus1).unwrap().matmul(&v).unwrap()
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        let a = a.to_dtype(DType::F32).unwrap();
        let b = b.to_dtype(DType::F32).unwrap();
        (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap()
    }

    #[test]
    fn equals_the_candle_ops_with_padding_causality_and_a_cache() {
        // Two rows, the second left-padded; 4 query heads over 2 key/value heads; queries the last 150 of 170 keys
        // (a cache of 20), so blocks of 64 end at different keys and one block is partial.
        let (b, h, h_kv, t_q, t_k, d) = (2, 4, 2, 150, 170, 16);
        let valid: Vec<Vec<bool>> = vec![vec![true; t_k], (0..t_k).map(|j| j >= 7).collect()];
        let mask = attention_mask(&valid, t_q, DType::F32, &Device::Cpu).unwrap().unwrap();
        let q = sines(&[b, h, t_q, d], 0.37);
        let k = sines(&[b, h_kv, t_k, d], 0.11);
        let v = sines(&[b, h_kv, t_k, d], 0.053);
        let scale = 1.0 / (d as f64).sqrt();
        let host = HostMask::new(&mask).unwrap();
        let got = attention(&q, &k, &v, Some(&host), scale).unwrap();
        assert_eq!(got.dims(), [b, h, t_q, d]);
        let want = reference(&q, &k, &v, Some(&mask), scale);
        assert!(max_diff(&got, &want) < 1e-5, "{}", max_diff(&got, &want));
        // One query per row, every key visible (decoding): no mask.
        let q1 = sines(&[b, h, 1, d], 0.29);
        let got = attention(&q1, &k, &v, None, scale).unwrap();
        assert!(max_diff(&got, &reference(&q1, &k, &v, None, scale)) < 1e-5);
        // bf16 in, bf16 out, to bf16 rounding.
        let bf = |t: &Tensor| t.to_dtype(DType::BF16).unwrap();
        let got = attention(&bf(&q), &bf(&k), &bf(&v), Some(&host), scale).unwrap();
        assert_eq!(got.dtype(), DType::BF16);
        let want = reference(
            &bf(&q).to_dtype(DType::F32).unwrap(),
            &bf(&k).to_dtype(DType::F32).unwrap(),
            &bf(&v).to_dtype(DType::F32).unwrap(),
            Some(&mask),
            scale,
        );
        assert!(max_diff(&got, &want) < 1e-2, "{}", max_diff(&got, &want));
    }

    #[test]
    fn gradients_equal_candles_autograd() {
        use candle_core::Var;
        let (b, h, h_kv, t_q, t_k, d) = (2, 4, 2, 70, 75, 8);
        let valid: Vec<Vec<bool>> = vec![vec![true; t_k], (0..t_k).map(|j| j >= 3).collect()];
        let mask = attention_mask(&valid, t_q, DType::F32, &Device::Cpu).unwrap().unwrap();
        let host = HostMask::new(&mask).unwrap();
        let scale = 1.0 / (d as f64).sqrt();
        let q = Var::from_tensor(&sines(&[b, h, t_q, d], 0.37)).unwrap();
        let k = Var::from_tensor(&sines(&[b, h_kv, t_k, d], 0.11)).unwrap();
        let v = Var::from_tensor(&sines(&[b, h_kv, t_k, d], 0.053)).unwrap();
        let w = sines(&[b, h, t_q, d], 0.71);
        let loss = |out: Tensor| (out * &w).unwrap().sum_all().unwrap();
        let ours = attention(q.as_tensor(), k.as_tensor(), v.as_tensor(), Some(&host), scale).unwrap();
        let want = reference(q.as_tensor(), k.as_tensor(), v.as_tensor(), Some(&mask), scale);
        assert!(max_diff(&ours, &want) < 1e-5);
        let g_ours = loss(ours).backward().unwrap();
        let g_want = loss(want).backward().unwrap();
        for (name, var) in [("q", &q), ("k", &k), ("v", &v)] {
            let (a, e) = (g_ours.get(var).unwrap(), g_want.get(var).unwrap());
            assert_eq!(a.dims(), e.dims(), "d{name}");
            let scale = e.abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap();
            assert!(scale > 1e-3, "d{name} is not trivially zero");
            assert!(max_diff(a, e) < 1e-4 * scale.max(1.0), "d{name}: {}", max_diff(a, e));
        }
    }

    #[test]
    fn a_causal_block_reads_only_the_keys_it_sees() {
        // The keys after a block's last query hold NaN: a block that read them would spread it.
        let (t, d) = (130, 8);
        let mask = attention_mask(&[vec![true; t]], t, DType::F32, &Device::Cpu).unwrap().unwrap();
        let host = HostMask::new(&mask).unwrap();
        assert_eq!(&host.ends[..3], &[1, 2, 3]);
        let q = sines(&[1, 1, t, d], 0.3);
        let mut kv = sines(&[1, 1, t, d], 0.2).flatten_all().unwrap().to_vec1::<f32>().unwrap();
        kv[(t - 1) * d..].iter_mut().for_each(|x| *x = f32::NAN);
        let kv = Tensor::from_vec(kv, (1, 1, t, d), &Device::Cpu).unwrap();
        let got = attention(&q, &kv, &kv, Some(&host), 0.5).unwrap();
        let rows = got.squeeze(0).unwrap().squeeze(0).unwrap().to_vec2::<f32>().unwrap();
        // Blocks of 64: queries 0..128 end before the last key; the last block (128, 129) reads it.
        assert!(rows[..128].iter().flatten().all(|x| x.is_finite()));
        assert!(rows[t - 1].iter().all(|x| x.is_nan()));
    }
}
