//! Splitting a YAML file into documents, each with its source positions.

use std::path::Path;

use serde::Deserialize;
use serde_yaml::Value;

use super::error::ConfigError;
use super::pos::{PosIndex, scan};

/// One YAML document of a file.
pub(crate) struct Doc {
    pub value: Value,
    pub pos: Option<PosIndex>,
}

/// Turns a `serde_yaml` error into a located [`ConfigError`].
pub(crate) fn yaml_error(file: &Path, e: &serde_yaml::Error, field: &str) -> ConfigError {
    let loc = e.location();
    let mut msg = e.to_string();
    // serde_yaml appends " at line N column M"; the location is printed separately.
    if let Some(i) = msg.find(" at line ") {
        msg.truncate(i);
    }
    ConfigError {
        file: file.to_path_buf(),
        line: loc.as_ref().map(|l| l.line()),
        column: loc.as_ref().map(|l| l.column()),
        field: field.to_string(),
        message: format!("invalid YAML: {msg}"),
        suggestion: None,
    }
}

/// Parses every document of `text`. Syntax errors are reported (the rest of the file is then
/// skipped, since the parser cannot resynchronize); documents before the error are returned.
pub(crate) fn read_documents(text: &str, file: &Path, errors: &mut Vec<ConfigError>) -> Vec<Doc> {
    let mut values = Vec::new();
    let mut broken = false;
    for de in serde_yaml::Deserializer::from_str(text) {
        match Value::deserialize(de) {
            Ok(mut v) => {
                if let Err(e) = v.apply_merge() {
                    errors.push(yaml_error(file, &e, ""));
                    return Vec::new();
                }
                values.push(v);
            }
            Err(e) => {
                errors.push(yaml_error(file, &e, ""));
                broken = true;
                break;
            }
        }
    }
    let mut positions = scan(text);
    // serde_yaml yields one null document for a stream with none.
    if positions.is_empty() && values.len() == 1 && values[0].is_null() {
        positions.push(PosIndex::default());
    }
    // The scanner and libyaml must agree on the document count; if they do not (exotic
    // syntax), positions are dropped rather than misattributed. After a syntax error the
    // documents read before it still line up with the scanner's first ones.
    let aligned = positions.len() == values.len() || (broken && positions.len() > values.len());
    if aligned {
        positions.truncate(values.len());
    } else {
        positions.clear();
    }
    let mut pos_iter = positions.into_iter();
    values
        .into_iter()
        .map(|value| Doc {
            value,
            pos: if aligned { pos_iter.next() } else { None },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_match_libyaml() {
        for text in [
            "",
            "# c\n",
            "a: 1\n",
            "---\na: 1\n",
            "a: 1\n---\nb: 2\n",
            "a: 1\n---\n",
            "---\n---\n",
            "# c\n---\na: 1\n...\n---\nb: 1\n",
        ] {
            let mut errs = Vec::new();
            let docs = read_documents(text, Path::new("t.yaml"), &mut errs);
            assert!(errs.is_empty(), "{text:?}: {errs:?}");
            assert!(
                docs.iter().all(|d| d.pos.is_some()),
                "{text:?}: positions lost"
            );
        }
    }

    #[test]
    fn documents_before_a_syntax_error_keep_their_positions() {
        let mut errs = Vec::new();
        let docs = read_documents(
            "a: 1\nb: 2\n---\nc: [1, 2\n",
            Path::new("t.yaml"),
            &mut errs,
        );
        assert_eq!(errs.len(), 1);
        assert_eq!(docs.len(), 1);
        let pos = docs[0]
            .pos
            .as_ref()
            .expect("positions of the first document");
        assert_eq!(pos.key("b").map(|p| p.line), Some(2));
    }

    #[test]
    fn syntax_error_is_located() {
        let mut errs = Vec::new();
        let docs = read_documents("a: 1\nb: [1, 2\n", Path::new("t.yaml"), &mut errs);
        assert!(docs.is_empty());
        assert_eq!(errs.len(), 1);
        assert!(errs[0].line.is_some());
    }
}
