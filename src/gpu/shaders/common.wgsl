// e^x and the logistic sigmoid with the CPU engine's scheme (kernels/src/vmath.rs: Cephes' range
// reduction, degree-6 polynomial with fused multiply-adds, 2^n from the exponent bits), so results do
// not depend on the driver's exp. Prepended to every kernel that needs them.

fn ff_exp(x: f32) -> f32 {
    let xc = min(x, 88.72);
    // round() is round-half-to-even, as the CPU's "+ 1.5·2^23" trick; written as a builtin because a
    // shader compiler may reassociate (x + c) - c away.
    let n = round(xc * 1.442695);
    let ni = i32(n);
    // The multiply-adds fused as on the CPU (where a driver honours fma(); WGSL lets it round twice).
    let r = fma(-n, -2.1219444e-4, fma(-n, 0.6933594, xc));
    var p = 1.9875691e-4;
    p = fma(p, r, 1.3981999e-3);
    p = fma(p, r, 8.333452e-3);
    p = fma(p, r, 4.1665796e-2);
    p = fma(p, r, 1.6666665e-1);
    p = fma(p, r, 0.5);
    let er = fma(p, r * r, r) + 1.0;
    let half = ni >> 1u;
    let s1 = bitcast<f32>(u32(half + 127) << 23u);
    let s2 = bitcast<f32>(u32(ni - half + 127) << 23u);
    let y = er * s1 * s2;
    return select(y, 0.0, x < -87.33);
}

fn ff_sigmoid(v: f32) -> f32 {
    let y = 1.0 / (1.0 + ff_exp(-v));
    return select(y, 0.0, v < -88.75);
}
