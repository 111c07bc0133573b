//! A lexical pre-scan run before the pest grammar.
//!
//! Pest reports the first failure only, and for lexical mistakes its report
//! points far from the cause (an unterminated string fails somewhere near the
//! end of the file). This scan finds those mistakes up front, all of them at
//! once, with precise spans: stray characters, unterminated strings and block
//! comments, bad string escapes, unbalanced or mismatched brackets, and
//! bracket nesting deeper than [`MAX_NESTING`].
//!
//! Guarantee to the grammar: when this returns no diagnostics, every
//! character outside strings and comments belongs to the language, brackets
//! balance, and nesting is at most [`MAX_NESTING`], so pest's recursion is
//! bounded.
//!
//! NOTE: keep in sync with nn.pest (WHITESPACE, COMMENT, string).

use crate::diag::{Diagnostic, Span};

/// The deepest bracket nesting (`(`, `[`, `{` together) the parser accepts.
pub const MAX_NESTING: usize = 64;

/// Stop after this many lexical errors: past that they are noise.
const MAX_ERRORS: usize = 20;

pub(crate) fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n' | '\u{0C}' | '\u{FEFF}')
}

fn is_language_char(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            '_' | '(' | ')' | '[' | ']' | '{' | '}' | ',' | ';' | ':' | '=' | '+' | '-' | '*' | '/' | '@' | '.'
        )
}

fn closer_of(open: char) -> char {
    match open {
        '(' => ')',
        '[' => ']',
        _ => '}',
    }
}

/// Scans `source` and returns every lexical problem found (empty when fine).
pub fn prescan(source: &str) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    let mut open: Vec<(char, usize)> = Vec::new();
    let bytes = source.as_bytes();
    let mut chars = source.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if diags.len() >= MAX_ERRORS {
            break;
        }
        match c {
            '/' if bytes.get(i + 1) == Some(&b'/') => while chars.next_if(|&(_, c)| c != '\n').is_some() {},
            '/' if bytes.get(i + 1) == Some(&b'*') => {
                chars.next();
                match source[i + 2..].find("*/") {
                    Some(rel) => {
                        let end = i + 2 + rel + 2;
                        while chars.next_if(|&(j, _)| j < end).is_some() {}
                    }
                    None => {
                        diags.push(
                            Diagnostic::error("E0003", "unterminated block comment", Span::new(i, i + 2))
                                .with_label("this comment is never closed")
                                .with_help("close the comment with `*/`"),
                        );
                        return diags;
                    }
                }
            }
            '"' => {
                if let Some(stop) = scan_string(source, i, &mut diags) {
                    while chars.next_if(|&(j, _)| j < stop).is_some() {}
                } else {
                    return diags;
                }
            }
            '(' | '[' | '{' => {
                open.push((c, i));
                if open.len() > MAX_NESTING {
                    diags.push(
                        Diagnostic::error(
                            "E0006",
                            format!("brackets are nested more than {MAX_NESTING} levels deep"),
                            Span::new(i, i + 1),
                        )
                        .with_label(format!("nesting level {} starts here", open.len()))
                        .with_help("split the expression into several `NAME = …` statements"),
                    );
                    return diags;
                }
            }
            ')' | ']' | '}' => match open.last() {
                Some(&(o, _)) if closer_of(o) == c => {
                    open.pop();
                }
                Some(&(o, at)) => {
                    diags.push(
                        Diagnostic::error("E0005", format!("mismatched closing `{c}`"), Span::new(i, i + 1))
                            .with_label(format!("expected `{}` (to close the `{o}`) before this", closer_of(o)))
                            .with_secondary(Span::new(at, at + 1), format!("this `{o}` is still open")),
                    );
                    return diags;
                }
                None => {
                    diags.push(
                        Diagnostic::error("E0005", format!("unexpected closing `{c}`"), Span::new(i, i + 1))
                            .with_label("nothing is open here")
                            .with_help(format!("remove this `{c}` or add the matching opening bracket before it")),
                    );
                    return diags;
                }
            },
            '\'' => {
                // Python-style 'text': one diagnostic for the whole literal.
                let line_end = source[i..].find('\n').map_or(source.len(), |n| i + n);
                let close = source[i + 1..line_end].find('\'').map(|n| i + 1 + n);
                let end = close.map_or(i + 1, |c| c + 1);
                let mut d = Diagnostic::error("E0001", "strings use double quotes, not `'`", Span::new(i, end))
                    .with_label("single-quoted text");
                if let Some(c) = close {
                    d = d.with_help(format!("write \"{}\"", &source[i + 1..c]));
                    while chars.next_if(|&(j, _)| j <= c).is_some() {}
                } else {
                    d = d.with_help("strings are written in double quotes: \"…\"");
                }
                diags.push(d);
            }
            c if is_space(c) || is_language_char(c) => {}
            c => diags.push(stray(c, i)),
        }
    }
    if diags.is_empty() {
        if let Some(&(o, at)) = open.last() {
            let end = source.trim_end_matches(is_space).len();
            let what = match o {
                '{' => "brace",
                '[' => "bracket",
                _ => "parenthesis",
            };
            diags.push(
                Diagnostic::error("E0004", format!("missing closing `{}`", closer_of(o)), Span::new(end, end))
                    .with_label(format!("expected `{}` before the end of the file", closer_of(o)))
                    .with_secondary(Span::new(at, at + 1), format!("this opening {what} is never closed"))
                    .with_help(format!("add `{}` to close it", closer_of(o))),
            );
        }
    }
    diags
}

/// Checks the string starting at byte `start` (a `"`); returns the byte just
/// past its closing quote, or `None` (after pushing a diagnostic) when it is
/// never closed on its line.
fn scan_string(source: &str, start: usize, diags: &mut Vec<Diagnostic>) -> Option<usize> {
    let mut iter = source[start + 1..].char_indices();
    while let Some((rel, c)) = iter.next() {
        let at = start + 1 + rel;
        match c {
            '"' => return Some(at + 1),
            '\n' => break,
            '\\' => match iter.next() {
                Some((_, 'n' | 't' | 'r' | '0' | '\\' | '"' | '\'')) => {}
                Some((_, 'u')) => {
                    let rest = &source[at + 2..];
                    if unicode_escape(rest).is_none() {
                        let shown = rest
                            .find(['}', '"', '\n'])
                            .map_or(rest.len(), |n| n + usize::from(rest[n..].starts_with('}')));
                        let end = at + 2 + shown;
                        diags.push(
                            Diagnostic::error("E0007", "invalid unicode escape in string", Span::new(at, end))
                                .with_label("expected `\\u{…}` with 1 to 6 hex digits of a valid character")
                                .with_help("write it as `\\u{1F600}`, or write the character itself"),
                        );
                    }
                }
                Some((_, '\n')) | None => break,
                Some((_, other)) => diags.push(
                    Diagnostic::error("E0007", format!("unknown escape `\\{other}` in string"), Span::new(at, at + 1 + other.len_utf8()))
                        .with_label("not a known escape")
                        .with_help("known escapes are \\n \\t \\r \\0 \\\\ \\\" \\' \\u{…}; write `\\\\` for a backslash (or use `/` in paths)"),
                ),
            },
            _ => {}
        }
    }
    let line_end = source[start..].find('\n').map_or(source.len(), |n| start + n);
    diags.push(
        Diagnostic::error("E0002", "unterminated string", Span::new(start, line_end.max(start + 1)))
            .with_label("this string has no closing `\"` on its line")
            .with_help("add a closing `\"` (a string cannot span lines; write `\\n` for a line break)"),
    );
    None
}

fn stray(c: char, at: usize) -> Diagnostic {
    let span = Span::new(at, at + c.len_utf8());
    let d = Diagnostic::error("E0001", format!("unexpected character `{}`", c.escape_debug()), span)
        .with_label("not part of the language");
    match c {
        '#' => d.with_help("comments start with `//` (or use `/* … */`)"),
        '^' => d.with_help("powers are written `**`: `x ** 2`"),
        '!' | '<' | '>' | '&' | '|' | '%' | '~' | '?' => {
            d.with_help("the only operators are `+ - * / @ **` (and unary `-`)")
        }
        c if c.is_alphabetic() => d.with_help("names may use only ASCII letters, digits and `_`"),
        c if c.is_whitespace() => d.with_help("replace it with a plain space"),
        _ => d.with_help("remove it"),
    }
}

/// For each byte offset `i` (0..=len), the end of the last token before `i`
/// (`i` itself unless whitespace or a comment precedes it). Pest rules that
/// end in `x*` or `x?` swallow the trivia before the missing `x`; the builder
/// trims node spans back to their last token with this table.
pub(crate) fn token_ends(source: &str) -> Vec<u32> {
    let bytes = source.as_bytes();
    let mut trivia = vec![false; bytes.len()];
    let mut i = 0;
    while i < bytes.len() {
        let end = if bytes[i..].starts_with(b"//") {
            bytes[i..].iter().position(|&b| b == b'\n').map_or(bytes.len(), |n| i + n)
        } else if bytes[i..].starts_with(b"/*") {
            source[i + 2..].find("*/").map_or(bytes.len(), |n| i + 2 + n + 2)
        } else if matches!(bytes[i], b' ' | b'\t' | b'\r' | b'\n' | 0x0C) {
            i + 1
        } else if bytes[i..].starts_with("\u{FEFF}".as_bytes()) {
            i + 3
        } else {
            i = if bytes[i] == b'"' { string_end(bytes, i) } else { i + 1 };
            continue;
        };
        trivia[i..end].iter_mut().for_each(|t| *t = true);
        i = end;
    }
    let mut ends = vec![0u32; bytes.len() + 1];
    for k in 1..=bytes.len() {
        ends[k] = if trivia[k - 1] { ends[k - 1] } else { k as u32 };
    }
    ends
}

/// The byte after the closing quote of the string starting at `start`.
fn string_end(bytes: &[u8], start: usize) -> usize {
    let mut k = start + 1;
    while k < bytes.len() {
        match bytes[k] {
            b'\\' => k += 2,
            b'"' => return k + 1,
            _ => k += 1,
        }
    }
    bytes.len()
}

/// Decodes the `{XXXX}` part of a `\u{XXXX}` escape at the start of `rest`:
/// the character and the byte length consumed.
pub(crate) fn unicode_escape(rest: &str) -> Option<(char, usize)> {
    let body = rest.strip_prefix('{')?;
    let close = body.find('}')?;
    let hex = &body[..close];
    if hex.is_empty() || hex.len() > 6 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let c = char::from_u32(u32::from_str_radix(hex, 16).ok()?)?;
    Some((c, close + 2))
}
