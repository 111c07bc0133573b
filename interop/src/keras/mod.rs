//! Keras model import: a `.keras` archive or a legacy `.h5` file becomes
//! `.nn` text and nn-named weights.
//!
//! The pipeline: read the config and weights (`archive`), turn the config
//! into `.nn` text layer by layer (`model`, `layers`, `args`) and the compile
//! config into a train block (`train`), lower the text with the compiler,
//! then give each variable the compiler declares the matching Keras weight,
//! checking its shape.

mod archive;
mod args;
mod layers;
mod model;
mod train;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use nn_compiler::lower::{self, Mode};

use crate::error::{err, InteropError};
pub use archive::Array;
pub use layers::{supported_classes, LAYERS};

/// Model files larger than this are refused before they are read.
const MAX_FILE: u64 = 1 << 30;

/// An imported model: its `.nn` text and its weights under nn's names.
#[derive(Clone, Debug)]
pub struct Imported {
    pub source: String,
    /// Every variable of the model, named as lowering names them (`dense/kernel`).
    pub weights: Vec<Array>,
}

/// Reads and converts the model file at `path`.
pub fn import_file(path: &Path) -> Result<Imported, InteropError> {
    let file = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| err!("cannot read `{file}`: {e}"))?;
    if !meta.is_file() {
        return Err(err!("`{file}` is not a file; give a `.keras` or `.h5` model file"));
    }
    if meta.len() > MAX_FILE {
        return Err(err!("`{file}` has {} bytes, more than a model nn can import", meta.len()));
    }
    let bytes = std::fs::read(path).map_err(|e| err!("cannot read `{file}`: {e}"))?;
    import_bytes(&file, bytes)
}

/// Converts a model file's contents; `file` names it in messages.
pub fn import_bytes(file: &str, bytes: Vec<u8>) -> Result<Imported, InteropError> {
    let saved = archive::SavedModel::read(file, bytes)?;
    let generated = model::generate(&saved.config).map_err(|e| err!("`{file}`: {e}"))?;
    let train = train::train_block(saved.compile.as_ref()).map_err(|e| err!("`{file}`: {e}"))?;
    let source = render(file, &generated, &train);
    let lowered = lower::lower_source(&source, None, Mode::Infer, 0).map_err(|diags| {
        let messages: Vec<String> = diags.iter().filter(|d| d.is_error()).map(|d| d.message.clone()).collect();
        err!(
            "`{file}`: bug in nn import: the generated model does not compile ({}); generated text:\n{source}",
            messages.join("; ")
        )
    })?;
    let nn_layers: Vec<&lower::LayerInfo> = lowered.layers.iter().filter(|l| l.kind != "InputLayer").collect();
    if nn_layers.len() != generated.created.len() {
        return Err(err!(
            "`{file}`: bug in nn import: the generated model has {} layers for {} Keras layers",
            nn_layers.len(),
            generated.created.len()
        ));
    }
    let mut weights = Vec::new();
    for (info, &k) in nn_layers.iter().zip(&generated.created) {
        let kl = &generated.layers[k];
        let arrays = saved.layer_weights(&kl.name, &kl.path)?;
        let where_ = format!("`{file}`: layer {} `{}` ({})", kl.index, kl.name, kl.class);
        if arrays.len() != info.vars.len() {
            return Err(err!(
                "{where_} has {} weights in the file but its config needs {} ({}); the weights do not belong to this config",
                arrays.len(),
                info.vars.len(),
                info.vars.iter().map(|v| lowered.graph.var(*v).name.clone()).collect::<Vec<_>>().join(", ")
            ));
        }
        for (var, array) in info.vars.iter().zip(arrays) {
            let decl = lowered.graph.var(*var);
            if decl.shape != array.shape {
                return Err(err!(
                    "{where_}: weight `{}` has shape {:?} in the file but the config needs {:?} for `{}`; \
                     the weights do not belong to this config",
                    array.name,
                    array.shape,
                    decl.shape,
                    decl.name
                ));
            }
            let mut data = array.data;
            // Keras does not count the samples a Normalization layer adapted
            // to; nn reads a zero count as "never adapted" and would refuse
            // to predict, or adapt again in `fit`.
            if kl.class == "Normalization" && decl.name.ends_with("/count") && data.iter().all(|&c| c == 0.0) {
                data.iter_mut().for_each(|c| *c = 1.0);
            }
            if let Some(bad) = data.iter().find(|x| !x.is_finite()) {
                return Err(err!("{where_}: weight `{}` holds the non-finite value {bad}", array.name));
            }
            weights.push(Array { name: decl.name.clone(), shape: decl.shape.clone(), data });
        }
    }
    Ok(Imported { source, weights })
}

fn render(file: &str, g: &model::Generated, train: &[String]) -> String {
    let short = Path::new(file).file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
    let mut out = format!("// Imported from the Keras model `{short}` by `nn import`.\nmodel {} {{\n", g.name);
    for line in &g.body {
        out.push_str(&format!("    {line}\n"));
    }
    if !train.is_empty() {
        out.push_str("    train {\n");
        for line in train {
            out.push_str(&format!("        {line}\n"));
        }
        out.push_str("    }\n");
    }
    out.push_str("}\n");
    out
}

impl Imported {
    /// The weights as safetensors bytes (f32, nn's variable names).
    pub fn safetensors(&self) -> Result<Vec<u8>, InteropError> {
        let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = self
            .weights
            .iter()
            .map(|w| (w.name.clone(), w.shape.clone(), w.data.iter().flat_map(|x| x.to_le_bytes()).collect()))
            .collect();
        let views = bytes
            .iter()
            .map(|(n, s, b)| {
                safetensors::tensor::TensorView::new(safetensors::tensor::Dtype::F32, s.clone(), b)
                    .map(|v| (n.clone(), v))
                    .map_err(|e| err!("weight `{n}`: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        safetensors::serialize(views, None::<HashMap<String, String>>)
            .map_err(|e| err!("cannot serialize the weights: {e}"))
    }

    /// Writes `nn_path` and the weights beside it (`x.nn` → `x.safetensors`);
    /// returns the weights' path.
    pub fn write(&self, nn_path: &Path) -> Result<PathBuf, InteropError> {
        let weights = nn_path.with_extension("safetensors");
        let bytes = self.safetensors()?;
        std::fs::write(nn_path, &self.source).map_err(|e| err!("cannot write `{}`: {e}", nn_path.display()))?;
        std::fs::write(&weights, bytes).map_err(|e| err!("cannot write `{}`: {e}", weights.display()))?;
        Ok(weights)
    }
}
