//! The one abstract syntax tree that both front-ends build: the pest parser
//! for `.nn` files (`syntax/`) and the `model!` proc macro (which hands the
//! macro's tokens to the same parser).
//!
//! Architecture invariant: every node carries the [`Span`] of the text it came
//! from, and nothing here knows about the IR. The AST is untyped: whether
//! `dense(16)` is a layer value or `x @ w` a tensor is decided by `lower/`.

mod print;

pub use print::print_file;

use crate::diag::Span;

/// A whole `.nn` source: models and custom layers, in any order.
#[derive(Clone, Debug, PartialEq)]
pub struct File {
    pub items: Vec<Item>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    Model(ModelDef),
    Layer(LayerDef),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// `model NAME { statements… train { … } }`
#[derive(Clone, Debug, PartialEq)]
pub struct ModelDef {
    pub name: Ident,
    pub body: Vec<Stmt>,
    pub train: Option<TrainBlock>,
    pub span: Span,
}

/// `layer NAME(params…) { statements… return EXPR }`
///
/// The first parameter is always a tensor input. Later parameters are tensor
/// inputs when they carry a shape (`b: [n]`), otherwise attributes
/// (`units`, `alpha = 0.3`).
#[derive(Clone, Debug, PartialEq)]
pub struct LayerDef {
    pub name: Ident,
    pub params: Vec<LayerParam>,
    pub body: Vec<Stmt>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct LayerParam {
    pub name: Ident,
    /// A shape pattern such as `[n]`: identifiers in it bind to the actual
    /// per-sample sizes when the layer is applied.
    pub shape: Option<ShapeExpr>,
    pub default: Option<Expr>,
    pub span: Span,
}

/// `[28, 28]`, `[n, units]`: the per-sample dimensions (batch excluded).
#[derive(Clone, Debug, PartialEq)]
pub struct ShapeExpr {
    pub dims: Vec<Expr>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Stmt {
    pub kind: StmtKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum StmtKind {
    /// `input image: [28, 28]`, optionally with a dtype: `input ids: [80] int`.
    Input { name: Ident, shape: ShapeExpr, dtype: Option<Ident> },
    /// `NAME = EXPR`: binds a tensor (`h = dense(64)(x)`) or a layer instance
    /// that can be applied several times (`shared = dense(16)`).
    Let { name: Ident, value: Expr },
    /// `seq, h, c = EXPR`: binds each result of a layer call that yields
    /// several tensors (a recurrent layer with `return_state`), in order;
    /// a name `_` discards its result.
    Unpack { names: Vec<Ident>, value: Expr },
    /// `NAME: SHAPE = INITIALIZER` declares a trainable parameter (custom layers).
    Param { name: Ident, shape: ShapeExpr, init: Expr },
    /// A bare expression. In a model body a layer applies to the current value
    /// (sequential style); a tensor expression becomes the current value.
    Expr(Expr),
    /// `output a, b`: the model's outputs (default: the last value).
    Output(Vec<Ident>),
    /// `return EXPR`: the value of a custom layer.
    Return(Expr),
}

/// `train { key = value … }`: what Keras puts in `compile` and `fit`.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainBlock {
    pub entries: Vec<TrainEntry>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TrainEntry {
    pub key: Ident,
    pub value: Expr,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
    Ident(String),
    List(Vec<Expr>),
    /// `callee(args)`; the callee may itself be a call: `dense(16)(x)`.
    Call {
        callee: Box<Expr>,
        args: Vec<Arg>,
    },
    Binary {
        op: BinOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    Neg(Box<Expr>),
    /// `{ key: value, … }`, the value of a per-output `train` setting
    /// (`loss = { out1: mse }`); the grammar allows it nowhere else.
    /// Keys are written as identifiers, integers or strings; an `Ident` holds
    /// the key's text as written (a string key with its quotes).
    Map(Vec<(Ident, Expr)>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    /// `@`, matrix product.
    MatMul,
    /// `**`
    Pow,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::MatMul => "@",
            BinOp::Pow => "**",
        }
    }
}

/// A call argument, positional (`128`) or named (`activation = relu`).
#[derive(Clone, Debug, PartialEq)]
pub struct Arg {
    pub name: Option<Ident>,
    pub value: Expr,
    pub span: Span,
}
