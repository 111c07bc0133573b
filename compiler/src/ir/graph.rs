//! The graph arena and its checked builder.

use super::op::{BinaryOp, Op, UnaryOp};
use super::scan::{Scan, ScanBody, ScanResult};
use super::types::{DType, Shape, TensorType};
use super::var::VarDecl;
use super::{NodeId, VarId};
use crate::diag::Span;
use crate::shape::{self, ShapeError};
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub op: Op,
    pub args: Vec<NodeId>,
    pub ty: TensorType,
}

/// What a graph input is for; the runtime binds buffers by role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InputRole {
    /// A model input (features), declared with `input` in the source.
    Feature,
    /// The training target for an output.
    Target,
    /// Per-sample loss weights.
    SampleWeight,
    /// The learning rate, a runtime scalar so schedules never recompile.
    LearningRate,
    /// The optimizer iteration count (1-based in updates), also keying dropout.
    Step,
}

#[derive(Clone, Debug, PartialEq)]
pub struct InputDecl {
    pub name: String,
    pub ty: TensorType,
    pub role: InputRole,
}

/// Where a node came from: the source span and Keras layer name of the layer
/// that produced it. Nodes made by autodiff or fusion inherit the origin of
/// the forward node they derive from.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Origin {
    pub span: Option<Span>,
    pub layer: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct Graph {
    pub nodes: Vec<Node>,
    /// Side table, parallel to `nodes`.
    pub origins: Vec<Origin>,
    pub inputs: Vec<InputDecl>,
    pub vars: Vec<VarDecl>,
    /// Named results, in order (`logits`, `loss`, `accuracy`, …).
    pub outputs: Vec<(String, NodeId)>,
    /// New values for variables, applied after the whole graph ran.
    pub updates: Vec<(VarId, NodeId)>,
    origin: Origin,
    dedup: HashMap<(String, Vec<NodeId>, Shape), NodeId>,
}

impl Graph {
    pub fn new() -> Graph {
        Graph::default()
    }

    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.index()]
    }

    pub fn ty(&self, id: NodeId) -> &TensorType {
        &self.nodes[id.index()].ty
    }

    pub fn shape(&self, id: NodeId) -> &Shape {
        &self.nodes[id.index()].ty.shape
    }

    pub fn var(&self, id: VarId) -> &VarDecl {
        &self.vars[id.index()]
    }

    pub fn ids(&self) -> impl DoubleEndedIterator<Item = NodeId> {
        (0..self.nodes.len() as u32).map(NodeId)
    }

    /// Which nodes the outputs or updates depend on, by node index.
    pub fn live_nodes(&self) -> Vec<bool> {
        let mut live = vec![false; self.nodes.len()];
        for id in self.outputs.iter().map(|o| o.1).chain(self.updates.iter().map(|u| u.1)) {
            live[id.index()] = true;
        }
        for i in (0..self.nodes.len()).rev() {
            if live[i] {
                for a in &self.nodes[i].args {
                    live[a.index()] = true;
                }
            }
        }
        live
    }

    pub fn output(&self, name: &str) -> Option<NodeId> {
        self.outputs.iter().find(|(n, _)| n == name).map(|&(_, id)| id)
    }

    pub fn input_index(&self, name: &str) -> Option<usize> {
        self.inputs.iter().position(|i| i.name == name)
    }

    /// Nodes built from now on record this origin.
    pub fn set_origin(&mut self, origin: Origin) {
        self.origin = origin;
    }

    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    pub fn add_var(&mut self, decl: VarDecl) -> VarId {
        self.vars.push(decl);
        VarId(self.vars.len() as u32 - 1)
    }

    pub fn add_input(&mut self, name: impl Into<String>, ty: TensorType, role: InputRole) -> NodeId {
        self.inputs.push(InputDecl { name: name.into(), ty: ty.clone(), role });
        let index = self.inputs.len() - 1;
        self.push_typed(Op::Input(index), Vec::new(), ty)
    }

    /// Builds a node after checking it with the shape rules; returns the
    /// existing node if an identical one was built before.
    pub fn push(&mut self, op: Op, args: &[NodeId]) -> Result<NodeId, ShapeError> {
        let ty = {
            let arg_tys: Vec<&TensorType> = args.iter().map(|a| self.ty(*a)).collect();
            shape::infer(&op, &arg_tys)?
        };
        Ok(self.push_typed(op, args.to_vec(), ty))
    }

    /// Like [`push`](Self::push) for ops whose result type is decided by the
    /// caller (leaves: inputs, variables, constants).
    fn push_typed(&mut self, op: Op, args: Vec<NodeId>, ty: TensorType) -> NodeId {
        let key = (op.dedup_key(), args.clone(), ty.shape.clone());
        if let Some(&id) = self.dedup.get(&key) {
            if self.ty(id) == &ty {
                return id;
            }
        }
        debug_assert!(args.iter().all(|a| a.index() < self.nodes.len()), "forward reference");
        self.nodes.push(Node { op, args, ty });
        self.origins.push(self.origin.clone());
        let id = NodeId(self.nodes.len() as u32 - 1);
        self.dedup.insert(key, id);
        id
    }

    // ---- leaves ----------------------------------------------------------------

    pub fn var_node(&mut self, var: VarId) -> NodeId {
        let shape = Shape::known(&self.var(var).shape);
        self.push_typed(Op::Var(var), Vec::new(), TensorType::f32(shape))
    }

    /// A scalar f32 constant.
    pub fn scalar(&mut self, value: f64) -> NodeId {
        self.constant(value, Shape::scalar())
    }

    /// A constant filled to `shape`.
    pub fn constant(&mut self, value: f64, shape: Shape) -> NodeId {
        self.push_typed(Op::Const(value), Vec::new(), TensorType::f32(shape))
    }

    pub fn batch_size(&mut self) -> NodeId {
        self.push_typed(Op::BatchSize, Vec::new(), TensorType::f32(Shape::scalar()))
    }

    // ---- shorthands used by lowering, autodiff and training -------------------

    pub fn unary(&mut self, op: UnaryOp, x: NodeId) -> Result<NodeId, ShapeError> {
        self.push(Op::Unary(op), &[x])
    }

    pub fn binary(&mut self, op: BinaryOp, a: NodeId, b: NodeId) -> Result<NodeId, ShapeError> {
        self.push(Op::Binary(op), &[a, b])
    }

    pub fn add(&mut self, a: NodeId, b: NodeId) -> Result<NodeId, ShapeError> {
        self.binary(BinaryOp::Add, a, b)
    }

    pub fn sub(&mut self, a: NodeId, b: NodeId) -> Result<NodeId, ShapeError> {
        self.binary(BinaryOp::Sub, a, b)
    }

    pub fn mul(&mut self, a: NodeId, b: NodeId) -> Result<NodeId, ShapeError> {
        self.binary(BinaryOp::Mul, a, b)
    }

    pub fn div(&mut self, a: NodeId, b: NodeId) -> Result<NodeId, ShapeError> {
        self.binary(BinaryOp::Div, a, b)
    }

    pub fn neg(&mut self, x: NodeId) -> Result<NodeId, ShapeError> {
        self.unary(UnaryOp::Neg, x)
    }

    pub fn matmul(&mut self, a: NodeId, b: NodeId) -> Result<NodeId, ShapeError> {
        self.push(Op::MatMul { transpose_a: false, transpose_b: false }, &[a, b])
    }

    pub fn reduce_sum(&mut self, x: NodeId, axes: Vec<usize>, keep_dims: bool) -> Result<NodeId, ShapeError> {
        self.push(Op::Reduce { op: super::ReduceOp::Sum, axes, keep_dims }, &[x])
    }

    /// Sum over every axis, to a scalar.
    pub fn sum_all(&mut self, x: NodeId) -> Result<NodeId, ShapeError> {
        let rank = self.shape(x).rank();
        if rank == 0 {
            return Ok(x);
        }
        self.reduce_sum(x, (0..rank).collect(), false)
    }

    pub fn reshape(&mut self, x: NodeId, shape: Shape) -> Result<NodeId, ShapeError> {
        if self.shape(x) == &shape {
            return Ok(x);
        }
        self.push(Op::Reshape(shape), &[x])
    }

    /// One result of the loop of `body` over `args` (see `ir/scan.rs`);
    /// calls with the same body and arguments name results of one loop.
    pub fn scan(
        &mut self,
        body: &Arc<ScanBody>,
        steps: usize,
        reverse: bool,
        args: &[NodeId],
        result: ScanResult,
    ) -> Result<NodeId, ShapeError> {
        self.push(Op::Scan(Scan { body: body.clone(), steps, reverse, result }), args)
    }

    pub fn cast(&mut self, x: NodeId, dtype: DType) -> Result<NodeId, ShapeError> {
        if self.ty(x).dtype == dtype {
            return Ok(x);
        }
        self.push(Op::Cast(dtype), &[x])
    }

    /// Number of uses of each node (by other nodes, outputs and updates).
    pub fn use_counts(&self) -> Vec<u32> {
        let mut counts = vec![0u32; self.nodes.len()];
        for node in &self.nodes {
            for a in &node.args {
                counts[a.index()] += 1;
            }
        }
        let roots = self.outputs.iter().map(|(_, id)| id).chain(self.updates.iter().map(|(_, id)| id));
        for id in roots {
            counts[id.index()] += 1;
        }
        counts
    }
}
