//! Unit tests of the macro pipeline outside the compiler (proc_macro2's
//! fallback mode): one grammar for files and token streams, errors at the
//! right tokens, and the shape of the expansion.

use std::path::PathBuf;

use nn_compiler::ast::print_file;
use proc_macro2::TokenStream;

use super::*;

fn examples() -> Vec<(PathBuf, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut files: Vec<(PathBuf, String)> = std::fs::read_dir(&dir)
        .expect("examples/ exists")
        .map(|e| e.expect("readable dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "nn"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("readable example");
            (p, text)
        })
        .collect();
    files.sort();
    files
}

fn tokens(src: &str) -> TokenStream {
    src.parse().unwrap_or_else(|e| panic!("not Rust tokens: {e}\n{src}"))
}

#[test]
fn every_example_parses_the_same_as_macro_tokens() {
    let files = examples();
    assert!(files.len() >= 5, "expected the examples/*.nn files, found {}", files.len());
    for (path, src) in files {
        let direct = nn_compiler::syntax::parse(&src).unwrap_or_else(|d| panic!("{}: {d:?}", path.display()));
        let text = TokenText::from_tokens(tokens(&src));
        let via_tokens = nn_compiler::syntax::parse(&text.text)
            .unwrap_or_else(|d| panic!("{} as tokens: {d:?}\n{}", path.display(), text.text));
        assert_eq!(print_file(&direct), print_file(&via_tokens), "{}", path.display());
    }
}

#[test]
fn every_example_expands_to_a_type() {
    for (path, src) in examples() {
        let out = model_impl(tokens(&src)).to_string();
        assert!(!out.contains("compile_error"), "{}: {out}", path.display());
        assert!(out.contains("pub struct"), "{}", path.display());
        assert!(out.contains("INPUT_SHAPE"), "{}", path.display());
    }
}

#[test]
fn fashion_mlp_constants_come_from_the_checker() {
    let out = model_impl(tokens(
        "model fashion_mlp { input image: [28, 28] flatten dense(128, activation = relu) dense(10, activation = softmax) }",
    ))
    .to_string();
    assert!(out.contains("pub struct FashionMlp"), "{out}");
    assert!(out.contains("pub const INPUT_SHAPE : [usize ; 2] = [28 , 28]"), "{out}");
    assert!(out.contains("pub const OUTPUT_SHAPE : [usize ; 1] = [10]"), "{out}");
    assert!(out.contains("pub const PARAM_COUNT : usize = 101770"), "{out}");
    assert!(out.contains("x : & [[f32 ; 28] ; 28]"), "{out}");
    assert!(out.contains("[f32 ; 10]"), "{out}");
}

/// The first `compile_error!` of an expansion: its message and the line and
/// column its tokens point at (fallback spans know their positions).
fn first_error(out: &TokenStream) -> Option<(String, usize, usize)> {
    let trees: Vec<_> = out.clone().into_iter().collect();
    let at = trees.iter().position(|t| t.to_string() == "compile_error")?;
    let start = trees[at].span().start();
    let group = trees[at + 2..].iter().find_map(|t| match t {
        proc_macro2::TokenTree::Group(g) => Some(g.clone()),
        _ => None,
    })?;
    let lit = syn::parse2::<syn::LitStr>(group.stream()).ok()?;
    Some((lit.value(), start.line, start.column))
}

#[test]
fn errors_point_at_the_offending_tokens() {
    let src = "model m {\n    input x: [28, 28]\n    conv2d(8, 3)\n}";
    let (msg, line, col) = first_error(&model_impl(tokens(src))).expect("a compile_error");
    assert!(msg.starts_with("[E0117]"), "{msg}");
    assert!(msg.contains("reshape"), "the fix is named: {msg}");
    assert_eq!((line, col), (3, 4), "points at `conv2d`: {msg}");
}

#[test]
fn syntax_errors_point_into_the_macro() {
    let src = "model m {\n    input x: [4]\n    dense(3,, 4)\n}";
    let (msg, line, _) = first_error(&model_impl(tokens(src))).expect("a compile_error");
    assert!(msg.starts_with("[E00"), "{msg}");
    assert_eq!(line, 3, "{msg}");
}

#[test]
fn every_error_gets_its_own_compile_error() {
    let src = "model m { input x: [4] dense(3, activation = rleu) dense(2, kernel_initializer = glorot_unifrom) }";
    let out = model_impl(tokens(src)).to_string();
    assert_eq!(out.matches("compile_error").count(), 2, "{out}");
    assert!(out.contains("relu") && out.contains("glorot_uniform"), "suggestions are kept: {out}");
}

#[test]
fn empty_macro_is_an_error_not_a_panic() {
    let out = model_impl(TokenStream::new()).to_string();
    assert!(out.contains("compile_error"), "{out}");
}
