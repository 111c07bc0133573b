//! A folder of images, read like Keras's `image_dataset_from_directory`: one subfolder per class
//! (sorted names give the class ids), PNG and JPEG files (sorted by name within a class), each
//! converted to `channels` and resized to `image_size` with bilinear interpolation (half-pixel
//! centers, no antialiasing, as `tf.image.resize`). Pixels stay `u8` (rounded to nearest), shape
//! `[N, height, width, channels]`. Samples come in class order, or shuffled like Keras's file list
//! when a seed is given (so that a validation split is not just the last classes).
//!
//! Grayscale uses the ITU-R 601 weights 0.299/0.587/0.114, as the PNG and JPEG decoders behind
//! Keras do; alpha is dropped.

use std::path::{Path, PathBuf};

use image::{DynamicImage, ImageReader, Limits};
use ndarray::{Array1, ArrayD, IxDyn};

use super::{suggest, Column, FileData, FileOptions, DEFAULT_IMAGE_SIZE};
use crate::data::split::shuffled_indices;
use crate::data::DataError;

const IMAGE_EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];
/// Image formats users may have that nn does not read; named in the error rather than skipped.
const OTHER_IMAGE_EXTENSIONS: [&str; 6] = ["bmp", "gif", "webp", "tif", "tiff", "ppm"];
/// Larger sides are refused before decoding (a corrupt header can claim anything).
const MAX_SIDE: u32 = 1 << 15;

/// Sorted subfolders and sorted image files of `dir`; hidden entries are ignored.
fn list(dir: &Path) -> Result<(Vec<String>, Vec<String>), DataError> {
    let mut dirs = Vec::new();
    let mut images = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))? {
        let entry = entry.map_err(|e| DataError::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            dirs.push(name);
            continue;
        }
        let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).unwrap_or_default();
        if IMAGE_EXTENSIONS.contains(&ext.as_str()) {
            images.push(name);
        } else if OTHER_IMAGE_EXTENSIONS.contains(&ext.as_str()) {
            return Err(DataError::mismatch(
                Some(path),
                format!("`.{ext}` images are not supported; convert them to PNG or JPEG"),
            ));
        }
    }
    dirs.sort();
    images.sort();
    Ok((dirs, images))
}

fn first_few(names: &[String]) -> String {
    let mut shown = names.iter().take(3).cloned().collect::<Vec<_>>().join(", ");
    if names.len() > 3 {
        shown.push_str(", …");
    }
    shown
}

/// Decodes one image into `channels` interleaved bytes of `height × width`.
fn decode(path: &Path, (height, width): (usize, usize), channels: usize, out: &mut [u8]) -> Result<(), DataError> {
    let fail = |detail: String| DataError::mismatch(Some(path.to_path_buf()), detail);
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    let mut reader = ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| fail(format!("cannot read the image: {e}")))?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    reader.limits(limits);
    let image = reader.decode().map_err(|e| {
        fail(format!("cannot decode the image ({e}); the file is corrupt or not a PNG/JPEG; replace or remove it"))
    })?;
    let (w, h) = (image.width() as usize, image.height() as usize);
    if w == 0 || h == 0 {
        return Err(fail(format!("the image is {w}×{h} pixels; it has nothing to resize")));
    }
    let pixels = to_channels(&image, channels);
    resize_bilinear(&pixels, (h, w), channels, out, (height, width));
    Ok(())
}

fn to_channels(image: &DynamicImage, channels: usize) -> Vec<u8> {
    if channels == 3 {
        return image.to_rgb8().into_raw();
    }
    if !image.color().has_color() {
        return image.to_luma8().into_raw();
    }
    let rgb = image.to_rgb8();
    rgb.pixels()
        .map(|p| {
            let [r, g, b] = p.0.map(f32::from);
            (0.299 * r + 0.587 * g + 0.114 * b).round().clamp(0.0, 255.0) as u8
        })
        .collect()
}

/// Source index pairs and weights of one axis, as `tf.image.resize(method="bilinear")` computes them.
fn axis_weights(in_size: usize, out_size: usize) -> Vec<(usize, usize, f32)> {
    let scale = in_size as f32 / out_size as f32;
    (0..out_size)
        .map(|o| {
            let x = (o as f32 + 0.5) * scale - 0.5;
            let floor = x.floor();
            let lower = floor.max(0.0) as usize;
            let upper = (x.ceil().max(0.0) as usize).min(in_size - 1);
            (lower.min(in_size - 1), upper, x - floor)
        })
        .collect()
}

/// Bilinear resize of interleaved `u8` pixels, rounding to nearest.
fn resize_bilinear(src: &[u8], (sh, sw): (usize, usize), c: usize, dst: &mut [u8], (dh, dw): (usize, usize)) {
    if (sh, sw) == (dh, dw) {
        dst.copy_from_slice(src);
        return;
    }
    let ys = axis_weights(sh, dh);
    let xs = axis_weights(sw, dw);
    let at = |y: usize, x: usize, k: usize| f32::from(src[(y * sw + x) * c + k]);
    for (oy, &(y0, y1, fy)) in ys.iter().enumerate() {
        for (ox, &(x0, x1, fx)) in xs.iter().enumerate() {
            for k in 0..c {
                let top = at(y0, x0, k) + (at(y0, x1, k) - at(y0, x0, k)) * fx;
                let bottom = at(y1, x0, k) + (at(y1, x1, k) - at(y1, x0, k)) * fx;
                let v = top + (bottom - top) * fy;
                dst[(oy * dw + ox) * c + k] = v.round().clamp(0.0, 255.0) as u8;
            }
        }
    }
}

/// Class ids of the subfolders: their sorted position, or their place in a fixed list.
fn class_ids(dir: &Path, subdirs: &[String], fixed: Option<&[String]>) -> Result<(Vec<usize>, Vec<String>), DataError> {
    let Some(fixed) = fixed else {
        return Ok(((0..subdirs.len()).collect(), subdirs.to_vec()));
    };
    let known: Vec<&str> = fixed.iter().map(String::as_str).collect();
    let ids = subdirs
        .iter()
        .map(|name| {
            fixed.iter().position(|c| c == name).ok_or_else(|| {
                let hint = suggest(name, &known, "known classes");
                DataError::mismatch(Some(dir.join(name)), format!("subfolder `{name}` is not a known class; {hint}"))
            })
        })
        .collect::<Result<_, _>>()?;
    Ok((ids, fixed.to_vec()))
}

pub(super) fn load(dir: &Path, opts: &FileOptions) -> Result<FileData, DataError> {
    let size = opts.image_size.unwrap_or(DEFAULT_IMAGE_SIZE);
    let channels = opts.channels.unwrap_or(3);
    if size.0 == 0 || size.1 == 0 || !(channels == 1 || channels == 3) {
        return Err(DataError::invalid(format!(
            "images are read with image_size = ({}, {}) and {channels} channels; sizes must be positive and \
             channels 1 (grayscale) or 3 (rgb)",
            size.0, size.1
        )));
    }
    let (subdirs, flat) = list(dir)?;
    let mismatch = |detail: String| DataError::mismatch(Some(dir.to_path_buf()), detail);
    if !subdirs.is_empty() && !flat.is_empty() {
        return Err(mismatch(format!(
            "the folder holds both images ({}) and subfolders ({}); put every image in the subfolder of its class, \
             or use a folder of images without subfolders",
            first_few(&flat),
            first_few(&subdirs)
        )));
    }
    let mut files: Vec<PathBuf> = Vec::new();
    let mut labels: Vec<i64> = Vec::new();
    let mut class_names = None;
    let mut file_names = None;
    if !subdirs.is_empty() {
        let (ids, names) = class_ids(dir, &subdirs, opts.class_names.as_deref())?;
        for (sub, id) in subdirs.iter().zip(ids) {
            let class_dir = dir.join(sub);
            let (nested, images) = list(&class_dir)?;
            if let Some(inner) = nested.first() {
                return Err(DataError::mismatch(
                    Some(class_dir),
                    format!("the class folder holds the subfolder `{inner}`; class folders must hold images only"),
                ));
            }
            if images.is_empty() {
                return Err(DataError::mismatch(
                    Some(class_dir),
                    format!("the class folder `{sub}` holds no PNG or JPEG images; add images or remove it"),
                ));
            }
            labels.extend(std::iter::repeat_n(id as i64, images.len()));
            files.extend(images.iter().map(|f| class_dir.join(f)));
        }
        class_names = Some(names);
        if let Some(seed) = opts.shuffle_seed {
            // Keras shuffles the paths and the labels with two generators seeded alike: one permutation.
            let order = shuffled_indices(files.len(), seed);
            files = order.iter().map(|&i| files[i].clone()).collect();
            labels = order.iter().map(|&i| labels[i]).collect();
        }
    } else if flat.is_empty() {
        return Err(mismatch("the folder holds no PNG or JPEG images".into()));
    } else if opts.labels_required {
        return Err(mismatch(format!(
            "the folder holds images ({}) but no class subfolders; labels come from subfolder names: \
             put each class's images in a subfolder named after the class",
            first_few(&flat)
        )));
    } else {
        files = flat.iter().map(|f| dir.join(f)).collect();
        file_names = Some(flat);
    }
    let per_image = size.0 * size.1 * channels;
    let total = files.len().checked_mul(per_image).ok_or_else(|| mismatch("too many images to hold".into()))?;
    let mut pixels = vec![0u8; total];
    for (file, out) in files.iter().zip(pixels.chunks_exact_mut(per_image)) {
        decode(file, size, channels, out)?;
    }
    let x =
        ArrayD::from_shape_vec(IxDyn(&[files.len(), size.0, size.1, channels]), pixels).expect("one block per image");
    let mut arrays = vec![("x".to_string(), Column::U8(x))];
    if class_names.is_some() {
        arrays.push(("y".to_string(), Column::I64(Array1::from(labels).into_dyn())));
    }
    Ok(FileData { arrays, class_names, file_names, source: dir.to_path_buf() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halving_averages_two_by_two_blocks() {
        let src: Vec<u8> = vec![0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 150];
        let mut dst = vec![0u8; 4];
        resize_bilinear(&src, (4, 4), 1, &mut dst, (2, 2));
        // (0 + 10 + 40 + 50) / 4 = 25, and so on.
        assert_eq!(dst, vec![25, 45, 105, 125]);
    }

    #[test]
    fn upscaling_clamps_at_the_edges() {
        let mut dst = vec![0u8; 4];
        resize_bilinear(&[0, 100], (1, 2), 1, &mut dst, (1, 4));
        // Output centers map to -0.25, 0.25, 0.75, 1.25 in the source.
        assert_eq!(dst, vec![0, 25, 75, 100]);
    }
}
