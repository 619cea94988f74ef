//! Smith-Waterman score with affine gaps, vectorised across the query (Farrar 2007, "striped" layout) in
//! 16-bit lanes: sixteen with AVX2 when the CPU has it, else eight with SSE2 (always present on x86-64).
//! Scores saturate at `i16::MAX`; the caller re-scores saturated pairs with the scalar aligner. Other
//! architectures use the scalar aligner.

use super::align::{GapCosts, BLOSUM62};

/// A query prepared for striped alignment with `lanes` lanes.
pub struct StripedProfile {
    /// `[21][seg_len][lanes]`: lane `k` of segment `s` is query position `s + k·seg_len`.
    profile: Vec<i16>,
    seg_len: usize,
    lanes: usize,
}

/// Lanes the running CPU supports (16 with AVX2, else 8).
pub fn lanes() -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            return 16;
        }
    }
    8
}

impl StripedProfile {
    pub fn new(query: &[u8]) -> Self {
        Self::with_lanes(query, lanes())
    }

    pub(crate) fn with_lanes(query: &[u8], lanes: usize) -> Self {
        let m = query.len();
        let seg_len = m.div_ceil(lanes).max(1);
        let mut profile = vec![0i16; 21 * seg_len * lanes];
        for (idx, v) in profile.iter_mut().enumerate() {
            let (r, rest) = (idx / (seg_len * lanes), idx % (seg_len * lanes));
            let (s, k) = (rest / lanes, rest % lanes);
            let i = s + k * seg_len;
            // Positions past the query end score very low so they never start an alignment.
            *v = if i < m {
                BLOSUM62[query[i] as usize][r] as i16
            } else {
                -1000
            };
        }
        Self {
            profile,
            seg_len,
            lanes,
        }
    }
}

/// Scratch space reused across targets.
#[derive(Default)]
pub struct Scratch {
    h_load: Vec<i16>,
    h_store: Vec<i16>,
    e: Vec<i16>,
}

impl Scratch {
    fn reset(&mut self, n: usize) {
        for v in [&mut self.h_load, &mut self.h_store, &mut self.e] {
            v.clear();
            v.resize(n, 0);
        }
    }
}

/// Best local alignment score of the profile's query against `target`.
#[cfg(target_arch = "x86_64")]
pub(crate) fn score(p: &StripedProfile, target: &[u8], gaps: GapCosts, s: &mut Scratch) -> i32 {
    s.reset(p.seg_len * p.lanes);
    if p.lanes == 16 && std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 was detected at run time; all loads and stores stay inside vectors of
        // `seg_len * 16` elements (unaligned intrinsics).
        unsafe { avx2::score(p, target, gaps, s) }
    } else {
        assert_eq!(p.lanes, 8, "profile built for another lane count");
        // SAFETY: SSE2 is part of the x86-64 baseline; accesses stay inside vectors of `seg_len * 8`.
        unsafe { sse2::score(p, target, gaps, s) }
    }
}

/// Generates the striped kernel for one instruction set: the same algorithm, only the vector width and
/// the intrinsics differ.
macro_rules! striped_kernel {
    ($modname:ident, $feature:literal, $lanes:expr, $vec:ty, $load:ident, $store:ident, $set1:ident, $zero:ident,
     $adds:ident, $subs:ident, $max:ident, $cmpgt:ident, $movemask:ident, $shift_in:expr) => {
        #[cfg(target_arch = "x86_64")]
        mod $modname {
            use std::arch::x86_64::*;

            use super::{GapCosts, Scratch, StripedProfile};

            #[target_feature(enable = $feature)]
            #[allow(clippy::needless_range_loop)] // the striped layout indexes several arrays by segment
            pub(super) unsafe fn score(
                p: &StripedProfile,
                target: &[u8],
                gaps: GapCosts,
                s: &mut Scratch,
            ) -> i32 {
                const L: usize = $lanes;
                let seg = p.seg_len;
                let ld =
                    |a: &[i16], j: usize| unsafe { $load(a.as_ptr().add(j * L) as *const $vec) };
                let st = |a: &mut [i16], j: usize, v: $vec| unsafe {
                    $store(a.as_mut_ptr().add(j * L) as *mut $vec, v)
                };
                let shift_in = $shift_in;
                let v_open = $set1((gaps.open + gaps.extend) as i16);
                let v_ext = $set1(gaps.extend as i16);
                let v_zero = $zero();
                let v_neg = $set1(i16::MIN);
                let mut v_max = v_zero;
                for &t in target {
                    let prof = &p.profile[t as usize * seg * L..(t as usize + 1) * seg * L];
                    let mut v_f = v_neg;
                    // H of the last segment moved up one lane: the diagonal predecessor of segment 0.
                    let mut v_h = shift_in(ld(&s.h_store, seg - 1), 0);
                    std::mem::swap(&mut s.h_load, &mut s.h_store);
                    for j in 0..seg {
                        v_h = $adds(v_h, ld(prof, j));
                        let v_e = ld(&s.e, j);
                        v_h = $max(v_h, v_e);
                        v_h = $max(v_h, v_f);
                        v_h = $max(v_h, v_zero);
                        v_max = $max(v_max, v_h);
                        st(&mut s.h_store, j, v_h);
                        let v_h_open = $subs(v_h, v_open);
                        st(&mut s.e, j, $max($subs(v_e, v_ext), v_h_open));
                        v_f = $max($subs(v_f, v_ext), v_h_open);
                        v_h = ld(&s.h_load, j);
                    }
                    // Lazy F: carry vertical gaps across segment boundaries until they no longer improve H.
                    let mut j = 0;
                    v_f = shift_in(v_f, i16::MIN);
                    loop {
                        let v_h = ld(&s.h_store, j);
                        if $movemask($cmpgt(v_f, $subs(v_h, v_open))) == 0 {
                            break;
                        }
                        let v_h = $max(v_h, v_f);
                        st(&mut s.h_store, j, v_h);
                        v_max = $max(v_max, v_h);
                        let v_e = ld(&s.e, j);
                        st(&mut s.e, j, $max(v_e, $subs(v_h, v_open)));
                        v_f = $subs(v_f, v_ext);
                        j += 1;
                        if j >= seg {
                            j = 0;
                            v_f = shift_in(v_f, i16::MIN);
                        }
                    }
                }
                let mut lanes = [0i16; L];
                unsafe { $store(lanes.as_mut_ptr() as *mut $vec, v_max) };
                lanes.iter().copied().max().unwrap_or(0) as i32
            }
        }
    };
}

striped_kernel!(
    sse2,
    "sse2",
    8,
    __m128i,
    _mm_loadu_si128,
    _mm_storeu_si128,
    _mm_set1_epi16,
    _mm_setzero_si128,
    _mm_adds_epi16,
    _mm_subs_epi16,
    _mm_max_epi16,
    _mm_cmpgt_epi16,
    _mm_movemask_epi8,
    // Every lane moves to the next query block; lane 0 receives `fill`.
    |v: __m128i, fill: i16| _mm_insert_epi16::<0>(_mm_slli_si128::<2>(v), fill as i32)
);

striped_kernel!(
    avx2,
    "avx2",
    16,
    __m256i,
    _mm256_loadu_si256,
    _mm256_storeu_si256,
    _mm256_set1_epi16,
    _mm256_setzero_si256,
    _mm256_adds_epi16,
    _mm256_subs_epi16,
    _mm256_max_epi16,
    _mm256_cmpgt_epi16,
    _mm256_movemask_epi8,
    // Shift by one 16-bit lane across the two 128-bit halves (alignr against the low half moved up).
    |v: __m256i, fill: i16| _mm256_insert_epi16::<0>(
        _mm256_alignr_epi8::<14>(v, _mm256_permute2x128_si256::<0x08>(v, v)),
        fill
    )
);

/// The query for a first, 8-bit pass (Farrar's unsigned variant): 32 lanes with AVX2, substitution
/// scores biased by `bias` so they are unsigned. Most database sequences score far below 255, so twice the
/// lanes of the 16-bit kernel decide them; a pair whose score could have saturated is re-scored in 16 bits.
pub struct BytesProfile {
    /// `[21][seg_len][lanes]`, scores + `bias` (positions past the query end: 0, i.e. −bias).
    profile: Vec<u8>,
    /// 64 with AVX-512BW, else 32 (AVX2).
    lanes: usize,
    seg_len: usize,
    bias: u8,
    /// The largest biased score: cells can saturate only once an H reaches 255 minus this.
    largest: u8,
}

impl BytesProfile {
    /// `None` when the CPU has no AVX2 (the 16-bit kernel is used alone then); 64 lanes with AVX-512BW.
    pub fn new(query: &[u8]) -> Option<Self> {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512bw") {
            return Self::with_lanes(query, 64);
        }
        Self::with_lanes(query, 32)
    }

    /// A profile for `lanes` (32: AVX2, 64: AVX-512BW) bytes per vector; `None` if the CPU lacks them.
    pub(crate) fn with_lanes(query: &[u8], lanes: usize) -> Option<Self> {
        #[cfg(target_arch = "x86_64")]
        {
            let supported = match lanes {
                32 => std::arch::is_x86_feature_detected!("avx2"),
                64 => {
                    std::arch::is_x86_feature_detected!("avx2")
                        && std::arch::is_x86_feature_detected!("avx512bw")
                }
                _ => false,
            };
            if !supported {
                return None;
            }
            let bias = BLOSUM62
                .iter()
                .flatten()
                .map(|&v| -(v as i32))
                .max()
                .unwrap_or(0)
                .max(0) as u8;
            let m = query.len();
            let seg_len = m.div_ceil(lanes).max(1);
            let mut profile = vec![0u8; 21 * seg_len * lanes];
            for (idx, v) in profile.iter_mut().enumerate() {
                let (r, rest) = (idx / (seg_len * lanes), idx % (seg_len * lanes));
                let (seg, k) = (rest / lanes, rest % lanes);
                let i = seg + k * seg_len;
                *v = if i < m {
                    (BLOSUM62[query[i] as usize][r] as i32 + bias as i32) as u8
                } else {
                    0
                };
            }
            let largest = profile.iter().copied().max().unwrap_or(0);
            Some(Self {
                profile,
                lanes,
                seg_len,
                bias,
                largest,
            })
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = (query, lanes);
            None
        }
    }
}

impl BytesProfile {
    /// Scores from this value up are past the 8-bit kernel's range ([`score_bytes`] answers `None`).
    pub(crate) fn saturation_score(&self) -> i32 {
        255 - self.largest as i32
    }
}

/// Scratch space of the 8-bit kernel, reused across targets.
#[derive(Default)]
pub struct ByteScratch {
    h_load: Vec<u8>,
    h_store: Vec<u8>,
    e: Vec<u8>,
}

/// The best local alignment score in 8 bits, or `None` when it reaches the range where a cell could have
/// saturated (the caller re-scores in 16 bits then).
#[cfg(target_arch = "x86_64")]
pub(crate) fn score_bytes(
    p: &BytesProfile,
    target: &[u8],
    gaps: GapCosts,
    s: &mut ByteScratch,
) -> Option<i32> {
    let n = p.seg_len * p.lanes;
    for v in [&mut s.h_load, &mut s.h_store, &mut s.e] {
        v.clear();
        v.resize(n, 0);
    }
    if gaps.open + gaps.extend > 255 || gaps.extend > 255 || gaps.extend < 1 {
        return None;
    }
    // SAFETY: a BytesProfile exists only where AVX2 was detected, with 64 lanes only where AVX-512BW was;
    // loads and stores stay inside vectors of `seg_len * lanes` bytes (unaligned intrinsics).
    let best = unsafe {
        if p.lanes == 64 {
            bytes_avx512::score(p, target, gaps, s)
        } else {
            bytes_avx2::score(p, target, gaps, s)
        }
    };
    // A cell can saturate only once some H reached 255 − (largest biased score); every H is in `best`.
    (best < p.saturation_score()).then_some(best)
}

/// Farrar's striped 8-bit kernel over one vector width: `$lanes` unsigned bytes per vector, the vector
/// operations passed in (saturating add/sub, max, load/store, shift by one lane, all-zero test).
macro_rules! byte_kernel {
    ($module:ident, $feature:literal, $lanes:expr, $vec:ty,
     load: $load:path, store: $store:path, adds: $adds:path, subs: $subs:path, max: $max:path,
     set1: $set1:path, zero: $zero:path, shift_in: $shift_in:expr, all_zero: $all_zero:expr) => {
        #[cfg(target_arch = "x86_64")]
        mod $module {
            use std::arch::x86_64::*;

            use super::{ByteScratch, BytesProfile, GapCosts};

            #[target_feature(enable = $feature)]
            #[allow(clippy::needless_range_loop)]
            pub(super) unsafe fn score(
                p: &BytesProfile,
                target: &[u8],
                gaps: GapCosts,
                s: &mut ByteScratch,
            ) -> i32 {
                const L: usize = $lanes;
                // Closures inside this function share its target features (and inline).
                let shift_in = $shift_in;
                let all_zero = $all_zero;
                let seg = p.seg_len;
                let ld = |a: &[u8], j: usize| unsafe { $load(a.as_ptr().add(j * L) as *const _) };
                let st = |a: &mut [u8], j: usize, v: $vec| unsafe {
                    $store(a.as_mut_ptr().add(j * L) as *mut _, v)
                };
                let v_bias = $set1(p.bias as i8);
                let v_open = $set1((gaps.open + gaps.extend) as u8 as i8);
                let v_ext = $set1(gaps.extend as u8 as i8);
                let v_zero = $zero();
                let mut v_max = v_zero;
                for &t in target {
                    let prof = &p.profile[t as usize * seg * L..(t as usize + 1) * seg * L];
                    // 0 is minus infinity here: every score is floored at 0 (local alignment).
                    let mut v_f = v_zero;
                    let mut v_h = shift_in(ld(&s.h_store, seg - 1));
                    std::mem::swap(&mut s.h_load, &mut s.h_store);
                    for j in 0..seg {
                        v_h = $subs($adds(v_h, ld(prof, j)), v_bias);
                        let v_e = ld(&s.e, j);
                        v_h = $max(v_h, v_e);
                        v_h = $max(v_h, v_f);
                        v_max = $max(v_max, v_h);
                        st(&mut s.h_store, j, v_h);
                        let v_h_open = $subs(v_h, v_open);
                        st(&mut s.e, j, $max($subs(v_e, v_ext), v_h_open));
                        v_f = $max($subs(v_f, v_ext), v_h_open);
                        v_h = ld(&s.h_load, j);
                    }
                    // Lazy F, as in the 16-bit kernel; F > H − open ⇔ F −sat (H −sat open) ≠ 0.
                    let mut j = 0;
                    v_f = shift_in(v_f);
                    loop {
                        let v_h = ld(&s.h_store, j);
                        if all_zero($subs(v_f, $subs(v_h, v_open))) {
                            break;
                        }
                        let v_h = $max(v_h, v_f);
                        st(&mut s.h_store, j, v_h);
                        v_max = $max(v_max, v_h);
                        let v_e = ld(&s.e, j);
                        st(&mut s.e, j, $max(v_e, $subs(v_h, v_open)));
                        v_f = $subs(v_f, v_ext);
                        j += 1;
                        if j >= seg {
                            j = 0;
                            v_f = shift_in(v_f);
                        }
                    }
                }
                let mut lanes = [0u8; L];
                unsafe { $store(lanes.as_mut_ptr() as *mut _, v_max) };
                lanes.iter().copied().max().unwrap_or(0) as i32
            }
        }
    };
}

byte_kernel!(bytes_avx2, "avx2", 32, __m256i,
    load: _mm256_loadu_si256, store: _mm256_storeu_si256, adds: _mm256_adds_epu8,
    subs: _mm256_subs_epu8, max: _mm256_max_epu8, set1: _mm256_set1_epi8, zero: _mm256_setzero_si256,
    // Every byte moves up one lane (across the two 128-bit halves); lane 0 receives 0.
    shift_in: |v: __m256i| _mm256_alignr_epi8::<15>(v, _mm256_permute2x128_si256::<0x08>(v, v)),
    all_zero: |v: __m256i| _mm256_movemask_epi8(_mm256_cmpeq_epi8(v, _mm256_setzero_si256())) == -1);

byte_kernel!(bytes_avx512, "avx512bw", 64, __m512i,
    load: _mm512_loadu_si512, store: _mm512_storeu_si512, adds: _mm512_adds_epu8,
    subs: _mm512_subs_epu8, max: _mm512_max_epu8, set1: _mm512_set1_epi8, zero: _mm512_setzero_si512,
    // Every byte moves up one lane: each 128-bit block takes its top byte from the block below
    // (`alignr_epi64` by 6 brings the blocks up one, block 0 receives zeros).
    shift_in: |v: __m512i| {
        _mm512_alignr_epi8::<15>(v, _mm512_alignr_epi64::<6>(v, _mm512_setzero_si512()))
    },
    all_zero: |v: __m512i| _mm512_cmpeq_epi8_mask(v, _mm512_setzero_si512()) == u64::MAX);

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;
    use crate::search::align::{profile, sw_score};

    #[test]
    fn striped_equals_scalar_on_random_pairs() {
        let mut rng = crate::rng::Rng::new(11);
        let (mut h, mut e) = (Vec::new(), Vec::new());
        let mut s = Scratch::default();
        let mut bs = ByteScratch::default();
        let mut eight_bit = 0;
        let widths: Vec<usize> = if std::arch::is_x86_feature_detected!("avx2") {
            vec![8, 16]
        } else {
            vec![8]
        };
        for round in 0..300 {
            let m = 1 + rng.below(120);
            let n = 1 + rng.below(200);
            let q: Vec<u8> = (0..m).map(|_| rng.below(21) as u8).collect();
            // Targets related to the query half of the time, so long gapped alignments occur.
            let t: Vec<u8> = if round % 2 == 0 {
                (0..n).map(|_| rng.below(21) as u8).collect()
            } else {
                let mut t = Vec::new();
                for &c in &q {
                    match rng.below(10) {
                        0 => {}
                        1 => {
                            t.push(c);
                            t.push(rng.below(20) as u8);
                            t.push(rng.below(20) as u8);
                        }
                        2 => t.push(rng.below(20) as u8),
                        _ => t.push(c),
                    }
                }
                t
            };
            let gaps = GapCosts::default();
            let want = sw_score(&profile(&q), &t, gaps, &mut h, &mut e);
            for lanes in [32, 64] {
                if let Some(bp) = BytesProfile::with_lanes(&q, lanes) {
                    if let Some(got) = score_bytes(&bp, &t, gaps, &mut bs) {
                        assert_eq!(
                            got,
                            want,
                            "round {round}, 8 bits × {lanes}: m {m}, n {}",
                            t.len()
                        );
                        eight_bit += (lanes == 32) as usize;
                    }
                }
            }
            for &w in &widths {
                let got = score(&StripedProfile::with_lanes(&q, w), &t, gaps, &mut s);
                assert_eq!(got, want, "round {round}, {w} lanes: m {m}, n {}", t.len());
            }
        }
        if let Some(bp) = BytesProfile::new(&[0]) {
            assert!(
                eight_bit > 250,
                "8-bit pass decided only {eight_bit} of 300"
            );
            // A score past the 8-bit range is left to the 16-bit kernel.
            let w: Vec<u8> = vec![18; 100];
            let bp2 = BytesProfile::new(&w).unwrap();
            assert_eq!(score_bytes(&bp2, &w, GapCosts::default(), &mut bs), None);
            let _ = bp;
        }
    }
}
