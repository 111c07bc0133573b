//! Variable initializers, with Keras's formulas.
//!
//! Each variable gets its own generator seeded from (model seed, variable
//! name), so adding a layer never changes the initial values of the others
//! and the same seed always gives the same weights. The variance-scaling
//! family follows Keras exactly: `glorot_*` use fan_avg, `he_*` use fan_in
//! with scale 2, `lecun_*` use fan_in with scale 1; the `*_normal` variants
//! draw from a normal truncated at two standard deviations whose stddev is
//! divided by 0.87962566103423978 so the truncated variance is the target.

use nn_compiler::ir::rng::mix64;
use nn_compiler::ir::Init;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::error::RuntimeError;

/// Keras's correction for the variance lost by truncating at ±2σ.
const TRUNCATION_STDDEV_FACTOR: f64 = 0.879_625_661_034_239_8;

/// `(fan_in, fan_out)` as Keras computes them: for `[..., in, out]` the
/// receptive field is the product of the leading dims.
pub fn fans(shape: &[usize]) -> (f64, f64) {
    match shape {
        [] => (1.0, 1.0),
        [n] => (*n as f64, *n as f64),
        [a, b] => (*a as f64, *b as f64),
        [lead @ .., a, b] => {
            let field: usize = lead.iter().product();
            ((a * field) as f64, (b * field) as f64)
        }
    }
}

/// A seed for one variable, independent of the order variables are created in.
pub fn var_seed(model_seed: u64, var_name: &str) -> u64 {
    var_name.bytes().fold(mix64(model_seed ^ 0x6e6e_5f69_6e69_7400), |h, b| mix64(h ^ u64::from(b)))
}

/// Fills a new buffer for a variable of `shape` initialized by `init`.
pub fn initialize(init: &Init, shape: &[usize], seed: u64) -> Result<Vec<f32>, RuntimeError> {
    let n: usize = shape.iter().product();
    let mut rng = StdRng::seed_from_u64(seed);
    let (fan_in, fan_out) = fans(shape);
    let fan_avg = (fan_in + fan_out) / 2.0;
    let values = match *init {
        Init::Zeros => vec![0.0; n],
        Init::Ones => vec![1.0; n],
        Init::Constant(v) => vec![v as f32; n],
        Init::GlorotUniform => uniform(&mut rng, n, (3.0 / fan_avg.max(1.0)).sqrt()),
        Init::HeUniform => uniform(&mut rng, n, (6.0 / fan_in.max(1.0)).sqrt()),
        Init::LecunUniform => uniform(&mut rng, n, (3.0 / fan_in.max(1.0)).sqrt()),
        Init::GlorotNormal => truncated(&mut rng, n, (1.0 / fan_avg.max(1.0)).sqrt() / TRUNCATION_STDDEV_FACTOR),
        Init::HeNormal => truncated(&mut rng, n, (2.0 / fan_in.max(1.0)).sqrt() / TRUNCATION_STDDEV_FACTOR),
        Init::LecunNormal => truncated(&mut rng, n, (1.0 / fan_in.max(1.0)).sqrt() / TRUNCATION_STDDEV_FACTOR),
        Init::RandomNormal { mean, stddev } => {
            if !(stddev >= 0.0 && stddev.is_finite() && mean.is_finite()) {
                return Err(RuntimeError::invalid(format!(
                    "random_normal(mean = {mean}, stddev = {stddev}) needs a finite mean and a finite stddev >= 0"
                )));
            }
            (0..n).map(|_| (mean + stddev * standard_normal(&mut rng)) as f32).collect()
        }
        Init::RandomUniform { min, max } => {
            if !(min <= max && min.is_finite() && max.is_finite()) {
                return Err(RuntimeError::invalid(format!(
                    "random_uniform(min = {min}, max = {max}) needs finite bounds with min <= max"
                )));
            }
            (0..n).map(|_| (min + (max - min) * rng.random::<f64>()) as f32).collect()
        }
        Init::Orthogonal { gain } => orthogonal(&mut rng, shape, gain),
        Init::UnitForgetBias(ref inner) => {
            if !n.is_multiple_of(4) {
                return Err(RuntimeError::invalid(format!(
                    "unit_forget_bias needs a bias of 4 * units values, not {n}"
                )));
            }
            let u = n / 4;
            let mut v = initialize(inner, &[n], seed)?;
            v[u..2 * u].fill(1.0);
            v
        }
    };
    Ok(values)
}

/// Keras's `Orthogonal`: for `[rows, cols]` (leading dims folded into
/// rows) draw a normal matrix of the taller orientation, orthonormalize its
/// columns (modified Gram–Schmidt gives the Q whose R has a positive
/// diagonal, which is Keras's `q * sign(diag(r))`), and transpose back when
/// the kernel is wide.
fn orthogonal(rng: &mut StdRng, shape: &[usize], gain: f64) -> Vec<f32> {
    let cols = shape.last().copied().unwrap_or(1);
    let rows: usize = shape[..shape.len().saturating_sub(1)].iter().product();
    if rows == 0 || cols == 0 {
        return Vec::new();
    }
    let (tall, wide) = (rows.max(cols), rows.min(cols));
    // Column-major: column j is a[j * tall..(j + 1) * tall].
    let mut a: Vec<f64> = (0..tall * wide).map(|_| standard_normal(rng)).collect();
    for j in 0..wide {
        for p in 0..j {
            let (done, rest) = a.split_at_mut(j * tall);
            let qp = &done[p * tall..(p + 1) * tall];
            let col = &mut rest[..tall];
            let dot: f64 = qp.iter().zip(col.iter()).map(|(x, y)| x * y).sum();
            col.iter_mut().zip(qp).for_each(|(c, q)| *c -= dot * q);
        }
        let col = &mut a[j * tall..(j + 1) * tall];
        let norm = col.iter().map(|x| x * x).sum::<f64>().sqrt().max(f64::MIN_POSITIVE);
        col.iter_mut().for_each(|c| *c /= norm);
    }
    let mut out = vec![0.0f32; rows * cols];
    for r in 0..rows {
        for c in 0..cols {
            // q is tall x wide; the kernel is q (rows >= cols) or its transpose.
            let v = if rows >= cols { a[c * tall + r] } else { a[r * tall + c] };
            out[r * cols + c] = (gain * v) as f32;
        }
    }
    out
}

fn uniform(rng: &mut StdRng, n: usize, limit: f64) -> Vec<f32> {
    (0..n).map(|_| ((rng.random::<f64>() * 2.0 - 1.0) * limit) as f32).collect()
}

/// Normal samples with the given stddev, redrawn until within ±2σ (as
/// TensorFlow's truncated_normal does).
fn truncated(rng: &mut StdRng, n: usize, stddev: f64) -> Vec<f32> {
    (0..n)
        .map(|_| loop {
            let z = standard_normal(rng);
            if z.abs() <= 2.0 {
                break (z * stddev) as f32;
            }
        })
        .collect()
}

/// One N(0, 1) sample by the Box–Muller transform.
fn standard_normal(rng: &mut StdRng) -> f64 {
    // 1 - u lies in (0, 1], so the logarithm is finite.
    let u1 = 1.0 - rng.random::<f64>();
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(v: &[f32]) -> (f64, f64, f64) {
        let n = v.len() as f64;
        let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
        let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
        let max = v.iter().fold(0.0f64, |m, &x| m.max((x as f64).abs()));
        (mean, var.sqrt(), max)
    }

    #[test]
    fn orthogonal_has_orthonormal_rows_or_columns() {
        for shape in [[8usize, 8], [12, 5], [5, 12], [3, 32]] {
            let (r, c) = (shape[0], shape[1]);
            let v = initialize(&Init::Orthogonal { gain: 1.0 }, &shape, 11).unwrap();
            let at = |i: usize, j: usize| v[i * c + j] as f64;
            // Gram matrix of the shorter side must be the identity.
            let (n, dot): (usize, Box<dyn Fn(usize, usize) -> f64>) = if r >= c {
                (c, Box::new(|p, q| (0..r).map(|i| at(i, p) * at(i, q)).sum()))
            } else {
                (r, Box::new(|p, q| (0..c).map(|j| at(p, j) * at(q, j)).sum()))
            };
            for p in 0..n {
                for q in 0..n {
                    let want = if p == q { 1.0 } else { 0.0 };
                    assert!((dot(p, q) - want).abs() < 1e-5, "{shape:?}: <{p}, {q}> = {}", dot(p, q));
                }
            }
        }
        let twice = initialize(&Init::Orthogonal { gain: 2.0 }, &[4, 4], 3).unwrap();
        let once = initialize(&Init::Orthogonal { gain: 1.0 }, &[4, 4], 3).unwrap();
        assert!(twice.iter().zip(&once).all(|(a, b)| (a - 2.0 * b).abs() < 1e-6));
    }

    #[test]
    fn unit_forget_bias_sets_the_forget_gate_to_one() {
        let v = initialize(&Init::UnitForgetBias(Box::new(Init::Zeros)), &[12], 0).unwrap();
        assert_eq!(v, [0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
        assert!(initialize(&Init::UnitForgetBias(Box::new(Init::Zeros)), &[6], 0).is_err());
    }

    #[test]
    fn fans_follow_keras() {
        assert_eq!(fans(&[784, 128]), (784.0, 128.0));
        assert_eq!(fans(&[3, 3, 16, 32]), (144.0, 288.0));
        assert_eq!(fans(&[10]), (10.0, 10.0));
    }

    #[test]
    fn glorot_uniform_respects_limit_and_variance() {
        let v = initialize(&Init::GlorotUniform, &[300, 200], 7).unwrap();
        let limit = (6.0f64 / 500.0).sqrt();
        let (mean, std, max) = stats(&v);
        assert!(max <= limit, "max {max} > limit {limit}");
        assert!(mean.abs() < 0.005, "mean {mean}");
        // Uniform(-l, l) has stddev l / sqrt(3).
        assert!((std - limit / 3f64.sqrt()).abs() < 0.002, "std {std}");
    }

    #[test]
    fn truncated_normals_have_the_target_variance() {
        let v = initialize(&Init::HeNormal, &[400, 250], 3).unwrap();
        let target = (2.0f64 / 400.0).sqrt();
        let (mean, std, max) = stats(&v);
        assert!(mean.abs() < 0.002, "mean {mean}");
        assert!((std - target).abs() / target < 0.02, "std {std} vs {target}");
        assert!(max <= 2.0 * target / TRUNCATION_STDDEV_FACTOR + 1e-6, "max {max}");
    }

    #[test]
    fn same_seed_same_values_and_names_decorrelate() {
        let a = initialize(&Init::GlorotNormal, &[5, 4], var_seed(1, "dense/kernel")).unwrap();
        let b = initialize(&Init::GlorotNormal, &[5, 4], var_seed(1, "dense/kernel")).unwrap();
        let c = initialize(&Init::GlorotNormal, &[5, 4], var_seed(1, "dense_1/kernel")).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn bad_parameters_are_errors() {
        let err = initialize(&Init::RandomUniform { min: 1.0, max: 0.0 }, &[2], 0).unwrap_err();
        assert!(err.to_string().contains("min = 1"), "{err}");
    }
}
