// Batched, strided GEMM: C[b] (=|+=) epilogue(alpha · A[b] @ B[b]). Every operand is addressed through
// offsets and strides (elements), so transposed operands, per-head slices, channel-major outputs and the
// views of the triangle updates need no copies. 64 threads with 8×8 outputs each (two vec4 loads of A and
// two of B feed 64 multiply-adds), WX × (64 / WX) of them: TM × TN = 8·(64 / WX) × 8·WX output tiles,
// KT-deep K tiles in workgroup memory held as vec4s. WX = 8 (64 × 64 tiles, KT = 16) in general; narrow
// products (the pair-bias projections: n = heads; the outer product mean's 32-channel projections; the
// tiny models' 16-channel pair projections) take WX = 4, 2 or 1 (128 × 32, 256 × 16, 512 × 8; `GEMM_TILES`
// in ops.rs), instead of filling a half to an eighth of a 64-wide tile.
// Each output sums its K terms in one fixed order, k = 0, 1, 2, … whatever the tile shape (the same bits
// from every variant; deterministic, no atomics). Before: 256 threads with 4×4 outputs and scalar tile
// reads, 1.8-2.6× slower on lavapipe (CI's adapter) at the engine's shapes.
//
// Epilogue, in this order (the CPU engine's order of operations):
//   v = acc · alpha; v += bias[n] (flag 1); v = max(v, 0) (2); v *= rs[row] (4); v /= eps + rs[row] (8);
//   C = v, or C += v (16).

const WX: u32 = {WX}u;
const WY: u32 = 64u / WX;
const TM4: u32 = 2u * WY; // the tile's rows / 4
const TN4: u32 = 2u * WX; // its columns / 4
const KT: u32 = {KT}u;

struct Params {
    m: u32, n: u32, k: u32, flags: u32,
    a_off: u32, a_sb: u32, a_sm: u32, a_sk: u32,
    b_off: u32, b_sb: u32, b_sk: u32, b_sn: u32,
    c_off: u32, c_sb: u32, c_sm: u32, c_sn: u32,
    bias_off: u32, rs_off: u32, rs_sb: u32, rs_sm: u32,
    m_base: u32, alpha: f32, eps: f32, pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> rs: array<f32>;
@group(0) @binding(5) var<storage, read_write> c: array<f32>;

var<workgroup> a_tile: array<vec4<f32>, KT * TM4>; // [KT k][TM4 × 4 m]
var<workgroup> b_tile: array<vec4<f32>, KT * TN4>; // [KT k][TN4 × 4 n]

// Thread (x, y) owns rows 8y..8y+7 and columns 8x..8x+7 of the tile: accN / bccN hold row N's columns
// 8x..8x+3 / 8x+4..8x+7.
@compute @workgroup_size(WX, WY, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let batch = wg.z;
    let row0 = p.m_base + wg.y * (4u * TM4);
    let col0 = wg.x * (4u * TN4);
    let tid = lid.y * WX + lid.x;
    let a_base = p.a_off + batch * p.a_sb;
    let b_base = p.b_off + batch * p.b_sb;
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    var acc4 = vec4<f32>(0.0);
    var acc5 = vec4<f32>(0.0);
    var acc6 = vec4<f32>(0.0);
    var acc7 = vec4<f32>(0.0);
    var bcc0 = vec4<f32>(0.0);
    var bcc1 = vec4<f32>(0.0);
    var bcc2 = vec4<f32>(0.0);
    var bcc3 = vec4<f32>(0.0);
    var bcc4 = vec4<f32>(0.0);
    var bcc5 = vec4<f32>(0.0);
    var bcc6 = vec4<f32>(0.0);
    var bcc7 = vec4<f32>(0.0);
    for (var k0 = 0u; k0 < p.k; k0 += KT) {
        // Tile loads, four consecutive rows (columns) per thread and step, stored as one vec4;
        // consecutive threads take consecutive addresses along whichever axis is contiguous.
        for (var e = 0u; e < KT * TM4 / 64u; e++) {
            let idx = tid + e * 64u;
            var kk = idx / TM4;
            var m4 = idx % TM4;
            if (p.a_sk == 1u) {
                kk = idx % KT;
                m4 = idx / KT;
            }
            a_tile[kk * TM4 + m4] = load4(true, a_base, row0 + m4 * 4u, p.a_sm, k0 + kk, p.a_sk, p.m);
        }
        for (var e = 0u; e < (KT * TN4 + 63u) / 64u; e++) {
            let idx = tid + e * 64u;
            if (idx >= KT * TN4) {
                break;
            }
            var kb = idx / TN4;
            var n4 = idx % TN4;
            if (p.b_sn != 1u && p.b_sk == 1u) {
                kb = idx % KT;
                n4 = idx / KT;
            }
            b_tile[kb * TN4 + n4] = load4(false, b_base, col0 + n4 * 4u, p.b_sn, k0 + kb, p.b_sk, p.n);
        }
        workgroupBarrier();
        // Sixteen vec4 accumulators (8 rows × 2 × 4 columns) as named variables, no dynamically
        // indexed arrays, so compilers keep them in registers.
        for (var kk = 0u; kk < KT; kk++) {
            let a0 = a_tile[kk * TM4 + lid.y * 2u];
            let a1 = a_tile[kk * TM4 + lid.y * 2u + 1u];
            let b0 = b_tile[kk * TN4 + lid.x * 2u];
            let b1 = b_tile[kk * TN4 + lid.x * 2u + 1u];
            acc0 = acc0 + a0.x * b0;
            acc1 = acc1 + a0.y * b0;
            acc2 = acc2 + a0.z * b0;
            acc3 = acc3 + a0.w * b0;
            acc4 = acc4 + a1.x * b0;
            acc5 = acc5 + a1.y * b0;
            acc6 = acc6 + a1.z * b0;
            acc7 = acc7 + a1.w * b0;
            bcc0 = bcc0 + a0.x * b1;
            bcc1 = bcc1 + a0.y * b1;
            bcc2 = bcc2 + a0.z * b1;
            bcc3 = bcc3 + a0.w * b1;
            bcc4 = bcc4 + a1.x * b1;
            bcc5 = bcc5 + a1.y * b1;
            bcc6 = bcc6 + a1.z * b1;
            bcc7 = bcc7 + a1.w * b1;
        }
        workgroupBarrier();
    }
    let gm0 = row0 + lid.y * 8u;
    let gn0 = col0 + lid.x * 8u;
    put(batch, gm0, gn0, acc0);
    put(batch, gm0 + 1u, gn0, acc1);
    put(batch, gm0 + 2u, gn0, acc2);
    put(batch, gm0 + 3u, gn0, acc3);
    put(batch, gm0 + 4u, gn0, acc4);
    put(batch, gm0 + 5u, gn0, acc5);
    put(batch, gm0 + 6u, gn0, acc6);
    put(batch, gm0 + 7u, gn0, acc7);
    put(batch, gm0, gn0 + 4u, bcc0);
    put(batch, gm0 + 1u, gn0 + 4u, bcc1);
    put(batch, gm0 + 2u, gn0 + 4u, bcc2);
    put(batch, gm0 + 3u, gn0 + 4u, bcc3);
    put(batch, gm0 + 4u, gn0 + 4u, bcc4);
    put(batch, gm0 + 5u, gn0 + 4u, bcc5);
    put(batch, gm0 + 6u, gn0 + 4u, bcc6);
    put(batch, gm0 + 7u, gn0 + 4u, bcc7);
}

fn put(batch: u32, gm: u32, gn0: u32, acc: vec4<f32>) {
    if (gm >= p.m) {
        return;
    }
    var r = 0.0;
    if ((p.flags & 12u) != 0u) {
        r = rs[p.rs_off + batch * p.rs_sb + gm * p.rs_sm];
    }
    let rowc = p.c_off + batch * p.c_sb + gm * p.c_sm;
    for (var j = 0u; j < 4u; j++) {
        let gn = gn0 + j;
        if (gn >= p.n) {
            return;
        }
        var v = acc[j] * p.alpha;
        if ((p.flags & 1u) != 0u) {
            v = v + bias[p.bias_off + gn];
        }
        if ((p.flags & 2u) != 0u) {
            v = max(v, 0.0);
        }
        if ((p.flags & 4u) != 0u) {
            v = v * r;
        }
        if ((p.flags & 8u) != 0u) {
            v = v / (p.eps + r);
        }
        let ci = rowc + gn * p.c_sn;
        if ((p.flags & 16u) != 0u) {
            c[ci] = c[ci] + v;
        } else {
            c[ci] = v;
        }
    }
}

// A's (`from_a`) or B's elements [base + (r + i)·sr + k·sk] for i = 0..3, zero outside [0, rows) × [0, K).
fn load4(from_a: bool, base: u32, r: u32, sr: u32, k: u32, sk: u32, rows: u32) -> vec4<f32> {
    var v = vec4<f32>(0.0);
    if (k < p.k) {
        let o = base + r * sr + k * sk;
        for (var i = 0u; i < 4u; i++) {
            if (r + i < rows) {
                v[i] = at(from_a, o + i * sr);
            }
        }
    }
    return v;
}

fn at(from_a: bool, i: u32) -> f32 {
    if (from_a) {
        return a[i];
    }
    return b[i];
}
