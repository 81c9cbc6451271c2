//! Error values of the `config` module and the "did you mean" helper.

use std::fmt;
use std::path::PathBuf;

/// One problem in one input file, located as precisely as the input allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file the problem is in.
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// Dotted path of the field (`spec.disruption.consolidationPolicy`,
    /// `spec.template.spec.requirements[0].operator`); empty for whole-file problems.
    pub field: String,
    /// What is wrong.
    pub message: String,
    /// The closest valid name or value, for unknown keys and enum values.
    pub suggestion: Option<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        f.write_str(": ")?;
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)?;
        if let Some(s) = &self.suggestion {
            write!(f, " (did you mean `{s}`?)")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found in a scenario and the files it names, in file order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// True when no problem was found.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Number of problems.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Iterates the problems.
    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.0.iter()
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl From<ConfigError> for ConfigErrors {
    fn from(e: ConfigError) -> Self {
        ConfigErrors(vec![e])
    }
}

impl IntoIterator for ConfigErrors {
    type Item = ConfigError;
    type IntoIter = std::vec::IntoIter<ConfigError>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl ConfigErrors {
    /// Orders the errors by file (in order of first appearance), then line and column.
    pub fn sort(&mut self) {
        let mut files: Vec<PathBuf> = Vec::new();
        for e in &self.0 {
            if !files.contains(&e.file) {
                files.push(e.file.clone());
            }
        }
        self.0.sort_by_key(|e| {
            (
                files
                    .iter()
                    .position(|f| *f == e.file)
                    .unwrap_or(usize::MAX),
                e.line.unwrap_or(0),
                e.column.unwrap_or(0),
            )
        });
    }

    /// Sorted errors from a list.
    pub(crate) fn from_vec(errors: Vec<ConfigError>) -> ConfigErrors {
        let mut e = ConfigErrors(errors);
        e.sort();
        e
    }

    /// Builds sorted errors, or `Ok(value)` when there are none.
    pub(crate) fn result<T>(errors: Vec<ConfigError>, value: T) -> Result<T, ConfigErrors> {
        if errors.is_empty() {
            Ok(value)
        } else {
            let mut e = ConfigErrors(errors);
            e.sort();
            Err(e)
        }
    }
}

/// Optimal-string-alignment edit distance (Levenshtein plus adjacent transposition),
/// comparing characters case-insensitively.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().flat_map(char::to_lowercase).collect();
    let b: Vec<char> = b.chars().flat_map(char::to_lowercase).collect();
    let (n, m) = (a.len(), b.len());
    if n == 0 {
        return m;
    }
    if m == 0 {
        return n;
    }
    // Three rolling rows: i-2, i-1, i.
    let mut prev2 = vec![0usize; m + 1];
    let mut prev: Vec<usize> = (0..=m).collect();
    let mut cur = vec![0usize; m + 1];
    for i in 1..=n {
        cur[0] = i;
        for j in 1..=m {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(prev2[j - 2] + 1);
            }
            cur[j] = v;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[m]
}

/// The candidate closest to `input`, if it is close enough to be a plausible typo
/// (distance at most a third of the longer name, and at least 1 allowed; a candidate that
/// differs only by case always qualifies).
pub fn closest<'a, I>(input: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = &'a str>,
{
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        if c == input {
            continue;
        }
        let d = edit_distance(input, c);
        let limit = (input.chars().count().max(c.chars().count()) / 3).max(1);
        let case_only = d == 0;
        if (d <= limit || case_only) && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(
            edit_distance("consolidationPolicy", "consolidationPolicy"),
            0
        );
        assert_eq!(
            edit_distance("consolidatoinPolicy", "consolidationPolicy"),
            1
        );
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("Equals", "equals"), 0);
    }

    #[test]
    fn suggestions() {
        let keys = ["consolidationPolicy", "consolidateAfter", "budgets"];
        assert_eq!(
            closest("consolidationPolicyy", keys).as_deref(),
            Some("consolidationPolicy")
        );
        assert_eq!(closest("budget", keys).as_deref(), Some("budgets"));
        assert_eq!(closest("zzzzzz", keys), None);
        assert_eq!(closest("in", ["In", "NotIn"]).as_deref(), Some("In"));
    }

    #[test]
    fn display() {
        let e = ConfigError {
            file: PathBuf::from("np.yaml"),
            line: Some(12),
            column: Some(5),
            field: "spec.disruption.consolidationPolicyy".into(),
            message: "unknown field `consolidationPolicyy`".into(),
            suggestion: Some("consolidationPolicy".into()),
        };
        assert_eq!(
            e.to_string(),
            "np.yaml:12:5: spec.disruption.consolidationPolicyy: unknown field \
             `consolidationPolicyy` (did you mean `consolidationPolicy`?)"
        );
    }
}
