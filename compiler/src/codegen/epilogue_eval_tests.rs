//! The one-pass bias (+ relu) and relu-mask evaluators against the general
//! one: the same bits for every width of strip (full vectors and a masked
//! tail), both operand orders, and the values where rounding and relu are
//! delicate.

use super::*;

const ACC: BufId = 0;
const BIAS: BufId = 1;
const OUT: BufId = 2;

fn program(bias_first: bool, relu: bool, extra: bool) -> Epilogue {
    let sum = if bias_first { Expr::Binary(BinaryOp::Add, 1, 0) } else { Expr::Binary(BinaryOp::Add, 0, 1) };
    let mut exprs = vec![Expr::Leaf(0), Expr::Leaf(1), sum];
    if relu {
        exprs.push(Expr::Unary(UnaryOp::Relu, 2));
    }
    if extra {
        let last = exprs.len() - 1;
        exprs.push(Expr::Binary(BinaryOp::Mul, last, last));
    }
    let stored = exprs.len() - 1;
    Epilogue::new(exprs, vec![(ACC, LeafKind::Acc), (BIAS, LeafKind::Row)], vec![(stored, OUT)])
}

/// Values around the edges: signed zeros, infinities, NaNs, subnormals,
/// sums that cancel.
fn value(i: usize) -> f32 {
    const SPECIAL: [f32; 9] = [0.0, -0.0, f32::INFINITY, f32::NEG_INFINITY, f32::NAN, 1e-40, -1e-40, 1.5, -1.5];
    if i % 5 == 0 {
        SPECIAL[(i / 5) % SPECIAL.len()]
    } else {
        ((i * 37 % 101) as f32 - 50.0) / 7.0
    }
}

fn apply(ep: &Epilogue, acc: &[f32], bias: &mut [f32], m: usize, n: usize) -> Vec<u32> {
    let mut out = vec![0.0f32; m * n];
    let table = [acc.as_ptr() as *mut u8, bias.as_mut_ptr() as *mut u8, out.as_mut_ptr() as *mut u8];
    let bound = Bound { ep, table: table.as_ptr(), n, row0: 0, col0: 0, batch: m };
    for j in (0..n).step_by(MAX_STRIP) {
        // SAFETY: the three buffers hold m × n (acc, out) and n (bias) floats.
        unsafe { bound.apply(acc.as_ptr(), n, 0, m, j, (n - j).min(MAX_STRIP)) };
    }
    out.iter().map(|v| v.to_bits()).collect()
}

#[test]
fn bias_form_matches_the_general_evaluator_bit_for_bit() {
    let m = 7;
    for n in [1, 10, 16, 32, 37, 64, 100] {
        let acc: Vec<f32> = (0..m * n).map(value).collect();
        let mut bias: Vec<f32> = (0..n).map(|j| value(j * 3 + 1)).collect();
        for bias_first in [false, true] {
            for relu in [false, true] {
                let fast = program(bias_first, relu, false);
                let form = fast.form.expect("a bias (+ relu) program has a form");
                assert_eq!((form.bias, form.out, form.relu), (BIAS, OUT, relu));
                let general = Epilogue { form: None, ..fast.clone() };
                assert_eq!(
                    apply(&fast, &acc, &mut bias, m, n),
                    apply(&general, &acc, &mut bias, m, n),
                    "n {n}, bias first {bias_first}, relu {relu}"
                );
            }
        }
    }
}

#[test]
fn other_programs_have_no_form() {
    assert!(program(false, true, true).form.is_none(), "a longer program");
    let two_outs = Epilogue::new(
        vec![Expr::Leaf(0), Expr::Leaf(1), Expr::Binary(BinaryOp::Add, 0, 1)],
        vec![(ACC, LeafKind::Acc), (BIAS, LeafKind::Row)],
        vec![(2, OUT), (2, 3)],
    );
    assert!(two_outs.form.is_none(), "two stored values");
    let full = Epilogue::new(
        vec![Expr::Leaf(0), Expr::Leaf(1), Expr::Binary(BinaryOp::Add, 0, 1)],
        vec![(ACC, LeafKind::Acc), (BIAS, LeafKind::Full)],
        vec![(2, OUT)],
    );
    assert!(full.form.is_none(), "an addend per element, not per column");
}

/// `(x > 0) · acc` with the flag on either side of the product.
fn mask_program(flag_first: bool) -> Epilogue {
    let product = if flag_first { Expr::Binary(BinaryOp::Mul, 2, 3) } else { Expr::Binary(BinaryOp::Mul, 3, 2) };
    let exprs =
        vec![Expr::Leaf(0), Expr::Const(0.0), Expr::Compare(CmpOp::Gt, DType::F32, 0, 1), Expr::Leaf(1), product];
    Epilogue::new(exprs, vec![(BIAS, LeafKind::Full), (ACC, LeafKind::Acc)], vec![(4, OUT)])
}

#[test]
fn mask_form_matches_the_general_evaluator_bit_for_bit() {
    let m = 5;
    for n in [1, 10, 16, 32, 37, 64, 100] {
        let acc: Vec<f32> = (0..m * n).map(value).collect();
        // The relu output the mask reads, offset so special values meet
        // every kind of gradient value.
        let mut positive: Vec<f32> = (0..m * n).map(|i| value(i * 7 + 3)).collect();
        for flag_first in [false, true] {
            let fast = mask_program(flag_first);
            let form = fast.mask.expect("a mask program has a form");
            assert_eq!((form.positive, form.out), (BIAS, OUT));
            assert!(fast.form.is_none());
            let general = Epilogue { mask: None, ..fast.clone() };
            assert_eq!(
                apply(&fast, &acc, &mut positive, m, n),
                apply(&general, &acc, &mut positive, m, n),
                "n {n}, flag first {flag_first}"
            );
        }
    }
}

#[test]
fn near_mask_programs_have_no_mask_form() {
    let with = |compare: Expr, constant: f32, x_kind: LeafKind| {
        let exprs =
            vec![Expr::Leaf(0), Expr::Const(constant), compare, Expr::Leaf(1), Expr::Binary(BinaryOp::Mul, 2, 3)];
        Epilogue::new(exprs, vec![(BIAS, x_kind), (ACC, LeafKind::Acc)], vec![(4, OUT)]).mask
    };
    let gt = Expr::Compare(CmpOp::Gt, DType::F32, 0, 1);
    assert!(with(gt.clone(), 0.0, LeafKind::Full).is_some());
    assert!(with(Expr::Compare(CmpOp::Ge, DType::F32, 0, 1), 0.0, LeafKind::Full).is_none(), ">=");
    assert!(with(gt.clone(), 0.5, LeafKind::Full).is_none(), "another threshold");
    assert!(with(gt, 0.0, LeafKind::Row).is_none(), "a flag per column");
}
