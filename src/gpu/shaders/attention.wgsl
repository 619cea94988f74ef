// Gated multi-head self-attention's core (AlphaFold2's `Attention`, Suppl. Alg. 7, 8, 13, 14): for each
// batch entry b, head h and query position q,
//   out[b, q, h, :] = Σ_k softmax_k(q·k + 1e9·(mask[b, k] − 1) + pair_bias[h, q, k]) · v[b, k, h, :]
// with the queries already scaled. The softmax runs online over tiles of 32 keys held in workgroup memory
// (flash-attention style): no [queries × keys] logits tensor exists, so the triangle attentions need no
// chunking. One thread per query, 64 queries per workgroup; keys in one fixed order (deterministic).
//
// Every operand is addressed by strides (elements): q/k at b·qk_sb + n·qk_sn + h·D, v at b·v_sb + n·v_sn +
// h·DV, the output at b·o_sb + n·o_sn + h·DV, the mask at m_off + b·m_sb + k·m_sk, the pair bias at
// h·p_sh + q·p_sq + k·p_sk. Column and ending-node attention are the same kernel with other strides: the
// activations are never transposed.

const D: u32 = {D}u;
const DV: u32 = {DV}u;
const TK: u32 = 32u;

struct Params {
    n: u32, heads: u32, flags: u32, pad0: u32,
    qk_sb: u32, qk_sn: u32, v_sb: u32, v_sn: u32,
    o_sb: u32, o_sn: u32, m_off: u32, m_sb: u32,
    m_sk: u32, p_sh: u32, p_sq: u32, p_sk: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> qb: array<f32>;
@group(0) @binding(2) var<storage, read> kb: array<f32>;
@group(0) @binding(3) var<storage, read> vb: array<f32>;
@group(0) @binding(4) var<storage, read> mask: array<f32>;
@group(0) @binding(5) var<storage, read> pair: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;

var<workgroup> k_tile: array<f32, TK * D>;
var<workgroup> v_tile: array<f32, TK * DV>;

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let b = wg.z;
    let h = wg.y;
    let qi = wg.x * 64u + lid.x;
    let live = qi < p.n;
    var q: array<f32, D>;
    if (live) {
        let qo = b * p.qk_sb + qi * p.qk_sn + h * D;
        for (var i = 0u; i < D; i++) {
            q[i] = qb[qo + i];
        }
    }
    var acc: array<f32, DV>;
    var mx = -3.0e38;
    var l = 0.0;
    for (var k0 = 0u; k0 < p.n; k0 += TK) {
        for (var e = lid.x; e < TK * D; e += 64u) {
            let key = k0 + e / D;
            var val = 0.0;
            if (key < p.n) {
                val = kb[b * p.qk_sb + key * p.qk_sn + h * D + e % D];
            }
            k_tile[e] = val;
        }
        for (var e = lid.x; e < TK * DV; e += 64u) {
            let key = k0 + e / DV;
            var val = 0.0;
            if (key < p.n) {
                val = vb[b * p.v_sb + key * p.v_sn + h * DV + e % DV];
            }
            v_tile[e] = val;
        }
        workgroupBarrier();
        if (live) {
            let count = min(TK, p.n - k0);
            for (var kk = 0u; kk < count; kk++) {
                let key = k0 + kk;
                var s = 0.0;
                for (var i = 0u; i < D; i++) {
                    s = s + q[i] * k_tile[kk * D + i];
                }
                s = s + 1e9 * (mask[p.m_off + b * p.m_sb + key * p.m_sk] - 1.0);
                if ((p.flags & 1u) != 0u) {
                    s = s + pair[h * p.p_sh + qi * p.p_sq + key * p.p_sk];
                }
                if (s > mx) {
                    let corr = ff_exp(mx - s);
                    l = l * corr;
                    for (var i = 0u; i < DV; i++) {
                        acc[i] = acc[i] * corr;
                    }
                    mx = s;
                }
                let w = ff_exp(s - mx);
                l = l + w;
                for (var i = 0u; i < DV; i++) {
                    acc[i] = acc[i] + w * v_tile[kk * DV + i];
                }
            }
        }
        workgroupBarrier();
    }
    if (live) {
        let oo = b * p.o_sb + qi * p.o_sn + h * DV;
        let inv = 1.0 / l;
        for (var i = 0u; i < DV; i++) {
            out[oo + i] = acc[i] * inv;
        }
    }
}
