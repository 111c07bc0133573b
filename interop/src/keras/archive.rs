//! Reading a saved Keras model: the model's JSON config, its `compile`
//! config, and each layer's weights in Keras's order.
//!
//! - Keras 3 `.keras`: a zip with `config.json`, `metadata.json` and
//!   `model.weights.h5`, whose layer weights are `layers/<name>/vars/<i>`.
//! - Legacy `.h5`: a `model_config` attribute (and `training_config`) on the
//!   root, and a `model_weights/<layer>` group per layer whose
//!   `weight_names` attribute lists its datasets in order.

use std::io::{Cursor, Read};

use hdf5_reader::{Hdf5File, OpenOptions};
use serde_json::Value;

use crate::error::{err, InteropError};

/// Members larger than this are refused before they are decompressed: a
/// Keras model nn can import is far smaller, and a zip's declared sizes may lie.
const MAX_MEMBER: u64 = 2 << 30;

/// One weight array as stored: shape and values converted to f32.
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    pub name: String,
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

pub struct SavedModel {
    /// `path` as the user gave it, for messages.
    pub file: String,
    pub config: Value,
    pub compile: Option<Value>,
    weights: Hdf5File,
    legacy: bool,
}

impl SavedModel {
    /// Reads `bytes`, a `.keras` zip or an HDF5 file (by content, not name).
    pub fn read(file: &str, bytes: Vec<u8>) -> Result<SavedModel, InteropError> {
        if bytes.starts_with(b"PK") {
            read_keras(file, bytes)
        } else if bytes.starts_with(b"\x89HDF\r\n\x1a\n") {
            read_legacy(file, bytes)
        } else {
            Err(err!(
                "`{file}` is neither a Keras 3 `.keras` archive (a zip) nor a legacy Keras `.h5` file (HDF5); \
                 save the model with `model.save(\"model.keras\")` or `model.save(\"model.h5\")`"
            ))
        }
    }

    /// The weights of layer `name`, in Keras's order; a `.keras` archive
    /// keeps them under `layers/<path>`, a legacy file under the name.
    pub fn layer_weights(&self, name: &str, path: &str) -> Result<Vec<Array>, InteropError> {
        if self.legacy {
            self.legacy_weights(name)
        } else {
            self.keras_weights(name, path)
        }
    }

    fn keras_weights(&self, layer_name: &str, name: &str) -> Result<Vec<Array>, InteropError> {
        let root = self.weights.root_group().map_err(|e| self.h5_error("the root group", e))?;
        let layers = root.group("layers").map_err(|e| self.h5_error("the group `layers`", e))?;
        let Ok(layer) = layers.group(name) else {
            return Err(err!(
                "`{}`: the weights file has no group `layers/{name}` for layer `{layer_name}`; \
                 the archive's model.weights.h5 does not belong to its config.json",
                self.file
            ));
        };
        let mut out = Vec::new();
        self.group_weights(&layer, &format!("layers/{name}"), 0, &mut out)?;
        Ok(out)
    }

    /// The variables of the layer group at `path`: its own `vars`, then those
    /// of the layers inside it (a recurrent layer's `cell`, a wrapper's
    /// `layer`, Bidirectional's `forward_layer` then `backward_layer`), which
    /// is Keras's weight order.
    fn group_weights(
        &self,
        group: &hdf5_reader::group::Group,
        path: &str,
        depth: usize,
        out: &mut Vec<Array>,
    ) -> Result<(), InteropError> {
        // Keras nests a layer a few levels deep at most; a deeper file is not Keras's.
        if depth > 8 {
            return Err(err!("`{}`: `{path}` nests layers deeper than a Keras model does", self.file));
        }
        let (groups, _) = group.member_names().map_err(|e| self.h5_error(path, e))?;
        if let Ok(vars) = group.group("vars") {
            let vpath = format!("{path}/vars");
            let (_, mut names) = vars.member_names().map_err(|e| self.h5_error(&vpath, e))?;
            // Datasets are numbered 0, 1, … 10: order by number, not by text.
            names.sort_by_key(|n| n.parse::<usize>().unwrap_or(usize::MAX));
            for n in &names {
                let p = format!("{vpath}/{n}");
                let ds = vars.dataset(n).map_err(|e| self.h5_error(&p, e))?;
                out.push(self.array(&p, &ds)?);
            }
        }
        let rank = |n: &str| match n {
            "cell" | "layer" => 0,
            "forward_layer" => 1,
            "backward_layer" => 2,
            _ => 3,
        };
        let mut inner: Vec<&String> = groups.iter().filter(|g| g.as_str() != "vars").collect();
        inner.sort_by(|a, b| rank(a).cmp(&rank(b)).then(a.cmp(b)));
        for g in inner {
            let sub = group.group(g).map_err(|e| self.h5_error(&format!("{path}/{g}"), e))?;
            self.group_weights(&sub, &format!("{path}/{g}"), depth + 1, out)?;
        }
        Ok(())
    }

    fn legacy_weights(&self, name: &str) -> Result<Vec<Array>, InteropError> {
        let root = self.weights.root_group().map_err(|e| self.h5_error("the root group", e))?;
        let top = match root.group("model_weights") {
            Ok(g) => g,
            // `save_weights` files keep the layer groups at the root.
            Err(_) => root,
        };
        let Ok(layer) = top.group(name) else {
            return Err(err!(
                "`{}`: the weights have no group for layer `{name}`; the file's `model_weights` \
                 does not match its `model_config`",
                self.file
            ));
        };
        let names = match layer.attribute("weight_names") {
            Ok(a) => a.read_strings().unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        names
            .iter()
            .map(|n| {
                let path = format!("model_weights/{name}/{n}");
                let ds = self.weights.dataset(&path).map_err(|e| self.h5_error(&path, e))?;
                self.array(&path, &ds)
            })
            .collect()
    }

    fn array(&self, path: &str, ds: &hdf5_reader::Dataset) -> Result<Array, InteropError> {
        let shape: Vec<usize> = ds.shape().iter().map(|&d| d as usize).collect();
        let numel = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        if numel.is_none_or(|n| n > (MAX_MEMBER / 4) as usize) {
            return Err(err!("`{}`: dataset `{path}` declares shape {shape:?}, too large to be a weight", self.file));
        }
        // Keras keeps most weights as float32, some counters as int64.
        let data: Vec<f32> = match ds.read_array::<f32>() {
            Ok(a) => a.iter().copied().collect(),
            Err(first) => {
                if let Ok(a) = ds.read_array::<f64>() {
                    a.iter().map(|&x| x as f32).collect()
                } else if let Ok(a) = ds.read_array::<i64>() {
                    a.iter().map(|&x| x as f32).collect()
                } else if let Ok(a) = ds.read_array::<i32>() {
                    a.iter().map(|&x| x as f32).collect()
                } else {
                    return Err(self.h5_error(path, first));
                }
            }
        };
        Ok(Array { name: path.to_string(), shape, data })
    }

    fn h5_error(&self, what: &str, e: hdf5_reader::error::Error) -> InteropError {
        err!("`{}`: cannot read {what} from the HDF5 weights: {e}", self.file)
    }
}

fn options() -> OpenOptions {
    OpenOptions::default().with_max_read_bytes(MAX_MEMBER as usize).with_max_chunk_bytes(256 << 20)
}

fn read_keras(file: &str, bytes: Vec<u8>) -> Result<SavedModel, InteropError> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| err!("`{file}` is not a readable `.keras` archive (truncated or damaged zip: {e})"))?;
    let mut member = |name: &str| -> Result<Option<Vec<u8>>, InteropError> {
        let mut entry = match zip.by_name(name) {
            Ok(e) => e,
            Err(zip::result::ZipError::FileNotFound) => return Ok(None),
            Err(e) => return Err(err!("`{file}`: cannot open `{name}` in the archive: {e}")),
        };
        if entry.size() > MAX_MEMBER {
            return Err(err!("`{file}`: `{name}` declares {} bytes, more than a model nn can import", entry.size()));
        }
        let size = entry.size();
        let mut out = Vec::with_capacity(size as usize);
        // Reading one byte past the declared size catches a lying header.
        entry
            .by_ref()
            .take(size + 1)
            .read_to_end(&mut out)
            .map_err(|e| err!("`{file}`: cannot decompress `{name}` (truncated or damaged archive: {e})"))?;
        Ok(Some(out))
    };
    let config = member("config.json")?
        .ok_or_else(|| err!("`{file}` has no `config.json`: it is not a Keras 3 model archive"))?;
    let weights = member("model.weights.h5")?.ok_or_else(|| {
        err!(
            "`{file}` has no `model.weights.h5`: the archive holds the architecture but not the weights; \
             save it again with `model.save(\"model.keras\")`"
        )
    })?;
    let config: Value = serde_json::from_slice(&config)
        .map_err(|e| err!("`{file}`: `config.json` is not valid JSON ({e}); the archive is damaged"))?;
    let weights = Hdf5File::from_vec_with_options(weights, options())
        .map_err(|e| err!("`{file}`: `model.weights.h5` is not a readable HDF5 file: {e}"))?;
    let compile = config.get("compile_config").filter(|c| !c.is_null()).cloned();
    Ok(SavedModel { file: file.to_string(), config, compile, weights, legacy: false })
}

fn read_legacy(file: &str, bytes: Vec<u8>) -> Result<SavedModel, InteropError> {
    let h5 = Hdf5File::from_vec_with_options(bytes, options())
        .map_err(|e| err!("`{file}` is not a readable HDF5 file (truncated or damaged: {e})"))?;
    let root = h5.root_group().map_err(|e| err!("`{file}`: cannot read the HDF5 root group: {e}"))?;
    let text_attr = |name: &str| -> Option<String> { root.attribute(name).ok()?.read_string().ok() };
    let config = text_attr("model_config").ok_or_else(|| {
        err!(
            "`{file}` has no `model_config` attribute: it holds weights only (`save_weights`), not a model; \
             save the whole model with `model.save(\"model.h5\")` or as `.keras`"
        )
    })?;
    let config: Value = serde_json::from_str(&config)
        .map_err(|e| err!("`{file}`: the `model_config` attribute is not valid JSON ({e})"))?;
    let compile = match text_attr("training_config") {
        Some(t) => Some(
            serde_json::from_str(&t)
                .map_err(|e| err!("`{file}`: the `training_config` attribute is not valid JSON ({e})"))?,
        ),
        None => None,
    };
    Ok(SavedModel { file: file.to_string(), config, compile, weights: h5, legacy: true })
}
