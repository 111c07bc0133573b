//! Check numerics: which operation produced the first non-finite value.
//!
//! [`CheckNumerics`] wraps the model's engine. Every call runs on the inner
//! engine as usual, after keeping a copy of the variables. When a call's
//! outputs or updated variables hold a NaN or an infinity, the copy is put
//! back and the same call is replayed in the reference interpreter, which
//! keeps every intermediate value; the first node (in the graph's
//! topological order) whose value is not finite is the culprit, and its
//! origin names the layer and the source span. The call then returns what
//! the inner engine returned, so training behaves exactly as without the
//! check (`terminate_on_nan` stops it). The copy per call makes this a
//! debugging mode, as TensorFlow's `enable_check_numerics` is.

use std::sync::{Arc, Mutex};

use ndarray::ArrayD;
use nn_compiler::diag::Span;
use nn_compiler::interp::{self, Value};
use nn_compiler::ir::{Graph, Op};

use crate::engine::{interp_arguments, Engine, Executable, Tensor};
use crate::error::RuntimeError;

/// Where the first non-finite value came from.
#[derive(Clone, Debug, PartialEq)]
pub struct NonFiniteSite {
    /// The IR node, as `nn ir` prints it (`%42`).
    pub node: String,
    /// The IR operation (`log`, `div`, `matmul`, …).
    pub op: String,
    /// The first non-finite element: NaN, inf or -inf.
    pub value: f32,
    /// The layer the node belongs to, if any (Keras's name: `dense_1`).
    pub layer: Option<String>,
    /// The model-source span the node was lowered from.
    pub span: Option<Span>,
    /// The graph's first output (the loss, for a training step) was finite
    /// and only a later value (metric, update) was not.
    pub loss_finite: bool,
}

/// An engine that locates the first non-finite value of any call.
pub struct CheckNumerics {
    inner: Arc<dyn Engine>,
    found: Arc<Mutex<Option<NonFiniteSite>>>,
}

impl CheckNumerics {
    pub fn new(inner: Arc<dyn Engine>) -> CheckNumerics {
        CheckNumerics { inner, found: Arc::new(Mutex::new(None)) }
    }

    /// The first site found so far (later ones are not recorded).
    pub fn found(&self) -> Option<NonFiniteSite> {
        self.found.lock().map(|f| f.clone()).unwrap_or(None)
    }

    /// A handle that reads the finding after the engine moved into a model.
    pub fn finding(&self) -> Arc<Mutex<Option<NonFiniteSite>>> {
        Arc::clone(&self.found)
    }
}

impl Engine for CheckNumerics {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn prepare(&self, graph: &Graph) -> Result<Box<dyn Executable>, RuntimeError> {
        Ok(Box::new(Checked {
            inner: self.inner.prepare(graph)?,
            graph: graph.clone(),
            found: Arc::clone(&self.found),
        }))
    }
}

struct Checked {
    inner: Box<dyn Executable>,
    graph: Graph,
    found: Arc<Mutex<Option<NonFiniteSite>>>,
}

fn all_finite(values: &[f32]) -> bool {
    values.iter().all(|v| v.is_finite())
}

impl Executable for Checked {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }

    fn intermediate_bytes_per_row(&self) -> Option<usize> {
        self.inner.intermediate_bytes_per_row()
    }

    fn split_calls(&self) -> Option<nn_compiler::codegen::SplitCalls> {
        self.inner.split_calls()
    }

    fn run(
        &mut self,
        inputs: &[Tensor<'_>],
        vars: &mut [Vec<f32>],
        batch: usize,
    ) -> Result<Vec<ArrayD<f32>>, RuntimeError> {
        let before: Vec<Vec<f32>> = vars.to_vec();
        let outputs = self.inner.run(inputs, vars, batch)?;
        let finite = outputs.iter().all(|o| o.iter().all(|v| v.is_finite())) && vars.iter().all(|v| all_finite(v));
        let already = self.found.lock().map(|f| f.is_some()).unwrap_or(true);
        if finite || already {
            return Ok(outputs);
        }
        let (values, arrays) = interp_arguments(&self.graph, inputs, &before, batch)?;
        let all = interp::run_all::<f32>(&self.graph, &values, &arrays, batch)
            .map_err(|e| RuntimeError::Engine(format!("replaying the step in the interpreter: {e}")))?;
        let loss_finite = outputs.first().is_none_or(|o| o.iter().all(|v| v.is_finite()));
        if let Some(mut site) = first_non_finite(&self.graph, &all) {
            site.loss_finite = loss_finite;
            if let Ok(mut slot) = self.found.lock() {
                *slot = Some(site);
            }
        }
        Ok(outputs)
    }
}

/// The first computed node of `graph` (constants excepted: `-inf` is a
/// legitimate starting value of a max) whose value holds a non-finite element.
pub fn first_non_finite(graph: &Graph, values: &[Value<f32>]) -> Option<NonFiniteSite> {
    graph.ids().zip(values).find_map(|(id, value)| {
        let node = graph.node(id);
        if matches!(node.op, Op::Const(_)) {
            return None;
        }
        let Value::F(a) = value else { return None };
        let bad = a.iter().copied().find(|v| !v.is_finite())?;
        let origin = graph.origins.get(id.index()).cloned().unwrap_or_default();
        Some(NonFiniteSite {
            node: id.to_string(),
            op: node.op.name().to_string(),
            value: bad,
            layer: origin.layer,
            span: origin.span,
            loss_finite: false,
        })
    })
}
