// Batched, strided GEMM: C[b] (=|+=) epilogue(alpha · A[b] @ B[b]). Every operand is addressed through
// offsets and strides (elements), so transposed operands, per-head slices, channel-major outputs and the
// views of the triangle updates need no copies. 64×64 output tiles, 16-deep K tiles in workgroup memory,
// 4×4 outputs per thread (strided by 16); each output sums its K terms in one fixed order (deterministic, no atomics).
//
// Epilogue, in this order (the CPU engine's order of operations):
//   v = acc · alpha; v += bias[n] (flag 1); v = max(v, 0) (2); v *= rs[row] (4); v /= eps + rs[row] (8);
//   C = v, or C += v (16).

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

var<workgroup> a_tile: array<f32, 1024>; // [16 k][64 m]
var<workgroup> b_tile: array<f32, 1024>; // [16 k][64 n]

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let batch = wg.z;
    let row0 = p.m_base + wg.y * 64u;
    let col0 = wg.x * 64u;
    let tid = lid.y * 16u + lid.x;
    let a_base = p.a_off + batch * p.a_sb;
    let b_base = p.b_off + batch * p.b_sb;
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    for (var k0 = 0u; k0 < p.k; k0 += 16u) {
        // Tile loads: consecutive threads take consecutive addresses along whichever axis is contiguous.
        for (var e = 0u; e < 4u; e++) {
            let idx = tid + e * 256u;
            var kk = idx / 64u;
            var mm = idx % 64u;
            if (p.a_sk == 1u) {
                kk = idx % 16u;
                mm = idx / 16u;
            }
            let gk = k0 + kk;
            let gm = row0 + mm;
            var va = 0.0;
            if (gm < p.m && gk < p.k) {
                va = a[a_base + gm * p.a_sm + gk * p.a_sk];
            }
            a_tile[kk * 64u + mm] = va;
            var kb = idx / 64u;
            var nn = idx % 64u;
            if (p.b_sn != 1u && p.b_sk == 1u) {
                kb = idx % 16u;
                nn = idx / 16u;
            }
            let gkb = k0 + kb;
            let gn = col0 + nn;
            var vb = 0.0;
            if (gn < p.n && gkb < p.k) {
                vb = b[b_base + gkb * p.b_sk + gn * p.b_sn];
            }
            b_tile[kb * 64u + nn] = vb;
        }
        workgroupBarrier();
        // Each thread owns rows lid.y + 16·i and columns lid.x + 16·j of the tile: four vec4
        // accumulators (rows), no dynamically indexed arrays, so compilers keep them in registers.
        for (var kk = 0u; kk < 16u; kk++) {
            let ab = kk * 64u + lid.y;
            let bb = kk * 64u + lid.x;
            let av = vec4<f32>(a_tile[ab], a_tile[ab + 16u], a_tile[ab + 32u], a_tile[ab + 48u]);
            let bv = vec4<f32>(b_tile[bb], b_tile[bb + 16u], b_tile[bb + 32u], b_tile[bb + 48u]);
            acc0 = acc0 + av.x * bv;
            acc1 = acc1 + av.y * bv;
            acc2 = acc2 + av.z * bv;
            acc3 = acc3 + av.w * bv;
        }
        workgroupBarrier();
    }
    let accs = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
    for (var i = 0u; i < 4u; i++) {
        let gm = row0 + lid.y + 16u * i;
        if (gm >= p.m) {
            continue;
        }
        for (var j = 0u; j < 4u; j++) {
            let gn = col0 + lid.x + 16u * j;
            if (gn >= p.n) {
                continue;
            }
            var v = accs[i][j] * p.alpha;
            if ((p.flags & 1u) != 0u) {
                v = v + bias[p.bias_off + gn];
            }
            if ((p.flags & 2u) != 0u) {
                v = max(v, 0.0);
            }
            if ((p.flags & 12u) != 0u) {
                let r = rs[p.rs_off + batch * p.rs_sb + gm * p.rs_sm];
                if ((p.flags & 4u) != 0u) {
                    v = v * r;
                }
                if ((p.flags & 8u) != 0u) {
                    v = v / (p.eps + r);
                }
            }
            let ci = p.c_off + batch * p.c_sb + gm * p.c_sm + gn * p.c_sn;
            if ((p.flags & 16u) != 0u) {
                c[ci] = c[ci] + v;
            } else {
                c[ci] = v;
            }
        }
    }
}
