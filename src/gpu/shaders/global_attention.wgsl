// Suppl. Alg. 19 "MSAColumnGlobalAttention", the parts that are not GEMMs.
// `masked_mean`: per residue column r and channel c, Σ_s mask[s, r]·x[s, r, c] / (Σ_s mask[s, r] + 1e-10).
// `attend`: per column r and head h, one (already scaled) query q[r, h, :] against the keys and values
// k[s, r, :], v[s, r, :] that all heads share, softmax over sequences with the mask bias (online, as in
// attention.wgsl). `gate`: g[s, r, :] = sigmoid(g[s, r, :]) · avg[r, :].

const D: u32 = {D}u;

struct Params {
    seqs: u32, res: u32, width: u32, heads: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read> mask: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64, 1, 1)
fn masked_mean(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
    let idx = gid.y * nw.x * 64u + gid.x;
    if (idx >= p.res * p.width) {
        return;
    }
    let r = idx / p.width;
    let c = idx % p.width;
    var s = 0.0;
    var m = 0.0;
    for (var q = 0u; q < p.seqs; q++) {
        let mv = mask[q * p.res + r];
        s = s + x[(q * p.res + r) * p.width + c] * mv;
        m = m + mv;
    }
    out[idx] = s / (m + 1e-10);
}

@compute @workgroup_size(64, 1, 1)
fn attend(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
    let idx = gid.y * nw.x * 64u + gid.x;
    if (idx >= p.res * p.heads) {
        return;
    }
    let r = idx / p.heads;
    let h = idx % p.heads;
    var q: array<f32, D>;
    for (var i = 0u; i < D; i++) {
        q[i] = out[(r * p.heads + h) * D + i];
    }
    var acc: array<f32, D>;
    var mx = -3.0e38;
    var l = 0.0;
    for (var s = 0u; s < p.seqs; s++) {
        let row = s * p.res + r;
        var t = 0.0;
        for (var i = 0u; i < D; i++) {
            t = t + q[i] * x[row * D + i];
        }
        t = t + 1e9 * (mask[row] - 1.0);
        if (t > mx) {
            let corr = ff_exp(mx - t);
            l = l * corr;
            for (var i = 0u; i < D; i++) {
                acc[i] = acc[i] * corr;
            }
            mx = t;
        }
        let w = ff_exp(t - mx);
        l = l + w;
        for (var i = 0u; i < D; i++) {
            acc[i] = acc[i] + w * y[row * D + i];
        }
    }
    let inv = 1.0 / l;
    for (var i = 0u; i < D; i++) {
        out[(r * p.heads + h) * D + i] = acc[i] * inv;
    }
}

@compute @workgroup_size(64, 1, 1)
fn gate(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
    let idx = gid.y * nw.x * 64u + gid.x;
    if (idx >= p.seqs * p.res * p.width) {
        return;
    }
    let r = (idx / p.width) % p.res;
    out[idx] = ff_sigmoid(out[idx]) * x[r * p.width + idx % p.width];
}
