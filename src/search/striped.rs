//! Smith-Waterman score with affine gaps, vectorised across the query (Farrar 2007, "striped" layout),
//! eight 16-bit lanes with SSE2 (always present on x86-64). Scores saturate at `i16::MAX`; the caller
//! re-scores saturated pairs with the scalar aligner. Other architectures use the scalar aligner.

use super::align::{GapCosts, BLOSUM62};

/// A query prepared for striped alignment.
pub struct StripedProfile {
    /// `[21][seg_len]` vectors of 8 lanes: lane `k` of segment `s` is query position `s + k·seg_len`.
    profile: Vec<[i16; 8]>,
    seg_len: usize,
}

impl StripedProfile {
    #[allow(clippy::needless_range_loop)]
    pub fn new(query: &[u8]) -> Self {
        let m = query.len();
        let seg_len = m.div_ceil(8).max(1);
        let mut profile = vec![[0i16; 8]; 21 * seg_len];
        for r in 0..21 {
            for s in 0..seg_len {
                for k in 0..8 {
                    let i = s + k * seg_len;
                    // Positions past the query end score very low so they never start an alignment.
                    profile[r * seg_len + s][k] = if i < m {
                        BLOSUM62[query[i] as usize][r] as i16
                    } else {
                        -1000
                    };
                }
            }
        }
        Self { profile, seg_len }
    }
}

/// Scratch space reused across targets.
#[derive(Default)]
pub struct Scratch {
    h_load: Vec<[i16; 8]>,
    h_store: Vec<[i16; 8]>,
    e: Vec<[i16; 8]>,
}

#[cfg(target_arch = "x86_64")]
pub fn score(p: &StripedProfile, target: &[u8], gaps: GapCosts, s: &mut Scratch) -> i32 {
    // SAFETY: SSE2 is part of the x86-64 baseline; loads/stores use unaligned intrinsics on `[i16; 8]`.
    unsafe { score_sse2(p, target, gaps, s) }
}

#[cfg(not(target_arch = "x86_64"))]
pub fn score(p: &StripedProfile, target: &[u8], gaps: GapCosts, _s: &mut Scratch) -> i32 {
    unimplemented_fallback(p, target, gaps)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
#[allow(clippy::needless_range_loop)] // the striped layout indexes several arrays by segment
unsafe fn score_sse2(p: &StripedProfile, target: &[u8], gaps: GapCosts, s: &mut Scratch) -> i32 {
    use std::arch::x86_64::*;
    let seg = p.seg_len;
    let zero = [0i16; 8];
    s.h_load.clear();
    s.h_load.resize(seg, zero);
    s.h_store.clear();
    s.h_store.resize(seg, zero);
    s.e.clear();
    s.e.resize(seg, zero);
    let ld = |a: &[i16; 8]| unsafe { _mm_loadu_si128(a.as_ptr() as *const __m128i) };
    let st = |a: &mut [i16; 8], v: __m128i| unsafe {
        _mm_storeu_si128(a.as_mut_ptr() as *mut __m128i, v)
    };
    let v_open = _mm_set1_epi16((gaps.open + gaps.extend) as i16);
    let v_ext = _mm_set1_epi16(gaps.extend as i16);
    let v_zero = _mm_setzero_si128();
    let v_neg = _mm_set1_epi16(i16::MIN);
    let mut v_max = v_zero;
    for &t in target {
        let prof = &p.profile[t as usize * seg..(t as usize + 1) * seg];
        let mut v_f = v_neg;
        // H of the last segment, shifted by one lane: the diagonal predecessor of segment 0.
        let mut v_h = _mm_slli_si128(ld(&s.h_store[seg - 1]), 2);
        std::mem::swap(&mut s.h_load, &mut s.h_store);
        for j in 0..seg {
            v_h = _mm_adds_epi16(v_h, ld(&prof[j]));
            let v_e = ld(&s.e[j]);
            v_h = _mm_max_epi16(v_h, v_e);
            v_h = _mm_max_epi16(v_h, v_f);
            v_h = _mm_max_epi16(v_h, v_zero);
            v_max = _mm_max_epi16(v_max, v_h);
            st(&mut s.h_store[j], v_h);
            let v_h_open = _mm_subs_epi16(v_h, v_open);
            st(
                &mut s.e[j],
                _mm_max_epi16(_mm_subs_epi16(v_e, v_ext), v_h_open),
            );
            v_f = _mm_max_epi16(_mm_subs_epi16(v_f, v_ext), v_h_open);
            v_h = ld(&s.h_load[j]);
        }
        // Lazy F: carry vertical gaps across segment boundaries until they no longer improve H.
        let mut j = 0;
        // Shifting moves each lane to the next query block; lane 0 receives "no gap" (−∞).
        v_f = _mm_insert_epi16(_mm_slli_si128(v_f, 2), i16::MIN as i32, 0);
        loop {
            let v_h = ld(&s.h_store[j]);
            let gt = _mm_cmpgt_epi16(v_f, _mm_subs_epi16(v_h, v_open));
            if _mm_movemask_epi8(gt) == 0 {
                break;
            }
            let v_h = _mm_max_epi16(v_h, v_f);
            st(&mut s.h_store[j], v_h);
            v_max = _mm_max_epi16(v_max, v_h);
            // A better H can open a better horizontal gap too.
            let v_e = ld(&s.e[j]);
            st(&mut s.e[j], _mm_max_epi16(v_e, _mm_subs_epi16(v_h, v_open)));
            v_f = _mm_subs_epi16(v_f, v_ext);
            j += 1;
            if j >= seg {
                j = 0;
                v_f = _mm_insert_epi16(_mm_slli_si128(v_f, 2), i16::MIN as i32, 0);
            }
        }
    }
    let mut lanes = [0i16; 8];
    st(&mut lanes, v_max);
    lanes.iter().copied().max().unwrap_or(0) as i32
}

#[cfg(not(target_arch = "x86_64"))]
fn unimplemented_fallback(p: &StripedProfile, target: &[u8], gaps: GapCosts) -> i32 {
    let _ = (p, target, gaps);
    unreachable!("callers use the scalar aligner off x86-64")
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;
    use crate::search::align::{profile, sw_score};

    #[test]
    fn striped_equals_scalar_on_random_pairs() {
        let mut rng = crate::model::input_pipeline::Rng::new(11);
        let (mut h, mut e) = (Vec::new(), Vec::new());
        let mut s = Scratch::default();
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
            let got = score(&StripedProfile::new(&q), &t, gaps, &mut s);
            assert_eq!(got, want, "round {round}: m {m}, n {}", t.len());
        }
    }
}
