//! `model.summary()` in Keras 3's layout.
//!
//! Keras 3 draws the table with rich: heavy box-drawing header, a light rule
//! between rows, cells padded by one space, long cells word-wrapped and words
//! that cannot fit cut with `…`. Sequential-like models get three columns
//! (inner widths 33/24/15); models with branches, several inputs or shared
//! layers get four (21/19/12/19) with "Connected to" (`shared[1][0]`: the
//! second call of a shared layer, whose row shows its first call's output
//! shape, as Keras's does). Sizes are f32 bytes in
//! Keras's units (`397.54 KB`). The optimizer line appears once the optimizer
//! has state, as in Keras (its count includes the iteration counter and the
//! learning-rate variable).

use nn_compiler::ir::Shape;
use nn_compiler::lower::LayerInfo;

/// What the summary needs about the model, independent of how it is stored.
pub struct SummaryInput<'a> {
    pub name: &'a str,
    pub layers: &'a [LayerInfo],
    /// The model inputs (name, shape with batch); graph models list them as
    /// `InputLayer` rows, as Keras's functional models do.
    pub inputs: Vec<(String, Shape)>,
    /// Element count per layer, parallel to `layers`.
    pub layer_params: Vec<usize>,
    pub trainable: usize,
    pub non_trainable: usize,
    /// Non-trainable elements Keras stores as int64 (8 bytes): the `count`
    /// of each `Normalization` layer.
    pub int64_params: usize,
    /// `Some(slot element count)` once the optimizer has been built.
    pub optimizer_slots: Option<usize>,
}

/// The summary of a lowered model from its declared shapes alone: no
/// weights are allocated, so a model too large to build still has one.
/// Counts saturate instead of wrapping (they are displayed, never allocated).
pub fn declared(model: &nn_compiler::lower::LoweredModel) -> String {
    let g = &model.graph;
    let numel = |v: &nn_compiler::ir::VarDecl| v.shape.iter().fold(1usize, |n, &d| n.saturating_mul(d));
    let layer_params =
        model.layers.iter().map(|l| l.vars.iter().fold(0usize, |n, v| n.saturating_add(numel(g.var(*v))))).collect();
    let (mut trainable, mut non_trainable) = (0usize, 0usize);
    for v in &g.vars {
        let count = if v.is_trainable() { &mut trainable } else { &mut non_trainable };
        *count = count.saturating_add(numel(v));
    }
    render(&SummaryInput {
        name: &model.name,
        layers: &model.layers,
        inputs: g
            .inputs
            .iter()
            .filter(|i| i.role == nn_compiler::ir::InputRole::Feature)
            .map(|i| (i.name.clone(), i.ty.shape.clone()))
            .collect(),
        layer_params,
        trainable,
        non_trainable,
        int64_params: int64_params(&model.layers),
        optimizer_slots: None,
    })
}

/// Keras 3's `Normalization` keeps `count` as an int64 weight.
pub fn int64_params(layers: &[LayerInfo]) -> usize {
    layers.iter().filter(|l| l.kind == "Normalization").count()
}

#[derive(Clone, Copy, PartialEq)]
enum Align {
    Left,
    Right,
}

/// Renders the summary. Each line ends with `\n`.
pub fn render(input: &SummaryInput<'_>) -> String {
    let sequential = is_sequential_like(input.layers);
    let (widths, aligns, header): (&[usize], &[Align], &[&str]) = if sequential {
        (&[31, 22, 13], &[Align::Left, Align::Left, Align::Right], &["Layer (type)", "Output Shape", "Param #"])
    } else {
        (
            &[19, 17, 10, 17],
            &[Align::Left, Align::Left, Align::Right, Align::Left],
            &["Layer (type)", "Output Shape", "Param #", "Connected to"],
        )
    };
    // Keras's functional summaries start with one InputLayer row per input.
    let mut rows: Vec<[String; 4]> = Vec::new();
    if !sequential {
        for (name, shape) in &input.inputs {
            if !input.layers.iter().any(|l| &l.name == name) {
                rows.push([format!("{name} (InputLayer)"), shape.keras(), "0".into(), "-".into()]);
            }
        }
    }
    for (i, layer) in input.layers.iter().enumerate() {
        rows.push([
            format!("{} ({})", layer.name, layer.kind),
            output_shape(layer),
            group_thousands(input.layer_params[i] as u64),
            connections(layer),
        ]);
    }
    let mut out = format!("Model: \"{}\"\n", input.name);
    out += &rule(widths, '┏', '━', '┳', '┓');
    out += &row(widths, aligns, &header.iter().map(|s| s.to_string()).collect::<Vec<_>>(), '┃');
    out += &rule(widths, '┡', '━', '╇', '┩');
    for (i, cells) in rows.iter().enumerate() {
        if i > 0 {
            out += &rule(widths, '├', '─', '┼', '┤');
        }
        out += &row(widths, aligns, &cells[..widths.len()], '│');
    }
    out += &rule(widths, '└', '─', '┴', '┘');

    let train_bytes = input.trainable as f64 * 4.0;
    let non_train_bytes = input.non_trainable as f64 * 4.0 + input.int64_params as f64 * 4.0;
    // Keras's optimizer variables: the slots, an int64 iteration counter and
    // the f32 learning rate.
    let opt = input.optimizer_slots.map(|slots| (slots as u64 + 2, slots as f64 * 4.0 + 8.0 + 4.0));
    let total =
        (input.trainable as u64).saturating_add(input.non_trainable as u64).saturating_add(opt.map_or(0, |o| o.0));
    let total_bytes = train_bytes + non_train_bytes + opt.map_or(0.0, |o| o.1);
    out += &format!(" Total params: {} ({})\n", group_thousands(total), memory_size(total_bytes));
    out += &format!(" Trainable params: {} ({})\n", group_thousands(input.trainable as u64), memory_size(train_bytes));
    out += &format!(
        " Non-trainable params: {} ({})\n",
        group_thousands(input.non_trainable as u64),
        memory_size(non_train_bytes)
    );
    if let Some((count, bytes)) = opt {
        out += &format!(" Optimizer params: {} ({})\n", group_thousands(count), memory_size(bytes));
    }
    out
}

/// Keras's test: a model is sequential-like unless some layer has several
/// inputs, a layer's output feeds several layers, or it has several inputs.
fn is_sequential_like(layers: &[LayerInfo]) -> bool {
    let mut uses = std::collections::HashMap::<&str, usize>::new();
    let mut roots = 0;
    for layer in layers {
        if layer.inputs.len() > 1 {
            return false;
        }
        if layer.inputs.is_empty() {
            roots += 1;
        }
        for input in &layer.inputs {
            *uses.entry(input.as_str()).or_default() += 1;
        }
    }
    roots <= 1 && uses.values().all(|&n| n <= 1)
}

/// The first call's result shape; Keras lists a call with several results
/// (`return_state`) as `[(None, 64), (None, 64)]`.
fn output_shape(layer: &LayerInfo) -> String {
    let Some(first) = layer.output_shapes.first() else { return String::new() };
    if layer.state_shapes.is_empty() {
        return first.keras();
    }
    let all: Vec<String> = std::iter::once(first).chain(&layer.state_shapes).map(Shape::keras).collect();
    format!("[{}]", all.join(", "))
}

fn connections(layer: &LayerInfo) -> String {
    if layer.inputs.is_empty() {
        return "-".to_string();
    }
    layer.inputs.join(", ")
}

/// `101770` → `101,770`.
pub fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Keras's readable size: divide by 1024 while the value is at least 1024.
pub fn memory_size(mut bytes: f64) -> String {
    const UNITS: [&str; 6] = ["B", "KB", "MB", "GB", "TB", "PB"];
    for unit in &UNITS[..UNITS.len() - 1] {
        if bytes / 1024.0 < 1.0 {
            return format!("{bytes:.2} {unit}");
        }
        bytes /= 1024.0;
    }
    format!("{bytes:.2} PB")
}

fn rule(widths: &[usize], left: char, fill: char, mid: char, right: char) -> String {
    let mut s = String::new();
    s.push(left);
    for (i, w) in widths.iter().enumerate() {
        if i > 0 {
            s.push(mid);
        }
        s.extend(std::iter::repeat_n(fill, w + 2));
    }
    s.push(right);
    s.push('\n');
    s
}

fn row(widths: &[usize], aligns: &[Align], cells: &[String], border: char) -> String {
    let wrapped: Vec<Vec<String>> = cells.iter().zip(widths).map(|(c, &w)| wrap(c, w)).collect();
    let height = wrapped.iter().map(Vec::len).max().unwrap_or(1);
    let mut s = String::new();
    for line in 0..height {
        s.push(border);
        for (col, lines) in wrapped.iter().enumerate() {
            if col > 0 {
                s.push(border);
            }
            let text = lines.get(line).map(String::as_str).unwrap_or("");
            let pad = widths[col].saturating_sub(text.chars().count());
            s.push(' ');
            match aligns[col] {
                Align::Left => {
                    s.push_str(text);
                    s.extend(std::iter::repeat_n(' ', pad));
                }
                Align::Right => {
                    s.extend(std::iter::repeat_n(' ', pad));
                    s.push_str(text);
                }
            }
            s.push(' ');
        }
        s.push(border);
        s.push('\n');
    }
    s
}

/// Greedy word wrap at spaces; a word longer than the width is cut to
/// `width - 1` characters plus `…`, as rich's ellipsis overflow does.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut current = String::new();
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let word: String = if word.chars().count() > width {
            word.chars().take(width.saturating_sub(1)).chain(std::iter::once('…')).collect()
        } else {
            word.to_string()
        };
        let needed =
            if current.is_empty() { word.chars().count() } else { current.chars().count() + 1 + word.chars().count() };
        if needed <= width {
            if !current.is_empty() {
                current.push(' ');
            }
            current.push_str(&word);
        } else {
            if !current.is_empty() {
                lines.push(std::mem::take(&mut current));
            }
            current = word;
        }
    }
    lines.push(current);
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_and_sizes() {
        assert_eq!(group_thousands(0), "0");
        assert_eq!(group_thousands(1290), "1,290");
        assert_eq!(group_thousands(101770), "101,770");
        assert_eq!(group_thousands(2560000), "2,560,000");
        assert_eq!(memory_size(101770.0 * 4.0), "397.54 KB");
        assert_eq!(memory_size(0.0), "0.00 B");
        assert_eq!(memory_size(814172.0), "795.09 KB");
    }

    #[test]
    fn wrapping_matches_rich() {
        assert_eq!(wrap("(None, 512, 512, 1)", 17), vec!["(None, 512, 512,", "1)"]);
        assert_eq!(wrap("bn_conv1 (BatchNormalization)", 19), vec!["bn_conv1", "(BatchNormalizatio…"]);
        assert_eq!(wrap("dense (Dense)", 31), vec!["dense (Dense)"]);
    }
}
