//! Reading model files and reporting their diagnostics, shared by commands.

use nn_compiler::diag::{render_all, Diagnostic};
use std::io::IsTerminal;
use std::path::Path;

/// A model file's text, with the name diagnostics show for it.
pub struct SourceFile {
    pub name: String,
    pub text: String,
}

impl SourceFile {
    pub fn read(path: &Path) -> Result<SourceFile, String> {
        let text = nn_runtime::io::read_source(path)?;
        Ok(SourceFile { name: path.display().to_string(), text })
    }

    /// Prints diagnostics to stderr, in color when stderr is a terminal.
    pub fn report(&self, diags: &[Diagnostic]) {
        let color = std::io::stderr().is_terminal();
        eprint!("{}", render_all(diags, &self.name, &self.text, color));
    }
}
