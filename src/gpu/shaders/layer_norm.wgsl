// Layer norm of contiguous rows of `c` channels (biased variance, eps inside the square root, as
// Haiku's LayerNorm and the CPU engine's vmath::layer_norm_rows): one workgroup of 64 threads per row,
// sums reduced as a fixed tree in workgroup memory.

struct Params {
    rows: u32, c: u32, in_off: u32, out_off: u32,
    row_base: u32, eps: f32, pad0: u32, pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> scale: array<f32>;
@group(0) @binding(3) var<storage, read> offset: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

var<workgroup> red: array<f32, 64>;

fn reduce(lid: u32, v: f32) -> f32 {
    red[lid] = v;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s = s >> 1u) {
        if (lid < s) {
            red[lid] = red[lid] + red[lid + s];
        }
        workgroupBarrier();
    }
    let total = red[0];
    workgroupBarrier();
    return total;
}

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let row = p.row_base + wg.y * 65535u + wg.x;
    if (row >= p.rows) {
        return;
    }
    let base = p.in_off + row * p.c;
    var s = 0.0;
    for (var k = lid.x; k < p.c; k += 64u) {
        s = s + x[base + k];
    }
    let mean = reduce(lid.x, s) / f32(p.c);
    var q = 0.0;
    for (var k = lid.x; k < p.c; k += 64u) {
        let d = x[base + k] - mean;
        q = q + d * d;
    }
    let variance = reduce(lid.x, q) / f32(p.c);
    let inv = 1.0 / sqrt(variance + p.eps);
    let obase = p.out_off + row * p.c;
    for (var k = lid.x; k < p.c; k += 64u) {
        out[obase + k] = (x[base + k] - mean) * inv * scale[k] + offset[k];
    }
}
