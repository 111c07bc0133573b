//! Keras's noise and structured-dropout layers: `gaussian_noise`,
//! `gaussian_dropout`, `alpha_dropout` and `spatial_dropout1d/2d/3d`.
//!
//! All are the identity in inference mode. In training mode their random
//! values come from the counter-based generator behind `dropout` (keyed by the
//! seed, the layer's key and the step), so the interpreter and the JIT agree
//! bit for bit; they cannot equal Keras's own random numbers, only their
//! distribution.

use super::LayerKind;
use crate::diag::{Diagnostic, Span};
use crate::ir::{NodeId, Op};
use crate::lower::args::{bind, opt, req};
use crate::lower::errors::*;
use crate::lower::state::Lowerer;
use crate::lower::values::{self, ArgVal, Tensor};
use crate::lower::Mode;

/// SELU's constants, as Keras's `AlphaDropout` writes them.
const SELU_ALPHA: f64 = 1.673_263_242_354_377_3;
const SELU_SCALE: f64 = 1.050_700_987_355_480_5;

/// Which noise a [`LayerKind::Noise`] layer adds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Noise {
    /// `x + stddev · N(0, 1)`.
    Gaussian { stddev: f64 },
    /// `x · N(1, rate / (1 - rate))`.
    GaussianDropout { rate: f64 },
    /// Dropped elements become SELU's saturation value, then an affine map
    /// restores the mean and variance.
    Alpha { rate: f64 },
    /// Whole feature maps dropped together: one mask value per sample and
    /// channel of a rank-`dims + 1` sample (channels last).
    Spatial { dims: usize, rate: f64 },
}

impl Noise {
    pub fn class(&self) -> &'static str {
        match self {
            Noise::Gaussian { .. } => "GaussianNoise",
            Noise::GaussianDropout { .. } => "GaussianDropout",
            Noise::Alpha { .. } => "AlphaDropout",
            Noise::Spatial { dims: 1, .. } => "SpatialDropout1D",
            Noise::Spatial { dims: 2, .. } => "SpatialDropout2D",
            Noise::Spatial { .. } => "SpatialDropout3D",
        }
    }

    /// No randomness at all: the layer is the identity in both modes.
    fn is_identity(&self) -> bool {
        match *self {
            Noise::Gaussian { stddev } => stddev == 0.0,
            Noise::GaussianDropout { rate } | Noise::Alpha { rate } | Noise::Spatial { rate, .. } => rate == 0.0,
        }
    }
}

impl<'a> Lowerer<'a> {
    /// Parses `gaussian_noise(stddev)`, `gaussian_dropout(rate)`,
    /// `alpha_dropout(rate)` or `spatial_dropout{1,2,3}d(rate)` (each also
    /// takes Keras's `seed`, which the model-wide seed replaces).
    pub(super) fn noise_kind(&mut self, name: &str, args: &[ArgVal], span: Span) -> Result<LayerKind, Diagnostic> {
        let first = if name == "gaussian_noise" { "stddev" } else { "rate" };
        let b = bind(name, &[req(first), opt("seed")], args, span)?;
        let v = b.get(0).expect("required");
        let g = &self.g;
        let noise = match name {
            // Keras 3 accepts stddev in [0, 1] only.
            "gaussian_noise" => Noise::Gaussian {
                stddev: values::number_in(v, "gaussian_noise stddev", "in [0, 1]", |s| (0.0..=1.0).contains(&s), g)?,
            },
            _ => {
                let what = format!("{name} rate");
                let rate = values::number_in(v, &what, "in [0, 1)", |r| (0.0..1.0).contains(&r), g)?;
                match name {
                    "gaussian_dropout" => Noise::GaussianDropout { rate },
                    "alpha_dropout" => Noise::Alpha { rate },
                    "spatial_dropout1d" => Noise::Spatial { dims: 1, rate },
                    "spatial_dropout2d" => Noise::Spatial { dims: 2, rate },
                    "spatial_dropout3d" => Noise::Spatial { dims: 3, rate },
                    other => unreachable!("`{other}` is not a noise layer"),
                }
            }
        };
        let key = self.dropout_keys;
        self.dropout_keys += 1;
        Ok(LayerKind::Noise { noise, key })
    }

    pub(super) fn apply_noise(
        &mut self,
        name: &str,
        noise: Noise,
        key: u64,
        x: &Tensor,
        span: Span,
    ) -> Result<NodeId, Diagnostic> {
        if let Noise::Spatial { dims, .. } = noise {
            let shape = self.g.shape(x.id).clone();
            if shape.rank() != dims + 2 {
                let want = match dims {
                    1 => "[steps, channels]",
                    2 => "[height, width, channels]",
                    _ => "[depth, height, width, channels]",
                };
                return Err(Diagnostic::error(
                    RANK,
                    format!(
                        "{name} expects a rank-{} input per sample {want} but gets {}",
                        dims + 1,
                        per_sample(&shape)
                    ),
                    span,
                )
                .with_label(format!("this input has shape {}", per_sample(&shape)))
                .with_help(
                    "spatial dropout drops whole channels of feature maps; use `dropout(rate)` on other inputs",
                ));
            }
        }
        if self.mode == Mode::Infer || noise.is_identity() {
            return Ok(x.id);
        }
        let step = self.step_node();
        let (seed, g) = (self.seed, &mut self.g);
        let err = |e| shape_error(e, name, span);
        match noise {
            Noise::Gaussian { stddev } => {
                let n = g.push(Op::RandomNormal { seed, key }, &[x.id, step]).map_err(err)?;
                let s = g.scalar(stddev);
                let scaled = g.mul(n, s).map_err(err)?;
                g.add(x.id, scaled).map_err(err)
            }
            Noise::GaussianDropout { rate } => {
                let n = g.push(Op::RandomNormal { seed, key }, &[x.id, step]).map_err(err)?;
                let s = g.scalar((rate / (1.0 - rate)).sqrt());
                let scaled = g.mul(n, s).map_err(err)?;
                let one = g.scalar(1.0);
                let factor = g.add(scaled, one).map_err(err)?;
                g.mul(x.id, factor).map_err(err)
            }
            Noise::Alpha { rate } => {
                // Keras: a · (x·kept + α'·(1 − kept)) + b, written as a select
                // on the dropout mask (non-zero exactly where kept).
                let alpha_p = -SELU_ALPHA * SELU_SCALE;
                let a = ((1.0 - rate) * (1.0 + rate * alpha_p * alpha_p)).powf(-0.5);
                let b = -a * alpha_p * rate;
                let mask = g.push(Op::DropoutMask { rate, seed, key }, &[x.id, step]).map_err(err)?;
                let an = g.scalar(a);
                let ax = g.mul(x.id, an).map_err(err)?;
                let bn = g.scalar(b);
                let kept = g.add(ax, bn).map_err(err)?;
                let dropped = g.scalar(a * alpha_p + b);
                g.push(Op::Select, &[mask, kept, dropped]).map_err(err)
            }
            Noise::Spatial { dims, rate } => {
                // The mask has shape [batch, 1, …, 1, channels]; a slice of the
                // input stands for that shape (the mask reads only its shape).
                let mut like = x.id;
                for axis in 1..=dims {
                    like = g.push(Op::Slice { axis, start: 0, end: 1 }, &[like]).map_err(err)?;
                }
                let mask = g.push(Op::DropoutMask { rate, seed, key }, &[like, step]).map_err(err)?;
                g.mul(x.id, mask).map_err(err)
            }
        }
    }
}
