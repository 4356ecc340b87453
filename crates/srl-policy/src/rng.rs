//! Seeded random numbers for weights (candle's CPU RNG cannot be seeded): draws from the caller's ChaCha RNG, so
//! the same seed gives the same weights on every run.

use rand::Rng;
use rand_distr::{Distribution, Normal};

/// `n` samples of N(0, std²) from the given RNG.
pub fn normal_vec(rng: &mut impl Rng, n: usize, std: f64) -> Vec<f32> {
    // `Normal::new` fails only for a negative or non-finite std; callers pass constants.
    let normal = Normal::new(0.0, std).expect("a finite, non-negative std");
    normal.sample_iter(rng).take(n).map(|x: f64| x as f32).collect()
}

/// `n` samples of U(-bound, bound).
pub fn uniform_vec(rng: &mut impl Rng, n: usize, bound: f64) -> Vec<f32> {
    (0..n).map(|_| ((rng.random::<f64>() * 2.0 - 1.0) * bound) as f32).collect()
}
