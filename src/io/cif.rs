//! The CIF (STAR) syntax of mmCIF files, read into a flat dictionary of item name → values, as Biopython's
//! `MMCIF2Dict` (which AlphaFold2's template code reads): the first data block; loops give one value per
//! row; single items one value; `.` and `?` are kept as they are; quoted strings lose their quotes,
//! multi-line text fields (`;` at the start of a line) are read up to the closing `;` line.

use std::collections::HashMap;

/// Item name (as written, e.g. `_atom_site.Cartn_x`) → values in file order.
#[derive(Debug, Default, Clone)]
pub struct CifDict {
    pub items: HashMap<String, Vec<String>>,
    /// Item names in order of first appearance.
    pub order: Vec<String>,
}

/// A syntax error, with the line it is on (1-based).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct CifError {
    pub line: usize,
    pub message: String,
}

impl CifDict {
    /// The values of `name` (empty when absent).
    pub fn get(&self, name: &str) -> &[String] {
        self.items.get(name).map_or(&[], Vec::as_slice)
    }

    /// Rows of the category `prefix` (e.g. `_atom_site.`): for each row, the value of each of `fields`
    /// (a field the file lacks reads as `None`). Errors when the category's columns differ in length.
    pub fn rows(&self, prefix: &str, fields: &[&str]) -> Result<Vec<Vec<Option<String>>>, String> {
        let cols: Vec<Option<&Vec<String>>> = fields
            .iter()
            .map(|f| self.items.get(&format!("{prefix}{f}")))
            .collect();
        let lengths: Vec<usize> = self
            .order
            .iter()
            .filter(|k| k.starts_with(prefix))
            .map(|k| self.items[k].len())
            .collect();
        let Some(&n) = lengths.first() else {
            return Ok(Vec::new());
        };
        if lengths.iter().any(|&l| l != n) {
            return Err(format!(
                "category {prefix}: columns of different lengths ({lengths:?})"
            ));
        }
        Ok((0..n)
            .map(|i| cols.iter().map(|c| c.map(|v| v[i].clone())).collect())
            .collect())
    }
}

/// A token and the line it starts on.
struct Token {
    text: String,
    line: usize,
    /// Quoted or a text field: never a keyword or an item name.
    literal: bool,
}

fn tokenize(text: &str) -> Result<Vec<Token>, CifError> {
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate().peekable();
    while let Some((i, line)) = lines.next() {
        let lineno = i + 1;
        if let Some(first) = line.strip_prefix(';') {
            // A text field: up to a line starting with ';'.
            let mut value = first.to_string();
            let mut closed = false;
            for (_, l) in lines.by_ref() {
                if l.starts_with(';') {
                    closed = true;
                    break;
                }
                value.push('\n');
                value.push_str(l);
            }
            if !closed {
                return Err(CifError {
                    line: lineno,
                    message: "text field (;) is not closed".into(),
                });
            }
            out.push(Token {
                text: value,
                line: lineno,
                literal: true,
            });
            continue;
        }
        // Delimiters are ASCII, so byte positions found here are character boundaries.
        let b = line.as_bytes();
        let mut k = 0;
        while k < b.len() {
            let c = b[k];
            if c.is_ascii_whitespace() {
                k += 1;
                continue;
            }
            if c == b'#' {
                break;
            }
            if c == b'\'' || c == b'"' {
                // A quoted string ends at the same quote followed by whitespace or the end of the line.
                let mut j = k + 1;
                loop {
                    if j >= b.len() {
                        return Err(CifError {
                            line: lineno,
                            message: format!("quoted string ({}) is not closed", c as char),
                        });
                    }
                    if b[j] == c && (j + 1 >= b.len() || b[j + 1].is_ascii_whitespace()) {
                        break;
                    }
                    j += 1;
                }
                out.push(Token {
                    text: line[k + 1..j].to_string(),
                    line: lineno,
                    literal: true,
                });
                k = j + 1;
                continue;
            }
            let mut j = k;
            while j < b.len() && !b[j].is_ascii_whitespace() {
                j += 1;
            }
            out.push(Token {
                text: line[k..j].to_string(),
                line: lineno,
                literal: false,
            });
            k = j;
        }
    }
    Ok(out)
}

/// Reads the first data block of `text`.
pub fn parse(text: &str) -> Result<CifDict, CifError> {
    let tokens = tokenize(text)?;
    let mut dict = CifDict::default();
    let push = |dict: &mut CifDict, key: &str, value: String| match dict.items.get_mut(key) {
        Some(v) => v.push(value),
        None => {
            dict.order.push(key.to_string());
            dict.items.insert(key.to_string(), vec![value]);
        }
    };
    let mut i = 0;
    let mut seen_block = false;
    while i < tokens.len() {
        let t = &tokens[i];
        let lower = t.text.to_ascii_lowercase();
        if !t.literal && lower.starts_with("data_") {
            if seen_block {
                break;
            }
            seen_block = true;
            i += 1;
        } else if !t.literal && lower == "loop_" {
            i += 1;
            let mut keys = Vec::new();
            while i < tokens.len() && !tokens[i].literal && tokens[i].text.starts_with('_') {
                keys.push(tokens[i].text.clone());
                i += 1;
            }
            if keys.is_empty() {
                return Err(CifError {
                    line: t.line,
                    message: "loop_ without item names".into(),
                });
            }
            for k in &keys {
                if !dict.items.contains_key(k) {
                    dict.order.push(k.clone());
                    dict.items.insert(k.clone(), Vec::new());
                }
            }
            let mut n = 0;
            while i < tokens.len() {
                let v = &tokens[i];
                let vl = v.text.to_ascii_lowercase();
                if !v.literal
                    && (v.text.starts_with('_') || vl == "loop_" || vl.starts_with("data_"))
                {
                    break;
                }
                push(&mut dict, &keys[n % keys.len()], v.text.clone());
                n += 1;
                i += 1;
            }
            if n % keys.len() != 0 {
                return Err(CifError {
                    line: t.line,
                    message: format!(
                        "loop of {} items ({}…) has {n} values, not a multiple",
                        keys.len(),
                        keys[0]
                    ),
                });
            }
        } else if !t.literal && t.text.starts_with('_') {
            let Some(v) = tokens.get(i + 1) else {
                return Err(CifError {
                    line: t.line,
                    message: format!("item {} has no value", t.text),
                });
            };
            let key = t.text.clone();
            push(&mut dict, &key, v.text.clone());
            i += 2;
        } else {
            return Err(CifError {
                line: t.line,
                message: format!("unexpected value '{}' outside an item or loop", t.text),
            });
        }
    }
    Ok(dict)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_loops_quotes_and_text_fields() {
        let d = parse(
            "data_X\n_entry.id 1ABC\n_struct.title\n;A multi\nline title\n;\nloop_\n_a.x\n_a.y\n1 'it''s q' 2 \"b c\"\n# c\n_b.z ?\n",
        )
        .unwrap();
        assert_eq!(d.get("_entry.id"), ["1ABC"]);
        assert_eq!(d.get("_struct.title"), ["A multi\nline title"]);
        assert_eq!(d.get("_a.x"), ["1", "2"]);
        assert_eq!(d.get("_a.y"), ["it''s q", "b c"]);
        assert_eq!(d.get("_b.z"), ["?"]);
        let rows = d.rows("_a.", &["x", "y", "w"]).unwrap();
        assert_eq!(rows[1], [Some("2".into()), Some("b c".into()), None]);
    }

    #[test]
    fn broken_files_name_the_line() {
        assert_eq!(parse("data_X\n_a.x 'open\n").unwrap_err().line, 2);
        assert_eq!(
            parse("data_X\nloop_\n_a.x\n_a.y\n1 2 3\n")
                .unwrap_err()
                .line,
            2
        );
        assert_eq!(parse("data_X\n;never closed\n").unwrap_err().line, 2);
    }
}
