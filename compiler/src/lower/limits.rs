//! Bounds on how much work lowering may do for one model.
//!
//! Custom layers are expanded by running their bodies, recursively, so a file
//! of a few kilobytes can ask for unbounded recursion (a chain of layers each
//! applying the next) or exponential work (each applying the next twice).
//! Both are refused with a diagnostic before they exhaust the stack or the
//! machine: recursion depth is counted on every expression and custom layer
//! entered, and every layer application counts towards a total.

use super::errors::{EXPANSION, NESTING};
use super::state::Lowerer;
use crate::diag::{Diagnostic, Span};

/// The deepest lowering recursion allowed, in units of one expression level;
/// entering a custom layer costs [`CUSTOM_DEPTH_COST`] units. The parser caps
/// one expression at `MAX_EXPR_DEPTH` (128), so a model body alone never gets
/// here; the cap binds on custom layers nested inside each other (about 60 in
/// a plain chain).
pub const MAX_DEPTH: usize = 256;

/// What entering a custom layer adds to the depth: its application runs
/// several frames (apply, body, statement) besides the expression's own.
pub const CUSTOM_DEPTH_COST: usize = 3;

/// The most layer applications (built-in and custom, counting every run of a
/// custom layer's body) one lowering may perform.
pub const MAX_APPLICATIONS: usize = 100_000;

/// Stack kept free before each recursive step, and the size of each extra
/// stack segment. A debug build spends about 16 KB of stack per expression
/// level, so the depth cap alone would not keep deep but legal models inside
/// the main thread's 8 MB; recursion continues on heap-allocated segments
/// instead, as rustc does.
const RED_ZONE: usize = 256 << 10;
const SEGMENT: usize = 4 << 20;

/// Runs `f`, first moving to a fresh stack segment if this one is nearly full.
pub(super) fn with_stack<R>(f: impl FnOnce() -> R) -> R {
    stacker::maybe_grow(RED_ZONE, SEGMENT, f)
}

impl Lowerer<'_> {
    /// Counts one level of expression evaluation; the caller decrements
    /// `depth` when the expression is done.
    pub(super) fn enter_expr(&mut self, span: Span) -> Result<(), Diagnostic> {
        if self.depth + 1 > MAX_DEPTH {
            return Err(self.too_deep(span));
        }
        self.depth += 1;
        Ok(())
    }

    /// Counts entering the body of custom layer `name` applied at `span`.
    pub(super) fn enter_custom(&mut self, name: &str, span: Span) -> Result<(), Diagnostic> {
        if self.depth + CUSTOM_DEPTH_COST > MAX_DEPTH {
            let mut d = self.too_deep(span);
            d.message = format!("{} (entering `{name}`)", d.message);
            return Err(d);
        }
        self.depth += CUSTOM_DEPTH_COST;
        Ok(())
    }

    /// Counts one layer application at `span`.
    pub(super) fn count_application(&mut self, span: Span) -> Result<(), Diagnostic> {
        self.applications += 1;
        if self.applications <= MAX_APPLICATIONS {
            return Ok(());
        }
        let d = match (self.custom_stack.first(), self.custom_stack.last()) {
            (Some((outer, outer_span)), Some((inner, _))) => Diagnostic::error(
                EXPANSION,
                format!("custom layer `{outer}` expands to more than {MAX_APPLICATIONS} layer applications"),
                span,
            )
            .with_label(format!("the limit is reached here, inside `{inner}`"))
            .with_secondary(*outer_span, format!("`{outer}` applied here"))
            .with_note(format!("chain of custom layers here: {}", self.chain())),
            _ => Diagnostic::error(EXPANSION, format!("this model applies more than {MAX_APPLICATIONS} layers"), span)
                .with_label("the limit is reached here"),
        };
        Err(d.with_help(
            "each application runs a custom layer's whole body again, so a layer that applies the next one \
             twice doubles the work at every level; apply it once and reuse the result (`h = f(x)` then `h + h`)",
        ))
    }

    fn too_deep(&self, span: Span) -> Diagnostic {
        let Some((outer, outer_span)) = self.custom_stack.first() else {
            return Diagnostic::error(NESTING, format!("expressions nest more than {MAX_DEPTH} levels deep"), span)
                .with_label("the nesting limit is reached here")
                .with_help("bind intermediate values to names (`h = …`) instead of nesting calls");
        };
        let inner = &self.custom_stack[self.custom_stack.len() - 1].0;
        Diagnostic::error(
            NESTING,
            format!(
                "custom layer `{outer}` nests too deeply: {} custom layers are applied inside each other",
                self.custom_stack.len()
            ),
            span,
        )
        .with_label(format!("the nesting limit is reached here, inside `{inner}`"))
        .with_secondary(*outer_span, format!("`{outer}` applied here"))
        .with_note(format!("chain: {}", self.chain()))
        .with_help("apply the layers one after another in one body (`h = f(x)`, then `g(h)`) instead of each inside the previous one")
    }

    /// The custom layers being applied, outermost first, shortened in the middle.
    fn chain(&self) -> String {
        let names: Vec<&str> = self.custom_stack.iter().map(|(n, _)| n.as_str()).collect();
        if names.len() <= 6 {
            return names.join(" → ");
        }
        format!("{} → … → {}", names[..3].join(" → "), names[names.len() - 3..].join(" → "))
    }
}

#[cfg(test)]
mod tests {
    use super::{MAX_APPLICATIONS, MAX_DEPTH};
    use crate::diag::Diagnostic;

    /// Checks `source` on a thread with a quarter of the main thread's usual
    /// 8 MB stack: lowering at the depth cap must fit, in debug builds too.
    fn check_on_small_stack(source: String) -> Vec<Diagnostic> {
        std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || crate::lower::check_source(&source))
            .unwrap()
            .join()
            .expect("checking does not overflow the stack")
    }

    fn codes(diags: &[Diagnostic]) -> Vec<&'static str> {
        diags.iter().filter(|d| d.is_error()).map(|d| d.code).collect()
    }

    /// `layer l0(x) { return WRAP(l1(x)) }` … `layer lN(x) { return x }`.
    fn chain(n: usize, wrap: usize) -> String {
        let mut s = String::new();
        for i in 0..n {
            let open = "relu(".repeat(wrap);
            let close = ")".repeat(wrap);
            s.push_str(&format!("layer l{i}(x) {{ return {open}l{}(x){close} }}\n", i + 1));
        }
        s.push_str(&format!("layer l{n}(x) {{ return x }}\nmodel m {{ input x: [4] l0 dense(1) }}\n"));
        s
    }

    #[test]
    fn a_chain_within_the_cap_lowers() {
        assert_eq!(codes(&check_on_small_stack(chain(40, 0))), Vec::<&str>::new());
    }

    #[test]
    fn a_long_chain_stops_at_the_depth_cap_naming_the_layers() {
        let diags = check_on_small_stack(chain(1400, 0));
        assert_eq!(codes(&diags), ["E0135"]);
        let d = &diags[0];
        assert!(d.message.contains("`l0`"), "{}", d.message);
        assert!(d.label.contains("inside `l6"), "{}", d.label);
        assert!(d.notes[0].starts_with("chain: l0 → l1 → l2 → …"), "{:?}", d.notes);
        assert!(d.help.is_some());
    }

    #[test]
    fn deep_expressions_in_every_layer_of_a_chain_stop_at_the_cap() {
        // Each body nests 60 calls around the next layer (brackets nest at
        // most 64 deep), so depth is spent on expressions, not layers.
        let diags = check_on_small_stack(chain(30, 60));
        assert_eq!(codes(&diags), ["E0135"]);
        const { assert!(MAX_DEPTH / 61 < 30) };
    }

    #[test]
    fn doubling_chains_stop_at_the_application_cap() {
        let mut s = String::new();
        for i in 0..40 {
            s.push_str(&format!("layer l{i}(x) {{ return l{0}(x) + l{0}(x) }}\n", i + 1));
        }
        s.push_str("layer l40(x) { return x }\nmodel m { input x: [4] l0 dense(1) }\n");
        let diags = check_on_small_stack(s);
        assert_eq!(codes(&diags), ["E0136"]);
        assert!(diags[0].message.contains(&format!("`l0` expands to more than {MAX_APPLICATIONS}")));
    }

    #[test]
    fn many_sequential_layers_are_not_an_expansion() {
        let body = "dense(2)\n".repeat(5000);
        let diags = check_on_small_stack(format!("model m {{ input x: [4]\n{body} }}"));
        assert_eq!(codes(&diags), Vec::<&str>::new());
    }
}
