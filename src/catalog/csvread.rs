//! A small CSV reader for the catalog files: columns looked up by header name, typed cell
//! parsing, and errors that name the file, the line and the column.

use super::CatalogError;
use rustc_hash::FxHashMap;

/// The header of one CSV file: column name → index.
pub(crate) struct Header {
    file: String,
    index: FxHashMap<String, usize>,
}

impl Header {
    /// Index of a column, if the header has it.
    pub(crate) fn col(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// Index of a column that must be present.
    pub(crate) fn required(&self, name: &str) -> Result<usize, CatalogError> {
        self.col(name).ok_or_else(|| CatalogError::MissingColumn {
            file: self.file.clone(),
            column: name.to_string(),
        })
    }
}

/// One data row with its position, for typed access and located errors.
pub(crate) struct Row<'r> {
    pub(crate) file: &'r str,
    pub(crate) line: u64,
    rec: &'r csv::StringRecord,
}

impl<'r> Row<'r> {
    /// The error for a bad cell.
    pub(crate) fn err(&self, column: &str, message: impl Into<String>) -> CatalogError {
        CatalogError::Field {
            file: self.file.to_string(),
            line: self.line,
            column: column.to_string(),
            message: message.into(),
        }
    }

    /// The cell, or "" when the file has no such column.
    pub(crate) fn str(&self, col: Option<usize>) -> &'r str {
        col.and_then(|i| self.rec.get(i)).unwrap_or("")
    }

    /// A cell that must not be empty.
    pub(crate) fn req_str(&self, col: Option<usize>, name: &str) -> Result<&'r str, CatalogError> {
        let s = self.str(col);
        if s.is_empty() {
            Err(self.err(name, "empty cell; a value is required"))
        } else {
            Ok(s)
        }
    }

    /// An optional string: empty cell = `None`.
    pub(crate) fn opt_string(&self, col: Option<usize>) -> Option<String> {
        let s = self.str(col);
        (!s.is_empty()).then(|| s.to_string())
    }

    /// An optional non-negative integer.
    pub(crate) fn opt_int(
        &self,
        col: Option<usize>,
        name: &str,
    ) -> Result<Option<i64>, CatalogError> {
        let s = self.str(col);
        if s.is_empty() {
            return Ok(None);
        }
        match s.parse::<i64>() {
            Ok(v) if v >= 0 => Ok(Some(v)),
            Ok(_) => Err(self.err(name, format!("`{s}` is negative; expected an integer ≥ 0"))),
            Err(_) => Err(self.err(name, format!("`{s}` is not an integer"))),
        }
    }

    /// A required non-negative integer.
    pub(crate) fn req_int(&self, col: Option<usize>, name: &str) -> Result<i64, CatalogError> {
        self.req_str(col, name)?;
        Ok(self.opt_int(col, name)?.unwrap_or_default())
    }

    /// An optional boolean (`true`/`false`, any case).
    pub(crate) fn opt_bool(
        &self,
        col: Option<usize>,
        name: &str,
    ) -> Result<Option<bool>, CatalogError> {
        let s = self.str(col);
        if s.is_empty() {
            Ok(None)
        } else if s.eq_ignore_ascii_case("true") {
            Ok(Some(true))
        } else if s.eq_ignore_ascii_case("false") {
            Ok(Some(false))
        } else {
            Err(self.err(
                name,
                format!("`{s}` is not a boolean; expected true or false"),
            ))
        }
    }

    /// A required finite, non-negative number.
    pub(crate) fn req_f64(&self, col: Option<usize>, name: &str) -> Result<f64, CatalogError> {
        let s = self.req_str(col, name)?;
        match s.parse::<f64>() {
            Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
            _ => Err(self.err(name, format!("`{s}` is not a finite number ≥ 0"))),
        }
    }
}

/// Reads `data` as CSV (header row required), calling `on_header` once and then `on_row` for
/// every data row. Cells are trimmed; blank lines are skipped.
pub(crate) fn read_csv<H>(
    file: &str,
    data: &[u8],
    on_header: impl FnOnce(&Header) -> Result<H, CatalogError>,
    mut on_row: impl FnMut(&H, &Row<'_>) -> Result<(), CatalogError>,
) -> Result<(), CatalogError> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .trim(csv::Trim::All)
        .from_reader(data);
    let headers = rdr.headers().map_err(|e| csv_error(file, e))?.clone();
    if headers.is_empty() || headers.iter().all(str::is_empty) {
        return Err(CatalogError::Row {
            file: file.to_string(),
            line: 1,
            message: "no header row".to_string(),
        });
    }
    let mut index = FxHashMap::default();
    for (i, name) in headers.iter().enumerate() {
        let name = name.trim_start_matches('\u{feff}').trim();
        if index.insert(name.to_string(), i).is_some() {
            return Err(CatalogError::Row {
                file: file.to_string(),
                line: 1,
                message: format!("column `{name}` appears twice in the header"),
            });
        }
    }
    let header = Header {
        file: file.to_string(),
        index,
    };
    let h = on_header(&header)?;
    let mut rec = csv::StringRecord::new();
    loop {
        match rdr.read_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(csv_error(file, e)),
        }
        let line = rec.position().map_or(0, |p| p.line());
        let row = Row {
            file,
            line,
            rec: &rec,
        };
        on_row(&h, &row)?;
    }
    Ok(())
}

fn csv_error(file: &str, e: csv::Error) -> CatalogError {
    let line = e.position().map_or(0, |p| p.line());
    let message = match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("expected {expected_len} fields (as in the header), found {len}"),
        csv::ErrorKind::Utf8 { err, .. } => {
            format!("field {} is not valid UTF-8", err.field() + 1)
        }
        _ => e.to_string(),
    };
    CatalogError::Row {
        file: file.to_string(),
        line,
        message,
    }
}
