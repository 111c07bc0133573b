//! Parser tests: AST goldens, diagnostic goldens, token-stream spacing
//! equivalence, exact spans, and never-panic properties.
//!
//! Goldens live in `tests/parse/` (`X.nn` → `X.ast`) and
//! `tests/parse/errors/` (`X.nn` → `X.stderr`). `NN_BLESS=1 cargo test -p
//! nn-compiler --test parse` rewrites them; a missing golden fails otherwise.

use nn_compiler::ast::{self, Expr, ExprKind, Item, Stmt, StmtKind};
use nn_compiler::diag::{self, Diagnostic, Span};
use nn_compiler::syntax::parse;
use proptest::prelude::*;
use std::path::{Path, PathBuf};

fn dir(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/parse").join(sub)
}

fn sources_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "nn"))
        .collect();
    files.sort();
    files
}

/// A line diff (longest common subsequence), `-` expected, `+` actual.
fn diff(expected: &str, actual: &str) -> String {
    let a: Vec<&str> = expected.lines().collect();
    let b: Vec<&str> = actual.lines().collect();
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out += &format!("  {}\n", a[i]);
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out += &format!("+ {}\n", b[j]);
            j += 1;
        } else {
            out += &format!("- {}\n", a[i]);
            i += 1;
        }
    }
    out
}

/// Compares `actual` with the golden at `path`, or writes it when blessing.
fn check_golden(path: &Path, actual: &str) -> Result<(), String> {
    if std::env::var("NN_BLESS").is_ok_and(|v| v == "1") {
        std::fs::write(path, actual).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        return Ok(());
    }
    let expected = std::fs::read_to_string(path)
        .map_err(|_| format!("missing golden {} (run with NN_BLESS=1 to create it)", path.display()))?;
    if expected == actual {
        Ok(())
    } else {
        Err(format!("{} differs (- golden, + actual):\n{}", path.display(), diff(&expected, actual)))
    }
}

/// Every span in bounds and on character boundaries.
fn span_ok(source: &str, span: Span) -> bool {
    let (s, e) = (span.start as usize, span.end as usize);
    s <= e && e <= source.len() && source.is_char_boundary(s) && source.is_char_boundary(e)
}

fn check_diag_spans(source: &str, diags: &[Diagnostic]) {
    assert!(!diags.is_empty(), "Err without diagnostics for {source:?}");
    for d in diags {
        assert!(d.is_error(), "parse failure reported as a warning: {d:?}");
        assert!(d.code.starts_with("E00"), "parse diagnostic outside E0001..E0099: {}", d.code);
        assert!(span_ok(source, d.span), "primary span {:?} out of bounds in {source:?}", d.span);
        for l in &d.secondary {
            assert!(span_ok(source, l.span), "secondary span {:?} out of bounds in {source:?}", l.span);
        }
    }
}

/// Walks the AST and checks every span; idents must cover exactly their name.
fn check_ast_spans(source: &str, file: &ast::File) {
    let ident = |id: &ast::Ident| {
        assert!(span_ok(source, id.span), "ident span {:?}", id.span);
        assert_eq!(&source[id.span.range()], id.name, "ident span must cover just the name");
    };
    fn expr(source: &str, e: &Expr) {
        assert!(span_ok(source, e.span), "expr span {:?}", e.span);
        let mut stack = vec![e];
        while let Some(e) = stack.pop() {
            assert!(span_ok(source, e.span), "expr span {:?}", e.span);
            match &e.kind {
                ExprKind::List(items) => stack.extend(items),
                ExprKind::Call { callee, args } => {
                    stack.push(callee);
                    for a in args {
                        if let Some(n) = &a.name {
                            assert_eq!(&source[n.span.range()], n.name);
                        }
                        assert!(a.span.start <= a.value.span.start && a.value.span.end <= a.span.end);
                        stack.push(&a.value);
                    }
                }
                ExprKind::Binary { lhs, rhs, .. } => {
                    assert!(e.span.start <= lhs.span.start && rhs.span.end <= e.span.end);
                    stack.push(lhs);
                    stack.push(rhs);
                }
                ExprKind::Map(entries) => {
                    for (key, value) in entries {
                        assert_eq!(&source[key.span.range()], key.name);
                        assert!(e.span.start < key.span.start && value.span.end < e.span.end);
                        stack.push(value);
                    }
                }
                ExprKind::Neg(inner) => {
                    // Parentheses around a negation stay in its span.
                    assert!(matches!(source.as_bytes()[e.span.start as usize], b'-' | b'('));
                    stack.push(inner);
                }
                ExprKind::Ident(name) => {
                    // A parenthesized name keeps its parentheses in its span.
                    assert!(source[e.span.range()].contains(name.as_str()));
                }
                _ => {}
            }
        }
    }
    let body = |stmts: &[Stmt]| {
        for s in stmts {
            assert!(span_ok(source, s.span));
            match &s.kind {
                StmtKind::Input { name, shape, dtype } => {
                    ident(name);
                    shape.dims.iter().for_each(|d| expr(source, d));
                    if let Some(t) = dtype {
                        ident(t);
                    }
                }
                StmtKind::Let { name, value } => {
                    ident(name);
                    expr(source, value);
                }
                StmtKind::Unpack { names, value } => {
                    names.iter().for_each(ident);
                    expr(source, value);
                }
                StmtKind::Param { name, shape, init } => {
                    ident(name);
                    shape.dims.iter().for_each(|d| expr(source, d));
                    expr(source, init);
                }
                StmtKind::Expr(e) | StmtKind::Return(e) => expr(source, e),
                StmtKind::Output(names) => names.iter().for_each(ident),
            }
        }
    };
    for item in &file.items {
        match item {
            Item::Model(m) => {
                ident(&m.name);
                assert!(span_ok(source, m.span));
                body(&m.body);
                if let Some(t) = &m.train {
                    assert_eq!(&source[t.span.start as usize..t.span.start as usize + 5], "train");
                    for e in &t.entries {
                        ident(&e.key);
                        expr(source, &e.value);
                    }
                }
            }
            Item::Layer(l) => {
                ident(&l.name);
                for p in &l.params {
                    ident(&p.name);
                    p.default.iter().for_each(|d| expr(source, d));
                }
                body(&l.body);
            }
        }
    }
}

fn parse_ok(source: &str) -> ast::File {
    match parse(source) {
        Ok(f) => f,
        Err(ds) => panic!("expected {source:?} to parse, got:\n{}", diag::render_all(&ds, "test.nn", source, false)),
    }
}

#[test]
fn ast_goldens() {
    let files = sources_in(&dir(""));
    assert!(files.len() >= 10, "expected the golden inputs in tests/parse, found {}", files.len());
    let mut failures = Vec::new();
    for path in files {
        let source = std::fs::read_to_string(&path).expect("read golden input");
        match parse(&source) {
            Ok(file) => {
                check_ast_spans(&source, &file);
                if let Err(e) = check_golden(&path.with_extension("ast"), &ast::print_file(&file)) {
                    failures.push(e);
                }
            }
            Err(ds) => failures.push(format!(
                "{} failed to parse:\n{}",
                path.display(),
                diag::render_all(&ds, "test.nn", &source, false)
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn error_goldens() {
    let files = sources_in(&dir("errors"));
    assert!(files.len() >= 15, "expected at least 15 error cases, found {}", files.len());
    let mut failures = Vec::new();
    let mut codes = std::collections::BTreeSet::new();
    for path in files {
        let source = std::fs::read_to_string(&path).expect("read error case");
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("case.nn").to_string();
        match parse(&source) {
            Ok(_) => failures.push(format!("{name} parsed, but it is an error case")),
            Err(ds) => {
                check_diag_spans(&source, &ds);
                codes.extend(ds.iter().map(|d| d.code));
                let rendered: String = ds.iter().map(|d| diag::render(d, &name, &source)).collect();
                if let Err(e) = check_golden(&path.with_extension("stderr"), &rendered) {
                    failures.push(e);
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(codes.len() >= 15, "only {} distinct error codes exercised: {codes:?}", codes.len());
}

/// `TokenStream::to_string()` drops newlines and comments and puts spaces
/// between most tokens; such text must give the same AST as written text.
#[test]
fn token_stream_spacing_is_equivalent() {
    let pairs = [
        (
            "model m {\n    input x: [4]\n    dense(3, activation = softmax)\n}",
            "model m { input x : [4] dense (3 , activation = softmax) }",
        ),
        ("model m { h = 1e-3 }", "model m { h = 1e-3 }"),
        ("model m { h = -1 }", "model m { h = - 1 }"),
        ("model m { h = 2 ** 3 }", "model m { h = 2 * * 3 }"),
        ("model m { h = x @ w + b }", "model m{h=x@w+b}"),
        (
            "model m {\n  input ids: [80] int\n  out = dense(1)(ids)\n  output out\n}",
            "model m { input ids : [80] int out = dense (1) (ids) output out }",
        ),
        (
            "layer f(x: [n], units, alpha = 0.3) {\n  w: [n, units] = glorot_uniform\n  return x @ w\n}",
            "layer f (x : [n] , units , alpha = 0.3) { w : [n , units] = glorot_uniform return x @ w }",
        ),
        (
            "model m {\n  train {\n    optimizer = adam(learning_rate = 1e-3)\n    metrics = [accuracy]\n  }\n}",
            "model m { train { optimizer = adam (learning_rate = 1e-3) metrics = [accuracy] } }",
        ),
        ("model m { d = \"fashion-mnist\" }", "model m { d = \"fashion-mnist\" }"),
        ("model m { x = 1/255 }", "model m { x = 1 / 255 }"),
        (
            "model m {\n  train {\n    loss = { a: mse, b: binary_crossentropy(from_logits = true), }\n    loss_weights = [1.0, 0.2]\n  }\n}",
            "model m { train { loss = { a : mse , b : binary_crossentropy (from_logits = true) , } loss_weights = [1.0 , 0.2] } }",
        ),
    ];
    for (written, tokens) in pairs {
        let a = ast::print_file(&parse_ok(written));
        let b = ast::print_file(&parse_ok(tokens));
        assert_eq!(a, b, "\nwritten: {written}\ntokens:  {tokens}");
    }
}

fn first_let_value(source: &str) -> Expr {
    let file = parse_ok(source);
    let Some(Item::Model(m)) = file.items.into_iter().next() else { panic!("no model in {source:?}") };
    match m.body.into_iter().next().map(|s| s.kind) {
        Some(StmtKind::Let { value, .. }) => value,
        other => panic!("expected a let, got {other:?}"),
    }
}

#[test]
fn literals_and_folding_inputs() {
    assert_eq!(first_let_value("model m { h = 1e-3 }").kind, ExprKind::Float(1e-3));
    assert_eq!(first_let_value("model m { h = 2. }").kind, ExprKind::Float(2.0));
    assert_eq!(first_let_value("model m { h = .5 }").kind, ExprKind::Float(0.5));
    assert_eq!(first_let_value("model m { h = 60_000 }").kind, ExprKind::Int(60_000));
    assert_eq!(first_let_value("model m { h = \"a\\\"b\\n\" }").kind, ExprKind::Str("a\"b\n".into()));
    let div = first_let_value("model m { h = 1/255 }");
    let ExprKind::Binary { op, lhs, rhs } = div.kind else { panic!("1/255 is not a division") };
    assert_eq!(op, ast::BinOp::Div);
    assert_eq!((lhs.kind, rhs.kind), (ExprKind::Int(1), ExprKind::Int(255)));
    let neg = first_let_value("model m { h = - 1 }");
    assert!(matches!(neg.kind, ExprKind::Neg(ref inner) if inner.kind == ExprKind::Int(1)), "{neg:?}");
}

#[test]
fn spans_are_exact() {
    let src = "model net { input x: [4]\n  h = dense(16, activation = relu)(x) + (b) }";
    let file = parse_ok(src);
    check_ast_spans(src, &file);
    let Item::Model(m) = &file.items[0] else { panic!("no model") };
    assert_eq!(&src[m.name.span.range()], "net");
    assert_eq!(m.span, Span::new(0, src.len()));
    let StmtKind::Let { value, name } = &m.body[1].kind else { panic!("no let") };
    assert_eq!(&src[m.body[1].span.range()], "h = dense(16, activation = relu)(x) + (b)");
    assert_eq!(&src[name.span.range()], "h");
    let ExprKind::Binary { lhs, rhs, .. } = &value.kind else { panic!("no sum") };
    assert_eq!(&src[lhs.span.range()], "dense(16, activation = relu)(x)");
    assert_eq!(&src[rhs.span.range()], "(b)");
    let ExprKind::Call { callee, args } = &lhs.kind else { panic!("no call") };
    assert_eq!(&src[callee.span.range()], "dense(16, activation = relu)");
    assert_eq!(&src[args[0].span.range()], "x");
    let ExprKind::Call { args: inner, .. } = &callee.kind else { panic!("not curried") };
    assert_eq!(&src[inner[1].span.range()], "activation = relu");
    assert_eq!(&src[inner[1].value.span.range()], "relu");
}

#[test]
fn empty_and_blank_sources_parse_to_no_items() {
    for src in ["", "   \n\t", "// just a comment", "/* a */ /* b */", "\u{feff}"] {
        assert_eq!(parse_ok(src).items, Vec::new(), "{src:?}");
    }
}

/// Several problems the grammar cannot see are all reported in one run.
#[test]
fn builder_errors_are_all_reported() {
    let src = "model m { train { epochs = 1 } train { epochs = 2 } }\ntrain { seed = 1 }";
    let ds = parse(src).expect_err("two errors expected");
    let codes: Vec<&str> = ds.iter().map(|d| d.code).collect();
    assert_eq!(codes, ["E0017", "E0016"]);
}

#[test]
fn pathological_nesting_is_a_diagnostic() {
    let deep_parens = format!("model m {{ h = {}x{} }}", "(".repeat(10_000), ")".repeat(10_000));
    let deep_lists = format!("model m {{ h = {}{} }}", "[".repeat(10_000), "]".repeat(10_000));
    let long_negs = format!("model m {{ h = {}x }}", "-".repeat(100_000));
    let long_pow = format!("model m {{ h = x{} }}", " ** x".repeat(50_000));
    let long_sum = format!("model m {{ h = x{} }}", " + x".repeat(50_000));
    let long_calls = format!("model m {{ h = f{} }}", "(x)".repeat(50_000));
    for src in [deep_parens, deep_lists, long_negs, long_pow, long_sum, long_calls] {
        let ds = parse(&src).expect_err("too deep must be refused");
        check_diag_spans(&src, &ds);
        assert!(ds.iter().any(|d| d.code == "E0006" || d.code == "E0021"), "{:?}", ds[0]);
    }
    // Just under the limits still parses.
    let ok = format!("model m {{ h = {}x{} }}", "(".repeat(60), ")".repeat(60));
    parse_ok(&ok);
}

const VALID: [&str; 4] = [
    include_str!("parse/fashion_mlp.nn"),
    include_str!("parse/two_towers.nn"),
    include_str!("parse/custom_layers.nn"),
    include_str!("parse/expressions.nn"),
];

/// Characters that matter to the grammar, to make mutations interesting.
const PIECES: [&str; 24] = [
    "{", "}", "(", ")", "[", "]", ",", ";", ":", "=", "-", "**", "\"", "/*", "*/", "//", "\n", "model", "train",
    "input", "1e-3", "é", "\u{0}", "x",
];

#[derive(Clone, Debug)]
enum Mutation {
    Insert(usize, usize),
    Delete(usize, usize),
    Duplicate(usize, usize),
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn mutate(source: &str, mutations: &[Mutation]) -> String {
    let mut s = source.to_string();
    for m in mutations {
        match *m {
            Mutation::Insert(at, piece) => {
                let at = floor_boundary(&s, at % (s.len() + 1));
                s.insert_str(at, PIECES[piece % PIECES.len()]);
            }
            Mutation::Delete(at, len) => {
                let a = floor_boundary(&s, at % (s.len() + 1));
                let b = floor_boundary(&s, a + len % 16);
                s.replace_range(a..b, "");
            }
            Mutation::Duplicate(at, len) => {
                let a = floor_boundary(&s, at % (s.len() + 1));
                let b = floor_boundary(&s, a + len % 64);
                let copy = s[a..b].to_string();
                s.insert_str(b, &copy);
            }
        }
    }
    s
}

fn check_never_panics(source: &str) {
    match parse(source) {
        Ok(file) => check_ast_spans(source, &file),
        Err(ds) => {
            check_diag_spans(source, &ds);
            // Rendering must not panic either (it slices the source).
            let _ = diag::render_all(&ds, "fuzz.nn", source, false);
        }
    }
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::Insert(a, b)),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::Delete(a, b)),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::Duplicate(a, b)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_text_never_panics(s in "\\PC{0,200}") {
        check_never_panics(&s);
    }

    #[test]
    fn random_grammar_chars_never_panic(s in "[a-z0-9_ {}()\\[\\],;:=+*/@.\"\\-\n]{0,200}") {
        check_never_panics(&s);
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        check_never_panics(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn mutated_sources_never_panic(which in 0..VALID.len(), muts in proptest::collection::vec(mutation(), 1..6)) {
        check_never_panics(&mutate(VALID[which], &muts));
    }
}

/// Goldens that cannot go through Rust's tokenizer, and why.
const NOT_RUST_TOKENS: [(&str, &str); 1] = [("expressions.nn", "`.5` is two Rust tokens, `.` and `5`")];

/// The real `model!` path: every golden, re-spaced by proc-macro2's
/// tokenizer exactly as the macro will see it, parses to the same AST.
#[test]
fn goldens_survive_rust_tokenization() {
    let mut checked = 0;
    for path in sources_in(&dir("")) {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let source = std::fs::read_to_string(&path).expect("read golden input");
        let tokens: proc_macro2::TokenStream = match source.parse() {
            Ok(t) => t,
            Err(e) => panic!("{name} is not valid Rust tokens: {e}"),
        };
        let text = tokens.to_string();
        if let Some((_, why)) = NOT_RUST_TOKENS.iter().find(|(n, _)| *n == name) {
            assert!(parse(&text).is_err(), "{name} was listed as not surviving tokenization ({why}) but it does");
            continue;
        }
        let written = ast::print_file(&parse_ok(&source));
        let respaced = ast::print_file(&parse_ok(&text));
        assert_eq!(written, respaced, "{name} parses differently after tokenization:\n{text}");
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} goldens checked");
}

#[test]
fn several_names_bind_the_results_of_one_call() {
    let source = "model m { input x: [5, 2] seq, h, c = lstm(4, return_state = true)(x) _, g = gru(2, return_state = true)(x, initial_state = h) y = seq }";
    let file = nn_compiler::syntax::parse(source).expect("parses");
    let Item::Model(m) = &file.items[0] else { panic!("a model") };
    let StmtKind::Unpack { names, value } = &m.body[1].kind else { panic!("an unpacking binding: {:?}", m.body[1]) };
    let names: Vec<&str> = names.iter().map(|n| &source[n.span.range()]).collect();
    assert_eq!(names, ["seq", "h", "c"]);
    assert_eq!(&source[value.span.range()], "lstm(4, return_state = true)(x)");
    let StmtKind::Unpack { names, .. } = &m.body[2].kind else { panic!("`_, g = …`") };
    assert_eq!(names[0].name, "_");
    assert!(matches!(&m.body[3].kind, StmtKind::Let { name, .. } if name.name == "y"), "one name stays a `Let`");
}
