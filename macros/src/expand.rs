//! A checked model → a small Rust type delegating to `::nn::runtime::Model`.
//!
//! Why: the point of `model!` is that shapes are known when `cargo build`
//! runs, so the generated type states them (`INPUT_SHAPE`, `OUTPUT_SHAPE`,
//! `PARAM_SHAPES`) and `predict_one` takes and returns nested arrays of
//! exactly those sizes. Everything else is thin delegation, readable in
//! `cargo expand`; nothing is compiled or run at build time.
//!
//! Guarantees: generated code names only `::nn::…` and `::core::…` paths;
//! generated methods return the runtime's errors instead of panicking (the
//! array conversions in `predict_one` check lengths before indexing).

use nn_compiler::ir::InputRole;
use nn_compiler::lower::LoweredModel;
use proc_macro2::{Ident, Literal, Span, TokenStream};
use quote::{format_ident, quote};

/// What the expansion needs besides the lowered model.
pub struct Expansion<'a> {
    /// The text the runtime compiles again in `new`.
    pub source: &'a str,
    /// Span for the generated type's name (the model name token, or the path literal).
    pub name_span: Span,
    /// The model to pick when the source has several (`include_model!`).
    pub model: Option<&'a str>,
    /// Checker warnings, kept in the type's documentation.
    pub warnings: &'a [String],
    /// Extra items (e.g. the `include_bytes!` that tracks an included file).
    pub extra: TokenStream,
}

/// `fashion_mlp` → `FashionMlp`; a result that is not a usable type name
/// (`self_` → `Self`) gets a `Model` suffix.
pub fn type_name(model: &str) -> String {
    let mut out = String::new();
    for part in model.split('_').filter(|p| !p.is_empty()) {
        let mut chars = part.chars();
        if let Some(c) = chars.next() {
            out.extend(c.to_uppercase());
            out.push_str(chars.as_str());
        }
    }
    if out.is_empty() || syn::parse_str::<syn::Ident>(&out).is_err() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.push_str("Model");
    }
    out
}

fn usize_list(dims: &[usize]) -> TokenStream {
    let dims = dims.iter().map(|d| Literal::usize_unsuffixed(*d));
    quote!([#(#dims),*])
}

fn named_shapes(items: &[(String, Vec<usize>)]) -> TokenStream {
    let rows = items.iter().map(|(name, dims)| {
        let dims = usize_list(dims);
        quote!((#name, &#dims))
    });
    quote!(&[#(#rows),*])
}

/// `[[f32; 28]; 28]` for `[28, 28]`; `f32` for rank 0.
fn array_type(dims: &[usize]) -> TokenStream {
    dims.iter().rev().fold(quote!(f32), |inner, d| {
        let d = Literal::usize_unsuffixed(*d);
        quote!([#inner; #d])
    })
}

/// An iterator expression over the values of nested array `x`, row-major.
fn flatten_expr(rank: usize) -> TokenStream {
    if rank == 0 {
        return quote!(::core::iter::once(*x));
    }
    let flattens = (1..rank).map(|_| quote!(.flatten()));
    quote!(x.iter() #(#flattens)* .copied())
}

/// Builds a nested array of `dims` from the slice `v`, whose length the
/// caller has checked to be the product of `dims`.
fn build_expr(dims: &[usize]) -> TokenStream {
    fn level(dims: &[usize], depth: usize, offset: TokenStream) -> TokenStream {
        if depth == dims.len() {
            return quote!(v[#offset]);
        }
        let stride = Literal::usize_unsuffixed(dims[depth + 1..].iter().product());
        let i = format_ident!("i{}", depth);
        let inner = level(dims, depth + 1, quote!(#offset + #i * #stride));
        quote!(::core::array::from_fn(|#i| #inner))
    }
    level(dims, 0, quote!(0))
}

fn per_sample(shape: &nn_compiler::ir::Shape) -> Option<Vec<usize>> {
    shape.dims().iter().skip(1).map(|d| d.known()).collect()
}

/// The generated items.
pub fn expand(lowered: &LoweredModel, ex: &Expansion<'_>) -> TokenStream {
    let graph = &lowered.graph;
    let name = &lowered.name;
    let ty = Ident::new(&type_name(name), ex.name_span);
    let source = ex.source;
    let model_arg = match ex.model {
        Some(m) => quote!(::core::option::Option::Some(#m)),
        None => quote!(::core::option::Option::None),
    };

    let inputs: Vec<(String, Vec<usize>)> = graph
        .inputs
        .iter()
        .filter(|i| i.role == InputRole::Feature)
        .filter_map(|i| Some((i.name.clone(), per_sample(&i.ty.shape)?)))
        .collect();
    let outputs: Vec<(String, Vec<usize>)> =
        graph.outputs.iter().filter_map(|(n, id)| Some((n.clone(), per_sample(graph.shape(*id))?))).collect();
    let params: Vec<(String, Vec<usize>)> = graph.vars.iter().map(|v| (v.name.clone(), v.shape.clone())).collect();
    let param_count: usize = graph.vars.iter().map(|v| v.numel()).sum();
    let trainable_count: usize = graph.vars.iter().filter(|v| v.is_trainable()).map(|v| v.numel()).sum();
    let inputs_tokens = named_shapes(&inputs);
    let outputs_tokens = named_shapes(&outputs);
    let params_tokens = named_shapes(&params);
    let param_count = Literal::usize_unsuffixed(param_count);
    let trainable_count = Literal::usize_unsuffixed(trainable_count);

    // The typed single-sample API exists when the runtime's `predict` applies:
    // one feature input and one output, all dimensions known.
    let all_known = inputs.len() == graph.inputs.iter().filter(|i| i.role == InputRole::Feature).count()
        && outputs.len() == graph.outputs.len();
    let typed = match (inputs.as_slice(), outputs.as_slice()) {
        ([(in_name, in_dims)], [(_, out_dims)]) if all_known => Some(typed_api(name, in_name, in_dims, out_dims)),
        _ => None,
    };

    let doc = doc_text(lowered, &inputs, &outputs, ex.warnings);
    let extra = &ex.extra;
    quote! {
        #extra

        #[doc = #doc]
        pub struct #ty {
            inner: ::nn::runtime::Model,
        }

        impl #ty {
            /// The model's name in its source.
            pub const NAME: &'static str = #name;
            /// The checked source the runtime compiles in [`Self::new`].
            pub const SOURCE: &'static str = #source;
            /// Feature inputs: name and per-sample shape (batch excluded).
            pub const INPUTS: &'static [(&'static str, &'static [usize])] = #inputs_tokens;
            /// Outputs: name and per-sample shape (batch excluded).
            pub const OUTPUTS: &'static [(&'static str, &'static [usize])] = #outputs_tokens;
            /// Every variable (Keras weight name) and its shape, in creation order.
            pub const PARAM_SHAPES: &'static [(&'static str, &'static [usize])] = #params_tokens;
            /// Number of values in all variables (Keras's "Total params").
            pub const PARAM_COUNT: usize = #param_count;
            /// Number of values in trainable variables.
            pub const TRAINABLE_PARAM_COUNT: usize = #trainable_count;

            /// Builds the model with weights initialized from `seed`. The source
            /// was checked at build time, so an error here is a bug in nn.
            pub fn new(seed: u64) -> ::core::result::Result<Self, ::nn::runtime::ModelError> {
                ::nn::runtime::Model::from_source_seeded(Self::SOURCE, #model_arg, seed).map(|inner| Self { inner })
            }

            /// Builds the model with the `train` block's seed, else the runtime's default seed.
            pub fn with_default_seed() -> ::core::result::Result<Self, ::nn::runtime::ModelError> {
                ::nn::runtime::Model::from_source(Self::SOURCE, #model_arg).map(|inner| Self { inner })
            }

            /// The runtime model, for everything this type does not wrap.
            pub fn inner(&self) -> &::nn::runtime::Model {
                &self.inner
            }

            pub fn inner_mut(&mut self) -> &mut ::nn::runtime::Model {
                &mut self.inner
            }

            pub fn into_inner(self) -> ::nn::runtime::Model {
                self.inner
            }

            /// Keras's `compile` with the `train` block's loss, optimizer and metrics.
            pub fn compile(&mut self) -> ::core::result::Result<(), ::nn::runtime::RuntimeError> {
                self.inner.compile(::core::default::Default::default())
            }

            /// Keras's `compile` with explicit options (unset fields come from the `train` block).
            pub fn compile_with(&mut self, options: ::nn::runtime::CompileOptions) -> ::core::result::Result<(), ::nn::runtime::RuntimeError> {
                self.inner.compile(options)
            }

            /// `fit` options from the `train` block (batch size, epochs, validation, …).
            pub fn fit_options(&self) -> ::nn::runtime::FitOptions {
                ::nn::runtime::FitOptions::from_train_config(self.inner.train_config())
            }

            /// Keras's `fit`.
            pub fn fit(
                &mut self,
                x: &::nn::runtime::data::Features,
                y: &::nn::runtime::data::Targets,
                options: &::nn::runtime::FitOptions,
            ) -> ::core::result::Result<::nn::runtime::History, ::nn::runtime::RuntimeError> {
                self.inner.fit(x, y, options)
            }

            /// Keras's `evaluate`: loss and metrics over all samples.
            pub fn evaluate(
                &mut self,
                x: &::nn::runtime::data::Features,
                y: &::nn::runtime::data::Targets,
                batch_size: usize,
            ) -> ::core::result::Result<::nn::runtime::Logs, ::nn::runtime::RuntimeError> {
                self.inner.evaluate(x, y, batch_size)
            }

            /// Keras's `summary()` table.
            pub fn summary(&self) -> ::std::string::String {
                self.inner.summary()
            }

            /// Saves the weights as safetensors.
            pub fn save_weights(&self, path: impl ::core::convert::AsRef<::std::path::Path>) -> ::core::result::Result<(), ::nn::runtime::RuntimeError> {
                self.inner.save_weights(path)
            }

            /// Loads weights saved by [`Self::save_weights`].
            pub fn load_weights(&mut self, path: impl ::core::convert::AsRef<::std::path::Path>) -> ::core::result::Result<(), ::nn::runtime::RuntimeError> {
                self.inner.load_weights(path)
            }

            #typed
        }
    }
}

/// `INPUT_SHAPE`, `OUTPUT_SHAPE`, batched `predict` and typed `predict_one`.
fn typed_api(model: &str, input: &str, in_dims: &[usize], out_dims: &[usize]) -> TokenStream {
    let in_rank = Literal::usize_unsuffixed(in_dims.len());
    let out_rank = Literal::usize_unsuffixed(out_dims.len());
    let in_list = usize_list(in_dims);
    let out_list = usize_list(out_dims);
    let in_ty = array_type(in_dims);
    let out_ty = array_type(out_dims);
    let flatten = flatten_expr(in_dims.len());
    let build = build_expr(out_dims);
    let out_numel = Literal::usize_unsuffixed(out_dims.iter().product());
    let mismatch = format!(
        "model `{model}` expects input `{input}` of shape [batch, {}] but x has shape {{:?}}; reshape it or fix the model's `input` line",
        in_dims.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")
    );
    let bad_output = format!(
        "model `{model}` returned {{}} values for one sample; {} were expected (a bug in nn)",
        out_dims.iter().product::<usize>()
    );
    quote! {
        /// Per-sample shape of the input (batch excluded).
        pub const INPUT_SHAPE: [usize; #in_rank] = #in_list;
        /// Per-sample shape of the output (batch excluded).
        pub const OUTPUT_SHAPE: [usize; #out_rank] = #out_list;

        /// Predicts a batch `[n, INPUT_SHAPE…]` → `[n, OUTPUT_SHAPE…]`, checking the sample shape first.
        pub fn predict(&mut self, x: &::nn::ndarray::ArrayD<f32>) -> ::core::result::Result<::nn::ndarray::ArrayD<f32>, ::nn::runtime::RuntimeError> {
            if x.ndim() != Self::INPUT_SHAPE.len() + 1 || x.shape()[1..] != Self::INPUT_SHAPE[..] {
                return ::core::result::Result::Err(::nn::runtime::RuntimeError::InvalidArgument(::std::format!(#mismatch, x.shape())));
            }
            let batch_size = x.shape()[0].clamp(1, 256);
            self.inner.predict(&::nn::runtime::data::Features::F32(x.clone()), batch_size)
        }

        /// Predicts one sample, with both shapes fixed by the types.
        pub fn predict_one(&mut self, x: &#in_ty) -> ::core::result::Result<#out_ty, ::nn::runtime::RuntimeError> {
            let flat: ::std::vec::Vec<f32> = #flatten.collect();
            let mut shape = ::std::vec![1usize];
            shape.extend_from_slice(&Self::INPUT_SHAPE);
            let batch = ::nn::ndarray::ArrayD::from_shape_vec(::nn::ndarray::IxDyn(&shape), flat)
                .map_err(|e| ::nn::runtime::RuntimeError::InvalidArgument(::std::format!("cannot shape one sample: {e}")))?;
            let out = self.inner.predict(&::nn::runtime::data::Features::F32(batch), 1)?;
            let v: ::std::vec::Vec<f32> = out.iter().copied().collect();
            if v.len() != #out_numel {
                return ::core::result::Result::Err(::nn::runtime::RuntimeError::Engine(::std::format!(#bad_output, v.len())));
            }
            ::core::result::Result::Ok(#build)
        }
    }
}

fn shape_text(dims: &[usize]) -> String {
    format!("[{}]", dims.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", "))
}

fn doc_text(
    lowered: &LoweredModel,
    inputs: &[(String, Vec<usize>)],
    outputs: &[(String, Vec<usize>)],
    warnings: &[String],
) -> String {
    let mut doc = format!(" The `{}` model, checked when this crate was built.\n\n", lowered.name);
    for (n, d) in inputs {
        doc.push_str(&format!(" - input `{n}`: {} per sample\n", shape_text(d)));
    }
    for (n, d) in outputs {
        doc.push_str(&format!(" - output `{n}`: {} per sample\n", shape_text(d)));
    }
    doc.push_str("\n Layers:\n\n");
    for l in &lowered.layers {
        let shapes: Vec<String> = l.output_shapes.iter().map(|s| s.keras()).collect();
        doc.push_str(&format!(" - `{}` ({}): {}\n", l.name, l.kind, shapes.join(", ")));
    }
    if !warnings.is_empty() {
        doc.push_str("\n Warnings from the checker:\n\n");
        for w in warnings {
            doc.push_str(&format!(" - {}\n", w.replace('\n', "\n   ")));
        }
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_are_camel_case_and_valid() {
        assert_eq!(type_name("fashion_mlp"), "FashionMlp");
        assert_eq!(type_name("mlp6"), "Mlp6");
        assert_eq!(type_name("iris"), "Iris");
        assert_eq!(type_name("_x__y"), "XY");
        assert_eq!(type_name("self_"), "SelfModel");
        assert_eq!(type_name("_"), "Model");
    }

    #[test]
    fn array_types_nest_outermost_first() {
        assert_eq!(array_type(&[28, 28]).to_string(), "[[f32 ; 28] ; 28]");
        assert_eq!(array_type(&[4]).to_string(), "[f32 ; 4]");
        assert_eq!(array_type(&[]).to_string(), "f32");
        assert_eq!(array_type(&[2, 3, 4]).to_string(), "[[[f32 ; 4] ; 3] ; 2]");
    }

    #[test]
    fn builders_index_row_major() {
        let b = build_expr(&[2, 3]).to_string();
        assert!(b.contains("0 + i0 * 3 + i1 * 1"), "{b}");
        assert_eq!(build_expr(&[]).to_string(), "v [0]");
        assert_eq!(flatten_expr(3).to_string(), "x . iter () . flatten () . flatten () . copied ()");
    }
}
