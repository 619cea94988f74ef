// Layer norm of contiguous rows of `c` channels (biased variance, eps inside the square root, as
// Haiku's LayerNorm and the CPU engine's vmath::layer_norm_rows): one thread per row, 64 rows per
// workgroup, sums in channel order (no barriers: software rasterisers such as lavapipe pay dearly for
// them, and a row is at most a few hundred values).

struct Params {
    rows: u32, c: u32, in_off: u32, out_off: u32,
    row_base: u32, eps: f32, pad0: u32, pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> scale: array<f32>;
@group(0) @binding(3) var<storage, read> offset: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
    let row = p.row_base + gid.y * nw.x * 64u + gid.x;
    if (row >= p.rows) {
        return;
    }
    let base = p.in_off + row * p.c;
    var s = 0.0;
    for (var k = 0u; k < p.c; k++) {
        s = s + x[base + k];
    }
    let mean = s / f32(p.c);
    var q = 0.0;
    for (var k = 0u; k < p.c; k++) {
        let d = x[base + k] - mean;
        q = q + d * d;
    }
    let variance = q / f32(p.c);
    let inv = 1.0 / sqrt(variance + p.eps);
    let obase = p.out_off + row * p.c;
    for (var k = 0u; k < p.c; k++) {
        out[obase + k] = (x[base + k] - mean) * inv * scale[k] + offset[k];
    }
}
