//! Pest pairs → [`ast`] nodes.
//!
//! Runs only on text the grammar accepted, so the shape of every pair is
//! known; a pair of an unexpected rule is skipped rather than trusted to be
//! impossible. Checks the grammar cannot express are made here, each as a
//! diagnostic: keywords in name positions are already refused by the grammar,
//! but train-block placement, duplicate train blocks, integer overflow and
//! expression depth are decided here.
//!
//! Guarantee: every node's span is the exact byte range of its text (a
//! parenthesized expression's span includes the parentheses; an `Ident`'s
//! span is just the name), and no expression tree is deeper than
//! [`MAX_EXPR_DEPTH`], so later recursive passes cannot exhaust the stack.

use super::Rule;
use crate::ast::*;
use crate::diag::{Diagnostic, Span};
use pest::iterators::Pair;

/// The deepest expression tree the parser builds.
pub const MAX_EXPR_DEPTH: usize = 128;

pub(crate) struct Builder {
    pub diags: Vec<Diagnostic>,
    /// `lex::token_ends` of the source, to trim trailing trivia from spans.
    pub ends: Vec<u32>,
}

fn span_of(pair: &Pair<'_, Rule>) -> Span {
    let s = pair.as_span();
    Span::new(s.start(), s.end())
}

/// Names are atomic rules, so their pest span is already exact.
fn ident(pair: Pair<'_, Rule>) -> Ident {
    Ident { name: pair.as_str().to_string(), span: span_of(&pair) }
}

/// Pairs that carry no information of their own (keywords, braces).
fn is_token(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::kw_model
            | Rule::kw_layer
            | Rule::kw_input
            | Rule::kw_output
            | Rule::kw_return
            | Rule::kw_train
            | Rule::lbrace
            | Rule::rbrace
            | Rule::EOI
    )
}

fn children<'i>(pair: Pair<'i, Rule>) -> impl Iterator<Item = Pair<'i, Rule>> {
    pair.into_inner().filter(|p| !is_token(p.as_rule()))
}

impl Builder {
    /// The pair's span without the whitespace and comments pest may have
    /// consumed after its last token.
    fn span(&self, pair: &Pair<'_, Rule>) -> Span {
        let raw = span_of(pair);
        let end = self.ends.get(raw.end as usize).copied().unwrap_or(raw.end).max(raw.start);
        Span { start: raw.start, end }
    }

    pub fn file(&mut self, pair: Pair<'_, Rule>) -> File {
        let mut items = Vec::new();
        for p in children(pair) {
            match p.as_rule() {
                Rule::model => {
                    if let Some(m) = self.model(p) {
                        items.push(Item::Model(m));
                    }
                }
                Rule::layer_def => {
                    if let Some(l) = self.layer(p) {
                        items.push(Item::Layer(l));
                    }
                }
                Rule::train_block => {
                    let span = self.span(&p);
                    self.diags.push(
                        Diagnostic::error(
                            "E0016",
                            "`train` block outside a model",
                            Span::new(span.start as usize, span.start as usize + 5),
                        )
                        .with_label("this `train` block is not inside any `model { … }`")
                        .with_help("move it into the body of the model it configures"),
                    );
                }
                _ => {}
            }
        }
        File { items }
    }

    fn model(&mut self, pair: Pair<'_, Rule>) -> Option<ModelDef> {
        let span = self.span(&pair);
        let mut inner = children(pair);
        let name = ident(inner.next()?);
        let mut body = Vec::new();
        let mut train: Option<TrainBlock> = None;
        for p in inner {
            if p.as_rule() == Rule::train_block {
                let block = self.train_block(p);
                if let Some(first) = &train {
                    let kw = Span::new(block.span.start as usize, block.span.start as usize + 5);
                    self.diags.push(
                        Diagnostic::error("E0017", format!("model `{}` has a second `train` block", name.name), kw)
                            .with_label("second `train` block")
                            .with_secondary(
                                Span::new(first.span.start as usize, first.span.start as usize + 5),
                                "first `train` block here",
                            )
                            .with_help("merge the settings into one `train { … }` block"),
                    );
                } else {
                    train = Some(block);
                }
            } else if let Some(s) = self.stmt(p) {
                body.push(s);
            }
        }
        Some(ModelDef { name, body, train, span })
    }

    fn layer(&mut self, pair: Pair<'_, Rule>) -> Option<LayerDef> {
        let span = self.span(&pair);
        let mut inner = children(pair);
        let name = ident(inner.next()?);
        let mut params = Vec::new();
        let mut body = Vec::new();
        for p in inner {
            match p.as_rule() {
                Rule::param => {
                    if let Some(param) = self.param(p) {
                        params.push(param);
                    }
                }
                Rule::train_block => {
                    let at = self.span(&p).start as usize;
                    self.diags.push(
                        Diagnostic::error(
                            "E0016",
                            format!("`train` block inside layer `{}`", name.name),
                            Span::new(at, at + 5),
                        )
                        .with_label("layers cannot be trained on their own")
                        .with_secondary(name.span, "this is a `layer`, not a `model`")
                        .with_help("move the `train { … }` block into the model that uses this layer"),
                    );
                }
                _ => {
                    if let Some(s) = self.stmt(p) {
                        body.push(s);
                    }
                }
            }
        }
        Some(LayerDef { name, params, body, span })
    }

    fn param(&mut self, pair: Pair<'_, Rule>) -> Option<LayerParam> {
        let span = self.span(&pair);
        let mut inner = pair.into_inner();
        let name = ident(inner.next()?);
        let mut shape = None;
        let mut default = None;
        for p in inner {
            match p.as_rule() {
                Rule::shape => shape = Some(self.shape(p)?),
                _ => default = Some(self.expr(p)?),
            }
        }
        Some(LayerParam { name, shape, default, span })
    }

    /// A statement, or `None` with at least one diagnostic pushed.
    fn stmt(&mut self, pair: Pair<'_, Rule>) -> Option<Stmt> {
        let span = self.span(&pair);
        let before = self.diags.len();
        let stmt = self.stmt_inner(pair);
        if stmt.is_none() && self.diags.len() == before {
            // Only a grammar/builder mismatch gets here; never drop a
            // statement silently.
            self.diags.push(
                Diagnostic::error("E0099", "internal parser error: this statement could not be built", span)
                    .with_label("the grammar accepted this, but the parser could not build it")
                    .with_note("this is a bug in nn; please report it with this source"),
            );
        }
        stmt
    }

    fn stmt_inner(&mut self, pair: Pair<'_, Rule>) -> Option<Stmt> {
        let span = self.span(&pair);
        let rule = pair.as_rule();
        let mut inner = children(pair);
        let kind = match rule {
            Rule::input_stmt => {
                let name = ident(inner.next()?);
                let shape = self.shape(inner.next()?)?;
                let dtype = inner.next().map(ident);
                StmtKind::Input { name, shape, dtype }
            }
            Rule::output_stmt => StmtKind::Output(inner.map(ident).collect()),
            Rule::return_stmt => StmtKind::Return(self.expr(inner.next()?)?),
            Rule::param_stmt => {
                let name = ident(inner.next()?);
                let shape = self.shape(inner.next()?)?;
                let init = self.expr(inner.next()?)?;
                StmtKind::Param { name, shape, init }
            }
            Rule::let_stmt => {
                let mut names = Vec::new();
                let mut value = None;
                for p in inner {
                    match p.as_rule() {
                        Rule::ident => names.push(ident(p)),
                        _ => value = Some(self.expr(p)?),
                    }
                }
                let value = value?;
                match <[Ident; 1]>::try_from(names) {
                    Ok([name]) => StmtKind::Let { name, value },
                    Err(names) => StmtKind::Unpack { names, value },
                }
            }
            Rule::expr_stmt => StmtKind::Expr(self.expr(inner.next()?)?),
            _ => return None,
        };
        Some(Stmt { kind, span })
    }

    fn train_block(&mut self, pair: Pair<'_, Rule>) -> TrainBlock {
        let span = self.span(&pair);
        let mut entries = Vec::new();
        for p in children(pair) {
            let entry_span = self.span(&p);
            let mut inner = p.into_inner();
            let (Some(key), Some(value)) = (inner.next(), inner.next()) else { continue };
            let value = if value.as_rule() == Rule::map { self.map(value) } else { self.expr(value) };
            if let Some(value) = value {
                entries.push(TrainEntry { key: ident(key), value, span: entry_span });
            }
        }
        TrainBlock { entries, span }
    }

    /// `{ key: expr, … }`; each value is an ordinary (depth-checked) expression.
    fn map(&mut self, pair: Pair<'_, Rule>) -> Option<Expr> {
        let span = self.span(&pair);
        let mut entries = Vec::new();
        for entry in pair.into_inner() {
            let mut inner = entry.into_inner();
            let (key, value) = (inner.next()?, inner.next()?);
            entries.push((ident(key), self.expr(value)?));
        }
        Some(Expr { kind: ExprKind::Map(entries), span })
    }

    fn shape(&mut self, pair: Pair<'_, Rule>) -> Option<ShapeExpr> {
        let span = self.span(&pair);
        let mut dims = Vec::new();
        for p in pair.into_inner() {
            dims.push(self.expr(p)?);
        }
        Some(ShapeExpr { dims, span })
    }

    /// Builds an expression, refusing trees deeper than [`MAX_EXPR_DEPTH`].
    pub fn expr(&mut self, pair: Pair<'_, Rule>) -> Option<Expr> {
        let span = self.span(&pair);
        let (e, depth) = self.expr_depth(pair)?;
        if depth > MAX_EXPR_DEPTH {
            self.too_deep(span);
            return None;
        }
        Some(e)
    }

    fn too_deep(&mut self, span: Span) {
        self.diags.push(
            Diagnostic::error("E0021", format!("expression is nested more than {MAX_EXPR_DEPTH} levels deep"), span)
                .with_label("this expression is too deep to compile")
                .with_help("split it into several `NAME = …` statements"),
        );
    }

    /// The expression and the depth of its tree. Operators are resolved here
    /// by precedence, iteratively: `+ -` < `* / @` < unary `-` < `**` (right
    /// associative, its right operand may be negated as in Python) < call.
    fn expr_depth(&mut self, pair: Pair<'_, Rule>) -> Option<(Expr, usize)> {
        // Operands with their leading `-` signs, and the operators between.
        let mut operands: Vec<(Vec<Span>, Pair<'_, Rule>)> = Vec::new();
        let mut ops: Vec<(Rule, Span)> = Vec::new();
        for p in pair.into_inner() {
            if p.as_rule() == Rule::operand {
                let mut negs = Vec::new();
                let mut post = None;
                for q in p.into_inner() {
                    if q.as_rule() == Rule::neg {
                        negs.push(self.span(&q));
                    } else {
                        post = Some(q);
                    }
                }
                operands.push((negs, post?));
            } else {
                ops.push((p.as_rule(), self.span(&p)));
            }
        }
        // Power chains first, right to left; each operand's signs apply to
        // the power chain starting at that operand.
        let mut groups: Vec<(Expr, usize)> = Vec::new();
        let mut group_ops: Vec<BinOp> = Vec::new();
        let mut pending: Vec<(Vec<Span>, Pair<'_, Rule>)> = Vec::new();
        let mut operand_iter = operands.into_iter();
        let first = operand_iter.next()?;
        pending.push(first);
        for ((rule, _), next) in ops.into_iter().zip(operand_iter) {
            let op = match rule {
                Rule::pow => {
                    pending.push(next);
                    continue;
                }
                Rule::add => BinOp::Add,
                Rule::sub => BinOp::Sub,
                Rule::mul => BinOp::Mul,
                Rule::div => BinOp::Div,
                // The grammar's `infix` has no other alternatives.
                _ => BinOp::MatMul,
            };
            groups.push(self.power_chain(&mut pending)?);
            group_ops.push(op);
            pending.push(next);
        }
        groups.push(self.power_chain(&mut pending)?);
        // Then `* / @` over the groups, then `+ -`, both left associative.
        let mut terms: Vec<(Expr, usize)> = Vec::new();
        let mut term_ops: Vec<BinOp> = Vec::new();
        let mut groups = groups.into_iter();
        let mut acc = groups.next()?;
        for (op, rhs) in group_ops.into_iter().zip(groups) {
            if matches!(op, BinOp::Add | BinOp::Sub) {
                terms.push(acc);
                term_ops.push(op);
                acc = rhs;
            } else {
                acc = self.binary(op, acc, rhs)?;
            }
        }
        terms.push(acc);
        let mut terms = terms.into_iter();
        let mut acc = terms.next()?;
        for (op, rhs) in term_ops.into_iter().zip(terms) {
            acc = self.binary(op, acc, rhs)?;
        }
        Some(acc)
    }

    /// Folds `a ** b ** c` right to left; each operand's signs apply to the
    /// power chain starting at that operand (`-x ** 2` is `-(x ** 2)`).
    fn power_chain(&mut self, pending: &mut Vec<(Vec<Span>, Pair<'_, Rule>)>) -> Option<(Expr, usize)> {
        let mut acc: Option<(Expr, usize)> = None;
        while let Some((negs, post)) = pending.pop() {
            let (mut e, mut d) = self.postfix(post)?;
            if let Some((rhs, rd)) = acc.take() {
                let span = e.span.to(rhs.span);
                d = d.max(rd) + 1;
                e = Expr { kind: ExprKind::Binary { op: BinOp::Pow, lhs: Box::new(e), rhs: Box::new(rhs) }, span };
            }
            for neg in negs.iter().rev() {
                let span = neg.to(e.span);
                e = Expr { kind: ExprKind::Neg(Box::new(e)), span };
                d += 1;
                if d > MAX_EXPR_DEPTH {
                    self.too_deep(span);
                    return None;
                }
            }
            if d > MAX_EXPR_DEPTH {
                self.too_deep(e.span);
                return None;
            }
            acc = Some((e, d));
        }
        acc
    }

    fn binary(&mut self, op: BinOp, (lhs, ld): (Expr, usize), (rhs, rd): (Expr, usize)) -> Option<(Expr, usize)> {
        let span = lhs.span.to(rhs.span);
        let depth = ld.max(rd) + 1;
        if depth > MAX_EXPR_DEPTH {
            self.too_deep(span);
            return None;
        }
        Some((Expr { kind: ExprKind::Binary { op, lhs: Box::new(lhs), rhs: Box::new(rhs) }, span }, depth))
    }

    /// A primary followed by any number of call argument lists (`f(a)(b)`).
    fn postfix(&mut self, pair: Pair<'_, Rule>) -> Option<(Expr, usize)> {
        let mut inner = pair.into_inner();
        let (mut e, mut depth) = self.primary(inner.next()?)?;
        for call in inner {
            let end = self.span(&call).end as usize;
            let mut args = Vec::new();
            let mut arg_depth = 0;
            for arg in call.into_inner() {
                let arg_span = self.span(&arg);
                let mut parts = arg.into_inner();
                let first = parts.next()?;
                let (name, value) = match parts.next() {
                    Some(value) => (Some(ident(first)), value),
                    None => (None, first),
                };
                let (value, d) = self.expr_depth(value)?;
                arg_depth = arg_depth.max(d);
                args.push(Arg { name, value, span: arg_span });
            }
            depth = depth.max(arg_depth) + 1;
            let span = Span::new(e.span.start as usize, end);
            e = Expr { kind: ExprKind::Call { callee: Box::new(e), args }, span };
            if depth > MAX_EXPR_DEPTH {
                self.too_deep(span);
                return None;
            }
        }
        Some((e, depth))
    }

    fn primary(&mut self, pair: Pair<'_, Rule>) -> Option<(Expr, usize)> {
        let span = self.span(&pair);
        let text = pair.as_str();
        let kind = match pair.as_rule() {
            Rule::int => {
                let digits: String = text.chars().filter(|&c| c != '_').collect();
                match digits.parse::<i64>() {
                    Ok(v) => ExprKind::Int(v),
                    Err(_) => {
                        self.diags.push(
                            Diagnostic::error("E0019", format!("integer `{text}` is too large"), span)
                                .with_label(format!("the largest integer is {}", i64::MAX))
                                .with_help(format!("write it as a float if you meant a real number: `{text}.0`")),
                        );
                        return None;
                    }
                }
            }
            Rule::float => {
                let digits: String = text.chars().filter(|&c| c != '_').collect();
                match digits.parse::<f64>() {
                    Ok(v) if v.is_finite() => ExprKind::Float(v),
                    _ => {
                        self.diags.push(
                            Diagnostic::error("E0020", format!("number `{text}` is out of range"), span)
                                .with_label("does not fit in a 64-bit float")
                                .with_help("use a smaller exponent"),
                        );
                        return None;
                    }
                }
            }
            Rule::boolean => ExprKind::Bool(text == "true"),
            Rule::string => ExprKind::Str(unescape(pair.into_inner().next().map_or("", |p| p.as_str()))),
            Rule::ident => ExprKind::Ident(text.to_string()),
            Rule::list => {
                let mut items = Vec::new();
                let mut depth = 0;
                for p in pair.into_inner() {
                    let (e, d) = self.expr_depth(p)?;
                    depth = depth.max(d);
                    items.push(e);
                }
                return Some((Expr { kind: ExprKind::List(items), span }, depth + 1));
            }
            Rule::paren => {
                let (mut e, d) = self.expr_depth(pair.into_inner().next()?)?;
                e.span = span;
                return Some((e, d));
            }
            _ => return None,
        };
        Some((Expr { kind, span }, 1))
    }
}

/// Resolves escapes; the pre-scan already rejected unknown ones.
fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.char_indices();
    while let Some((i, c)) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next().map(|(_, e)| e) {
            Some('u') => {
                if let Some((decoded, len)) = super::lex::unicode_escape(&raw[i + 2..]) {
                    out.push(decoded);
                    for _ in 0..len {
                        chars.next();
                    }
                }
            }
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('0') => out.push('\0'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}
