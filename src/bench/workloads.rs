//! The benchmark workloads, written once so nn and the reference anchors run
//! the same networks: W1 (the Keras tutorial MLP, 784-128-10 at batch 32) and
//! W2 (784-512-256-128-64-32-10 at batch 128).
//!
//! Guarantees: the `.nn` source of a workload matches what
//! `fmnist_mlp.py --hidden H --batch B` builds — a flatten, relu hidden
//! layers, a linear 10-unit output with sparse cross-entropy on logits,
//! glorot-uniform kernels, zero biases and Adam(1e-3, eps 1e-7).

/// One MLP workload on Fashion-MNIST.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workload {
    /// `W1` or `W2`: the key used in the report and in `--workload`.
    pub key: &'static str,
    pub hidden: Vec<usize>,
    pub batch: usize,
}

impl Workload {
    /// The tutorial MLP the per-epoch target is about.
    pub fn w1() -> Workload {
        Workload { key: "W1", hidden: vec![128], batch: 32 }
    }

    /// The deeper MLP, where contractions dominate more.
    pub fn w2() -> Workload {
        Workload { key: "W2", hidden: vec![512, 256, 128, 64, 32], batch: 128 }
    }

    /// Layer widths from input to output, e.g. `784-128-10`.
    pub fn layers(&self) -> String {
        let mut dims = vec![784];
        dims.extend(&self.hidden);
        dims.push(10);
        dims.iter().map(usize::to_string).collect::<Vec<_>>().join("-")
    }

    /// The `--hidden` argument the anchors script takes.
    pub fn anchor_hidden(&self) -> String {
        self.hidden.iter().map(usize::to_string).collect::<Vec<_>>().join(",")
    }

    /// The model name inside [`source`](Self::source).
    pub fn model_name(&self) -> String {
        format!("bench_{}", self.key.to_lowercase())
    }

    /// The workload as `.nn` text. Initializers are spelled out, although
    /// they are the defaults, so the match with the anchors is visible here.
    pub fn source(&self) -> String {
        let mut text = format!("model {} {{\n    input image: [28, 28]\n    flatten\n", self.model_name());
        for units in &self.hidden {
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

/// Parses `--workload w1|w2|all`.
pub fn select(name: &str) -> Result<Vec<Workload>, String> {
    match name.to_ascii_lowercase().as_str() {
        "w1" => Ok(vec![Workload::w1()]),
        "w2" => Ok(vec![Workload::w2()]),
        "all" => Ok(vec![Workload::w1(), Workload::w2()]),
        other => Err(format!("--workload {other}: use w1, w2 or all")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nn_runtime::{CompileOptions, Model};

    #[test]
    fn sources_compile_with_the_expected_parameter_counts() {
        // 784*128+128 + 128*10+10 and the W2 chain: the counts pin the layer widths.
        for (w, params) in [(Workload::w1(), 101_770), (Workload::w2(), 576_810)] {
            let mut model = Model::from_source(&w.source(), None).expect("workload source compiles");
            model.compile(CompileOptions::default()).expect("train block is complete");
            let total: usize = model.weights().iter().map(|v| v.numel()).sum();
            assert_eq!(total, params, "{} has {} parameters", w.key, w.layers());
        }
    }

    #[test]
    fn selection_names_and_errors() {
        assert_eq!(select("W1").unwrap(), vec![Workload::w1()]);
        assert_eq!(select("all").unwrap().len(), 2);
        let err = select("w3").unwrap_err();
        assert!(err.contains("w3") && err.contains("w1, w2 or all"), "{err}");
        assert_eq!(Workload::w2().layers(), "784-512-256-128-64-32-10");
        assert_eq!(Workload::w2().anchor_hidden(), "512,256,128,64,32");
    }
}
