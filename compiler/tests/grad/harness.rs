//! Finite-difference gradient checking through the f64 interpreter, shared
//! by `gradcheck.rs` (one case per op) and `grad_props.rs` (random graphs).
//!
//! A [`Builder`] makes a graph together with random values for its inputs
//! and variables; [`Builder::check`] turns the output into a scalar loss
//! `sum(out * w)` with random weights `w`, differentiates it with respect to
//! every f32 input and variable, and compares each gradient element with the
//! central difference `(L(x+h) - L(x-h)) / 2h`. It also checks that
//! `simplify` keeps the loss and every gradient unchanged.

#![allow(dead_code)]

use ndarray::ArrayD;
use nn_compiler::autodiff;
use nn_compiler::interp::{self, Value};
use nn_compiler::ir::{DType, Graph, Init, InputRole, NodeId, Op, Shape, TensorType, VarDecl, VarKind};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeSet;

/// Step of the central difference.
pub const EPS: f64 = 1e-6;
/// Largest accepted `|analytic - numeric| / max(1, |numeric|)`.
pub const TOLERANCE: f64 = 1e-6;

/// Where random values are drawn from, so kinks and poles are avoided.
#[derive(Clone, Copy, Debug)]
pub enum Domain {
    /// Uniform in [-1.5, 1.5].
    Any,
    /// |x| in [0.2, 1.5], either sign: keeps relu, abs, sign away from 0.
    AwayFromZero,
    /// Uniform in [0.3, 2]: for log, sqrt, pow bases, divisors.
    Positive,
}

pub struct Builder {
    pub g: Graph,
    pub batch: usize,
    pub rng: StdRng,
    inputs: Vec<Value<f64>>,
    vars: Vec<ArrayD<f64>>,
    wrt: Vec<NodeId>,
}

pub struct Report {
    /// Worst relative error over all checked gradient elements.
    pub max_err: f64,
    /// Number of gradient elements compared.
    pub elements: usize,
    /// Names of the forward ops on a path from a checked value to the loss.
    pub covered: BTreeSet<&'static str>,
}

impl Builder {
    pub fn new(seed: u64, batch: usize) -> Builder {
        Builder {
            g: Graph::new(),
            batch,
            rng: StdRng::seed_from_u64(seed),
            inputs: Vec::new(),
            vars: Vec::new(),
            wrt: Vec::new(),
        }
    }

    pub fn draw(&mut self, dom: Domain) -> f64 {
        match dom {
            Domain::Any => self.rng.random_range(-1.5..1.5),
            Domain::AwayFromZero => {
                let m = self.rng.random_range(0.2..1.5);
                if self.rng.random_bool(0.5) {
                    m
                } else {
                    -m
                }
            }
            Domain::Positive => self.rng.random_range(0.3..2.0),
        }
    }

    fn array(&mut self, dims: &[usize], dom: Domain) -> ArrayD<f64> {
        let n: usize = dims.iter().product();
        let data: Vec<f64> = (0..n).map(|_| self.draw(dom)).collect();
        ArrayD::from_shape_vec(dims.to_vec(), data).expect("element count matches the shape")
    }

    /// An f32 input whose gradient is checked.
    pub fn input(&mut self, shape: Shape, dom: Domain) -> NodeId {
        let id = self.fixed_input(shape, dom);
        self.wrt.push(id);
        id
    }

    /// An f32 input with random values whose gradient is not checked.
    pub fn fixed_input(&mut self, shape: Shape, dom: Domain) -> NodeId {
        let values = self.array(&shape.resolve(self.batch), dom);
        self.inputs.push(Value::F(values));
        let name = format!("x{}", self.inputs.len() - 1);
        self.g.add_input(name, TensorType::f32(shape), InputRole::Feature)
    }

    /// An f32 input with given values (masks, exact ties), not checked.
    pub fn input_with(&mut self, shape: Shape, values: ArrayD<f64>) -> NodeId {
        self.inputs.push(Value::F(values));
        let name = format!("x{}", self.inputs.len() - 1);
        self.g.add_input(name, TensorType::f32(shape), InputRole::Feature)
    }

    /// An i32 input of random values in `0..upper`.
    pub fn labels(&mut self, shape: Shape, upper: i32) -> NodeId {
        let dims = shape.resolve(self.batch);
        let n: usize = dims.iter().product();
        let data: Vec<i32> = (0..n).map(|_| self.rng.random_range(0..upper)).collect();
        self.inputs.push(Value::I(ArrayD::from_shape_vec(dims, data).expect("element count matches the shape")));
        let name = format!("y{}", self.inputs.len() - 1);
        self.g.add_input(name, TensorType::i32(shape), InputRole::Target)
    }

    /// A trainable variable whose gradient is checked.
    pub fn var(&mut self, dims: &[usize], dom: Domain) -> NodeId {
        let values = self.array(dims, dom);
        self.vars.push(values);
        let name = format!("layer/v{}", self.vars.len() - 1);
        let decl =
            VarDecl { name, shape: dims.to_vec(), init: Init::Zeros, regularizer: None, kind: VarKind::Trainable };
        let v = self.g.add_var(decl);
        let id = self.g.var_node(v);
        self.wrt.push(id);
        id
    }

    /// Takes over a lowered model's graph (the builder must be empty): random
    /// values for every f32 input (checked) and variable (trainable ones
    /// checked; statistics fixed, variances positive); a `Step` input is 1.
    /// Returns the model's first output.
    pub fn adopt(&mut self, g: Graph) -> NodeId {
        assert!(self.g.nodes.is_empty(), "adopt needs an empty builder");
        let out = g.outputs[0].1;
        let limits = nn_compiler::ir::id_limits(&g);
        for (i, decl) in g.inputs.iter().enumerate() {
            let dims = decl.ty.shape.resolve(self.batch);
            // Int inputs are ids: any id a table has a row for (not checked).
            if decl.ty.dtype == nn_compiler::ir::DType::I32 {
                let upper = limits.iter().find(|l| l.input == decl.name).map_or(1, |l| l.max_id as i32 + 1);
                let n: usize = dims.iter().product();
                let ids: Vec<i32> = (0..n).map(|_| self.rng.random_range(0..upper)).collect();
                self.inputs.push(Value::I(ArrayD::from_shape_vec(dims, ids).expect("element count matches")));
                continue;
            }
            let value = match decl.role {
                InputRole::Step => ArrayD::from_elem(dims, 1.0),
                _ => self.array(&dims, Domain::Any),
            };
            self.inputs.push(Value::F(value));
            if decl.role != InputRole::Step {
                let node = g.ids().find(|&id| g.node(id).op == Op::Input(i)).expect("every input is read");
                self.wrt.push(node);
            }
        }
        for (i, decl) in g.vars.iter().enumerate() {
            let dom = if decl.name.ends_with("variance") { Domain::Positive } else { Domain::Any };
            let value = self.array(&decl.shape, dom);
            self.vars.push(value);
            if decl.is_trainable() {
                let node = g.ids().find(|&id| g.node(id).op == Op::Var(nn_compiler::ir::VarId(i as u32)));
                self.wrt.extend(node);
            }
        }
        self.g = g;
        self.g.outputs.clear();
        self.g.updates.clear();
        out
    }

    /// A lowered model's graph: each feature input and each variable gets
    /// random values from `dom` and is checked; a step input is `step`.
    pub fn from_graph(g: Graph, seed: u64, batch: usize, dom: Domain, step: f64) -> Builder {
        let mut b = Builder::new(seed, batch);
        for (index, decl) in g.inputs.iter().enumerate() {
            let node = g.nodes.iter().position(|n| n.op == Op::Input(index)).expect("every input has its node");
            if decl.role == InputRole::Step {
                b.inputs.push(Value::F(ArrayD::from_elem(vec![], step)));
            } else {
                let values = b.array(&decl.ty.shape.resolve(batch), dom);
                b.inputs.push(Value::F(values));
                b.wrt.push(NodeId(node as u32));
            }
        }
        for (index, decl) in g.vars.iter().enumerate() {
            let values = b.array(&decl.shape, dom);
            b.vars.push(values);
            let node = g.nodes.iter().position(|n| n.op == Op::Var(nn_compiler::ir::VarId(index as u32)));
            b.wrt.push(NodeId(node.expect("every variable is read") as u32));
        }
        b.g = g;
        b
    }

    /// The forward ops between the checked values and `out`.
    pub fn coverage(&self, out: NodeId) -> BTreeSet<&'static str> {
        on_path_ops(&self.g, &self.wrt, out)
    }

    /// Gradient-checks `sum(out * w)` with respect to every checked input and
    /// variable; `Err` describes the first disagreement.
    pub fn check(mut self, out: NodeId) -> Result<Report, String> {
        let out_shape = self.g.shape(out).clone();
        let weights = self.fixed_input(out_shape, Domain::Any);
        let weighted = self.g.mul(out, weights).map_err(|e| e.to_string())?;
        let loss = self.g.sum_all(weighted).map_err(|e| e.to_string())?;
        let covered = on_path_ops(&self.g, &self.wrt, loss);

        let mut forward = self.g.clone();
        forward.outputs = vec![("loss".into(), loss)];
        let mut full = self.g.clone();
        let grads = autodiff::grad(&mut full, loss, &self.wrt).map_err(|e| format!("grad failed: {e}"))?;
        full.outputs = vec![("loss".into(), loss)];
        for (i, &gr) in grads.iter().enumerate() {
            full.outputs.push((format!("d{i}"), gr));
        }
        let analytic = self.run(&full, &self.inputs, &self.vars)?;

        // simplify must not change the loss or any gradient.
        let (simple, _) = autodiff::simplify(&full);
        let simplified = self.run(&simple, &self.inputs, &self.vars)?;
        for (k, (a, b)) in analytic.iter().zip(&simplified).enumerate() {
            let err = rel_err(a, b);
            if err > 1e-9 {
                return Err(format!(
                    "simplify changed output {} by {err:e}\nbefore:\n{}\nafter:\n{}",
                    full.outputs[k].0,
                    nn_compiler::ir::print_graph(&full),
                    nn_compiler::ir::print_graph(&simple)
                ));
            }
        }

        let mut max_err: f64 = 0.0;
        let mut elements = 0;
        for (k, &w) in self.wrt.iter().enumerate() {
            let numeric = self.numeric_grad(&forward, w)?;
            let got = &analytic[k + 1];
            if got.shape() != numeric.shape() {
                return Err(format!("gradient {k} has shape {:?}, expected {:?}", got.shape(), numeric.shape()));
            }
            for (idx, (a, n)) in got.iter().zip(numeric.iter()).enumerate() {
                let err = (a - n).abs() / n.abs().max(1.0);
                // NaN errors fail too.
                if err.is_nan() || err > TOLERANCE {
                    return Err(format!(
                        "d loss/d {} element {idx}: analytic {a} vs numeric {n} (error {err:e})\n{}",
                        full.node(w).op.name(),
                        nn_compiler::ir::print_graph(&full)
                    ));
                }
                max_err = max_err.max(err);
                elements += 1;
            }
        }
        Ok(Report { max_err, elements, covered })
    }

    fn run(&self, g: &Graph, inputs: &[Value<f64>], vars: &[ArrayD<f64>]) -> Result<Vec<ArrayD<f64>>, String> {
        let res = interp::run::<f64>(g, inputs, vars, self.batch)
            .map_err(|e| format!("interp failed: {e}\n{}", nn_compiler::ir::print_graph(g)))?;
        res.outputs
            .into_iter()
            .map(|v| match v {
                Value::F(a) => Ok(a),
                Value::I(_) => Err("an output is i32".to_string()),
            })
            .collect()
    }

    fn numeric_grad(&self, forward: &Graph, w: NodeId) -> Result<ArrayD<f64>, String> {
        let mut inputs = self.inputs.clone();
        let mut vars = self.vars.clone();
        let (base, slot) = match forward.node(w).op {
            Op::Input(i) => (inputs[i].as_f().ok_or("checked input is i32")?.clone(), Slot::Input(i)),
            Op::Var(v) => (vars[v.index()].clone(), Slot::Var(v.index())),
            _ => return Err("only inputs and variables are checked numerically".into()),
        };
        let mut out = ArrayD::zeros(base.shape());
        for idx in 0..base.len() {
            let at = |delta: f64, inputs: &mut Vec<Value<f64>>, vars: &mut Vec<ArrayD<f64>>| -> Result<f64, String> {
                let mut moved = base.clone();
                moved.as_slice_mut().expect("standard layout")[idx] += delta;
                match slot {
                    Slot::Input(i) => inputs[i] = Value::F(moved),
                    Slot::Var(v) => vars[v] = moved,
                }
                Ok(self.run(forward, inputs, vars)?[0].iter().next().copied().unwrap_or(f64::NAN))
            };
            let plus = at(EPS, &mut inputs, &mut vars)?;
            let minus = at(-EPS, &mut inputs, &mut vars)?;
            out.as_slice_mut().expect("standard layout")[idx] = (plus - minus) / (2.0 * EPS);
        }
        Ok(out)
    }
}

#[derive(Clone, Copy)]
enum Slot {
    Input(usize),
    Var(usize),
}

fn rel_err(a: &ArrayD<f64>, b: &ArrayD<f64>) -> f64 {
    if a.shape() != b.shape() {
        return f64::INFINITY;
    }
    a.iter().zip(b.iter()).map(|(x, y)| (x - y).abs() / x.abs().max(1.0)).fold(0.0, |m, e| {
        if e.is_nan() {
            f64::INFINITY
        } else {
            m.max(e)
        }
    })
}

/// Names of the ops of nodes on a path from some `wrt` node to `loss`.
pub fn on_path_ops(g: &Graph, wrt: &[NodeId], loss: NodeId) -> BTreeSet<&'static str> {
    let n = loss.index() + 1;
    let mut depends = vec![false; n];
    for w in wrt.iter().filter(|w| w.index() < n) {
        depends[w.index()] = true;
    }
    for i in 0..n {
        depends[i] = depends[i] || g.nodes[i].args.iter().any(|a| depends[a.index()]);
    }
    let mut reaches = vec![false; n];
    reaches[loss.index()] = true;
    for i in (0..n).rev() {
        if reaches[i] {
            for a in &g.nodes[i].args {
                reaches[a.index()] = true;
            }
        }
    }
    (0..n).filter(|&i| depends[i] && reaches[i] && !g.nodes[i].args.is_empty()).map(|i| g.nodes[i].op.name()).collect()
}

/// `dtype` of a node, for builders that need to branch on it.
pub fn is_f32(g: &Graph, id: NodeId) -> bool {
    g.ty(id).dtype == DType::F32
}
