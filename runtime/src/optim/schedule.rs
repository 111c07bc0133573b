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
