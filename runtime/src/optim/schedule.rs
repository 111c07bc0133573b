//! Learning-rate schedules, evaluated on the host and fed to the step graph
//! as its `learning_rate` input, so changing the rate never recompiles.
//!
//! Formulas are Keras's: step-based schedules see the number of optimizer
//! updates already applied (0 for the first batch), epoch-based ones the
//! 0-based epoch.

use nn_compiler::train::Schedule;

use crate::error::RuntimeError;

/// Rejects schedules whose parameters would divide by zero or go negative.
pub fn validate_schedule(schedule: &Schedule) -> Result<(), RuntimeError> {
    let bad = |m: String| Err(RuntimeError::invalid(m));
    match *schedule {
        Schedule::Constant => Ok(()),
        Schedule::ExponentialDecay { decay_steps, decay_rate, .. } => {
            if decay_steps == 0 {
                bad("exponential_decay needs decay_steps >= 1, got 0".into())
            } else if !(decay_rate > 0.0 && decay_rate.is_finite()) {
                bad(format!("exponential_decay needs a positive decay_rate, got {decay_rate}"))
            } else {
                Ok(())
            }
        }
        Schedule::PolynomialDecay { decay_steps, power, .. } => {
            if decay_steps == 0 {
                bad("polynomial_decay needs decay_steps >= 1, got 0".into())
            } else if !(power > 0.0 && power.is_finite()) {
                bad(format!("polynomial_decay needs a positive power, got {power}"))
            } else {
                Ok(())
            }
        }
        Schedule::StepDecay { every_epochs, factor } => {
            if every_epochs == 0 {
                bad("step_decay needs every_epochs >= 1, got 0".into())
            } else if !(factor > 0.0 && factor.is_finite()) {
                bad(format!("step_decay needs a positive factor, got {factor}"))
            } else {
                Ok(())
            }
        }
        Schedule::LinearEpochDecay { total_epochs } => {
            if total_epochs == 0 {
                bad("linear_epoch_decay needs total_epochs >= 1, got 0".into())
            } else {
                Ok(())
            }
        }
        Schedule::CosineDecay { decay_steps, alpha, warmup_target, .. } => {
            if decay_steps == 0 {
                bad("cosine_decay needs decay_steps >= 1, got 0".into())
            } else if !alpha.is_finite() {
                bad(format!("cosine_decay needs a finite alpha, got {alpha}"))
            } else if let Some(t) = warmup_target.filter(|t| !(t.is_finite() && *t >= 0.0)) {
                bad(format!("cosine_decay needs a warmup_target >= 0, got {t}"))
            } else {
                Ok(())
            }
        }
        Schedule::PiecewiseConstantDecay { ref boundaries, ref values } => {
            if values.len() != boundaries.len() + 1 {
                bad(format!(
                    "piecewise_constant_decay needs one more value than boundaries, got {} boundaries and {} values",
                    boundaries.len(),
                    values.len()
                ))
            } else if boundaries.windows(2).any(|w| w[0] >= w[1]) {
                bad(format!("piecewise_constant_decay needs increasing boundaries, got {boundaries:?}"))
            } else if let Some(v) = values.iter().find(|v| !(v.is_finite() && **v >= 0.0)) {
                bad(format!("piecewise_constant_decay needs finite values >= 0, got {v}"))
            } else {
                Ok(())
            }
        }
        Schedule::InverseTimeDecay { decay_steps, decay_rate, .. } => {
            if decay_steps == 0 {
                bad("inverse_time_decay needs decay_steps >= 1, got 0".into())
            } else if !(decay_rate.is_finite() && decay_rate >= 0.0) {
                bad(format!("inverse_time_decay needs a decay_rate >= 0, got {decay_rate}"))
            } else {
                Ok(())
            }
        }
    }
}

/// The learning rate for the update after `step` updates, in `epoch`.
pub fn learning_rate_at(schedule: &Schedule, base: f64, step: u64, epoch: usize) -> f64 {
    match *schedule {
        Schedule::Constant => base,
        Schedule::ExponentialDecay { decay_steps, decay_rate, staircase } => {
            let mut p = step as f64 / decay_steps.max(1) as f64;
            if staircase {
                p = p.floor();
            }
            base * decay_rate.powf(p)
        }
        Schedule::PolynomialDecay { decay_steps, end_learning_rate, power } => {
            let s = (step as f64).min(decay_steps as f64);
            let frac = 1.0 - s / decay_steps.max(1) as f64;
            (base - end_learning_rate) * frac.powf(power) + end_learning_rate
        }
        Schedule::StepDecay { every_epochs, factor } => base * factor.powi((epoch / every_epochs.max(1)) as i32),
        Schedule::LinearEpochDecay { total_epochs } => {
            let remaining = total_epochs.saturating_sub(epoch) as f64;
            base * remaining / total_epochs.max(1) as f64
        }
        Schedule::CosineDecay { decay_steps, alpha, warmup_target, warmup_steps } => {
            let decay_steps = decay_steps.max(1) as f64;
            let cosine = |step: f64, from: f64| {
                let decayed = 0.5 * (1.0 + (std::f64::consts::PI * (step / decay_steps)).cos());
                from * ((1.0 - alpha) * decayed + alpha)
            };
            let step = step as f64;
            match warmup_target {
                None => cosine(step.min(decay_steps), base),
                Some(target) => {
                    let warmup = warmup_steps as f64;
                    let step = step.min(decay_steps + warmup);
                    if step < warmup {
                        (target - base) * (step / warmup) + base
                    } else {
                        cosine(step - warmup, target)
                    }
                }
            }
        }
        Schedule::PiecewiseConstantDecay { ref boundaries, ref values } => {
            // values[i] for boundaries[i-1] < step <= boundaries[i].
            let i = boundaries.iter().take_while(|&&b| step as usize > b).count();
            values.get(i).copied().unwrap_or(base)
        }
        Schedule::InverseTimeDecay { decay_steps, decay_rate, staircase } => {
            let mut p = step as f64 / decay_steps.max(1) as f64;
            if staircase {
                p = p.floor();
            }
            base / (1.0 + decay_rate * p)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_decay_matches_keras() {
        let s = Schedule::ExponentialDecay { decay_steps: 10, decay_rate: 0.5, staircase: false };
        assert_eq!(learning_rate_at(&s, 0.1, 0, 0), 0.1);
        assert!((learning_rate_at(&s, 0.1, 10, 0) - 0.05).abs() < 1e-12);
        assert!((learning_rate_at(&s, 0.1, 5, 0) - 0.1 * 0.5f64.sqrt()).abs() < 1e-12);
        let st = Schedule::ExponentialDecay { decay_steps: 10, decay_rate: 0.5, staircase: true };
        assert_eq!(learning_rate_at(&st, 0.1, 9, 0), 0.1);
    }

    #[test]
    fn polynomial_and_epoch_schedules() {
        let p = Schedule::PolynomialDecay { decay_steps: 100, end_learning_rate: 0.0, power: 1.0 };
        assert!((learning_rate_at(&p, 1.0, 25, 0) - 0.75).abs() < 1e-12);
        assert_eq!(learning_rate_at(&p, 1.0, 500, 0), 0.0);
        let s = Schedule::StepDecay { every_epochs: 2, factor: 0.5 };
        assert_eq!(learning_rate_at(&s, 1.0, 0, 3), 0.5);
        assert_eq!(learning_rate_at(&s, 1.0, 0, 4), 0.25);
        let l = Schedule::LinearEpochDecay { total_epochs: 4 };
        assert_eq!(learning_rate_at(&l, 1.0, 0, 1), 0.75);
    }

    #[test]
    fn invalid_schedules_are_rejected() {
        let e = validate_schedule(&Schedule::ExponentialDecay { decay_steps: 0, decay_rate: 0.5, staircase: false })
            .unwrap_err();
        assert!(e.to_string().contains("decay_steps"), "{e}");
    }
}
