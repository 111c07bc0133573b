//! The benchmark workloads, written once so nn and the reference anchors run
//! the same networks: W1 (the Keras tutorial MLP, 784-128-10 at batch 32),
//! W2 (784-512-256-128-64-32-10 at batch 128), W3 (the image tutorial's
//! CNN, `examples/fashion_cnn.nn`, at batch 64) and W4 (the text chapter's
//! LSTM on IMDB-shaped reviews, at batch 128).
//!
//! Guarantees: the `.nn` source of a workload matches what the anchors
//! script builds for the same arguments — for the MLPs a flatten, relu hidden
//! layers and a linear 10-unit output with sparse cross-entropy on logits;
//! for the CNN conv 3×3×32 relu → max pool → conv 3×3×64 relu → max pool →
//! dense 64 relu → dense 10 with softmax and sparse cross-entropy (the same
//! math as logits with a fused loss); glorot-uniform kernels, zero biases and
//! Adam(1e-3, eps 1e-7). The LSTM: embedding 10000×32 → lstm 32 (last state)
//! → dense 1 sigmoid, binary cross-entropy, RMSprop(1e-3), Keras's
//! initializers, over all 200 steps of every review.

/// The network of a workload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Net {
    /// Hidden layer widths between the 784 inputs and the 10 outputs.
    Mlp(Vec<usize>),
    /// The image tutorial's convolutional network.
    FashionCnn,
    /// The text chapter's recurrent network on word ids.
    ImdbLstm,
}

/// Which data a workload trains on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Data {
    FashionMnist,
    /// Generated IMDB-shaped reviews (`reviews.rs`).
    Reviews,
}

/// One workload on Fashion-MNIST.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workload {
    /// `W1` … `W4`: the key used in the report and in `--workload`.
    pub key: &'static str,
    pub net: Net,
    pub batch: usize,
}

/// W3's source: the example itself, so the benchmark measures what a user
/// trains (its train block's epochs and validation are not used; the
/// benchmark sets its own fit options).
const FASHION_CNN: &str = include_str!("../../examples/fashion_cnn.nn");

/// W4's source: Deep Learning with Python's first LSTM, written as a user
/// would (Keras's defaults are nn's).
const IMDB_LSTM: &str = "model bench_w4 {
    input ids: [200] int
    embedding(10000, 32)
    lstm(32)
    dense(1, activation = sigmoid)
    train {
        optimizer = rmsprop(learning_rate = 1e-3)
        loss = binary_crossentropy
        batch_size = 128
    }
}
";

impl Workload {
    /// The tutorial MLP the per-epoch target is about.
    pub fn w1() -> Workload {
        Workload { key: "W1", net: Net::Mlp(vec![128]), batch: 32 }
    }

    /// The deeper MLP, where contractions dominate more.
    pub fn w2() -> Workload {
        Workload { key: "W2", net: Net::Mlp(vec![512, 256, 128, 64, 32]), batch: 128 }
    }

    /// The image tutorial's CNN, where convolutions dominate.
    pub fn w3() -> Workload {
        Workload { key: "W3", net: Net::FashionCnn, batch: 64 }
    }

    /// The text chapter's LSTM, where a loop of small matmuls dominates.
    pub fn w4() -> Workload {
        Workload { key: "W4", net: Net::ImdbLstm, batch: 128 }
    }

    pub fn data(&self) -> Data {
        match self.net {
            Net::Mlp(_) | Net::FashionCnn => Data::FashionMnist,
            Net::ImdbLstm => Data::Reviews,
        }
    }

    /// The anchors script (in the anchors directory) that trains this network.
    pub fn script(&self) -> &'static str {
        match self.net {
            Net::Mlp(_) | Net::FashionCnn => "fmnist.py",
            Net::ImdbLstm => "imdb_lstm.py",
        }
    }

    /// A one-line description: `784-128-10` or the CNN's layer chain.
    pub fn layers(&self) -> String {
        match &self.net {
            Net::Mlp(hidden) => {
                let mut dims = vec![784];
                dims.extend(hidden);
                dims.push(10);
                dims.iter().map(usize::to_string).collect::<Vec<_>>().join("-")
            }
            Net::FashionCnn => "conv32-pool-conv64-pool-64-10".to_string(),
            Net::ImdbLstm => "embedding32-lstm32-1".to_string(),
        }
    }

    /// The arguments that make the anchors script build this network.
    pub fn anchor_args(&self) -> Vec<String> {
        match &self.net {
            Net::Mlp(hidden) => vec![
                "--model".into(),
                "mlp".into(),
                "--hidden".into(),
                hidden.iter().map(usize::to_string).collect::<Vec<_>>().join(","),
            ],
            Net::FashionCnn => vec!["--model".into(), "cnn".into()],
            // The reviews file is passed by the caller (`--data`).
            Net::ImdbLstm => Vec::new(),
        }
    }

    /// The workload as `.nn` text. MLP initializers are spelled out, although
    /// they are the defaults, so the match with the anchors is visible here.
    pub fn source(&self) -> String {
        let hidden = match &self.net {
            Net::Mlp(hidden) => hidden,
            Net::FashionCnn => return FASHION_CNN.to_string(),
            Net::ImdbLstm => return IMDB_LSTM.to_string(),
        };
        let mut text = format!("model bench_{} {{\n    input image: [28, 28]\n    flatten\n", self.key.to_lowercase());
        for units in hidden {
            text.push_str(&format!(
                "    dense({units}, activation = relu, kernel_initializer = glorot_uniform, bias_initializer = zeros)\n"
            ));
        }
        text.push_str("    dense(10, kernel_initializer = glorot_uniform, bias_initializer = zeros)\n");
        text.push_str(&format!(
            "    train {{\n        optimizer = adam(learning_rate = 1e-3, beta_1 = 0.9, beta_2 = 0.999, epsilon = 1e-7)\n        \
             loss = sparse_categorical_crossentropy(from_logits = true)\n        batch_size = {}\n    }}\n}}\n",
            self.batch
        ));
        text
    }
}

/// Parses `--workload w1|w2|w3|w4|mlp|all` (`mlp` is W1 and W2).
pub fn select(name: &str) -> Result<Vec<Workload>, String> {
    match name.to_ascii_lowercase().as_str() {
        "w1" => Ok(vec![Workload::w1()]),
        "w2" => Ok(vec![Workload::w2()]),
        "w3" => Ok(vec![Workload::w3()]),
        "w4" => Ok(vec![Workload::w4()]),
        "mlp" => Ok(vec![Workload::w1(), Workload::w2()]),
        "all" => Ok(vec![Workload::w1(), Workload::w2(), Workload::w3(), Workload::w4()]),
        other => Err(format!("--workload {other}: use w1, w2, w3, w4, mlp or all")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nn_runtime::{CompileOptions, Model};

    #[test]
    fn sources_compile_with_the_expected_parameter_counts() {
        // 784*128+128 + 128*10+10, the W2 chain, the CNN's 121,930 (its
        // header comment) and Keras's count for the IMDB LSTM: the counts pin
        // the layer widths.
        let expected = [
            (Workload::w1(), 101_770),
            (Workload::w2(), 576_810),
            (Workload::w3(), 121_930),
            (Workload::w4(), 328_353),
        ];
        for (w, params) in expected {
            let mut model = Model::from_source(&w.source(), None).expect("workload source compiles");
            model.compile(CompileOptions::default()).expect("train block is complete");
            let total: usize = model.weights().iter().map(|v| v.numel()).sum();
            assert_eq!(total, params, "{} has {} parameters", w.key, w.layers());
        }
    }

    #[test]
    fn w3_trains_at_the_examples_batch_size() {
        let model = Model::from_source(&Workload::w3().source(), None).expect("the example compiles");
        assert_eq!(model.train_config().batch_size, Some(Workload::w3().batch));
    }

    #[test]
    fn selection_names_and_errors() {
        assert_eq!(select("W1").unwrap(), vec![Workload::w1()]);
        assert_eq!(select("all").unwrap().len(), 4);
        assert_eq!(select("mlp").unwrap(), vec![Workload::w1(), Workload::w2()]);
        let err = select("w9").unwrap_err();
        assert!(err.contains("w9") && err.contains("w1, w2, w3, w4, mlp or all"), "{err}");
        assert_eq!(Workload::w2().layers(), "784-512-256-128-64-32-10");
        assert_eq!(Workload::w2().anchor_args(), ["--model", "mlp", "--hidden", "512,256,128,64,32"]);
        assert_eq!(Workload::w3().anchor_args(), ["--model", "cnn"]);
        assert_eq!((Workload::w4().script(), Workload::w4().data()), ("imdb_lstm.py", Data::Reviews));
    }
}
