//! A small typed walker over `serde_yaml::Value` that reports every problem it meets (with
//! the field path and the source position) instead of stopping at the first.

use std::collections::BTreeMap;
use std::path::Path;

use serde_yaml::{Mapping, Value};

use super::error::{ConfigError, closest};
use super::pos::{PosIndex, join_index, join_key};
use crate::units::{MaybeNever, parse_duration_ms, parse_maybe_never, parse_quantity_milli};

/// Which position of a field an error points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum At {
    Key,
    Value,
}

/// Error sink and position source for one YAML document.
pub(crate) struct Ctx<'a> {
    pub file: &'a Path,
    pub pos: Option<&'a PosIndex>,
    pub errors: &'a mut Vec<ConfigError>,
}

/// A mapping being read, with its path.
pub(crate) struct Obj<'v> {
    pub map: Option<&'v Mapping>,
    pub path: String,
}

impl<'v> Obj<'v> {
    /// The value of `key`; a YAML `null` counts as absent (as in Kubernetes).
    pub fn get(&self, key: &str) -> Option<&'v Value> {
        let v = self.map?.get(key)?;
        if v.is_null() { None } else { Some(v) }
    }

    /// The path of `key` inside this mapping.
    pub fn path(&self, key: &str) -> String {
        join_key(&self.path, key)
    }

    /// True when `key` is present and not null.
    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }
}

/// A human name of a YAML value's type, for "expected X, got Y" messages.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a number",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

/// A mapping key as text, when it is a scalar.
pub(crate) fn key_text(k: &Value) -> Option<String> {
    match k {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Duration syntaxes Karpenter's CRDs allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DurSyntax {
    /// Any Go duration (`1.5h`, `250ms`, `1m30s`).
    Go,
    /// `^([0-9]+(s|m|h))+$` (terminationGracePeriod).
    Whole,
    /// `^((([0-9]+(h|m))|([0-9]+h[0-9]+m))(0s)?)$` (budget duration).
    HoursMinutes,
}

fn whole_units(s: &str, units: &[char]) -> bool {
    let mut digits = 0;
    let mut groups = 0;
    for c in s.chars() {
        if c.is_ascii_digit() {
            digits += 1;
        } else if units.contains(&c) && digits > 0 {
            digits = 0;
            groups += 1;
        } else {
            return false;
        }
    }
    digits == 0 && groups > 0
}

fn hours_minutes(s: &str) -> bool {
    let core = s.strip_suffix("0s").filter(|c| !c.is_empty()).unwrap_or(s);
    let split_num = |t: &str| -> Option<(usize, char)> {
        let n = t.chars().take_while(|c| c.is_ascii_digit()).count();
        let u = t[n..].chars().next()?;
        (n > 0 && t.len() == n + 1).then_some((n, u))
    };
    if let Some((_, u)) = split_num(core) {
        return u == 'h' || u == 'm';
    }
    if let Some(i) = core.find('h') {
        let (a, b) = core.split_at(i + 1);
        return split_num(a).is_some_and(|(_, u)| u == 'h')
            && split_num(b).is_some_and(|(_, u)| u == 'm');
    }
    false
}

impl<'a> Ctx<'a> {
    pub fn new(
        file: &'a Path,
        pos: Option<&'a PosIndex>,
        errors: &'a mut Vec<ConfigError>,
    ) -> Self {
        Ctx { file, pos, errors }
    }

    /// Records an error at `path`.
    pub fn error(
        &mut self,
        path: &str,
        at: At,
        msg: impl Into<String>,
        suggestion: Option<String>,
    ) {
        let p = self.pos.and_then(|idx| match at {
            At::Key => idx.key(path),
            At::Value => idx.value(path),
        });
        self.errors.push(ConfigError {
            file: self.file.to_path_buf(),
            line: p.map(|p| p.line),
            column: p.map(|p| p.col),
            field: path.to_string(),
            message: msg.into(),
            suggestion,
        });
    }

    /// Records an error about the value at `path`.
    pub fn err(&mut self, path: &str, msg: impl Into<String>) {
        self.error(path, At::Value, msg, None);
    }

    /// Records "is required" for a missing field.
    pub fn missing(&mut self, o: &Obj, key: &str) {
        self.error(
            &o.path(key),
            At::Key,
            format!("required field `{key}` is missing"),
            None,
        );
    }

    /// Reads a mapping whose keys must come from `known` (unknown keys are errors with a
    /// suggestion). `null` reads as an empty mapping.
    pub fn obj<'v>(&mut self, v: &'v Value, path: &str, known: &[&str]) -> Obj<'v> {
        self.obj_ignoring(v, path, known, &[])
    }

    /// Like [`Ctx::obj`], but keys in `ignored` are also accepted (and not read).
    pub fn obj_ignoring<'v>(
        &mut self,
        v: &'v Value,
        path: &str,
        known: &[&str],
        ignored: &[&str],
    ) -> Obj<'v> {
        let map = match v {
            Value::Mapping(m) => Some(m),
            Value::Null => None,
            other => {
                self.err(
                    path,
                    format!("expected a mapping, got {}", type_name(other)),
                );
                None
            }
        };
        if let Some(m) = map {
            for k in m.keys() {
                match key_text(k) {
                    Some(key) => {
                        if !known.contains(&key.as_str()) && !ignored.contains(&key.as_str()) {
                            let sugg = closest(&key, known.iter().chain(ignored.iter()).copied());
                            self.error(
                                &join_key(path, &key),
                                At::Key,
                                format!("unknown field `{key}`"),
                                sugg,
                            );
                        }
                    }
                    None => self.err(path, "mapping keys must be strings"),
                }
            }
        }
        Obj {
            map,
            path: path.to_string(),
        }
    }

    /// Iterates a free-form mapping's entries (keys as text), reporting non-scalar keys.
    pub fn entries<'v>(&mut self, v: &'v Value, path: &str) -> Vec<(String, &'v Value)> {
        match v {
            Value::Mapping(m) => {
                let mut out = Vec::new();
                for (k, val) in m {
                    match key_text(k) {
                        Some(key) => out.push((key, val)),
                        None => self.err(path, "mapping keys must be strings"),
                    }
                }
                out
            }
            Value::Null => Vec::new(),
            other => {
                self.err(
                    path,
                    format!("expected a mapping, got {}", type_name(other)),
                );
                Vec::new()
            }
        }
    }

    // ----- value-level readers -----

    /// A string; other scalars are errors (as the API server's schema check would report).
    pub fn v_string(&mut self, v: &Value, path: &str) -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(_) | Value::Bool(_) => {
                self.err(
                    path,
                    format!(
                        "expected a string, got {} (quote it: \"{}\")",
                        type_name(v),
                        key_text(v).unwrap_or_default()
                    ),
                );
                None
            }
            other => {
                self.err(path, format!("expected a string, got {}", type_name(other)));
                None
            }
        }
    }

    /// A string, also accepting numbers and booleans as their text (scenario files).
    pub fn v_string_lenient(&mut self, v: &Value, path: &str) -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(_) | Value::Bool(_) => key_text(v),
            other => {
                self.err(path, format!("expected a string, got {}", type_name(other)));
                None
            }
        }
    }

    pub fn v_bool(&mut self, v: &Value, path: &str) -> Option<bool> {
        match v {
            Value::Bool(b) => Some(*b),
            other => {
                self.err(
                    path,
                    format!("expected true or false, got {}", type_name(other)),
                );
                None
            }
        }
    }

    /// An integer in `[min, max]`.
    pub fn v_int(&mut self, v: &Value, path: &str, min: i64, max: i64) -> Option<i64> {
        let n = match v {
            Value::Number(n) => n.as_i64().or_else(|| {
                n.as_u64().map(|_| i64::MAX).or_else(|| {
                    n.as_f64()
                        .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                        .map(|f| f as i64)
                })
            }),
            _ => None,
        };
        match n {
            Some(n) if n >= min && n <= max => Some(n),
            Some(n) => {
                let range = if max == i64::MAX {
                    format!("at least {min}")
                } else {
                    format!("between {min} and {max}")
                };
                self.err(path, format!("{n} is out of range: must be {range}"));
                None
            }
            None => {
                self.err(path, format!("expected an integer, got {}", describe(v)));
                None
            }
        }
    }

    /// A finite number.
    pub fn v_float(&mut self, v: &Value, path: &str) -> Option<f64> {
        match v {
            Value::Number(n) => match n.as_f64() {
                Some(f) if f.is_finite() => Some(f),
                _ => {
                    self.err(path, "expected a finite number");
                    None
                }
            },
            other => {
                self.err(path, format!("expected a number, got {}", describe(other)));
                None
            }
        }
    }

    /// A Kubernetes quantity (string or number) as a milli-value.
    pub fn v_quantity(&mut self, v: &Value, path: &str) -> Option<i64> {
        let s = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            other => {
                self.err(
                    path,
                    format!(
                        "expected a quantity such as 500m or 2Gi, got {}",
                        type_name(other)
                    ),
                );
                return None;
            }
        };
        match parse_quantity_milli(&s) {
            Ok(q) => Some(q),
            Err(e) => {
                self.err(path, e.to_string());
                None
            }
        }
    }

    /// A duration in the given syntax, in milliseconds.
    pub fn v_duration(&mut self, v: &Value, path: &str, syntax: DurSyntax) -> Option<u64> {
        let s = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => {
                self.err(
                    path,
                    format!("`{n}` is not a duration: add a unit, as in {n}s or {n}m"),
                );
                return None;
            }
            other => {
                self.err(
                    path,
                    format!(
                        "expected a duration such as 90s or 1h30m, got {}",
                        type_name(other)
                    ),
                );
                return None;
            }
        };
        let t = s.trim();
        let shape_ok = match syntax {
            DurSyntax::Go => true,
            DurSyntax::Whole => whole_units(t, &['s', 'm', 'h']),
            DurSyntax::HoursMinutes => hours_minutes(t),
        };
        if !shape_ok {
            let want = match syntax {
                DurSyntax::Whole => "whole numbers of s, m or h, such as 90s or 1h30m",
                _ => "hours and minutes only, such as 8h, 30m or 1h30m",
            };
            self.err(
                path,
                format!("`{s}` is not a valid duration here: use {want}"),
            );
            return None;
        }
        match parse_duration_ms(t) {
            Ok(ms) => Some(ms),
            Err(e) => {
                self.err(path, e.to_string());
                None
            }
        }
    }

    /// `Never` or a duration; `karpenter_pattern` enforces `^(([0-9]+(s|m|h))+|Never)$`.
    pub fn v_maybe_never(
        &mut self,
        v: &Value,
        path: &str,
        karpenter_pattern: bool,
    ) -> Option<MaybeNever> {
        let s = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => {
                self.err(
                    path,
                    format!("`{n}` is not a duration: add a unit (as in {n}s) or use Never"),
                );
                return None;
            }
            other => {
                self.err(
                    path,
                    format!("expected a duration or Never, got {}", type_name(other)),
                );
                return None;
            }
        };
        let t = s.trim();
        if karpenter_pattern && t != "Never" && !whole_units(t, &['s', 'm', 'h']) {
            let sugg = (t.eq_ignore_ascii_case("never")).then(|| "Never".to_string());
            self.error(
                path,
                At::Value,
                format!("`{s}` is not valid: use whole numbers of s, m or h (such as 30s, 1h30m, 720h) or Never"),
                sugg,
            );
            return None;
        }
        match parse_maybe_never(t) {
            Ok(d) => Some(d),
            Err(e) => {
                self.err(path, e.to_string());
                None
            }
        }
    }

    /// One of a fixed set of names; unknown names get a suggestion.
    pub fn v_enum<T: Copy>(&mut self, v: &Value, path: &str, choices: &[(&str, T)]) -> Option<T> {
        let s = match v {
            Value::String(s) => s.as_str(),
            other => {
                self.err(
                    path,
                    format!(
                        "expected one of {}, got {}",
                        names(choices),
                        type_name(other)
                    ),
                );
                return None;
            }
        };
        if let Some((_, t)) = choices.iter().find(|(n, _)| *n == s) {
            return Some(*t);
        }
        let sugg = closest(s, choices.iter().map(|(n, _)| *n));
        self.error(
            path,
            At::Value,
            format!(
                "unsupported value `{s}`: expected one of {}",
                names(choices)
            ),
            sugg,
        );
        None
    }

    /// A list read item by item.
    pub fn v_list<'v, T>(
        &mut self,
        v: &'v Value,
        path: &str,
        mut item: impl FnMut(&mut Self, &'v Value, &str) -> Option<T>,
    ) -> Vec<T> {
        match v {
            Value::Sequence(seq) => {
                let mut out = Vec::with_capacity(seq.len());
                for (i, x) in seq.iter().enumerate() {
                    if let Some(t) = item(self, x, &join_index(path, i)) {
                        out.push(t);
                    }
                }
                out
            }
            Value::Null => Vec::new(),
            other => {
                self.err(path, format!("expected a list, got {}", type_name(other)));
                Vec::new()
            }
        }
    }

    /// A map of strings to strings.
    pub fn v_str_map(&mut self, v: &Value, path: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for (k, val) in self.entries(v, path) {
            let p = join_key(path, &k);
            if let Some(s) = self.v_string(val, &p) {
                out.insert(k, s);
            }
        }
        out
    }

    /// A map of resource names to quantities (milli-values).
    pub fn v_quantity_map(&mut self, v: &Value, path: &str) -> BTreeMap<String, i64> {
        let mut out = BTreeMap::new();
        for (k, val) in self.entries(v, path) {
            let p = join_key(path, &k);
            if let Some(q) = self.v_quantity(val, &p) {
                out.insert(k, q);
            }
        }
        out
    }

    // ----- field-level readers (absent or null → None / empty) -----

    pub fn string(&mut self, o: &Obj, key: &str) -> Option<String> {
        o.get(key).and_then(|v| self.v_string(v, &o.path(key)))
    }

    pub fn string_lenient(&mut self, o: &Obj, key: &str) -> Option<String> {
        o.get(key)
            .and_then(|v| self.v_string_lenient(v, &o.path(key)))
    }

    /// A required string; missing or empty is an error.
    pub fn req_string(&mut self, o: &Obj, key: &str) -> Option<String> {
        match o.get(key) {
            None => {
                self.missing(o, key);
                None
            }
            Some(v) => {
                let s = self.v_string(v, &o.path(key))?;
                if s.is_empty() {
                    self.err(&o.path(key), format!("`{key}` may not be empty"));
                    return None;
                }
                Some(s)
            }
        }
    }

    pub fn bool(&mut self, o: &Obj, key: &str) -> Option<bool> {
        o.get(key).and_then(|v| self.v_bool(v, &o.path(key)))
    }

    pub fn int(&mut self, o: &Obj, key: &str, min: i64, max: i64) -> Option<i64> {
        o.get(key)
            .and_then(|v| self.v_int(v, &o.path(key), min, max))
    }

    pub fn float(&mut self, o: &Obj, key: &str) -> Option<f64> {
        o.get(key).and_then(|v| self.v_float(v, &o.path(key)))
    }

    pub fn quantity(&mut self, o: &Obj, key: &str) -> Option<i64> {
        o.get(key).and_then(|v| self.v_quantity(v, &o.path(key)))
    }

    pub fn duration(&mut self, o: &Obj, key: &str, syntax: DurSyntax) -> Option<u64> {
        o.get(key)
            .and_then(|v| self.v_duration(v, &o.path(key), syntax))
    }

    pub fn maybe_never(
        &mut self,
        o: &Obj,
        key: &str,
        karpenter_pattern: bool,
    ) -> Option<MaybeNever> {
        o.get(key)
            .and_then(|v| self.v_maybe_never(v, &o.path(key), karpenter_pattern))
    }

    pub fn enumv<T: Copy>(&mut self, o: &Obj, key: &str, choices: &[(&str, T)]) -> Option<T> {
        o.get(key)
            .and_then(|v| self.v_enum(v, &o.path(key), choices))
    }

    pub fn list<'v, T>(
        &mut self,
        o: &Obj<'v>,
        key: &str,
        item: impl FnMut(&mut Self, &'v Value, &str) -> Option<T>,
    ) -> Vec<T> {
        match o.get(key) {
            Some(v) => self.v_list(v, &o.path(key), item),
            None => Vec::new(),
        }
    }

    pub fn str_list(&mut self, o: &Obj, key: &str) -> Vec<String> {
        self.list(o, key, |c, v, p| c.v_string(v, p))
    }

    pub fn str_map(&mut self, o: &Obj, key: &str) -> BTreeMap<String, String> {
        match o.get(key) {
            Some(v) => self.v_str_map(v, &o.path(key)),
            None => BTreeMap::new(),
        }
    }

    pub fn quantity_map(&mut self, o: &Obj, key: &str) -> BTreeMap<String, i64> {
        match o.get(key) {
            Some(v) => self.v_quantity_map(v, &o.path(key)),
            None => BTreeMap::new(),
        }
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::String(s) => format!("the string \"{s}\""),
        Value::Number(n) => format!("{n}"),
        other => type_name(other).to_string(),
    }
}

fn names<T>(choices: &[(&str, T)]) -> String {
    choices
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_shapes() {
        assert!(whole_units("1h30m", &['s', 'm', 'h']));
        assert!(whole_units("720h", &['s', 'm', 'h']));
        assert!(!whole_units("1.5h", &['s', 'm', 'h']));
        assert!(!whole_units("h", &['s', 'm', 'h']));
        assert!(!whole_units("10", &['s', 'm', 'h']));
        assert!(hours_minutes("8h"));
        assert!(hours_minutes("30m"));
        assert!(hours_minutes("1h30m"));
        assert!(hours_minutes("1h30m0s"));
        assert!(hours_minutes("8h0s"));
        assert!(!hours_minutes("30s"));
        assert!(!hours_minutes("1m30h"));
        assert!(!hours_minutes("0s"));
    }
}
