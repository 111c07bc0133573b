//! Macro tokens → `.nn` text, with a table from byte ranges back to tokens.
//!
//! Why: the macro must not parse the language itself (one grammar, in
//! `nn_compiler::syntax`). So the token stream is printed as text the parser
//! accepts, and every diagnostic's byte range is mapped back to the Rust
//! tokens it covers, so `compile_error!` points at the user's code.
//!
//! Guarantees: each token is printed on its own, separated by single spaces
//! (newlines are insignificant in the grammar, and a space between two
//! punctuation characters, such as the two `*` of `**`, is accepted); groups
//! print their delimiters as tokens of their own; invisible groups (from
//! `macro_rules!` fragments) print only their contents. The table is sorted
//! by byte offset and its ranges do not overlap.

use proc_macro2::{Delimiter, Span, TokenStream, TokenTree};

/// One printed token: where its text lies, and the Rust span it came from.
#[derive(Clone, Debug)]
pub struct TokenPos {
    pub start: usize,
    pub end: usize,
    pub span: Span,
}

/// The printed text and the position of every token in it.
#[derive(Clone, Debug, Default)]
pub struct TokenText {
    pub text: String,
    pub tokens: Vec<TokenPos>,
}

impl TokenText {
    /// Prints `stream`; see the module docs for the spacing rules.
    pub fn from_tokens(stream: TokenStream) -> TokenText {
        let mut out = TokenText::default();
        // An explicit stack instead of recursion: nesting depth is whatever
        // the user wrote, and the parser (not this walk) reports excesses.
        let mut stack = vec![(stream.into_iter(), None::<(char, Span)>)];
        while let Some((iter, _)) = stack.last_mut() {
            match iter.next() {
                Some(TokenTree::Group(g)) => {
                    let close = match g.delimiter() {
                        Delimiter::Parenthesis => Some(('(', ')')),
                        Delimiter::Brace => Some(('{', '}')),
                        Delimiter::Bracket => Some(('[', ']')),
                        Delimiter::None => None,
                    };
                    let close = close.map(|(open, close)| {
                        out.push(&open.to_string(), g.span_open());
                        (close, g.span_close())
                    });
                    stack.push((g.stream().into_iter(), close));
                }
                Some(TokenTree::Ident(i)) => out.push(&i.to_string(), i.span()),
                Some(TokenTree::Punct(p)) => out.push(&p.as_char().to_string(), p.span()),
                Some(TokenTree::Literal(l)) => out.push(&l.to_string(), l.span()),
                None => {
                    if let Some((_, Some((close, span)))) = stack.pop() {
                        out.push(&close.to_string(), span);
                    }
                }
            }
        }
        out
    }

    fn push(&mut self, text: &str, span: Span) {
        if !self.text.is_empty() {
            self.text.push(' ');
        }
        let start = self.text.len();
        self.text.push_str(text);
        self.tokens.push(TokenPos { start, end: self.text.len(), span });
    }

    /// The tokens a byte range `[start, end)` touches, first and last.
    ///
    /// An empty range (a point, as in "expected `}` here") selects the token
    /// that starts at or after it, else the last token; a range lying in the
    /// space between tokens selects the next token. `None` only when there
    /// are no tokens at all.
    pub fn covering(&self, start: usize, end: usize) -> Option<(&TokenPos, &TokenPos)> {
        let last = self.tokens.last()?;
        let first_idx = self.tokens.iter().position(|t| t.end > start);
        let Some(first_idx) = first_idx else { return Some((last, last)) };
        let first = &self.tokens[first_idx];
        let last_idx =
            self.tokens[first_idx..].iter().rposition(|t| t.start < end).map_or(first_idx, |i| first_idx + i);
        Some((first, &self.tokens[last_idx]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(src: &str) -> TokenText {
        TokenText::from_tokens(src.parse().expect("valid Rust tokens"))
    }

    #[test]
    fn tokens_are_spaced_and_groups_keep_delimiters() {
        let t = text("model m { input x: [28,28] dense(10, activation = relu) }");
        assert_eq!(t.text, "model m { input x : [ 28 , 28 ] dense ( 10 , activation = relu ) }");
        assert_eq!(t.tokens.len(), 20);
        for tok in &t.tokens {
            assert!(!t.text[tok.start..tok.end].contains(' '));
        }
    }

    #[test]
    fn literals_keep_their_source_form() {
        let t = text(r#"a = 1e-3 b = -0.5 c = "fashion-mnist" d = x ** 2"#);
        assert_eq!(t.text, r#"a = 1e-3 b = - 0.5 c = "fashion-mnist" d = x * * 2"#);
    }

    #[test]
    fn covering_maps_ranges_to_tokens() {
        let t = text("dense ( 128 )");
        let (a, b) = t.covering(0, 13).unwrap();
        assert_eq!((a.start, b.end), (0, 13));
        let (a, b) = t.covering(8, 11).unwrap();
        assert_eq!((a.start, a.end, b.end), (8, 11, 11));
        // A point in the gap before `128` selects `128`.
        let (a, _) = t.covering(7, 7).unwrap();
        assert_eq!(a.start, 8);
        // Past the end: the last token.
        let (a, b) = t.covering(40, 40).unwrap();
        assert_eq!((a.start, b.start), (12, 12));
        assert!(text("").covering(0, 0).is_none());
    }
}
