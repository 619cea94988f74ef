//! Deterministic, non-degenerate parameters and inputs from a seed, reproducible outside Rust: SplitMix64's
//! finaliser over `(fnv1a64(name) ^ seed) + (i + 1) · γ`. `tests/reference/make_block_fixture.py` implements
//! the same generator in numpy, so a full-size block can be checked against AlphaFold2 without shipping
//! its 1.8 M parameters.

use ndarray::{ArrayD, IxDyn};

/// FNV-1a, 64 bit.
pub fn fnv1a64(text: &str) -> u64 {
    text.bytes().fold(0xCBF2_9CE4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01B3)
    })
}

/// `count` values in [-1, 1) for `name`.
pub fn uniform(name: &str, count: usize, seed: u64) -> Vec<f64> {
    let base = fnv1a64(name) ^ seed;
    (1..=count as u64)
        .map(|i| {
            let mut z = base.wrapping_add(i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            (z >> 11) as f64 * 2f64.powi(-53) * 2.0 - 1.0
        })
        .collect()
}

/// Values for parameter `scope//name` of `shape`: layer-norm scales near 1, offsets and biases small,
/// weights uniform with variance 1/fan-in (fan-in = all but the last axis for `output_w`, else the first).
pub fn param_values(key: &str, shape: &[usize], seed: u64) -> ArrayD<f32> {
    let name = key.rsplit("//").next().unwrap_or(key);
    let n: usize = shape.iter().product();
    let u = uniform(key, n, seed);
    let v: Vec<f32> = if name == "scale" {
        u.iter().map(|&x| (1.0 + 0.1 * x) as f32).collect()
    } else if name == "offset" || name == "bias" || name.ends_with("_b") {
        u.iter().map(|&x| (0.1 * x) as f32).collect()
    } else {
        let fan_in: usize = if name == "output_w" {
            shape[..shape.len() - 1].iter().product()
        } else {
            shape[0]
        };
        let s = (3.0 / fan_in as f64).sqrt();
        u.iter().map(|&x| (x * s) as f32).collect()
    };
    ArrayD::from_shape_vec(IxDyn(shape), v).expect("shape product")
}

/// An input tensor of `shape` with values in [-1, 1).
pub fn input_values(name: &str, shape: &[usize], seed: u64) -> ArrayD<f32> {
    let n: usize = shape.iter().product();
    ArrayD::from_shape_vec(
        IxDyn(shape),
        uniform(name, n, seed)
            .into_iter()
            .map(|x| x as f32)
            .collect(),
    )
    .expect("shape product")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        // FNV-1a test vector.
        assert_eq!(fnv1a64("a"), 0xaf63dc4c8601ec8c);
        let u = uniform("x", 1000, 7);
        assert!(u.iter().all(|v| (-1.0..1.0).contains(v)));
        let mean = u.iter().sum::<f64>() / 1000.0;
        assert!(mean.abs() < 0.1);
        assert_ne!(uniform("x", 3, 7), uniform("y", 3, 7));
    }
}
