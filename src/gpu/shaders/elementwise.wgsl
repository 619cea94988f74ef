// Elementwise updates over `n` values (2-D dispatch: index = (y · groups_x + x) · 256 + lane).
// `gate`: x *= sigmoid(y). `add`: x += y. `mask_gate`: x = z[i mod rows] · x · sigmoid(y) (the triangle
// multiplication's masked, gated projections, channel-major). `permute_opm`: x[i, j, a, b] = y[i, a, j, b]
// for `rows` = i-count, `width` = j-count and `c` = a/b-count (the outer product mean's layout change).

struct Params {
    n: u32, rows: u32, width: u32, c: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read> z: array<f32>;

fn index(gid: vec3<u32>, nw: vec3<u32>) -> u32 {
    return gid.y * nw.x * 256u + gid.x;
}

@compute @workgroup_size(256, 1, 1)
fn gate(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
    let i = index(gid, nw);
    if (i < p.n) {
        x[i] = x[i] * ff_sigmoid(y[i]);
    }
}

@compute @workgroup_size(256, 1, 1)
fn add(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
    let i = index(gid, nw);
    if (i < p.n) {
        x[i] = x[i] + y[i];
    }
}

@compute @workgroup_size(256, 1, 1)
fn mask_gate(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
    let i = index(gid, nw);
    if (i < p.n) {
        x[i] = z[i % p.rows] * x[i] * ff_sigmoid(y[i]);
    }
}

@compute @workgroup_size(256, 1, 1)
fn permute_opm(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
    let o = index(gid, nw);
    if (o < p.n) {
        let bb = o % p.c;
        let aa = (o / p.c) % p.c;
        let j = (o / (p.c * p.c)) % p.width;
        let i = o / (p.c * p.c * p.width);
        x[o] = y[((i * p.c + aa) * p.width + j) * p.c + bb];
    }
}
