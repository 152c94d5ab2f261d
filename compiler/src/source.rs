//! Source files and spans.

use std::path::PathBuf;

/// A range in a source file, in characters (not bytes): the YAML parser counts
/// characters, and columns shown to users are character columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end: end.max(start) }
    }

    pub fn point(at: usize) -> Span {
        Span { start: at, end: at }
    }
}

/// One file of a project, with a line index for turning spans into line:col.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The path as shown in diagnostics (relative to where the user pointed us).
    pub name: String,
    /// The path on disk.
    pub path: PathBuf,
    pub text: String,
    /// Character index of the start of each line.
    line_starts: Vec<usize>,
    /// Byte offset of the start of each line.
    line_byte_starts: Vec<usize>,
}

impl SourceFile {
    pub fn new(name: impl Into<String>, path: impl Into<PathBuf>, text: impl Into<String>) -> SourceFile {
        let text = text.into();
        let mut line_starts = vec![0];
        let mut line_byte_starts = vec![0];
        for (char_index, (byte_index, c)) in text.char_indices().enumerate() {
            if c == '\n' {
                line_starts.push(char_index + 1);
                line_byte_starts.push(byte_index + 1);
            }
        }
        SourceFile { name: name.into(), path: path.into(), text, line_starts, line_byte_starts }
    }

    /// 1-based line and column of a character index.
    pub fn line_col(&self, char_index: usize) -> (usize, usize) {
        let line = match self.line_starts.binary_search(&char_index) {
            Ok(exact) => exact,
            Err(next) => next - 1,
        };
        (line + 1, char_index - self.line_starts[line] + 1)
    }

    /// The text of a 1-based line, without its line break.
    pub fn line_text(&self, line: usize) -> &str {
        let Some(&start) = self.line_byte_starts.get(line.wrapping_sub(1)) else {
            return "";
        };
        let end = self.line_byte_starts.get(line).copied().unwrap_or(self.text.len());
        self.text[start..end].trim_end_matches(['\n', '\r'])
    }

    /// Character index of a 1-based line and column.
    pub fn char_index(&self, line: usize, col: usize) -> usize {
        let start = self.line_starts.get(line.saturating_sub(1)).copied().unwrap_or(0);
        start + col.saturating_sub(1)
    }

    pub fn line_count(&self) -> usize {
        self.line_starts.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_characters() {
        let file = SourceFile::new("a.yaml", "a.yaml", "ab\nçd: 1\n");
        assert_eq!(file.line_col(0), (1, 1));
        assert_eq!(file.line_col(3), (2, 1));
        assert_eq!(file.line_col(5), (2, 3));
        assert_eq!(file.line_text(2), "çd: 1");
        assert_eq!(file.char_index(2, 3), 5);
    }
}
