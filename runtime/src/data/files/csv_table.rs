//! CSV tables with a header row: feature columns into one f32 buffer, the label column into class ids
//! or values, streamed record by record (the file is never held as strings).
//!
//! Labels: a column whose every value is an integer stays integer (`int64`); numbers with a fraction
//! make it `float32`; text labels become class ids in sorted (byte-wise, as Python's `sorted` and
//! scikit-learn's `LabelEncoder`) order of the distinct strings, recorded in `class_names`. With a
//! fixed `class_names` list every label is looked up in it instead.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use ndarray::{ArrayD, IxDyn};

use super::{suggest, Column, FileData, FileOptions};
use crate::data::{DataError, Features};

/// `line` is the 1-based line of the file (the header is line 1); `column` 0-based.
fn at(path: &Path, line: u64, column: Option<usize>, detail: impl Into<String>) -> DataError {
    DataError::Parse {
        path: path.to_path_buf(),
        line: line as usize,
        column: column.map(|c| c + 1),
        detail: detail.into(),
    }
}

/// The most frequent of `,` `;` tab in the first line (outside quotes); `,` when none occurs.
fn sniff_delimiter(path: &Path) -> Result<u8, DataError> {
    let mut head = Vec::with_capacity(1 << 16);
    File::open(path).and_then(|f| f.take(1 << 16).read_to_end(&mut head)).map_err(|e| DataError::io(path, e))?;
    let mut counts = [0usize; 3];
    let mut quoted = false;
    for &b in head.iter().take_while(|&&b| b != b'\n') {
        match b {
            b'"' => quoted = !quoted,
            b',' if !quoted => counts[0] += 1,
            b';' if !quoted => counts[1] += 1,
            b'\t' if !quoted => counts[2] += 1,
            _ => {}
        }
    }
    let best = (0..3).max_by_key(|&i| (counts[i], std::cmp::Reverse(i))).unwrap_or(0);
    Ok(if counts[best] == 0 { b',' } else { [b',', b';', b'\t'][best] })
}

/// Label values as they stream in; the kind widens int → float, text switches to class names.
enum Labels {
    Int(Vec<i64>),
    Float(Vec<f32>),
    /// Ids in order of first appearance (renumbered by sorted name at the end), or fixed ids.
    Classes {
        ids: Vec<i64>,
        index: HashMap<String, i64>,
        fixed: bool,
    },
}

struct LabelColumn {
    name: String,
    col: usize,
    values: Labels,
    /// The first numeric label, quoted when a later label turns out to be text.
    first_number: Option<(u64, String)>,
}

impl LabelColumn {
    fn push(&mut self, path: &Path, line: u64, text: &str, class_names: Option<&[String]>) -> Result<(), DataError> {
        let name = &self.name;
        if text.is_empty() {
            return Err(at(path, line, Some(self.col), format!("missing value in label column `{name}`")));
        }
        match &mut self.values {
            Labels::Classes { ids, index, fixed } => {
                let next = index.len() as i64;
                let id = match index.get(text) {
                    Some(&id) => id,
                    None if *fixed => {
                        let known: Vec<&str> = class_names.unwrap_or(&[]).iter().map(String::as_str).collect();
                        let hint = suggest(text, &known, "known classes");
                        return Err(at(
                            path,
                            line,
                            Some(self.col),
                            format!("unknown class `{text}` in label column `{name}`; {hint}"),
                        ));
                    }
                    None => *index.entry(text.to_string()).or_insert(next),
                };
                ids.push(id);
                return Ok(());
            }
            Labels::Int(ints) => {
                if let Ok(v) = text.parse::<i64>() {
                    ints.push(v);
                } else if let Ok(v) = text.parse::<f32>() {
                    let mut floats: Vec<f32> = ints.iter().map(|&i| i as f32).collect();
                    floats.push(v);
                    self.values = Labels::Float(floats);
                } else if ints.is_empty() {
                    let index = HashMap::from([(text.to_string(), 0)]);
                    self.values = Labels::Classes { ids: vec![0], index, fixed: false };
                    return Ok(());
                } else {
                    return Err(self.mixed(path, line, text));
                }
            }
            Labels::Float(floats) => match text.parse::<f32>() {
                Ok(v) => floats.push(v),
                Err(_) => return Err(self.mixed(path, line, text)),
            },
        }
        if self.first_number.is_none() {
            self.first_number = Some((line, text.to_string()));
        }
        Ok(())
    }

    fn mixed(&self, path: &Path, line: u64, text: &str) -> DataError {
        let (first_line, first) = self.first_number.clone().unwrap_or_default();
        at(
            path,
            line,
            Some(self.col),
            format!(
                "label column `{}`: `{text}` is not a number, but line {first_line} holds the number `{first}`; \
                 a label column holds either numbers or class names",
                self.name
            ),
        )
    }

    /// The label array and, for text labels, the class names in id order.
    fn finish(self) -> (Column, Option<Vec<String>>) {
        let n = match &self.values {
            Labels::Int(v) => v.len(),
            Labels::Float(v) => v.len(),
            Labels::Classes { ids, .. } => ids.len(),
        };
        let shape = IxDyn(&[n]);
        match self.values {
            Labels::Int(v) => (Column::I64(ArrayD::from_shape_vec(shape, v).expect("1-D")), None),
            Labels::Float(v) => (Column::F32(Features::F32(ArrayD::from_shape_vec(shape, v).expect("1-D"))), None),
            Labels::Classes { ids, index, fixed } => {
                let mut names: Vec<(String, i64)> = index.into_iter().collect();
                names.sort_by_key(|(_, id)| *id);
                if fixed {
                    let names = names.into_iter().map(|(n, _)| n).collect();
                    return (Column::I64(ArrayD::from_shape_vec(shape, ids).expect("1-D")), Some(names));
                }
                let mut sorted: Vec<usize> = (0..names.len()).collect();
                sorted.sort_by(|&a, &b| names[a].0.cmp(&names[b].0));
                let mut renumber = vec![0i64; names.len()];
                for (new, &old) in sorted.iter().enumerate() {
                    renumber[old] = new as i64;
                }
                let ids = ids.into_iter().map(|id| renumber[id as usize]).collect();
                let class_names = sorted.into_iter().map(|i| names[i].0.clone()).collect();
                (Column::I64(ArrayD::from_shape_vec(shape, ids).expect("1-D")), Some(class_names))
            }
        }
    }
}

/// Which columns are features and which one is the label, from the header and the options.
/// Feature columns, then the label and sample weight columns if any.
type Columns = (Vec<usize>, Option<usize>, Option<usize>);

fn resolve_columns(path: &Path, header: &[String], opts: &FileOptions) -> Result<Columns, DataError> {
    let names: Vec<&str> = header.iter().map(String::as_str).collect();
    let find = |name: &str, role: &str| -> Result<usize, DataError> {
        names.iter().position(|h| *h == name).ok_or_else(|| {
            let hint = suggest(name, &names, "the header has");
            at(path, 1, None, format!("no column named `{name}` (asked for as the {role}); {hint}"))
        })
    };
    let label = match (&opts.label, opts.labels_required) {
        (Some(name), true) => Some(find(name, "label")?),
        (Some(name), false) => names.iter().position(|h| h == name),
        (None, true) => Some(header.len() - 1),
        (None, false) => None,
    };
    // Predict inputs may lack the weight column, as they may lack labels.
    let weight = match (&opts.sample_weight, opts.labels_required) {
        (Some(name), true) => Some(find(name, "sample weight")?),
        (Some(name), false) => names.iter().position(|h| h == name),
        (None, _) => None,
    };
    if let (Some(w), true) = (weight, weight == label) {
        return Err(at(
            path,
            1,
            Some(w),
            format!("column `{}` is the label column and cannot also hold the sample weights", header[w]),
        ));
    }
    let features = match &opts.features {
        Some(list) => {
            let mut cols = Vec::with_capacity(list.len());
            for name in list {
                let col = find(name, "feature")?;
                let role = if Some(col) == label {
                    "the label column"
                } else if Some(col) == weight {
                    "the sample weight column"
                } else {
                    cols.push(col);
                    continue;
                };
                return Err(at(path, 1, Some(col), format!("column `{name}` is {role} and cannot also be a feature")));
            }
            cols
        }
        None => (0..header.len()).filter(|&c| Some(c) != label && Some(c) != weight).collect(),
    };
    if features.is_empty() {
        let detail = match label {
            Some(col) => format!(
                "the only column is the label `{}`; a table needs at least one feature column besides it",
                header[col]
            ),
            None => "no feature columns were selected".to_string(),
        };
        return Err(at(path, 1, None, detail));
    }
    Ok((features, label, weight))
}

/// One sample weight: a finite number, at least 0.
fn weight_value(path: &Path, line: u64, col: usize, name: &str, text: &str) -> Result<f32, DataError> {
    let value: f32 = text
        .parse()
        .map_err(|_| at(path, line, Some(col), format!("sample weight column `{name}`: `{text}` is not a number")))?;
    if !(value.is_finite() && value >= 0.0) {
        return Err(at(
            path,
            line,
            Some(col),
            format!("sample weight column `{name}`: {text} is not a valid weight; weights must be finite and >= 0"),
        ));
    }
    Ok(value)
}

pub(super) fn load(path: &Path, opts: &FileOptions) -> Result<FileData, DataError> {
    let file_len = std::fs::metadata(path).map_err(|e| DataError::io(path, e))?.len();
    let tsv = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("tsv"));
    let delimiter = match opts.delimiter {
        Some(d) => d,
        None if tsv => b'\t',
        None => sniff_delimiter(path)?,
    };
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(BufReader::with_capacity(1 << 16, file));
    let csv_error = |e: csv::Error| {
        let line = e.position().map_or(1, |p| p.line());
        match e.kind() {
            csv::ErrorKind::Utf8 { err, .. } => {
                at(path, line, Some(err.field()), "the field is not UTF-8 text; save the table as UTF-8")
            }
            _ => at(path, line, None, format!("cannot read the table: {e}")),
        }
    };
    let header: Vec<String> = reader.headers().map_err(csv_error)?.iter().map(str::to_string).collect();
    if header.iter().all(String::is_empty) {
        return Err(at(path, 1, None, "the file is empty; expected a header row naming the columns"));
    }
    for (col, name) in header.iter().enumerate() {
        if let Some(first) = header[..col].iter().position(|h| h == name) {
            return Err(at(
                path,
                1,
                Some(col),
                format!("columns {} and {} are both named `{name}`; column names must be unique", first + 1, col + 1),
            ));
        }
    }
    let (features, label_col, weight_col) = resolve_columns(path, &header, opts)?;
    let mut weights: Vec<f32> = Vec::new();
    let mut label = label_col.map(|col| LabelColumn {
        name: header[col].clone(),
        col,
        values: match &opts.class_names {
            Some(names) => Labels::Classes {
                ids: Vec::new(),
                index: names.iter().enumerate().map(|(i, n)| (n.clone(), i as i64)).collect(),
                fixed: true,
            },
            None => Labels::Int(Vec::new()),
        },
        first_number: None,
    });
    // About 4 bytes of text per value is a floor for real tables; the guess only sizes the first buffer.
    let mut x: Vec<f32> = Vec::with_capacity((file_len / 4).min(1 << 24) as usize);
    let mut record = csv::StringRecord::new();
    let mut rows = 0usize;
    while reader.read_record(&mut record).map_err(csv_error)? {
        let line = record.position().map_or(0, |p| p.line());
        if record.len() != header.len() {
            return Err(at(
                path,
                line,
                None,
                format!("the row has {} fields but the header names {} columns", record.len(), header.len()),
            ));
        }
        for &col in &features {
            let text = &record[col];
            let name = &header[col];
            if text.is_empty() {
                return Err(at(path, line, Some(col), format!("missing value in column `{name}`")));
            }
            let value: f32 = text.parse().map_err(|_| {
                at(
                    path,
                    line,
                    Some(col),
                    format!("column `{name}`: `{text}` is not a number; encode or drop this column first"),
                )
            })?;
            x.push(value);
        }
        if let Some(label) = &mut label {
            label.push(path, line, &record[label.col], opts.class_names.as_deref())?;
        }
        if let Some(col) = weight_col {
            weights.push(weight_value(path, line, col, &header[col], &record[col])?);
        }
        rows += 1;
    }
    if rows == 0 {
        return Err(at(path, 1, None, "the file has a header row but no data rows"));
    }
    let x = ArrayD::from_shape_vec(IxDyn(&[rows, features.len()]), x).expect("one value per feature and row");
    let mut arrays = vec![("x".to_string(), Column::F32(Features::F32(x)))];
    let mut class_names = None;
    if let Some(label) = label {
        let (y, names) = label.finish();
        arrays.push(("y".to_string(), y));
        class_names = names;
    }
    if weight_col.is_some() {
        let w = ArrayD::from_shape_vec(IxDyn(&[rows]), weights).expect("one weight per row");
        arrays.push(("sample_weight".to_string(), Column::F32(Features::F32(w))));
    }
    Ok(FileData { arrays, class_names, file_names: None, source: path.to_path_buf() })
}
