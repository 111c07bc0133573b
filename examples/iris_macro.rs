//! examples/iris.nn as a Rust type: the same model written inline with
//! `nn::model!`, checked when `cargo build` runs, trained like its `.nn` twin
//! (`nn fit examples/iris.nn`): same seed (the runtime's default, as the file
//! names none), same train block, same data preparation.
//!
//! Run: `cargo run --release --example iris_macro`

use std::error::Error;

nn::model! {
    // Multinomial logistic regression on Iris: 4 features → 3 classes, with an
    // L2 penalty on the kernel. 15 trainable parameters.
    model iris {
        input features: [4]
        dense(3, activation = softmax, kernel_regularizer = l2(0.01))
        train {
            optimizer = sgd(learning_rate = 0.1)
            loss = sparse_categorical_crossentropy
            metrics = [accuracy]
            batch_size = 32
            epochs = 200
            validation_split = 0.2
            validation_freq = 20
            dataset = "iris"
        }
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    // The shapes are constants checked at build time.
    println!("Iris: {:?} → {:?}, {} parameters", Iris::INPUT_SHAPE, Iris::OUTPUT_SHAPE, Iris::PARAM_COUNT);

    let mut model = Iris::with_default_seed()?;
    model.compile()?;
    println!("{}", model.summary());

    let data = nn::runtime::workflow::load_for(model.inner(), &Default::default())?;
    let mut options = model.fit_options();
    options.verbose = 2;
    let history = model.fit(&data.train.x, &data.train.y, &options)?;
    if let Some(acc) = history.last("val_accuracy") {
        println!("final validation accuracy: {acc:.4}");
    }

    if let Some(test) = &data.test {
        let logs = model.evaluate(&test.x, &test.y, 256)?;
        let parts: Vec<String> = logs.iter().map(|(k, v)| format!("{k}: {v:.4}")).collect();
        println!("Test: {}", parts.join(" - "));
    }

    // One flower, typed end to end: [f32; 4] in, [f32; 3] out.
    let setosa = [5.1, 3.5, 1.4, 0.2];
    let probs: [f32; 3] = model.predict_one(&setosa)?;
    let class = probs.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(i, _)| i);
    let names = data.class_names.as_deref().unwrap_or(&[]);
    println!("{setosa:?} → {probs:?}: {}", names.get(class).map_or("?", String::as_str));
    Ok(())
}
