//! `set` edits of `changes` and `variants`: replacing the value at a dotted path of a
//! manifest, then re-validating the object.

use serde_yaml::{Mapping, Value};

/// One path segment.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

/// Splits `spec.limits[nvidia.com/gpu]` / `spec.template.spec.requirements[0].values` into
/// segments. Bracketed text is a literal key, or an index when it is all digits.
fn split_path(path: &str) -> Result<Vec<Seg>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = path.chars().peekable();
    let mut after_bracket = false;
    while let Some(c) = chars.next() {
        match c {
            '.' => {
                if cur.is_empty() && !after_bracket {
                    return Err(format!("`{path}` has an empty segment"));
                }
                if !cur.is_empty() {
                    out.push(Seg::Key(std::mem::take(&mut cur)));
                }
                after_bracket = false;
            }
            '[' => {
                if !cur.is_empty() {
                    out.push(Seg::Key(std::mem::take(&mut cur)));
                }
                let mut inner = String::new();
                let mut closed = false;
                for d in chars.by_ref() {
                    if d == ']' {
                        closed = true;
                        break;
                    }
                    inner.push(d);
                }
                if !closed || inner.is_empty() {
                    return Err(format!("`{path}` has an unterminated or empty [...]"));
                }
                if inner.bytes().all(|b| b.is_ascii_digit()) {
                    out.push(Seg::Index(
                        inner
                            .parse()
                            .map_err(|_| format!("index `{inner}` is too large"))?,
                    ));
                } else {
                    out.push(Seg::Key(inner));
                }
                after_bracket = true;
            }
            _ => {
                if after_bracket {
                    return Err(format!("`{path}`: expected `.` or `[` after `]`"));
                }
                cur.push(c);
            }
        }
    }
    if !cur.is_empty() {
        out.push(Seg::Key(cur));
    } else if !after_bracket {
        return Err(if path.is_empty() {
            "empty path".to_string()
        } else {
            format!("`{path}` ends with `.`")
        });
    }
    Ok(out)
}

/// Returns a copy of `doc` with the value at `dotted_path` replaced by `value` (a list is
/// replaced whole). Missing mappings along the path are created. A key that itself contains
/// dots may be written bare when it already exists (`spec.limits.nvidia.com/gpu`) or in
/// brackets (`spec.limits[nvidia.com/gpu]`). `[N]` indexes an existing list element.
pub fn apply_edit(doc: &Value, dotted_path: &str, value: &Value) -> Result<Value, String> {
    let segs = split_path(dotted_path)?;
    if matches!(segs.first(), Some(Seg::Key(k)) if k == "kind" || k == "apiVersion")
        || (segs.len() == 2
            && segs[0] == Seg::Key("metadata".into())
            && segs[1] == Seg::Key("name".into()))
    {
        return Err(format!(
            "`{dotted_path}` cannot be changed (it identifies the object)"
        ));
    }
    let mut out = doc.clone();
    set_in(&mut out, &segs, value, dotted_path)?;
    Ok(out)
}

fn set_in(node: &mut Value, segs: &[Seg], value: &Value, full: &str) -> Result<(), String> {
    let Some(first) = segs.first() else {
        *node = value.clone();
        return Ok(());
    };
    match first {
        Seg::Index(i) => match node {
            Value::Sequence(seq) => {
                let len = seq.len();
                let item = seq.get_mut(*i).ok_or_else(|| {
                    format!("`{full}`: index {i} is out of range (the list has {len} items)")
                })?;
                set_in(item, &segs[1..], value, full)
            }
            _ => Err(format!(
                "`{full}`: [{i}] indexes a value that is not a list"
            )),
        },
        Seg::Key(_) => {
            if node.is_null() {
                *node = Value::Mapping(Mapping::new());
            }
            let Value::Mapping(map) = node else {
                return Err(format!(
                    "`{full}`: cannot set a field inside a value that is not a mapping"
                ));
            };
            // Greedy: the longest run of segments that, joined by '.', names an existing key.
            let mut take = 1;
            for n in (1..=segs.len()).rev() {
                let keys: Option<Vec<&str>> = segs[..n]
                    .iter()
                    .map(|s| match s {
                        Seg::Key(k) => Some(k.as_str()),
                        Seg::Index(_) => None,
                    })
                    .collect();
                if let Some(keys) = keys
                    && map.contains_key(keys.join("."))
                {
                    take = n;
                    break;
                }
            }
            let key: String = segs[..take]
                .iter()
                .map(|s| match s {
                    Seg::Key(k) => k.clone(),
                    Seg::Index(i) => i.to_string(),
                })
                .collect::<Vec<_>>()
                .join(".");
            let k = Value::String(key);
            if !map.contains_key(&k) {
                map.insert(k.clone(), Value::Null);
            }
            match map.get_mut(&k) {
                Some(child) => set_in(child, &segs[take..], value, full),
                None => Err(format!("`{full}`: internal error")),
            }
        }
    }
}

/// Merges `over` into `base`: mappings merge key by key (recursively), anything else in
/// `over` replaces `base`.
pub fn deep_merge(base: &Value, over: &Value) -> Value {
    match (base, over) {
        (Value::Mapping(b), Value::Mapping(o)) => {
            let mut out = b.clone();
            for (k, v) in o {
                let merged = match out.get(k) {
                    Some(bv) => deep_merge(bv, v),
                    None => v.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Value::Mapping(out)
        }
        (_, o) => o.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn y(s: &str) -> Value {
        serde_yaml::from_str(s).unwrap()
    }

    #[test]
    fn edits() {
        let doc = y(
            "spec:\n  limits:\n    nvidia.com/gpu: 1\n  disruption:\n    budgets: [{nodes: '10%'}]\n",
        );
        let e = apply_edit(&doc, "spec.disruption.consolidationPolicy", &y("WhenEmpty")).unwrap();
        assert_eq!(
            e["spec"]["disruption"]["consolidationPolicy"],
            y("WhenEmpty")
        );
        let e = apply_edit(&doc, "spec.limits.nvidia.com/gpu", &y("4")).unwrap();
        assert_eq!(e["spec"]["limits"]["nvidia.com/gpu"], y("4"));
        let e = apply_edit(&doc, "spec.limits[amd.com/gpu]", &y("2")).unwrap();
        assert_eq!(e["spec"]["limits"]["amd.com/gpu"], y("2"));
        let e = apply_edit(&doc, "spec.disruption.budgets[0].nodes", &y("'1'")).unwrap();
        assert_eq!(e["spec"]["disruption"]["budgets"][0]["nodes"], y("'1'"));
        let e = apply_edit(&doc, "spec.disruption.budgets", &y("[{nodes: '1'}]")).unwrap();
        assert_eq!(e["spec"]["disruption"]["budgets"], y("[{nodes: '1'}]"));
        assert!(apply_edit(&doc, "spec.disruption.budgets[3].nodes", &y("1")).is_err());
        assert!(apply_edit(&doc, "spec..x", &y("1")).is_err());
        assert!(apply_edit(&doc, "", &y("1")).is_err());
        assert!(apply_edit(&doc, "metadata.name", &y("x")).is_err());
        assert!(apply_edit(&doc, "spec.limits.nvidia.com/gpu.x", &y("1")).is_err());
    }

    #[test]
    fn merge() {
        let m = deep_merge(&y("{a: 1, b: {c: 2, d: 3}}"), &y("{b: {c: 5}, e: 6}"));
        assert_eq!(m, y("{a: 1, b: {c: 5, d: 3}, e: 6}"));
    }
}
