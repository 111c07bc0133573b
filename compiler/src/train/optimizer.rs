//! Optimizer updates as IR: the one definition of SGD, RMSprop, Adam, Adagrad,
//! Adadelta (here) and Nadam, AdamW, Adamax, Lion, Ftrl, gradient clipping and
//! weight decay (`optimizer_extra.rs`) that both the interpreter and the JIT
//! run.
//!
//! Every formula follows the `update_step` of Keras 3
//! (`keras/src/optimizers/*.py`), including the order of operations, so a
//! step here matches Keras to rounding. Where Keras 2 differed it is noted.
//! The learning rate and the 1-based iteration count `t` are graph inputs, so
//! schedules and resumed training never recompile.
//!
//! Optimizer state lives in slot variables (`VarKind::Slot`), declared after
//! the model's variables, grouped by slot kind and then in parameter order
//! (the order of Keras's `optimizer.variables`), named `<param>/<slot>` with
//! Keras's slot names (`dense/kernel/momentum`, `dense/kernel/velocity`);
//! with `use_ema` the `average` slots come first, as Keras's base optimizer
//! builds them before the algorithm's (`optimizer_ema.rs`).
//! All slots start at zero except Adagrad's and Ftrl's accumulators, which
//! start at `initial_accumulator_value`, and Nadam's scalar `optimizer/u_product`
//! (one for the whole optimizer, declared last), which starts at one.
//!
//! Updates are simultaneous (the IR applies them after the whole graph ran),
//! so a formula that reads a slot's new value uses the new value's node.

use super::error::TrainError;
use super::spec::Optimizer;
use crate::ir::{BinaryOp, Graph, Init, NodeId, UnaryOp, VarDecl, VarId, VarKind};

type R<T> = Result<T, TrainError>;

fn err(e: crate::shape::ShapeError) -> TrainError {
    TrainError::internal("optimizer")(e)
}

/// A trainable variable and its slots, in the order of [`slot_kinds`].
#[derive(Clone, Debug)]
pub(crate) struct ParamSlots {
    pub param: VarId,
    pub slots: Vec<VarId>,
    /// The moving average of `use_ema` (see `optimizer_ema.rs`).
    pub average: Option<VarId>,
    /// Scalar state shared by every parameter (only the first entry has any).
    pub globals: Vec<VarId>,
}

/// Checks the hyperparameters against the ranges where the formulas make sense.
pub(crate) fn check(opt: &Optimizer) -> R<()> {
    let name = opt.name();
    let fail = |param: &'static str, value: f64, expected: &'static str| {
        Err(TrainError::Hyperparameter { optimizer: name, name: param, value, expected })
    };
    let lr = opt.learning_rate();
    if !(lr.is_finite() && lr >= 0.0) {
        return fail("learning_rate", lr, "a finite number >= 0");
    }
    let in_closed = |v: f64| (0.0..=1.0).contains(&v);
    let in_half_open = |v: f64| (0.0..1.0).contains(&v);
    let non_negative = |v: f64| v.is_finite() && v >= 0.0;
    let options = opt.options();
    let positive = |v: f64| v.is_finite() && v > 0.0;
    for (param, value) in
        [("clipnorm", options.clipnorm), ("clipvalue", options.clipvalue), ("global_clipnorm", options.global_clipnorm)]
    {
        match value {
            Some(v) if !positive(v) => return fail(param, v, "a finite number > 0"),
            _ => {}
        }
    }
    let clips = [options.clipnorm, options.clipvalue, options.global_clipnorm].iter().filter(|c| c.is_some()).count();
    if clips > 1 {
        return Err(TrainError::ClipConflict { optimizer: name });
    }
    if let Some(ema) = options.ema {
        if !in_closed(ema.momentum) {
            return fail("ema_momentum", ema.momentum, "between 0 and 1");
        }
        if ema.overwrite_frequency == Some(0) {
            return fail("ema_overwrite_frequency", 0.0, "an integer >= 1");
        }
    }
    if let Some(wd) = opt.weight_decay() {
        if !non_negative(wd) {
            return fail("weight_decay", wd, "a finite number >= 0");
        }
    }
    match *opt.base() {
        Optimizer::Sgd { momentum, .. } => {
            if !in_closed(momentum) {
                return fail("momentum", momentum, "between 0 and 1");
            }
        }
        Optimizer::RmsProp { rho, momentum, epsilon, .. } => {
            if !in_closed(rho) {
                return fail("rho", rho, "between 0 and 1");
            }
            if !in_closed(momentum) {
                return fail("momentum", momentum, "between 0 and 1");
            }
            if !non_negative(epsilon) {
                return fail("epsilon", epsilon, "a finite number >= 0");
            }
        }
        Optimizer::Adam { beta_1, beta_2, epsilon, .. } => {
            // beta = 1 would divide by 1 - beta^t = 0 in the bias correction.
            if !in_half_open(beta_1) {
                return fail("beta_1", beta_1, "in [0, 1)");
            }
            if !in_half_open(beta_2) {
                return fail("beta_2", beta_2, "in [0, 1)");
            }
            if !non_negative(epsilon) {
                return fail("epsilon", epsilon, "a finite number >= 0");
            }
        }
        Optimizer::Adagrad { initial_accumulator_value, epsilon, .. } => {
            if !non_negative(initial_accumulator_value) {
                return fail("initial_accumulator_value", initial_accumulator_value, "a finite number >= 0");
            }
            if !non_negative(epsilon) {
                return fail("epsilon", epsilon, "a finite number >= 0");
            }
        }
        Optimizer::Adadelta { rho, epsilon, .. } => {
            if !in_closed(rho) {
                return fail("rho", rho, "between 0 and 1");
            }
            if !non_negative(epsilon) {
                return fail("epsilon", epsilon, "a finite number >= 0");
            }
        }
        Optimizer::Nadam { beta_1, beta_2, epsilon, .. }
        | Optimizer::AdamW { beta_1, beta_2, epsilon, .. }
        | Optimizer::Adamax { beta_1, beta_2, epsilon, .. } => {
            if !in_half_open(beta_1) {
                return fail("beta_1", beta_1, "in [0, 1)");
            }
            let adamax = matches!(opt.base(), Optimizer::Adamax { .. });
            // Adamax's beta_2 only decays a running maximum; 1 is allowed.
            if !(in_half_open(beta_2) || adamax && beta_2 == 1.0) {
                return fail("beta_2", beta_2, if adamax { "between 0 and 1" } else { "in [0, 1)" });
            }
            if !non_negative(epsilon) {
                return fail("epsilon", epsilon, "a finite number >= 0");
            }
        }
        Optimizer::Lion { beta_1, beta_2, .. } => {
            if !(beta_1 > 0.0 && beta_1 <= 1.0) {
                return fail("beta_1", beta_1, "in (0, 1]");
            }
            if !in_closed(beta_2) {
                return fail("beta_2", beta_2, "between 0 and 1");
            }
        }
        Optimizer::Ftrl {
            learning_rate_power,
            initial_accumulator_value,
            l1_regularization_strength,
            l2_regularization_strength,
            l2_shrinkage_regularization_strength,
            beta,
            ..
        } => {
            if !(learning_rate_power.is_finite() && learning_rate_power <= 0.0) {
                return fail("learning_rate_power", learning_rate_power, "a finite number <= 0");
            }
            for (param, value) in [
                ("initial_accumulator_value", initial_accumulator_value),
                ("l1_regularization_strength", l1_regularization_strength),
                ("l2_regularization_strength", l2_regularization_strength),
                ("l2_shrinkage_regularization_strength", l2_shrinkage_regularization_strength),
                ("beta", beta),
            ] {
                if !non_negative(value) {
                    return fail(param, value, "a finite number >= 0");
                }
            }
        }
        Optimizer::With { .. } => {}
    }
    Ok(())
}

/// The slots each parameter gets, with their initial values (Keras names).
pub(crate) fn slot_kinds(opt: &Optimizer) -> Vec<(&'static str, Init)> {
    match *opt.base() {
        Optimizer::Sgd { momentum, .. } if momentum != 0.0 => vec![("momentum", Init::Zeros)],
        Optimizer::Sgd { .. } => vec![],
        Optimizer::RmsProp { momentum, centered, .. } => {
            let mut kinds = vec![("velocity", Init::Zeros)];
            if momentum > 0.0 {
                kinds.push(("momentum", Init::Zeros));
            }
            if centered {
                kinds.push(("average_gradient", Init::Zeros));
            }
            kinds
        }
        Optimizer::Adam { amsgrad, .. } | Optimizer::AdamW { amsgrad, .. } => {
            let mut kinds = vec![("momentum", Init::Zeros), ("velocity", Init::Zeros)];
            if amsgrad {
                kinds.push(("velocity_hat", Init::Zeros));
            }
            kinds
        }
        Optimizer::Adagrad { initial_accumulator_value, .. } => {
            vec![("accumulator", Init::Constant(initial_accumulator_value))]
        }
        Optimizer::Adadelta { .. } => vec![("accumulated_grad", Init::Zeros), ("accumulated_delta_var", Init::Zeros)],
        Optimizer::Nadam { .. } => vec![("momentum", Init::Zeros), ("velocity", Init::Zeros)],
        Optimizer::Adamax { .. } => vec![("momentum", Init::Zeros), ("norm", Init::Zeros)],
        Optimizer::Lion { .. } => vec![("momentum", Init::Zeros)],
        Optimizer::Ftrl { initial_accumulator_value, .. } => {
            vec![("accumulator", Init::Constant(initial_accumulator_value)), ("linear", Init::Zeros)]
        }
        Optimizer::With { .. } => vec![],
    }
}

/// Optimizer state shared by every parameter (scalars), declared after the
/// per-parameter slots: Nadam's running product of momentum schedules.
fn global_slot_kinds(opt: &Optimizer) -> Vec<(&'static str, Init)> {
    match opt.base() {
        Optimizer::Nadam { .. } => vec![("u_product", Init::Ones)],
        _ => vec![],
    }
}

/// Appends the slot variables for every trainable variable of `g`.
pub(crate) fn declare_slots(g: &mut Graph, opt: &Optimizer) -> Vec<ParamSlots> {
    let params: Vec<VarId> = (0..g.vars.len() as u32).map(VarId).filter(|&v| g.var(v).is_trainable()).collect();
    let mut table: Vec<ParamSlots> = params
        .iter()
        .map(|&param| ParamSlots { param, slots: Vec::new(), average: None, globals: Vec::new() })
        .collect();
    let slot_var = |g: &mut Graph, param: VarId, slot: &str, init: &Init| {
        let decl = g.var(param);
        let slot_decl = VarDecl {
            name: format!("{}/{slot}", decl.name),
            shape: decl.shape.clone(),
            init: init.clone(),
            regularizer: None,
            kind: VarKind::Slot { of: param, slot: slot.to_string() },
        };
        g.add_var(slot_decl)
    };
    // Keras's base optimizer builds the averages before the algorithm's slots.
    if opt.options().ema.is_some() {
        for entry in &mut table {
            entry.average = Some(slot_var(g, entry.param, super::optimizer_ema::AVERAGE, &Init::Zeros));
        }
    }
    for (slot, init) in slot_kinds(opt) {
        for entry in &mut table {
            entry.slots.push(slot_var(g, entry.param, slot, &init));
        }
    }
    // Global slots hang off the first parameter so they travel with the
    // optimizer state; there is nothing to update without parameters.
    if let Some(first) = table.first().map(|e| e.param) {
        for (slot, init) in global_slot_kinds(opt) {
            let decl = VarDecl {
                name: format!("optimizer/{slot}"),
                shape: Vec::new(),
                init,
                regularizer: None,
                kind: VarKind::Slot { of: first, slot: slot.to_string() },
            };
            let id = g.add_var(decl);
            table[0].globals.push(id);
        }
    }
    table
}

/// Emits the updates of every parameter and slot; `grads` parallels `table`.
/// Keras's order: clip the gradients, decay the weights, the update, then
/// the moving average of `use_ema`.
pub(crate) fn emit_updates(
    g: &mut Graph,
    opt: &Optimizer,
    table: &[ParamSlots],
    grads: &[NodeId],
    lr: NodeId,
    step: NodeId,
) -> R<()> {
    let mut e = Emitter { g, lr, step, globals: Vec::new() };
    let options = opt.options();
    let grads = super::optimizer_extra::clip(&mut e, &options, grads)?;
    let globals: Vec<VarId> = table.iter().flat_map(|t| t.globals.iter().copied()).collect();
    if !globals.is_empty() {
        let old: Vec<NodeId> = globals.iter().map(|&v| e.g.var_node(v)).collect();
        let new = super::optimizer_extra::update_globals(&mut e, opt.base(), &old)?;
        for (&var, &value) in globals.iter().zip(&new) {
            e.g.updates.push((var, value));
        }
        e.globals = new;
    }
    let decay = opt.weight_decay();
    for (entry, &grad) in table.iter().zip(&grads) {
        let mut w = e.g.var_node(entry.param);
        if let Some(wd) = decay {
            // w - w * wd * lr, in Keras's order.
            let w_wd = e.scale(keras_cast(wd), w)?;
            let w_wd_lr = e.mul(w_wd, lr)?;
            w = e.sub(w, w_wd_lr)?;
        }
        let slots: Vec<NodeId> = entry.slots.iter().map(|&s| e.g.var_node(s)).collect();
        let (mut new_w, new_slots) = e.update(opt.base(), w, grad, &slots)?;
        if let (Some(ema), Some(average)) = (options.ema, entry.average) {
            let old = e.g.var_node(average);
            let (new_average, kept) = super::optimizer_ema::update(&mut e, ema, old, new_w)?;
            e.g.updates.push((average, new_average));
            new_w = kept;
        }
        for (&slot, new) in entry.slots.iter().zip(new_slots) {
            e.g.updates.push((slot, new));
        }
        e.g.updates.push((entry.param, new_w));
    }
    Ok(())
}

/// A Python float as Keras's `ops.cast(value, dtype)` sees it: converted to
/// a float32 tensor first, then cast. Identical to the value itself in f32
/// graphs; in f64 graphs it reproduces Keras's float64 arithmetic exactly.
pub(crate) fn keras_cast(v: f64) -> f64 {
    f64::from(v as f32)
}

pub(crate) struct Emitter<'g> {
    pub(crate) g: &'g mut Graph,
    pub(crate) lr: NodeId,
    pub(crate) step: NodeId,
    /// New values of the global slots (see [`global_slot_kinds`]).
    pub(crate) globals: Vec<NodeId>,
}

impl Emitter<'_> {
    pub(crate) fn c(&mut self, v: f64) -> NodeId {
        self.g.scalar(v)
    }
    pub(crate) fn add(&mut self, a: NodeId, b: NodeId) -> R<NodeId> {
        self.g.add(a, b).map_err(err)
    }
    pub(crate) fn sub(&mut self, a: NodeId, b: NodeId) -> R<NodeId> {
        self.g.sub(a, b).map_err(err)
    }
    pub(crate) fn mul(&mut self, a: NodeId, b: NodeId) -> R<NodeId> {
        self.g.mul(a, b).map_err(err)
    }
    pub(crate) fn div(&mut self, a: NodeId, b: NodeId) -> R<NodeId> {
        self.g.div(a, b).map_err(err)
    }
    pub(crate) fn sqrt(&mut self, a: NodeId) -> R<NodeId> {
        self.g.unary(UnaryOp::Sqrt, a).map_err(err)
    }
    pub(crate) fn square(&mut self, a: NodeId) -> R<NodeId> {
        self.mul(a, a)
    }
    /// `k * x` with a constant `k`.
    pub(crate) fn scale(&mut self, k: f64, x: NodeId) -> R<NodeId> {
        let k = self.c(k);
        self.mul(k, x)
    }
    /// `a * x + b * y` with constants `a`, `b`: the moving averages.
    pub(crate) fn blend(&mut self, a: f64, x: NodeId, b: f64, y: NodeId) -> R<NodeId> {
        let ax = self.scale(a, x)?;
        let by = self.scale(b, y)?;
        self.add(ax, by)
    }

    /// The new parameter value and the new slot values (in slot order).
    fn update(&mut self, opt: &Optimizer, w: NodeId, g: NodeId, slots: &[NodeId]) -> R<(NodeId, Vec<NodeId>)> {
        let lr = self.lr;
        match *opt {
            Optimizer::Nadam { .. }
            | Optimizer::Adamax { .. }
            | Optimizer::Lion { .. }
            | Optimizer::Ftrl { .. }
            | Optimizer::With { .. } => super::optimizer_extra::update(self, opt, w, g, slots),
            Optimizer::Sgd { momentum, nesterov, .. } => {
                let g_lr = self.mul(g, lr)?;
                if momentum == 0.0 {
                    return Ok((self.sub(w, g_lr)?, vec![]));
                }
                // m = m * momentum - g * lr; nesterov adds m * momentum - g * lr
                // with the new m, plain momentum adds m.
                let momentum = keras_cast(momentum);
                let m_mom = self.scale(momentum, slots[0])?;
                let m = self.sub(m_mom, g_lr)?;
                let delta = if nesterov {
                    let m_mom = self.scale(momentum, m)?;
                    self.sub(m_mom, g_lr)?
                } else {
                    m
                };
                Ok((self.add(w, delta)?, vec![m]))
            }
            Optimizer::RmsProp { rho, momentum, epsilon, centered, .. } => {
                // Keras 3 adds epsilon inside the square root, lr * g /
                // sqrt(velocity + eps); Keras 2's non-momentum path added it
                // outside, lr * g / (sqrt(velocity) + eps).
                let momentum_idx = (momentum > 0.0).then_some(1);
                let average_idx = centered.then_some(1 + usize::from(momentum > 0.0));
                let g2 = self.square(g)?;
                let velocity = self.blend(rho, slots[0], 1.0 - rho, g2)?;
                let eps = self.c(epsilon);
                let (denominator, average) = match average_idx {
                    Some(i) => {
                        let avg = self.blend(rho, slots[i], 1.0 - rho, g)?;
                        let avg2 = self.square(avg)?;
                        let diff = self.sub(velocity, avg2)?;
                        (self.add(diff, eps)?, Some(avg))
                    }
                    None => (self.add(velocity, eps)?, None),
                };
                let lr_g = self.mul(lr, g)?;
                let root = self.sqrt(denominator)?;
                let increment = self.div(lr_g, root)?;
                let (new_w, momentum_new) = match momentum_idx {
                    Some(i) => {
                        let decayed = self.scale(momentum, slots[i])?;
                        let m = self.add(decayed, increment)?;
                        (self.sub(w, m)?, Some(m))
                    }
                    None => (self.sub(w, increment)?, None),
                };
                // Slot order: velocity, momentum, average_gradient.
                let next = std::iter::once(velocity).chain(momentum_new).chain(average).collect();
                Ok((new_w, next))
            }
            Optimizer::Adam { beta_1, beta_2, epsilon, amsgrad, .. }
            | Optimizer::AdamW { beta_1, beta_2, epsilon, amsgrad, .. } => {
                // alpha = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t), t 1-based.
                let one = self.c(1.0);
                let b1 = self.c(keras_cast(beta_1));
                let b2 = self.c(keras_cast(beta_2));
                let b1_t = self.g.binary(BinaryOp::Pow, b1, self.step).map_err(err)?;
                let b2_t = self.g.binary(BinaryOp::Pow, b2, self.step).map_err(err)?;
                let c2 = self.sub(one, b2_t)?;
                let root = self.sqrt(c2)?;
                let lr_root = self.mul(lr, root)?;
                let c1 = self.sub(one, b1_t)?;
                let alpha = self.div(lr_root, c1)?;
                // Keras 3 writes the averages as m += (g - m) * (1 - beta).
                let dm = self.sub(g, slots[0])?;
                let dm = self.scale(1.0 - beta_1, dm)?;
                let m = self.add(slots[0], dm)?;
                let g2 = self.square(g)?;
                let dv = self.sub(g2, slots[1])?;
                let dv = self.scale(1.0 - beta_2, dv)?;
                let v = self.add(slots[1], dv)?;
                let mut next = vec![m, v];
                let v_used = if amsgrad {
                    let v_hat = self.g.binary(BinaryOp::Max, slots[2], v).map_err(err)?;
                    next.push(v_hat);
                    v_hat
                } else {
                    v
                };
                let m_alpha = self.mul(m, alpha)?;
                let root_v = self.sqrt(v_used)?;
                let eps = self.c(epsilon);
                let denom = self.add(root_v, eps)?;
                let step = self.div(m_alpha, denom)?;
                Ok((self.sub(w, step)?, next))
            }
            Optimizer::Adagrad { epsilon, .. } => {
                // Keras 3: lr * g / sqrt(acc + eps); Keras 2 used sqrt(acc) + eps.
                let g2 = self.square(g)?;
                let acc = self.add(slots[0], g2)?;
                let lr_g = self.mul(lr, g)?;
                let eps = self.c(epsilon);
                let shifted = self.add(acc, eps)?;
                let root = self.sqrt(shifted)?;
                let step = self.div(lr_g, root)?;
                Ok((self.sub(w, step)?, vec![acc]))
            }
            Optimizer::Adadelta { rho, epsilon, .. } => {
                // rms(x) = sqrt(x + eps); the step uses the old accumulated
                // delta and the new accumulated gradient, as Keras 3 does.
                let eps = self.c(epsilon);
                let g2 = self.square(g)?;
                let acc_g = self.blend(rho, slots[0], 1.0 - rho, g2)?;
                let shifted_dx = self.add(slots[1], eps)?;
                let rms_dx = self.sqrt(shifted_dx)?;
                let shifted_g = self.add(acc_g, eps)?;
                let rms_g = self.sqrt(shifted_g)?;
                let num = self.mul(rms_dx, g)?;
                let ratio = self.div(num, rms_g)?;
                let delta = self.g.neg(ratio).map_err(err)?;
                let delta2 = self.square(delta)?;
                let acc_dx = self.blend(rho, slots[1], 1.0 - rho, delta2)?;
                let lr_delta = self.mul(lr, delta)?;
                Ok((self.add(w, lr_delta)?, vec![acc_g, acc_dx]))
            }
        }
    }
}
