//! The W1 workload through the JIT: one Adam training step of the
//! 784-128-10 MLP at batch 32 (an epoch of Fashion-MNIST is 1875 of them),
//! the same with two threads, and graph → callable compile time.

use criterion::{criterion_group, criterion_main, Criterion};
use nn_compiler::codegen::{compile, HostInput, IsaLevel, JitOptions};
use nn_compiler::ir::DType;
use std::hint::black_box;

#[path = "../tests/jit/mlp_graph.rs"]
mod mlp_graph;

fn bench(c: &mut Criterion) {
    let g = mlp_graph::train_step(784, 128, 10).graph;
    let batch = 32;
    let x: Vec<f32> = (0..batch * 784).map(|i| (i % 255) as f32 / 255.0).collect();
    let labels: Vec<i32> = (0..batch as i32).map(|i| i % 10).collect();
    let lr = [0.001f32];
    let step = [1.0f32];
    let inputs = [HostInput::F32(&x), HostInput::I32(&labels), HostInput::F32(&lr), HostInput::F32(&step)];
    let mut vars: Vec<Vec<f32>> =
        g.vars.iter().map(|v| (0..v.numel()).map(|i| ((i % 17) as f32 - 8.0) * 0.01).collect()).collect();
    for (d, v) in g.vars.iter().zip(&mut vars) {
        if d.name.ends_with("/v") {
            v.iter_mut().for_each(|x| *x = x.abs());
        }
    }
    assert!(g.inputs[1].ty.dtype == DType::I32);
    for threads in [1, 2] {
        let mut jit = compile(&g, &JitOptions { threads, deterministic: true, isa: IsaLevel::Auto }).unwrap();
        c.bench_function(&format!("mlp_784_128_10_adam_step_b32_{threads}t"), |b| {
            b.iter(|| {
                let mut refs: Vec<&mut [f32]> = vars.iter_mut().map(|v| v.as_mut_slice()).collect();
                black_box(jit.run(&inputs, &mut refs, batch).unwrap())
            })
        });
    }
    c.bench_function("mlp_784_128_10_train_graph_compile", |b| {
        b.iter(|| black_box(compile(&g, &JitOptions::default()).unwrap()))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
