//! Numeric CSV tables with a header row, for "bring your own data" tutorials.
//!
//! Every column except the target becomes an f32 feature (in file order); the target becomes a dense
//! `[N, 1]` f32 target (use [`super::Targets::to_f32`] / `Split::select` as needed). Fields may be
//! double-quoted (`""` escapes a quote); empty lines are skipped. A non-numeric or missing cell is an
//! [`DataError::Parse`] naming `file:line:column`, the column header and the offending text.

use std::path::Path;

use ndarray::{ArrayD, IxDyn};

use super::{DataError, Features, Split, Targets};

/// Splits one CSV record; quotes may wrap a field, `""` inside quotes is a literal quote.
fn fields(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (false, '"') if field.trim().is_empty() => {
                field.clear();
                quoted = true;
            }
            (false, ',') => out.push(std::mem::take(&mut field)),
            (_, c) => field.push(c),
        }
    }
    if quoted {
        return Err("unterminated quoted field".into());
    }
    out.push(field);
    Ok(out)
}

/// `line_idx`/`col_idx` are 0-based; the error reports them 1-based like editors do.
fn parse_error(path: &Path, line_idx: usize, col_idx: Option<usize>, detail: impl Into<String>) -> DataError {
    DataError::Parse {
        path: path.to_path_buf(),
        line: line_idx + 1,
        column: col_idx.map(|c| c + 1),
        detail: detail.into(),
    }
}

/// Loads a numeric CSV file; `target_column` names the header of the target column.
pub fn load_csv(path: &Path, target_column: &str) -> Result<Split, DataError> {
    let text = super::bounded::read_text(path)?;
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let (header_no, header_line) =
        lines.next().ok_or_else(|| parse_error(path, 0, None, "the file is empty; expected a header row"))?;
    let header: Vec<String> = fields(header_line)
        .map_err(|e| parse_error(path, header_no, None, e))?
        .into_iter()
        .map(|h| h.trim().to_string())
        .collect();
    let target = header.iter().position(|h| h == target_column).ok_or_else(|| {
        DataError::mismatch(
            Some(path.to_path_buf()),
            format!("no column named `{target_column}`; the header has: {}", header.join(", ")),
        )
    })?;
    let mut features = Vec::new();
    let mut targets = Vec::new();
    for (line_no, line) in lines {
        let cells = fields(line).map_err(|e| parse_error(path, line_no, None, e))?;
        if cells.len() != header.len() {
            let detail = format!("{} fields, but the header has {} columns", cells.len(), header.len());
            return Err(parse_error(path, line_no, None, detail));
        }
        for (col, cell) in cells.iter().enumerate() {
            let value: f32 = cell.trim().parse().map_err(|_| {
                let detail =
                    format!("column `{}`: `{cell}` is not a number; clean or encode this column first", header[col]);
                parse_error(path, line_no, Some(col), detail)
            })?;
            if col == target {
                targets.push(value);
            } else {
                features.push(value);
            }
        }
    }
    let n = targets.len();
    let width = header.len() - 1;
    let x =
        ArrayD::from_shape_vec(IxDyn(&[n, width]), features).map_err(|e| DataError::corrupt(path, e.to_string()))?;
    let y = ArrayD::from_shape_vec(IxDyn(&[n, 1]), targets).map_err(|e| DataError::corrupt(path, e.to_string()))?;
    Split::new(Features::F32(x), Targets::Dense(y))
}

#[cfg(test)]
mod tests {
    use super::fields;

    #[test]
    fn quoted_fields() {
        assert_eq!(fields(r#"1,"a,b","say ""hi""""#).unwrap(), vec!["1", "a,b", r#"say "hi""#]);
        assert!(fields(r#"1,"open"#).is_err());
    }
}
