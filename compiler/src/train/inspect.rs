//! What `nn grad`, `nn ir --graph step` and the REPL show of a model that
//! has not been compiled by the runtime: the step configuration its train
//! block implies, and its gradients as readable math.

use super::{gradients, Optimizer, StepConfig, TrainConfig};
use crate::ir::NodeId;
use crate::lower::LoweredModel;

/// The training configuration a `train` block gives for a model with
/// `outputs`, with Keras's `compile` defaults for what it leaves out
/// (optimizer rmsprop). The loss has no default, as in Keras.
pub fn step_config_from(train: &TrainConfig, outputs: &[String], model_name: &str) -> Result<StepConfig, String> {
    let heads = train.output_settings(outputs);
    let loss = train
        .loss
        .or(heads.first().map(|h| h.loss))
        .ok_or_else(|| format!("model `{model_name}` has no loss: add `loss = …` to its train block"))?;
    Ok(StepConfig {
        loss,
        optimizer: train.optimizer.clone().unwrap_or_else(Optimizer::rmsprop),
        metrics: train.metrics.clone(),
        kernel_regularizer: train.kernel_regularizer,
        outputs: heads,
    })
}

/// `d loss / d VAR = …` for every trainable variable (or only `wrt`), as
/// simplified, readable math.
pub fn gradient_math(model: &LoweredModel, cfg: &StepConfig, wrt: Option<&str>) -> Result<String, String> {
    let graph = gradients(model, cfg).map_err(|e| e.to_string())?;
    let (graph, _) = crate::autodiff::simplify(&graph);
    let grads: Vec<(&str, NodeId)> =
        graph.outputs.iter().filter_map(|(name, id)| Some((name.strip_prefix("grad:")?, *id))).collect();
    let shown: Vec<String> = grads
        .iter()
        .filter(|(var, _)| wrt.is_none_or(|w| w == *var))
        .map(|(var, id)| format!("d loss / d {var} =\n{}\n", crate::autodiff::math(&graph, *id)))
        .collect();
    if shown.is_empty() {
        let names: Vec<&str> = grads.iter().map(|(var, _)| *var).collect();
        let names = if names.is_empty() { "none".to_string() } else { names.join(", ") };
        return Err(format!(
            "no trainable variable named `{}` in `{}`; it has: {names}",
            wrt.unwrap_or_default(),
            model.name
        ));
    }
    Ok(shown.join("\n"))
}
