//! examples/fashion_mlp.nn as a Rust type: Keras's basic classification
//! tutorial written inline with `nn::model!`, checked when `cargo build`
//! runs, and trained like its `.nn` twin (`nn fit examples/fashion_mlp.nn`):
//! same seed, same train block, same data preparation.
//!
//! Needs the Fashion-MNIST files (the runtime's loader says where it looks).
//! Run: `cargo run --release --example fashion_mlp_macro [EPOCHS]`

use std::error::Error;

nn::model! {
    // Keras's "basic classification" tutorial: Fashion-MNIST with a one hidden
    // layer MLP. 784 → 128 (relu) → 10 (softmax): 101,770 trainable parameters.
    model fashion_mlp {
        input image: [28, 28]
        flatten
        dense(128, activation = relu)
        dense(10, activation = softmax)
        train {
            optimizer = adam
            loss = sparse_categorical_crossentropy
            metrics = [accuracy]
            batch_size = 32
            epochs = 10
            dataset = "fashion-mnist"
        }
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let epochs = match std::env::args().nth(1) {
        Some(arg) => {
            Some(arg.parse::<usize>().map_err(|e| format!("EPOCHS must be a positive integer, got `{arg}`: {e}"))?)
        }
        None => None,
    };

    let mut model = FashionMlp::with_default_seed()?;
    model.compile()?;
    println!("{}", model.summary());

    let data = nn::runtime::workflow::load_for(model.inner(), &Default::default())?;
    let mut options = model.fit_options();
    if let Some(e) = epochs {
        options.epochs = e;
    }
    model.fit(&data.train.x, &data.train.y, &options)?;

    let test = data.test.as_ref().ok_or("fashion-mnist has a test split")?;
    let logs = model.evaluate(&test.x, &test.y, 256)?;
    let parts: Vec<String> = logs.iter().map(|(k, v)| format!("{k}: {v:.4}")).collect();
    println!("Test: {}", parts.join(" - "));

    // The first test image as the typed input: [[f32; 28]; 28] → [f32; 10].
    let pixels = test.x.select(&[0]).to_f32();
    let mut image = [[0f32; 28]; 28];
    for (dst, src) in image.iter_mut().flatten().zip(pixels.iter()) {
        *dst = *src;
    }
    let probs = model.predict_one(&image)?;
    let class = probs.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(i, _)| i);
    let names = data.class_names.as_deref().unwrap_or(&[]);
    println!("first test image: {} ({:.1}%)", names.get(class).map_or("?", String::as_str), probs[class] * 100.0);
    Ok(())
}
