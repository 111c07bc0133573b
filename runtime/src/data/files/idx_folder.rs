//! A folder of MNIST-style IDX files, as the Keras examples download them: the training pair
//! (`train-images-idx3-ubyte[.gz]`, `train-labels-idx1-ubyte[.gz]`) and optionally the test pair
//! (`t10k-…`). Arrays `x`, `y` and `x_test`, `y_test`; pixels stay raw bytes.

use std::path::Path;

use ndarray::Array1;

use super::{Column, FileData};
use crate::data::{idx, locate::idx_file, DataError};

const STEMS: [&str; 4] =
    ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"];

/// Whether `dir` holds any IDX file (a partial set is then reported by [`load`]).
pub(super) fn is_idx_folder(dir: &Path) -> bool {
    STEMS.iter().any(|stem| idx_file(dir, stem).is_some())
}

fn pair(dir: &Path, images: &str, labels: &str) -> Result<Option<(Column, Column)>, DataError> {
    let (image_file, label_file) = match (idx_file(dir, images), idx_file(dir, labels)) {
        (Some(i), Some(l)) => (i, l),
        (None, None) => return Ok(None),
        (found, _) => {
            let (have, missing) = if found.is_some() { (images, labels) } else { (labels, images) };
            return Err(DataError::mismatch(
                Some(dir.to_path_buf()),
                format!("the folder has {have} but not {missing}[.gz]; IDX images and labels come in pairs"),
            ));
        }
    };
    let images = idx::read_images(&image_file)?;
    let labels: Array1<i64> = idx::read_labels(&label_file)?.mapv(i64::from);
    if images.shape()[0] != labels.len() {
        return Err(DataError::mismatch(
            Some(image_file),
            format!(
                "holds {} images but {} holds {} labels; the two files must come from the same release",
                images.shape()[0],
                label_file.display(),
                labels.len()
            ),
        ));
    }
    Ok(Some((Column::U8(images), Column::I64(labels.into_dyn()))))
}

pub(super) fn load(dir: &Path) -> Result<FileData, DataError> {
    let train = pair(dir, STEMS[0], STEMS[1])?.ok_or_else(|| {
        DataError::mismatch(
            Some(dir.to_path_buf()),
            format!("the folder has test IDX files but no training pair ({}[.gz], {}[.gz])", STEMS[0], STEMS[1]),
        )
    })?;
    let mut arrays = vec![("x".to_string(), train.0), ("y".to_string(), train.1)];
    if let Some((x, y)) = pair(dir, STEMS[2], STEMS[3])? {
        arrays.push(("x_test".to_string(), x));
        arrays.push(("y_test".to_string(), y));
    }
    Ok(FileData { arrays, class_names: None, file_names: None, source: dir.to_path_buf() })
}
