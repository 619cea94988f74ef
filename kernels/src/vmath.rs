//! Vectorised e^x for the two places the trunk spends it: softmax (attention, ~800 M exponentials per
//! Evoformer block at L = 256 with 512 sequences) and the sigmoid gates.
//!
//! libm's `expf` is scalar; perf put it and the softmax around it at 30 % of the trunk's time. Here e^x is
//! Cephes' single-precision scheme (range reduction x = n·ln 2 + r with ln 2 split in two, a degree-6
//! polynomial for e^r, 2^n assembled in the exponent bits; relative error ≈ 1 ulp) written over fixed
//! 16-lane chunks that LLVM vectorises. Its multiply-adds are fused (`mul_add`: one rounding each): the
//! unfused form was a chain of 22 dependent operations per chunk whose latency, not the FPU's width, set
//! the pace (1.2 vs 2.1-2.4 G exponentials per second on one core of a Xeon, measured in C with
//! contraction off). Results do not depend on the instruction set the dispatcher picks (AVX-512,
//! AVX2 + FMA or the baseline, where `mul_add` is libm's correctly rounded `fmaf`): Rust never fuses or
//! splits a multiply and an add on its own, every lane computes the same IEEE operations, and sums are
//! reduced lane-wise in a fixed order. (On AVX-512 the
//! final 2^n is one `vscalefps`, exact like the portable exponent-bit arithmetic: 0 differences over all
//! 2^32 inputs, fused form included (an ignored test, run by hand); a unit test covers a spread of
//! them.) These functions
//! therefore give the same bits on every machine and thread count (the GEMMs give the same bits for any
//! thread count and chunking; across machines, on every x86-64 CPU with FMA: see `gemm_simd`).

const LANES: usize = 16;
/// Below this e^x is under f32's smallest normal number; answered as 0 (a softmax weight of < 1e-38
/// next to the row maximum's 1 is lost to rounding anyway, as it is in libm's subnormal results).
const EXP_MIN_ARG: f32 = -87.33;
/// Above this e^x overflows f32; arguments are clamped to it (finite, ~3.4e38).
const EXP_MAX_ARG: f32 = 88.72;

// Cephes' constants for e^x, shared by the portable form and the AVX-512 one.
const LOG2E: f32 = std::f32::consts::LOG2_E;
// ln 2 = C1 + C2, C1 exact in 9 bits so that n·C1 is exact.
const C1: f32 = 0.693_359_4;
const C2: f32 = -2.121_944_4e-4;
// 1.5·2^23: adding it rounds to the nearest integer, which lands in the low mantissa bits.
const ROUND: f32 = 12_582_912.0;
// The polynomial for (e^r - 1 - r) / r², highest degree first (Cephes' last one, 5.0000001201e-1, is 0.5
// in f32).
const POLY: [f32; 6] = [
    1.987_569_1e-4,
    1.398_199_9e-3,
    8.333_452e-3,
    4.166_579_6e-2,
    1.666_666_5e-1,
    0.5,
];

/// e^x (≈ 1 ulp). NaN stays NaN; arguments below -87.33 give 0. For remainders and single values: in a
/// caller compiled without FMA (the x86-64 baseline) each `mul_add` is a call to libm's `fmaf`, so loops
/// over many values use the dispatched 16-lane functions below, which give the same bits.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    let xc = if x > EXP_MAX_ARG { EXP_MAX_ARG } else { x };
    let t = xc.mul_add(LOG2E, ROUND);
    let n = t - ROUND;
    let ni = (t.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    let r = (-n).mul_add(C2, (-n).mul_add(C1, xc));
    let mut p = POLY[0];
    for c in &POLY[1..] {
        p = p.mul_add(r, *c);
    }
    let er = p.mul_add(r * r, r) + 1.0;
    // 2^n for n in [-126, 128): the biased exponent shifted into place (n = 128 only at the clamp, where
    // er < 1 keeps the product finite; n + 127 is then 255, handled by splitting the scale in two).
    let half = ni >> 1;
    let s1 = f32::from_bits(((half + 127) as u32) << 23);
    let s2 = f32::from_bits(((ni - half + 127) as u32) << 23);
    let y = er * s1 * s2;
    if x < EXP_MIN_ARG {
        0.0
    } else {
        y
    }
}

/// How a body computes e^x over one 16-lane chunk: [`Portable`] (each lane through [`exp`], which LLVM
/// vectorises for whatever instruction set the body is compiled for) or, on AVX-512, [`Avx512`].
trait Lanes: Copy {
    fn exp16(self, v: &mut [f32; LANES]);
}

#[derive(Clone, Copy)]
struct Portable;

impl Lanes for Portable {
    #[inline(always)]
    fn exp16(self, v: &mut [f32; LANES]) {
        for x in v.iter_mut() {
            *x = exp(*x);
        }
    }
}

/// e^x on AVX-512 with one `vscalefps` for the 2^n that [`exp`] assembles from exponent bits (two
/// shifts, three integer adds and two multiplies fewer per chunk; perf put `exp_rows` at 10 % of
/// `predict` at L = 384). The same bits as [`exp`] on every input but NaN payloads: every step before
/// the scaling is the same IEEE operation in the same order, and `er · 2^n` is exact in both — `er` lies
/// in [0.7, 1.42] and every result that is not replaced by 0 (`x ≥ -87.33`, so `n ≥ -126`, and `er ≥ 1`
/// when `n = -126`) or clamped (`n = 128` with `er < 1`) is a normal number. Only made after the CPU was
/// seen to support AVX-512F.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
struct Avx512(());

#[cfg(target_arch = "x86_64")]
impl Avx512 {
    fn detect() -> Option<Self> {
        std::arch::is_x86_feature_detected!("avx512f").then_some(Avx512(()))
    }
}

#[cfg(target_arch = "x86_64")]
impl Lanes for Avx512 {
    #[inline(always)]
    fn exp16(self, v: &mut [f32; LANES]) {
        // SAFETY: an `Avx512` exists only on a CPU with AVX-512F (`detect`); `v` is 16 floats.
        unsafe { exp16_avx512(v) }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn exp16_avx512(v: &mut [f32; LANES]) {
    use std::arch::x86_64::*;
    let k = |f: f32| _mm512_set1_ps(f);
    let x = _mm512_loadu_ps(v.as_ptr());
    // min(MAX, x) returns its second operand when either is NaN, as `exp`'s `x > MAX` test keeps x.
    let xc = _mm512_min_ps(k(EXP_MAX_ARG), x);
    let t = _mm512_fmadd_ps(xc, k(LOG2E), k(ROUND));
    let n = _mm512_sub_ps(t, k(ROUND));
    // xc - n·C1 - n·C2, each step one fused operation as in `exp`.
    let r = _mm512_fnmadd_ps(n, k(C2), _mm512_fnmadd_ps(n, k(C1), xc));
    let mut p = k(POLY[0]);
    for c in &POLY[1..] {
        p = _mm512_fmadd_ps(p, r, k(*c));
    }
    let er = _mm512_add_ps(_mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r), k(1.0));
    let y = _mm512_scalef_ps(er, n);
    // Lanes with x < MIN become 0; NaN compares unordered and keeps its NaN.
    let keep = _mm512_cmp_ps_mask::<_CMP_NLT_UQ>(x, k(EXP_MIN_ARG));
    _mm512_storeu_ps(v.as_mut_ptr(), _mm512_maskz_mov_ps(keep, y));
}

/// Logistic sigmoid 1 / (1 + e^-v), 0 below -88.75 as libm's overflow gives. Over many values use
/// [`sigmoid_in_place`] or [`gate_in_place`] (see [`exp`]).
#[inline(always)]
pub fn sigmoid(v: f32) -> f32 {
    sigmoid_given(v, exp(-v))
}

/// [`sigmoid`] of `v` from `e = e^-v` (however that was computed): the one place of its formula and
/// cut-off, for the scalar form and the 16-lane one.
#[inline(always)]
fn sigmoid_given(v: f32, e: f32) -> f32 {
    if v < -88.75 {
        0.0
    } else {
        1.0 / (1.0 + e)
    }
}

macro_rules! dispatch {
    ($(#[$doc:meta])* pub fn $name:ident($($arg:ident: $ty:ty),*) $(-> $ret:ty)? => $body:ident) => {
        $(#[$doc])*
        pub fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                unsafe fn avx512(lanes: Avx512, $($arg: $ty),*) $(-> $ret)? { $body(lanes, $($arg),*) }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2($($arg: $ty),*) $(-> $ret)? { $body(Portable, $($arg),*) }
                if let Some(lanes) = Avx512::detect() {
                    // SAFETY: the CPU supports the instructions the function was compiled for.
                    return unsafe { avx512(lanes, $($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    // SAFETY: as above.
                    return unsafe { avx2($($arg),*) };
                }
            }
            $body(Portable, $($arg),*)
        }
    };
}

/// One 16-lane chunk of the softmax's first pass: `c ← c (+ first) (+ second)`, lane maxima updated.
/// Called with whole chunks and constant `Option`s, so the loop has no bounds checks or branches.
#[inline(always)]
fn add_max(
    c: &mut [f32],
    first: Option<&[f32]>,
    second: Option<&[f32]>,
    lane_max: &mut [f32; LANES],
) {
    let c = &mut c[..LANES];
    let (first, second) = (first.map(|f| &f[..LANES]), second.map(|s| &s[..LANES]));
    for k in 0..LANES {
        let mut v = c[k];
        if let Some(f) = first {
            v += f[k];
        }
        if let Some(s) = second {
            v += s[k];
        }
        c[k] = v;
        lane_max[k] = if v > lane_max[k] { v } else { lane_max[k] };
    }
}

/// The unnormalised softmax of one row: `x[j] ← e^(x[j] + bias[j] (+ pair[j]) − max)`, in two passes
/// (biases added and the maximum taken in one, exponentials and their sum in the other); returns
/// `1 / Σ_j x[j]`.
#[inline(always)]
fn exp_row_body<L: Lanes>(
    lanes: L,
    x: &mut [f32],
    bias: Option<&[f32]>,
    pair: Option<&[f32]>,
) -> f32 {
    let n = x.len();
    let (b, p) = (bias.map(|b| &b[..n]), pair.map(|p| &p[..n]));
    // The maximum is exact whatever the order; NaN-free inputs assumed for the max, NaN still propagates
    // through the exponentials. One loop per combination of biases over whole 16-lane chunks: indexed
    // as `b[start + k]`, the bounds checks kept LLVM to scalar and 128-bit code (perf annotate: ~20 % of
    // the row's time, in a pass that should cost a fraction of the exponentials).
    let mut lane_max = [f32::NEG_INFINITY; LANES];
    let full = n - n % LANES;
    let (body, tail) = x.split_at_mut(full);
    match (b, p) {
        (Some(b), Some(p)) => {
            for ((c, bc), pc) in body
                .chunks_exact_mut(LANES)
                .zip(b.chunks_exact(LANES))
                .zip(p.chunks_exact(LANES))
            {
                add_max(c, Some(bc), Some(pc), &mut lane_max);
            }
        }
        (Some(b), None) => {
            for (c, bc) in body.chunks_exact_mut(LANES).zip(b.chunks_exact(LANES)) {
                add_max(c, Some(bc), None, &mut lane_max);
            }
        }
        (None, Some(p)) => {
            for (c, pc) in body.chunks_exact_mut(LANES).zip(p.chunks_exact(LANES)) {
                add_max(c, None, Some(pc), &mut lane_max);
            }
        }
        (None, None) => {
            for c in body.chunks_exact_mut(LANES) {
                add_max(c, None, None, &mut lane_max);
            }
        }
    }
    let mut max = f32::NEG_INFINITY;
    for (j, v) in tail.iter_mut().enumerate() {
        let mut w = *v;
        if let Some(b) = b {
            w += b[full + j];
        }
        if let Some(p) = p {
            w += p[full + j];
        }
        *v = w;
        max = if w > max { w } else { max };
    }
    for &v in &lane_max {
        max = if v > max { v } else { max };
    }
    let mut lane_sum = [0.0f32; LANES];
    let mut chunks = x.chunks_exact_mut(LANES);
    for c in &mut chunks {
        let c: &mut [f32; LANES] = c.try_into().expect("a whole chunk");
        for v in c.iter_mut() {
            *v -= max;
        }
        lanes.exp16(c);
        for k in 0..LANES {
            lane_sum[k] += c[k];
        }
    }
    let mut sum = 0.0f32;
    for s in lane_sum {
        sum += s;
    }
    for v in chunks.into_remainder() {
        let e = exp(*v - max);
        *v = e;
        sum += e;
    }
    1.0 / sum
}

/// Softmax of one row: `x[j] + bias[j] (+ pair[j])`, written back normalised.
#[inline(always)]
fn softmax_body<L: Lanes>(lanes: L, x: &mut [f32], bias: Option<&[f32]>, pair: Option<&[f32]>) {
    let inv = exp_row_body(lanes, x, bias, pair);
    for v in x.iter_mut() {
        *v *= inv;
    }
}

#[inline(always)]
fn softmax_rows_body<L: Lanes>(
    lanes: L,
    x: &mut [f32],
    width: usize,
    bias: Option<&[f32]>,
    pair: Option<&[f32]>,
) {
    if width == 0 {
        return; // rows without keys (an empty extra MSA): nothing to normalise
    }
    for (i, row) in x.chunks_exact_mut(width).enumerate() {
        softmax_body(
            lanes,
            row,
            bias,
            pair.map(|p| &p[i * width..(i + 1) * width]),
        );
    }
}

dispatch! {
    /// Softmax over each `width`-long row of `x`, after adding `bias` (one value per column) and `pair`
    /// (same shape as `x`), in that order.
    pub fn softmax_rows(x: &mut [f32], width: usize, bias: Option<&[f32]>, pair: Option<&[f32]>) => softmax_rows_body
}

#[inline(always)]
fn exp_rows_body<L: Lanes>(
    lanes: L,
    x: &mut [f32],
    width: usize,
    bias: Option<&[f32]>,
    pair: Option<&[f32]>,
    inv_sums: &mut [f32],
) {
    if width == 0 {
        return;
    }
    for ((i, row), inv) in x
        .chunks_exact_mut(width)
        .enumerate()
        .zip(inv_sums.iter_mut())
    {
        *inv = exp_row_body(
            lanes,
            row,
            bias,
            pair.map(|p| &p[i * width..(i + 1) * width]),
        );
    }
}

dispatch! {
    /// [`softmax_rows`] without its last pass: each row is left as `e^(v − max)` and its normaliser
    /// `1 / Σ` goes to `inv_sums` (one per row), for callers that scale a smaller product instead
    /// (attention scales the `[N, d]` weighted values, not the `[N, N]` weights).
    pub fn exp_rows(x: &mut [f32], width: usize, bias: Option<&[f32]>, pair: Option<&[f32]>, inv_sums: &mut [f32]) => exp_rows_body
}

/// [`sigmoid`] of one 16-lane chunk.
#[inline(always)]
fn sigmoid16<L: Lanes>(lanes: L, v: &[f32]) -> [f32; LANES] {
    let v = &v[..LANES];
    let mut e = [0.0f32; LANES];
    for k in 0..LANES {
        e[k] = -v[k];
    }
    lanes.exp16(&mut e);
    for k in 0..LANES {
        e[k] = sigmoid_given(v[k], e[k]);
    }
    e
}

#[inline(always)]
fn sigmoid_body<L: Lanes>(lanes: L, x: &mut [f32]) {
    let mut chunks = x.chunks_exact_mut(LANES);
    for c in &mut chunks {
        let s = sigmoid16(lanes, c);
        c.copy_from_slice(&s);
    }
    for v in chunks.into_remainder() {
        *v = sigmoid(*v);
    }
}

dispatch! {
    /// Sigmoid of every element, in place.
    pub fn sigmoid_in_place(x: &mut [f32]) => sigmoid_body
}

#[inline(always)]
fn gate_body<L: Lanes>(lanes: L, x: &mut [f32], gate: &[f32]) {
    let gate = &gate[..x.len()];
    let mut chunks = x.chunks_exact_mut(LANES);
    let mut gates = gate.chunks_exact(LANES);
    for (c, g) in (&mut chunks).zip(&mut gates) {
        let s = sigmoid16(lanes, g);
        for k in 0..LANES {
            c[k] *= s[k];
        }
    }
    for (v, &g) in chunks.into_remainder().iter_mut().zip(gates.remainder()) {
        *v *= sigmoid(g);
    }
}

dispatch! {
    /// `x[i] *= sigmoid(gate[i])`.
    pub fn gate_in_place(x: &mut [f32], gate: &[f32]) => gate_body
}

#[inline(always)]
fn masked_gated_body<L: Lanes>(
    lanes: L,
    out: &mut [f32],
    (proj, proj_bias): (&[f32], f32),
    (gate, gate_bias): (&mut [f32], f32),
    mask: &[f32],
) {
    let n = out.len();
    let (proj, gate, mask) = (&proj[..n], &mut gate[..n], &mask[..n]);
    let full = n - n % LANES;
    for (((o, p), g), m) in out[..full]
        .chunks_exact_mut(LANES)
        .zip(proj.chunks_exact(LANES))
        .zip(gate[..full].chunks_exact_mut(LANES))
        .zip(mask.chunks_exact(LANES))
    {
        for v in g.iter_mut() {
            *v += gate_bias;
        }
        let s = sigmoid16(lanes, g);
        for k in 0..LANES {
            o[k] = m[k] * (p[k] + proj_bias) * s[k];
        }
    }
    for j in full..n {
        let s = sigmoid(gate[j] + gate_bias);
        out[j] = mask[j] * (proj[j] + proj_bias) * s;
    }
}

dispatch! {
    /// `out[i] = mask[i] · (proj[i] + proj_bias) · sigmoid(gate[i] + gate_bias)` in one pass (the
    /// triangle multiplication's masked, gated edge projections), `gate` used as scratch. The same
    /// operations per value as adding the biases, taking the sigmoid and multiplying in separate passes.
    pub fn masked_gated(out: &mut [f32], proj: (&[f32], f32), gate: (&mut [f32], f32), mask: &[f32]) => masked_gated_body
}

/// Sum of `x` over 16 lanes reduced in a fixed order (vectorisable, same result on every path).
#[inline(always)]
fn lane_sum(x: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut lanes = [0.0f32; LANES];
    let mut chunks = x.chunks_exact(LANES);
    for c in &mut chunks {
        for k in 0..LANES {
            lanes[k] += f(c[k]);
        }
    }
    let mut sum = 0.0f32;
    for s in lanes {
        sum += s;
    }
    for &v in chunks.remainder() {
        sum += f(v);
    }
    sum
}

#[inline(always)]
fn layer_norm_body<L: Lanes>(
    _lanes: L,
    x: &[f32],
    scale: &[f32],
    offset: &[f32],
    eps: f32,
    out: &mut [f32],
) {
    let c = scale.len();
    if c == 0 {
        return;
    }
    let offset = &offset[..c];
    for (row, o) in x.chunks_exact(c).zip(out.chunks_exact_mut(c)) {
        let mean = lane_sum(row, |v| v) / c as f32;
        let var = lane_sum(row, |v| (v - mean) * (v - mean)) / c as f32;
        let inv = 1.0 / (var + eps).sqrt();
        for k in 0..c {
            o[k] = (row[k] - mean) * inv * scale[k] + offset[k];
        }
    }
}

dispatch! {
    /// Layer norm of each `scale.len()`-wide row of `x` into `out` (biased variance, `eps` inside the
    /// square root, as Haiku's LayerNorm).
    pub fn layer_norm_rows(x: &[f32], scale: &[f32], offset: &[f32], eps: f32, out: &mut [f32]) => layer_norm_body
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulps(a: f32, b: f32) -> u32 {
        (a.to_bits() as i32 - b.to_bits() as i32).unsigned_abs()
    }

    #[test]
    fn exp_is_within_two_ulps_of_libm_over_the_normal_range() {
        let mut worst = 0;
        let mut x = -87.3f32;
        while x < 88.7 {
            let (got, want) = (exp(x), (x as f64).exp() as f32);
            worst = worst.max(ulps(got, want));
            x += 0.000_731;
        }
        assert!(worst <= 2, "worst error {worst} ulp");
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-1e9), 0.0);
        assert!(exp(f32::NAN).is_nan());
        assert!(exp(1e9).is_finite());
        assert_eq!(sigmoid(-1e9), 0.0);
        assert_eq!(sigmoid(1e9), 1.0);
    }

    /// Every lane of the AVX-512 e^x against the portable one over a spread of all 2^32 bit patterns
    /// (every 997th), then densely around the ends of the range, where the scaling could round.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx512_exp_gives_the_portable_bits() {
        let Some(lanes) = Avx512::detect() else {
            eprintln!(
                "no AVX-512F on this CPU: the AVX-512 e^x is not used here, nothing to compare"
            );
            return;
        };
        let mut inputs: Vec<f32> = (0..=u32::MAX / 997)
            .map(|i| f32::from_bits(i * 997))
            .collect();
        for edge in [EXP_MIN_ARG, EXP_MAX_ARG, -87.336_54, 0.0, -0.0] {
            let bits = edge.to_bits() as i64;
            inputs.extend((bits - 4096..bits + 4096).map(|b| f32::from_bits(b as u32)));
        }
        inputs.extend([
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::MAX,
            f32::MIN,
            88.73,
            -87.34,
        ]);
        assert_eq!(avx512_mismatches(lanes, &inputs), 0);
        assert!(inputs.len() > 4_000_000);
    }

    /// How many of `inputs` (a whole number of 16-lane chunks) the AVX-512 e^x and the portable one
    /// answer with different bits (NaNs of either payload count as equal).
    fn avx512_mismatches(lanes: Avx512, inputs: &[f32]) -> usize {
        let mut mismatches = 0;
        for chunk in inputs.chunks_exact(LANES) {
            let mut got: [f32; LANES] = chunk.try_into().unwrap();
            lanes.exp16(&mut got);
            for (&x, &g) in chunk.iter().zip(&got) {
                let want = exp(x);
                let same = g.to_bits() == want.to_bits() || (g.is_nan() && want.is_nan());
                if !same {
                    mismatches += 1;
                    eprintln!("e^{x:e}: AVX-512 {g:e}, portable {want:e}");
                }
            }
        }
        mismatches
    }

    /// [`avx512_exp_gives_the_portable_bits`] over all 2^32 inputs (a few minutes; run by hand after
    /// changing either form: `cargo test --lib every_input -- --ignored`).
    #[test]
    #[ignore]
    fn avx512_exp_gives_the_portable_bits_on_every_input() {
        use rayon::prelude::*;
        let Some(lanes) = Avx512::detect() else {
            return;
        };
        let block = 1u64 << 20;
        let mismatches: usize = (0..(1u64 << 32) / block)
            .into_par_iter()
            .map(|b| {
                let inputs: Vec<f32> = (b * block..(b + 1) * block)
                    .map(|i| f32::from_bits(i as u32))
                    .collect();
                avx512_mismatches(lanes, &inputs)
            })
            .sum();
        assert_eq!(mismatches, 0);
    }

    /// The first pass written the plain way (per element, in order): what the chunked loops must equal.
    fn reference_exp_row(x: &mut [f32], bias: Option<&[f32]>, pair: Option<&[f32]>) -> f32 {
        for (j, v) in x.iter_mut().enumerate() {
            *v = *v + bias.map_or(0.0, |b| b[j]) + pair.map_or(0.0, |p| p[j]);
        }
        let max = x
            .iter()
            .fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m });
        let mut lane_sum = [0.0f32; LANES];
        let full = x.len() - x.len() % LANES;
        for (j, v) in x[..full].iter_mut().enumerate() {
            *v = exp(*v - max);
            lane_sum[j % LANES] += *v;
        }
        let mut sum = lane_sum.iter().fold(0.0f32, |s, &v| s + v);
        for v in &mut x[full..] {
            *v = exp(*v - max);
            sum += *v;
        }
        1.0 / sum
    }

    #[test]
    fn softmax_first_pass_equals_the_per_element_reference_for_every_bias_combination() {
        for width in [1, 15, 16, 17, 48, 101] {
            let x: Vec<f32> = (0..width * 3)
                .map(|i| ((i * 7919) % 1000) as f32 * 0.05 - 25.0)
                .collect();
            let bias: Vec<f32> = (0..width)
                .map(|j| if j % 5 == 1 { -1e9 } else { 0.1 * j as f32 })
                .collect();
            let pair: Vec<f32> = x.iter().map(|v| v * 0.3 - 2.0).collect();
            for (b, p) in [(false, false), (true, false), (false, true), (true, true)] {
                let b = b.then_some(bias.as_slice());
                let mut got = x.clone();
                let mut inv = vec![0.0f32; 3];
                exp_rows(&mut got, width, b, p.then_some(pair.as_slice()), &mut inv);
                for (i, row) in x.chunks(width).enumerate() {
                    let mut want = row.to_vec();
                    let pr = p.then(|| &pair[i * width..(i + 1) * width]);
                    let want_inv = reference_exp_row(&mut want, b, pr);
                    assert_eq!(&got[i * width..(i + 1) * width], &want[..], "{width} {b:?}");
                    assert_eq!(inv[i].to_bits(), want_inv.to_bits());
                }
            }
        }
    }

    #[test]
    fn dispatched_and_portable_paths_agree_bit_for_bit() {
        let width = 37; // a remainder after two 16-lane chunks
        let x: Vec<f32> = (0..width * 5)
            .map(|i| ((i * 7919) % 1000) as f32 * 0.05 - 25.0)
            .collect();
        let bias: Vec<f32> = (0..width)
            .map(|j| if j % 5 == 0 { -1e9 } else { 0.1 * j as f32 })
            .collect();
        let pair: Vec<f32> = x.iter().map(|v| v * 0.3).collect();
        let mut fast = x.clone();
        softmax_rows(&mut fast, width, Some(&bias), Some(&pair));
        let mut portable = x.clone();
        softmax_rows_body(Portable, &mut portable, width, Some(&bias), Some(&pair));
        assert_eq!(
            fast.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            portable.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
        for row in fast.chunks(width) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6);
            assert_eq!(row[0], 0.0);
        }
        // The unnormalised rows times their normalisers are the softmax, bit for bit.
        let mut e = x.clone();
        let mut inv = vec![0.0f32; 5];
        exp_rows(&mut e, width, Some(&bias), Some(&pair), &mut inv);
        let mut ep = x.clone();
        let mut invp = vec![0.0f32; 5];
        exp_rows_body(
            Portable,
            &mut ep,
            width,
            Some(&bias),
            Some(&pair),
            &mut invp,
        );
        assert_eq!(e, ep);
        assert_eq!(inv, invp);
        for ((row, s), want) in e.chunks(width).zip(&inv).zip(fast.chunks(width)) {
            for (v, w) in row.iter().zip(want) {
                assert_eq!((v * s).to_bits(), w.to_bits());
            }
        }
        let mut empty: Vec<f32> = Vec::new();
        softmax_rows(&mut empty, 0, None, None); // rows without keys: no panic
        let mut g = x.clone();
        sigmoid_in_place(&mut g);
        let mut gp = x.clone();
        sigmoid_body(Portable, &mut gp);
        assert_eq!(g, gp);
        for (v, &x) in g.iter().zip(&x) {
            assert_eq!(v.to_bits(), sigmoid(x).to_bits());
        }
        let mut gated = x.clone();
        gate_in_place(&mut gated, &pair);
        for ((v, &x), &p) in gated.iter().zip(&x).zip(&pair) {
            assert_eq!(v.to_bits(), (x * sigmoid(p)).to_bits());
        }
        // The one-pass masked, gated projection: the separate passes' bits, dispatched and portable.
        let mask: Vec<f32> = (0..x.len()).map(|i| (i % 3 != 0) as u8 as f32).collect();
        let (mut out, mut scratch) = (vec![f32::NAN; x.len()], pair.clone());
        masked_gated(&mut out, (&x, 0.25), (&mut scratch, -0.5), &mask);
        let (mut outp, mut scratchp) = (vec![f32::NAN; x.len()], pair.clone());
        masked_gated_body(
            Portable,
            &mut outp,
            (&x, 0.25),
            (&mut scratchp, -0.5),
            &mask,
        );
        for (i, (&o, &op)) in out.iter().zip(&outp).enumerate() {
            let want = mask[i] * (x[i] + 0.25) * sigmoid(pair[i] + -0.5);
            assert_eq!(
                (o.to_bits(), op.to_bits()),
                (want.to_bits(), want.to_bits())
            );
        }
    }
}
