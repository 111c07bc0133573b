//! The IR: a flat, first-order, topologically ordered graph of primitive
//! tensor ops with static shapes and a symbolic batch dimension.
//!
//! Architecture invariants:
//! - Nodes live in one arena and refer to each other by [`NodeId`]; a node's
//!   arguments always have smaller ids than the node (no forward references),
//!   so a forward pass is one loop over the arena and a backward pass is the
//!   same loop reversed.
//! - Every node carries its [`TensorType`], computed by `shape::infer` when the
//!   node is built. A graph that exists is well-typed: every shape is fully
//!   known except the batch dimension.
//! - Building the same op on the same arguments twice returns the first node
//!   (hash-consing), except for ops with identity (none today: even dropout
//!   masks are pure functions of seed, key and step).

mod crop;
mod graph;
mod ids;
mod op;
mod print;
pub mod rng;
mod rows;
mod scan;
mod types;
mod var;

pub use crop::crop_unread_borders;
pub use graph::{Graph, InputDecl, InputRole, Node, Origin};
pub use ids::{id_limits, IdLimit};
pub use op::{BinaryOp, CmpOp, Op, Padding, PoolKind, ReduceOp, UnaryOp, Window};
pub use print::{print_graph, print_node};
pub use rows::{rows_independent, widest_row};
pub use scan::{Scan, ScanBody, ScanResult};
pub use types::{DType, Dim, Shape, TensorType};
pub use var::{Init, Regularizer, VarDecl, VarKind};

use std::fmt;

/// A value in a [`Graph`]. Prints as `%7`, as in IR dumps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub u32);

/// A variable in a [`Graph`]. Prints as `$3`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VarId(pub u32);

impl NodeId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl VarId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "%{}", self.0)
    }
}

impl fmt::Display for VarId {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "${}", self.0)
    }
}
