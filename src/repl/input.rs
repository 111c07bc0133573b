//! Where REPL lines come from, and when a multi-line entry is complete.
//!
//! On a terminal, lines come from rustyline (editing, tab completion,
//! history persisted to `~/.cache/nn/repl_history`); otherwise they are read
//! plainly from stdin with no prompts, so piped sessions print only results.
//! Guarantees: a history file that cannot be read or written only produces a
//! warning (once); an entry is handed over only when its brackets balance, so
//! `model m {` keeps reading with the `... ` prompt.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;

use rustyline::error::ReadlineError;
use rustyline::history::DefaultHistory;
use rustyline::Editor;

use super::completion::{Names, ReplHelper};

pub const PROMPT: &str = "nn> ";
pub const CONTINUE: &str = "... ";

/// One read from the source.
pub enum Line {
    Text(String),
    /// Ctrl-C at the prompt: drop the pending entry.
    Interrupted,
    /// Ctrl-D or end of input.
    Eof,
}

/// A complete entry, or the end of the session.
pub enum Entry {
    Text(String),
    Eof,
}

pub struct Reader {
    source: Source,
    /// A line read but not yet handled (a command that ended an open block).
    queued: Option<String>,
}

enum Source {
    Editor { editor: Box<Editor<ReplHelper, DefaultHistory>>, history: Option<PathBuf>, warned: bool },
    Plain(std::io::StdinLock<'static>),
}

impl Reader {
    /// A line editor when stdin and stdout are terminals, plain stdin otherwise.
    pub fn new() -> Reader {
        if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() {
            match Editor::<ReplHelper, DefaultHistory>::new() {
                Ok(mut editor) => {
                    editor.set_helper(Some(ReplHelper::default()));
                    let history = history_path();
                    if let Some(path) = &history {
                        // A missing file is the normal first run; other failures only lose old history.
                        if path.exists() {
                            if let Err(e) = editor.load_history(path) {
                                eprintln!("warning: cannot read REPL history {}: {e}", path.display());
                            }
                        }
                    }
                    return Reader {
                        source: Source::Editor { editor: Box::new(editor), history, warned: false },
                        queued: None,
                    };
                }
                Err(e) => eprintln!("warning: line editing unavailable ({e}); reading plain lines"),
            }
        }
        Reader { source: Source::Plain(std::io::stdin().lock()), queued: None }
    }

    pub fn is_interactive(&self) -> bool {
        matches!(self.source, Source::Editor { .. })
    }

    fn read_line(&mut self, prompt: &str) -> Line {
        match &mut self.source {
            Source::Editor { editor, .. } => match editor.readline(prompt) {
                Ok(line) => Line::Text(line),
                Err(ReadlineError::Interrupted) => Line::Interrupted,
                Err(ReadlineError::Eof) => Line::Eof,
                Err(e) => {
                    eprintln!("error: reading input failed: {e}");
                    Line::Eof
                }
            },
            Source::Plain(stdin) => {
                let mut buf = String::new();
                match stdin.read_line(&mut buf) {
                    Ok(0) => Line::Eof,
                    Ok(_) => Line::Text(buf.trim_end_matches(['\n', '\r']).to_string()),
                    Err(e) => {
                        eprintln!("error: reading stdin failed: {e}");
                        Line::Eof
                    }
                }
            }
        }
    }

    /// Reads lines until they form a complete entry (a `:command` is always
    /// one line; source continues while brackets are open).
    pub fn read_entry(&mut self) -> Entry {
        let mut pending = String::new();
        loop {
            let prompt = if pending.is_empty() { PROMPT } else { CONTINUE };
            let next = match self.queued.take() {
                Some(line) => Line::Text(line),
                None => self.read_line(prompt),
            };
            match next {
                Line::Text(line) => {
                    if !pending.is_empty() && line.trim_start().starts_with(':') {
                        // A command inside an open block: hand the block over (the
                        // parser reports what is unclosed) and run the command next.
                        self.queued = Some(line);
                        self.remember(&pending);
                        return Entry::Text(pending);
                    }
                    if !pending.is_empty() {
                        pending.push('\n');
                    }
                    pending.push_str(&line);
                    let trimmed = pending.trim_start();
                    if trimmed.is_empty() {
                        pending.clear();
                        continue;
                    }
                    if trimmed.starts_with(':') || open_depth(&pending) == 0 {
                        self.remember(&pending);
                        return Entry::Text(pending);
                    }
                }
                Line::Interrupted => {
                    if pending.is_empty() {
                        println!("(Ctrl-C: type :quit or press Ctrl-D to leave)");
                    }
                    pending.clear();
                }
                Line::Eof if pending.trim().is_empty() => return Entry::Eof,
                // Input ended inside a block: hand it over so the parser reports what is unclosed.
                Line::Eof => return Entry::Text(pending),
            }
        }
    }

    fn remember(&mut self, entry: &str) {
        let Source::Editor { editor, history, warned } = &mut self.source else { return };
        if editor.add_history_entry(entry).is_err() {
            return;
        }
        let Some(path) = history else { return };
        let saved = match path.parent() {
            Some(dir) => std::fs::create_dir_all(dir).map_err(|e| e.to_string()),
            None => Ok(()),
        }
        .and_then(|()| editor.save_history(path).map_err(|e| e.to_string()));
        if let Err(e) = saved {
            if !*warned {
                eprintln!("warning: cannot save REPL history to {}: {e} (history stays in memory)", path.display());
                *warned = true;
            }
        }
    }

    /// Refreshes the names tab completion offers.
    pub fn set_names(&mut self, names: Names) {
        if let Source::Editor { editor, .. } = &mut self.source {
            if let Some(h) = editor.helper_mut() {
                h.names = names;
            }
        }
    }
}

/// `~/.cache/nn/repl_history`, or `None` without a home directory.
pub fn history_path() -> Option<PathBuf> {
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty())?;
    Some(PathBuf::from(home).join(".cache").join("nn").join("repl_history"))
}

/// How many brackets (`(`, `[`, `{`) are still open at the end of `text`,
/// ignoring strings and comments. A closing bracket that does not match the
/// innermost open one makes the text complete (0): more lines cannot fix
/// it, so the parser should report it now.
pub fn open_depth(text: &str) -> usize {
    let mut open: Vec<char> = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '(' | '[' | '{' => open.push(c),
            ')' | ']' | '}' => {
                let opener = match c {
                    ')' => '(',
                    ']' => '[',
                    _ => '{',
                };
                if open.pop() != Some(opener) {
                    return 0;
                }
            }
            '"' => {
                while let Some(s) = chars.next() {
                    match s {
                        '\\' => {
                            chars.next();
                        }
                        '"' | '\n' => break,
                        _ => {}
                    }
                }
            }
            '/' if chars.peek() == Some(&'/') => {
                for s in chars.by_ref() {
                    if s == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut prev = ' ';
                for s in chars.by_ref() {
                    if prev == '*' && s == '/' {
                        break;
                    }
                    prev = s;
                }
            }
            _ => {}
        }
    }
    open.len()
}

#[cfg(test)]
mod tests {
    use super::open_depth;

    #[test]
    fn depth_counts_brackets_outside_strings_and_comments() {
        assert_eq!(open_depth("model m {"), 1);
        assert_eq!(open_depth("model m { dense(3) }"), 0);
        assert_eq!(open_depth("relu([[1, -2], [3"), 3);
        assert_eq!(open_depth("x = \"{(\" // {"), 0);
        assert_eq!(open_depth("/* { */ }"), 0);
        assert_eq!(open_depth("model m { dense( }"), 0, "a mismatched closer ends the entry");
        assert_eq!(open_depth("layer s(x) {\n  return x // )\n"), 1);
    }
}
