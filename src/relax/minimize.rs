//! Local energy minimisation with constraints, as AlphaFold2's relax asks of OpenMM
//! (`simulation.minimizeEnergy(tolerance, maxIterations=0)`): L-BFGS on the energy plus a harmonic penalty
//! `k (r - d)²` on each constraint, k raised tenfold until every constraint holds to a relative 1e-4
//! (OpenMM's `LocalEnergyMinimizer` scheme), then the constraints made exact (SHAKE-style projection).
//! Convergence is OpenMM 8's: the root-mean-square of all force components at or below the tolerance.
//!
//! The L-BFGS is the textbook two-loop recursion (Nocedal & Wright, Algorithm 7.4) with 6 correction pairs
//! (liblbfgs's default, which OpenMM uses) and a backtracking line search on the Armijo condition with
//! cubic interpolation.

use super::energy::{evaluate, Restraints, Term, Vec3};
use super::system::System;

#[derive(Debug, Clone, Copy)]
pub struct MinimizeOptions {
    /// RMS force at which to stop, kJ/mol/nm (AlphaFold2's 2.39 kcal/mol is 10 kJ/mol/nm in OpenMM 8's terms).
    pub tolerance: f64,
    /// L-BFGS iterations per penalty stage; 0 = until converged.
    pub max_iterations: usize,
}

impl Default for MinimizeOptions {
    fn default() -> Self {
        MinimizeOptions {
            tolerance: 10.0,
            max_iterations: 0,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MinimizeReport {
    /// kJ/mol, with the constraints as given
    pub initial_energy: f64,
    /// kJ/mol, after the constraints were made exact
    pub final_energy: f64,
    pub iterations: usize,
    pub evaluations: usize,
    /// RMS force where L-BFGS stopped, kJ/mol/nm (of the energy with the constraint penalty: the forces
    /// along constrained bonds are not free to relax)
    pub rms_force: f64,
    /// Largest relative constraint error before the final projection
    pub max_constraint_error: f64,
    /// The energy fell without bound (below -1,000 kJ/mol per atom: oppositely charged atoms without
    /// Lennard-Jones repulsion, such as polar hydrogens, collapsing onto each other); the positions are
    /// meaningless.
    pub diverged: bool,
}

const CONSTRAINT_TOLERANCE: f64 = 1e-4;
const MEMORY: usize = 6;

struct Objective<'a> {
    sys: &'a System,
    restraints: &'a Restraints,
    k_constraint: f64,
    forces: Vec<Vec3>,
    evaluations: usize,
    /// Atoms that do not move (their gradient is zeroed).
    frozen: Option<&'a [bool]>,
    /// Below this energy the minimisation has diverged (see [`MinimizeReport::diverged`]).
    floor: f64,
    diverged: bool,
}

impl Objective<'_> {
    /// Energy and gradient (= -forces, flattened) at `pos`.
    fn eval(&mut self, pos: &[Vec3], grad: &mut [f64]) -> f64 {
        self.evaluations += 1;
        let mut e = evaluate(self.sys, self.restraints, pos, &Term::ALL, &mut self.forces).total();
        for c in &self.sys.constraints {
            let [i, j] = c.atoms;
            let d = [
                pos[j][0] - pos[i][0],
                pos[j][1] - pos[i][1],
                pos[j][2] - pos[i][2],
            ];
            let r = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt();
            let dr = r - c.distance;
            e += self.k_constraint * dr * dr;
            let g = 2.0 * self.k_constraint * dr / r;
            for (a, da) in d.iter().enumerate() {
                self.forces[i][a] += g * da;
                self.forces[j][a] -= g * da;
            }
        }
        for (a, (g, f)) in grad.chunks_exact_mut(3).zip(&self.forces).enumerate() {
            if self.frozen.is_some_and(|fr| fr[a]) {
                g.fill(0.0);
            } else {
                g.copy_from_slice(f);
                g.iter_mut().for_each(|v| *v = -*v);
            }
        }
        e
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn rms(g: &[f64]) -> f64 {
    (dot(g, g) / g.len().max(1) as f64).sqrt()
}

/// L-BFGS from `x` until the RMS gradient is at most `tol`, the iteration limit, or no further decrease is
/// possible in double precision. Returns (energy, iterations, RMS gradient).
fn lbfgs(
    obj: &mut Objective,
    x: &mut [Vec3],
    tol: f64,
    max_iterations: usize,
) -> (f64, usize, f64) {
    let n = 3 * x.len();
    let mut g = vec![0.0; n];
    let mut e = obj.eval(x, &mut g);
    let mut s_hist: Vec<Vec<f64>> = Vec::new();
    let mut y_hist: Vec<Vec<f64>> = Vec::new();
    let mut rho_hist: Vec<f64> = Vec::new();
    let mut d = vec![0.0; n];
    let mut x_new = vec![[0.0; 3]; x.len()];
    let mut g_new = vec![0.0; n];
    let mut iter = 0;
    let mut failures = 0;
    while rms(&g) > tol && (max_iterations == 0 || iter < max_iterations) {
        // Search direction: -H g by the two-loop recursion.
        d.iter_mut().zip(&g).for_each(|(d, g)| *d = -g);
        let m = s_hist.len();
        let mut alpha = vec![0.0; m];
        for k in (0..m).rev() {
            alpha[k] = rho_hist[k] * dot(&s_hist[k], &d);
            d.iter_mut()
                .zip(&y_hist[k])
                .for_each(|(d, y)| *d -= alpha[k] * y);
        }
        let gamma = if m > 0 {
            dot(&s_hist[m - 1], &y_hist[m - 1]) / dot(&y_hist[m - 1], &y_hist[m - 1])
        } else {
            // First step: move at most 0.01 nm along the steepest descent.
            0.01 / dot(&g, &g).sqrt().max(1e-300)
        };
        d.iter_mut().for_each(|d| *d *= gamma);
        for k in 0..m {
            let beta = rho_hist[k] * dot(&y_hist[k], &d);
            d.iter_mut()
                .zip(&s_hist[k])
                .for_each(|(d, s)| *d += (alpha[k] - beta) * s);
        }
        let mut slope = dot(&g, &d);
        if slope >= 0.0 {
            // Not a descent direction (stale curvature pairs): restart from steepest descent.
            s_hist.clear();
            y_hist.clear();
            rho_hist.clear();
            let gn = dot(&g, &g).sqrt().max(1e-300);
            d.iter_mut().zip(&g).for_each(|(d, g)| *d = -g * 0.01 / gn);
            slope = dot(&g, &d);
        }
        // Backtracking on the Armijo condition, cubic/quadratic interpolation of the step.
        let mut step = 1.0;
        let mut accepted = None;
        let (mut prev_step, mut prev_e) = (0.0, f64::NAN);
        for _ in 0..40 {
            x_new
                .as_flattened_mut()
                .iter_mut()
                .zip(x.as_flattened().iter().zip(&d))
                .for_each(|(xn, (x, d))| *xn = x + step * d);
            let e_new = obj.eval(&x_new, &mut g_new);
            if e_new.is_finite() && e_new <= e + 1e-4 * step * slope {
                accepted = Some(e_new);
                break;
            }
            let next = if !e_new.is_finite() {
                step * 0.1
            } else if prev_e.is_nan() {
                // Quadratic through e, slope and e_new.
                -slope * step * step / (2.0 * (e_new - e - slope * step))
            } else {
                cubic_step(e, slope, step, e_new, prev_step, prev_e)
            };
            prev_step = step;
            prev_e = e_new;
            step = next.clamp(0.1 * step, 0.5 * step);
        }
        let Some(e_new) = accepted else {
            failures += 1;
            if failures >= 2 || s_hist.is_empty() {
                break; // no decrease along steepest descent either: as low as double precision allows here
            }
            s_hist.clear();
            y_hist.clear();
            rho_hist.clear();
            continue;
        };
        failures = 0;
        let s: Vec<f64> = x_new
            .as_flattened()
            .iter()
            .zip(x.as_flattened())
            .map(|(a, b)| a - b)
            .collect();
        let y: Vec<f64> = g_new.iter().zip(&g).map(|(a, b)| a - b).collect();
        let sy = dot(&s, &y);
        if sy > 1e-300 {
            if s_hist.len() == MEMORY {
                s_hist.remove(0);
                y_hist.remove(0);
                rho_hist.remove(0);
            }
            s_hist.push(s);
            y_hist.push(y);
            rho_hist.push(1.0 / sy);
        }
        x.copy_from_slice(&x_new);
        g.copy_from_slice(&g_new);
        e = e_new;
        iter += 1;
        if e < obj.floor {
            obj.diverged = true;
            break;
        }
        if iter % 500 == 0 {
            tracing::info!(
                "minimisation: {iter} L-BFGS iterations, energy {:.1} kJ/mol, RMS force {:.2} kJ/mol/nm (target {tol})",
                e,
                rms(&g)
            );
        }
    }
    (e, iter, rms(&g))
}

/// The minimiser of the cubic through (0, e0) with slope `slope`, (a, ea) and (b, eb).
fn cubic_step(e0: f64, slope: f64, a: f64, ea: f64, b: f64, eb: f64) -> f64 {
    let ra = ea - e0 - slope * a;
    let rb = eb - e0 - slope * b;
    let denom = a * a * b * b * (a - b);
    let c3 = (b * b * ra - a * a * rb) / denom;
    let c2 = (-b * b * b * ra + a * a * a * rb) / denom;
    if c3.abs() < 1e-300 {
        return -slope / (2.0 * c2);
    }
    let disc = c2 * c2 - 3.0 * c3 * slope;
    if disc < 0.0 {
        return 0.5 * a;
    }
    (-c2 + disc.sqrt()) / (3.0 * c3)
}

/// The largest relative constraint error.
pub fn constraint_error(sys: &System, x: &[Vec3]) -> f64 {
    sys.constraints
        .iter()
        .map(|c| {
            let [i, j] = c.atoms;
            let d = [x[j][0] - x[i][0], x[j][1] - x[i][1], x[j][2] - x[i][2]];
            ((d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt() - c.distance).abs() / c.distance
        })
        .fold(0.0, f64::max)
}

/// Makes every constraint hold to a relative `tol` by iterated mass-weighted corrections along the current
/// bond vectors (SHAKE's update applied to positions); frozen atoms do not move.
pub fn apply_constraints(sys: &System, x: &mut [Vec3], tol: f64, frozen: Option<&[bool]>) {
    let inv_mass = |a: usize| {
        if frozen.is_some_and(|f| f[a]) {
            0.0
        } else {
            1.0 / sys.masses[a]
        }
    };
    for _ in 0..1000 {
        let mut worst = 0.0f64;
        for c in &sys.constraints {
            let [i, j] = c.atoms;
            let d = [x[j][0] - x[i][0], x[j][1] - x[i][1], x[j][2] - x[i][2]];
            let r2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
            let diff = c.distance * c.distance - r2;
            worst = worst.max((r2.sqrt() - c.distance).abs() / c.distance);
            let (wi, wj) = (inv_mass(i), inv_mass(j));
            if wi + wj == 0.0 {
                continue;
            }
            let lambda = diff / (2.0 * (wi + wj) * r2);
            for a in 0..3 {
                x[i][a] -= lambda * wi * d[a];
                x[j][a] += lambda * wj * d[a];
            }
        }
        if worst <= tol {
            break;
        }
    }
}

/// Minimises the energy of `sys` (plus `restraints`) from `x` in place.
pub fn minimize(
    sys: &System,
    restraints: &Restraints,
    x: &mut [Vec3],
    opts: MinimizeOptions,
) -> MinimizeReport {
    minimize_frozen(sys, restraints, x, opts, None)
}

/// [`minimize`] with some atoms held in place (`frozen[a]`), e.g. only hydrogens free.
pub fn minimize_frozen(
    sys: &System,
    restraints: &Restraints,
    x: &mut [Vec3],
    opts: MinimizeOptions,
    frozen: Option<&[bool]>,
) -> MinimizeReport {
    let mut scratch = vec![[0.0; 3]; x.len()];
    let initial_energy = evaluate(sys, restraints, x, &Term::ALL, &mut scratch).total();
    let mut obj = Objective {
        sys,
        restraints,
        k_constraint: 100.0 / CONSTRAINT_TOLERANCE,
        forces: vec![[0.0; 3]; x.len()],
        evaluations: 0,
        frozen,
        floor: -1000.0 * x.len() as f64,
        diverged: false,
    };
    let mut iterations = 0;
    let mut max_error;
    let mut rms_force;
    loop {
        let (_, it, g) = lbfgs(&mut obj, x, opts.tolerance, opts.max_iterations);
        iterations += it;
        rms_force = g;
        max_error = constraint_error(sys, x);
        if obj.diverged || max_error <= CONSTRAINT_TOLERANCE || obj.k_constraint > 1e14 {
            break;
        }
        obj.k_constraint *= 10.0;
    }
    apply_constraints(sys, x, 1e-10, frozen);
    let final_energy = evaluate(sys, restraints, x, &Term::ALL, &mut scratch).total();
    MinimizeReport {
        initial_energy,
        final_energy,
        iterations,
        evaluations: obj.evaluations + 2,
        rms_force,
        max_constraint_error: max_error,
        diverged: obj.diverged || !final_energy.is_finite(),
    }
}
