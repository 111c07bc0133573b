//! Memory checks made before a model's buffers are allocated.
//!
//! A one-line model (`dense(2147483647)`) declares tens of gigabytes of
//! weights. Allocating them would abort the process (or wake the OOM killer)
//! instead of reporting anything, so every allocation whose size comes from a
//! model is first estimated, with checked arithmetic, and compared with the
//! memory this process can still get. The error names the largest layer.

use nn_compiler::ir::{Graph, VarKind};
use nn_compiler::lower::LayerInfo;

use crate::error::RuntimeError;

/// Used when the system does not say how much memory is available.
pub const FALLBACK_AVAILABLE_BYTES: u64 = 16 << 30;

/// Bytes per stored value: weights, slots and activations are f32.
const VALUE_BYTES: u64 = 4;

/// What one estimate is made of, for the error message.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Estimate {
    pub weights: u64,
    pub optimizer_slots: u64,
    pub gradients: u64,
    pub activations: u64,
    /// The layer owning most of the bytes above, and its share.
    pub biggest_layer: Option<(String, u64)>,
}

impl Estimate {
    /// The total, or `None` if it does not fit in 64 bits.
    pub fn total(&self) -> Option<u64> {
        self.weights.checked_add(self.optimizer_slots)?.checked_add(self.gradients)?.checked_add(self.activations)
    }
}

/// The element count of `dims`, or `None` on overflow.
pub fn checked_numel(dims: &[usize]) -> Option<u64> {
    dims.iter().try_fold(1u64, |n, &d| n.checked_mul(d as u64))
}

fn bytes_of(dims: &[usize]) -> Option<u64> {
    checked_numel(dims)?.checked_mul(VALUE_BYTES)
}

fn overflow(what: &str) -> RuntimeError {
    RuntimeError::TooLarge(format!("the size of the model's {what} does not fit in 64 bits"))
}

/// The bytes of the model's weights (and, per layer, which layer is biggest).
pub fn weights_estimate(g: &Graph, layers: &[LayerInfo]) -> Result<Estimate, RuntimeError> {
    let mut est = Estimate::default();
    for v in &g.vars {
        let b = bytes_of(&v.shape).ok_or_else(|| overflow("weights"))?;
        est.weights = est.weights.checked_add(b).ok_or_else(|| overflow("weights"))?;
    }
    est.biggest_layer = biggest_layer(g, layers, 1)?;
    Ok(est)
}

/// Weights, optimizer slots and gradients of a training step graph, plus the
/// activations of one forward pass over `batch` samples (a rough bound: the
/// engines reuse activation memory, but keep what the backward pass needs).
pub fn training_estimate(
    forward: &Graph,
    layers: &[LayerInfo],
    step: &Graph,
    batch: usize,
) -> Result<Estimate, RuntimeError> {
    let mut est = weights_estimate(forward, layers)?;
    let mut slots = 0u64;
    for v in step.vars.iter().filter(|v| matches!(v.kind, VarKind::Slot { .. })) {
        let b = bytes_of(&v.shape).ok_or_else(|| overflow("optimizer state"))?;
        slots = slots.checked_add(b).ok_or_else(|| overflow("optimizer state"))?;
    }
    est.optimizer_slots = slots;
    let mut grads = 0u64;
    for v in forward.vars.iter().filter(|v| v.is_trainable()) {
        grads = grads
            .checked_add(bytes_of(&v.shape).ok_or_else(|| overflow("gradients"))?)
            .ok_or_else(|| overflow("gradients"))?;
    }
    est.gradients = grads;
    est.activations = activations(forward, batch)?;
    // Per layer, slots and gradients scale with its weights.
    let factor = if est.weights == 0 { 1 } else { 1 + (slots + grads).div_ceil(est.weights.max(1)) };
    est.biggest_layer = biggest_layer(forward, layers, factor)?;
    Ok(est)
}

/// Weights plus the activations of one inference pass over `batch` samples.
pub fn inference_estimate(forward: &Graph, layers: &[LayerInfo], batch: usize) -> Result<Estimate, RuntimeError> {
    let mut est = weights_estimate(forward, layers)?;
    est.activations = activations(forward, batch)?;
    Ok(est)
}

/// The bytes of every node of `forward` for `batch` samples (an upper bound:
/// the engines reuse memory between nodes whose lifetimes do not overlap).
fn activations(forward: &Graph, batch: usize) -> Result<u64, RuntimeError> {
    let mut act = 0u64;
    for node in &forward.nodes {
        let dims: Vec<usize> = node.ty.shape.0.iter().map(|d| d.resolve(batch)).collect();
        let b = bytes_of(&dims).ok_or_else(|| overflow("activations"))?;
        act = act.checked_add(b).ok_or_else(|| overflow("activations"))?;
    }
    Ok(act)
}

fn biggest_layer(g: &Graph, layers: &[LayerInfo], factor: u64) -> Result<Option<(String, u64)>, RuntimeError> {
    let mut best: Option<(String, u64)> = None;
    for layer in layers {
        let mut b = 0u64;
        for v in &layer.vars {
            let vb =
                bytes_of(&g.var(*v).shape).and_then(|x| x.checked_mul(factor)).ok_or_else(|| overflow("weights"))?;
            b = b.checked_add(vb).ok_or_else(|| overflow("weights"))?;
        }
        if b > 0 && best.as_ref().is_none_or(|(_, most)| b > *most) {
            best = Some((layer.name.clone(), b));
        }
    }
    Ok(best)
}

/// Refuses `est` when it exceeds the memory this process can still get.
/// `what` says what the memory is for ("its weights", "training").
pub fn ensure_fits(model_name: &str, what: &str, est: &Estimate) -> Result<(), RuntimeError> {
    ensure_fits_in(model_name, what, est, available_bytes())
}

/// [`ensure_fits`] against a given amount of available memory.
pub fn ensure_fits_in(model_name: &str, what: &str, est: &Estimate, available: u64) -> Result<(), RuntimeError> {
    let total = est.total().ok_or_else(|| overflow("buffers"))?;
    if total <= available {
        return Ok(());
    }
    let mut parts = vec![format!("weights {}", human(est.weights))];
    for (name, b) in [
        ("optimizer state", est.optimizer_slots),
        ("gradients", est.gradients),
        ("activations per batch", est.activations),
    ] {
        if b > 0 {
            parts.push(format!("{name} {}", human(b)));
        }
    }
    let biggest = match &est.biggest_layer {
        Some((name, b)) => format!("; the largest layer is `{name}` with {}", human(*b)),
        None => String::new(),
    };
    let parts = if parts.len() > 1 { format!(" ({})", parts.join(", ")) } else { String::new() };
    Err(RuntimeError::TooLarge(format!(
        "model `{model_name}` needs about {} for {what}{parts}{biggest}, but only {} of memory is available; \
         use fewer units or smaller inputs{}",
        human(total),
        human(available),
        if est.activations > 0 { ", or a smaller batch size" } else { "" },
    )))
}

/// Bytes with their exact count and a readable unit: `51539607552 bytes (48.0 GiB)`.
fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = "";
    for u in UNITS {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = u;
    }
    if unit.is_empty() {
        format!("{bytes} bytes")
    } else {
        format!("{bytes} bytes ({value:.1} {unit})")
    }
}

/// The memory this process can still allocate: the system's available
/// memory, further limited by an address-space limit (`ulimit -v`) minus
/// what the process already maps.
pub fn available_bytes() -> u64 {
    let system = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| kib_field(&t, "MemAvailable:"))
        .unwrap_or(FALLBACK_AVAILABLE_BYTES);
    let limit = std::fs::read_to_string("/proc/self/limits").ok().and_then(|t| address_space_limit(&t));
    let mapped = std::fs::read_to_string("/proc/self/status").ok().and_then(|t| kib_field(&t, "VmSize:"));
    match (limit, mapped) {
        (Some(limit), Some(mapped)) => system.min(limit.saturating_sub(mapped)),
        (Some(limit), None) => system.min(limit),
        _ => system,
    }
}

/// `Field:   123 kB` → bytes.
fn kib_field(text: &str, field: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(field))?;
    let kib: u64 = line[field.len()..].split_whitespace().next()?.parse().ok()?;
    kib.checked_mul(1024)
}

/// The soft "Max address space" limit of `/proc/self/limits`, in bytes.
fn address_space_limit(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("Max address space"))?;
    let soft = line["Max address space".len()..].split_whitespace().next()?;
    soft.parse().ok()
}

impl crate::Model {
    /// Refuses to train when weights, optimizer state, gradients and one
    /// batch's activations would not fit in memory.
    pub(crate) fn ensure_training_fits(&self, batch: usize) -> Result<(), RuntimeError> {
        let step = self.training_graph()?;
        let est = training_estimate(self.training_forward_graph(), self.layers(), &step, batch)?;
        ensure_fits(self.name(), &format!("training with batches of {batch}"), &est)
    }

    /// Refuses to predict or evaluate when the weights and one batch's
    /// activations would not fit in memory.
    pub(crate) fn ensure_inference_fits(&self, what: &str, batch: usize) -> Result<(), RuntimeError> {
        let est = inference_estimate(self.inference_graph(), self.layers(), batch)?;
        ensure_fits(self.name(), &format!("{what} with batches of {batch}"), &est)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nn_compiler::lower::{lower_source, LoweredModel, Mode};

    fn lowered(src: &str) -> LoweredModel {
        lower_source(src, None, Mode::Infer, 0).unwrap()
    }

    fn weights(m: &LoweredModel) -> Estimate {
        weights_estimate(&m.graph, &m.layers).unwrap()
    }

    #[test]
    fn a_huge_dense_layer_is_counted_without_overflow_and_refused() {
        let m = lowered("model m { input x: [4] dense(2147483647) dense(1) }");
        let est = weights(&m);
        let n = 2147483647u64;
        assert_eq!(est.weights, (6 * n + 1) * 4);
        let (name, bytes) = est.biggest_layer.clone().unwrap();
        assert_eq!(name, "dense");
        assert_eq!(bytes, (5 * 2147483647) * 4);
        let err = ensure_fits_in("m", "its weights", &est, 8 << 30).unwrap_err().to_string();
        let total = format!("needs about {} bytes (48.0 GiB) for its weights", (6 * n + 1) * 4);
        assert!(err.starts_with(&format!("model too large: model `m` {total}")), "{err}");
        assert!(err.contains("the largest layer is `dense` with 42949672940 bytes"), "{err}");
        assert!(err.contains("only 8589934592 bytes (8.0 GiB)"), "{err}");
    }

    #[test]
    fn a_small_model_fits() {
        let m = lowered("model m { input x: [4] dense(3) }");
        let est = weights(&m);
        assert_eq!(est.weights, 15 * 4);
        ensure_fits_in("m", "its weights", &est, 1 << 20).unwrap();
        assert!(ensure_fits_in("m", "its weights", &est, 59).is_err());
    }

    #[test]
    fn products_that_overflow_are_none() {
        assert_eq!(checked_numel(&[1 << 40, 1 << 40]), None);
        assert_eq!(checked_numel(&[3, 5]), Some(15));
        assert_eq!(Estimate { weights: u64::MAX, gradients: 1, ..Estimate::default() }.total(), None);
    }

    #[test]
    fn proc_fields_parse() {
        assert_eq!(kib_field("MemTotal: 10 kB\nMemAvailable:    2048 kB\n", "MemAvailable:"), Some(2 << 20));
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max address space         2147483648           unlimited            bytes\n";
        assert_eq!(address_space_limit(limits), Some(2 << 30));
        let unlimited = "Max address space         unlimited            unlimited            bytes\n";
        assert_eq!(address_space_limit(unlimited), None);
        assert!(available_bytes() > 0);
    }
}
