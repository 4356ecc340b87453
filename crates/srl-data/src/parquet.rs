//! Parquet files as Hugging Face keeps datasets (`data/train-00000-of-00002.parquet`, written by pyarrow), read
//! row by row into JSON objects, so every importer and SWE-bench's row type read them as they read JSON Lines.
//!
//! * [`rows`]: the rows of one file, each a `column -> value` JSON object: strings, numbers, booleans, nulls,
//!   lists (`list<...>`) as arrays and structs as objects (a `list<struct<role, content>>` chat is an array of
//!   message objects). Pages compressed with snappy (pyarrow's default), zstd or gzip are read. Rows are
//!   numbered from 1.
//! * [`write_columns`]: writes a small file of plain columns laid out as pyarrow lays them out (optional
//!   columns, three-level lists): what tests and fixtures make their datasets with.
//!
//! A file that is not Parquet, or that breaks off, is an error naming the file (and the row); a value that has no
//! JSON form is an error naming the row and the column. The reader is `parquet`'s record API, without Arrow.

use std::fs::File;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parquet::basic::{Compression, GzipLevel, ZstdLevel};
use parquet::data_type::{BoolType, ByteArray, ByteArrayType, DataType, Int64Type};
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::file::writer::{SerializedFileWriter, SerializedRowGroupWriter};
use parquet::record::reader::RowIter;
use parquet::record::{Field, Row};
use serde_json::{Map, Number, Value};

use crate::DataError;

/// Whether `path` names a Parquet file (by its extension).
pub fn is_parquet(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("parquet"))
}

/// One row of a Parquet file.
#[derive(Clone, Debug, PartialEq)]
pub struct ParquetRow {
    /// Its number in the file, from 1.
    pub row: usize,
    /// Its columns, or why one of them has no JSON form (the message names the column).
    pub columns: Result<Map<String, Value>, String>,
}

/// The rows of a Parquet file, in order. An `Err` item means the file cannot be read on (it names the row
/// reached) and ends the iteration.
pub struct Rows {
    path: PathBuf,
    iter: Option<RowIter<'static>>,
    next: usize,
    total: usize,
}

impl Rows {
    /// The number of rows the file's footer declares.
    pub fn len(&self) -> usize {
        self.total
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }
}

/// Opens a Parquet file for reading row by row. An error names the file: missing, unreadable, or not Parquet.
pub fn rows(path: &Path) -> Result<Rows, DataError> {
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    let not_parquet = |message: String| DataError::Parquet { path: path.to_path_buf(), message };
    // The reader is a third-party decoder of untrusted bytes: a panic in it is reported as an error of the file.
    let reader = catch_unwind(AssertUnwindSafe(|| SerializedFileReader::new(file)))
        .map_err(|p| not_parquet(panic_text(&p)))?
        .map_err(|e| not_parquet(e.to_string()))?;
    let total = usize::try_from(reader.metadata().file_metadata().num_rows()).unwrap_or(0);
    Ok(Rows { path: path.to_path_buf(), iter: Some(reader.into_iter()), next: 1, total })
}

impl Iterator for Rows {
    type Item = Result<ParquetRow, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        let iter = self.iter.as_mut()?;
        let row = self.next;
        let location = || format!("{}: row {row}", self.path.display());
        let item = match catch_unwind(AssertUnwindSafe(|| iter.next())) {
            Ok(None) => None,
            Ok(Some(Ok(r))) => Some(Ok(ParquetRow { row, columns: row_to_json(r) })),
            Ok(Some(Err(e))) => Some(Err(DataError::record(location(), format!("cannot read the Parquet data: {e}")))),
            Err(p) => {
                Some(Err(DataError::record(location(), format!("cannot read the Parquet data: {}", panic_text(&p)))))
            }
        };
        // The record reader cannot resume after an error (it would repeat it): stop there.
        if !matches!(item, Some(Ok(_))) {
            self.iter = None;
        }
        self.next += 1;
        item
    }
}

fn panic_text(p: &Box<dyn std::any::Any + Send>) -> String {
    let msg = p.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| p.downcast_ref::<String>().cloned());
    format!("the Parquet decoder failed ({})", msg.unwrap_or_else(|| "panic".into()))
}

fn row_to_json(row: Row) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    for (name, field) in row.into_columns() {
        let v = field_to_json(field).map_err(|e| format!("column `{name}`: {e}"))?;
        out.insert(name, v);
    }
    Ok(out)
}

/// Dates and times inside years 1..=9999 are written as text; others (which the formatter cannot show) as
/// their raw numbers.
fn field_to_json(field: Field) -> Result<Value, String> {
    const DAYS: std::ops::RangeInclusive<i64> = -719_162..=2_932_896;
    const MILLIS: std::ops::RangeInclusive<i64> = -62_135_596_800_000..=253_402_300_799_999;
    let float = |f: f64| Number::from_f64(f).map_or(Value::Null, Value::Number);
    Ok(match field {
        Field::Null => Value::Null,
        Field::Bool(b) => Value::Bool(b),
        Field::Byte(v) => v.into(),
        Field::Short(v) => v.into(),
        Field::Int(v) => v.into(),
        Field::Long(v) => v.into(),
        Field::UByte(v) => v.into(),
        Field::UShort(v) => v.into(),
        Field::UInt(v) => v.into(),
        Field::ULong(v) => v.into(),
        Field::Float16(v) => float(f64::from(v)),
        Field::Float(v) => float(f64::from(v)),
        Field::Double(v) => float(v),
        Field::Str(s) => Value::String(s),
        Field::Bytes(b) => match String::from_utf8(b.data().to_vec()) {
            Ok(s) => Value::String(s),
            Err(_) => return Err(format!("a binary value of {} bytes that is not UTF-8 text", b.len())),
        },
        f @ Field::Decimal(_) => Value::String(f.to_string()),
        Field::Date(d) if !DAYS.contains(&i64::from(d)) => d.into(),
        Field::TimestampMillis(t) if !MILLIS.contains(&t) => t.into(),
        Field::TimestampMicros(t) if !MILLIS.contains(&t.div_euclid(1000)) => t.into(),
        f @ (Field::Date(_)
        | Field::TimeMillis(_)
        | Field::TimeMicros(_)
        | Field::TimestampMillis(_)
        | Field::TimestampMicros(_)) => Value::String(f.to_string()),
        Field::Group(row) => Value::Object(row_to_json(row)?),
        Field::ListInternal(list) => {
            Value::Array(list.elements().iter().cloned().map(field_to_json).collect::<Result<_, _>>()?)
        }
        Field::MapInternal(map) => {
            let mut out = Map::new();
            for (k, v) in map.entries().iter().cloned() {
                let key = match k {
                    Field::Str(s) => s,
                    other => field_to_json(other)?.to_string(),
                };
                out.insert(key, field_to_json(v)?);
            }
            Value::Object(out)
        }
    })
}

/// The values of one column of [`write_columns`]; `None` is a null.
#[derive(Clone, Debug)]
pub enum ColumnValues {
    /// `string`.
    Str(Vec<Option<String>>),
    /// `bool`.
    Bool(Vec<Option<bool>>),
    /// `int64`.
    Int(Vec<Option<i64>>),
    /// `list<string>`.
    StrList(Vec<Option<Vec<String>>>),
    /// `list<struct<role: string, content: string>>`: a chat, as Hugging Face's `messages` columns hold it.
    Messages(Vec<Option<Vec<(String, String)>>>),
}

impl ColumnValues {
    fn len(&self) -> usize {
        match self {
            ColumnValues::Str(v) => v.len(),
            ColumnValues::Bool(v) => v.len(),
            ColumnValues::Int(v) => v.len(),
            ColumnValues::StrList(v) => v.len(),
            ColumnValues::Messages(v) => v.len(),
        }
    }

    fn schema(&self, name: &str) -> String {
        match self {
            ColumnValues::Str(_) => format!("optional binary {name} (STRING);"),
            ColumnValues::Bool(_) => format!("optional boolean {name};"),
            ColumnValues::Int(_) => format!("optional int64 {name};"),
            ColumnValues::StrList(_) => format!(
                "optional group {name} (LIST) {{ repeated group list {{ optional binary element (STRING); }} }}"
            ),
            ColumnValues::Messages(_) => format!(
                "optional group {name} (LIST) {{ repeated group list {{ optional group element {{ \
                 optional binary role (STRING); optional binary content (STRING); }} }} }}"
            ),
        }
    }
}

/// A page codec of [`write_columns`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Codec {
    Uncompressed,
    /// pyarrow's default, and so Hugging Face's.
    #[default]
    Snappy,
    Gzip,
    Zstd,
}

/// Writes `columns` (name, values; all of one length) as one row group of a Parquet file.
pub fn write_columns(path: &Path, columns: &[(&str, ColumnValues)], codec: Codec) -> Result<(), DataError> {
    let err = |e: parquet::errors::ParquetError| {
        DataError::record(path.display().to_string(), format!("writing Parquet: {e}"))
    };
    let n = columns.first().map_or(0, |(_, v)| v.len());
    if let Some((name, v)) = columns.iter().find(|(_, v)| v.len() != n) {
        let message = format!("writing Parquet: column `{name}` has {} values, the first column {n}", v.len());
        return Err(DataError::record(path.display().to_string(), message));
    }
    let fields: Vec<String> = columns.iter().map(|(name, v)| v.schema(name)).collect();
    let schema = parquet::schema::parser::parse_message_type(&format!("message schema {{ {} }}", fields.join(" ")))
        .map_err(err)?;
    let compression = match codec {
        Codec::Uncompressed => Compression::UNCOMPRESSED,
        Codec::Snappy => Compression::SNAPPY,
        Codec::Gzip => Compression::GZIP(GzipLevel::default()),
        Codec::Zstd => Compression::ZSTD(ZstdLevel::default()),
    };
    let props = WriterProperties::builder().set_compression(compression).build();
    let file = File::create(path).map_err(|e| DataError::io(path, e))?;
    let mut writer = SerializedFileWriter::new(file, Arc::new(schema), Arc::new(props)).map_err(err)?;
    let mut group = writer.next_row_group().map_err(err)?;
    for (_, values) in columns {
        match values {
            ColumnValues::Str(v) => {
                let (values, def) = optional(v.iter().map(|s| s.as_deref().map(bytes)));
                write_leaf::<ByteArrayType>(&mut group, &values, &def, None).map_err(err)?;
            }
            ColumnValues::Bool(v) => {
                let (values, def) = optional(v.iter().copied());
                write_leaf::<BoolType>(&mut group, &values, &def, None).map_err(err)?;
            }
            ColumnValues::Int(v) => {
                let (values, def) = optional(v.iter().copied());
                write_leaf::<Int64Type>(&mut group, &values, &def, None).map_err(err)?;
            }
            ColumnValues::StrList(v) => {
                let leaf = Leaf::list(v.iter().map(|l| l.as_ref().map(|l| l.iter().map(|s| bytes(s)).collect())), 3);
                write_leaf::<ByteArrayType>(&mut group, &leaf.values, &leaf.def, Some(&leaf.rep)).map_err(err)?;
            }
            ColumnValues::Messages(v) => {
                // Two leaves, in the schema's order: role, then content.
                for pick in [|m: &(String, String)| bytes(&m.0), |m: &(String, String)| bytes(&m.1)] {
                    let leaf = Leaf::list(v.iter().map(|l| l.as_ref().map(|l| l.iter().map(pick).collect())), 4);
                    write_leaf::<ByteArrayType>(&mut group, &leaf.values, &leaf.def, Some(&leaf.rep)).map_err(err)?;
                }
            }
        }
    }
    group.close().map_err(err)?;
    writer.close().map_err(err)?;
    Ok(())
}

fn write_leaf<T: DataType>(
    group: &mut SerializedRowGroupWriter<'_, File>,
    values: &[T::T],
    def: &[i16],
    rep: Option<&[i16]>,
) -> parquet::errors::Result<()> {
    let missing = || ParquetError::General("the schema has fewer leaf columns than the data".into());
    let mut col = group.next_column()?.ok_or_else(missing)?;
    col.typed::<T>().write_batch(values, Some(def), rep)?;
    col.close()
}

/// The present values of an optional column, and its definition levels (1 present, 0 null).
fn optional<T>(values: impl Iterator<Item = Option<T>>) -> (Vec<T>, Vec<i16>) {
    let mut present = Vec::new();
    let mut def = Vec::new();
    for v in values {
        def.push(i16::from(v.is_some()));
        present.extend(v);
    }
    (present, def)
}

fn bytes(s: &str) -> ByteArray {
    ByteArray::from(s.as_bytes().to_vec())
}

/// The definition and repetition levels and values of one leaf column.
#[derive(Default)]
struct Leaf {
    def: Vec<i16>,
    rep: Vec<i16>,
    values: Vec<ByteArray>,
}

impl Leaf {
    /// A nullable list of non-null leaves `max_def` levels deep: null list 0, empty list 1, a value `max_def`.
    fn list(rows: impl Iterator<Item = Option<Vec<ByteArray>>>, max_def: i16) -> Leaf {
        let mut leaf = Leaf::default();
        for row in rows {
            match row {
                Some(items) if !items.is_empty() => {
                    for (k, item) in items.into_iter().enumerate() {
                        leaf.def.push(max_def);
                        leaf.rep.push(i16::from(k > 0));
                        leaf.values.push(item);
                    }
                }
                empty_or_null => {
                    leaf.def.push(i16::from(empty_or_null.is_some()));
                    leaf.rep.push(0);
                }
            }
        }
        leaf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(path: &Path) -> Vec<Map<String, Value>> {
        rows(path).unwrap().map(|r| r.unwrap().columns.unwrap()).collect()
    }

    #[test]
    fn writes_and_reads_every_column_kind_with_each_codec() {
        let dir = tempfile::tempdir().unwrap();
        for codec in [Codec::Uncompressed, Codec::Snappy, Codec::Gzip, Codec::Zstd] {
            let path = dir.path().join(format!("{codec:?}.parquet"));
            write_columns(
                &path,
                &[
                    ("s", ColumnValues::Str(vec![Some("a".into()), None, Some("ü\nz".into())])),
                    ("b", ColumnValues::Bool(vec![Some(true), None, Some(false)])),
                    ("i", ColumnValues::Int(vec![Some(-3), Some(7), None])),
                    ("l", ColumnValues::StrList(vec![Some(vec!["x".into(), "y".into()]), Some(vec![]), None])),
                    (
                        "messages",
                        ColumnValues::Messages(vec![
                            Some(vec![("user".into(), "hi".into()), ("assistant".into(), "".into())]),
                            None,
                            Some(vec![]),
                        ]),
                    ),
                ],
                codec,
            )
            .unwrap();
            assert_eq!(rows(&path).unwrap().len(), 3);
            let got = all(&path);
            let want = serde_json::json!([
                {"s": "a", "b": true, "i": -3, "l": ["x", "y"],
                 "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": ""}]},
                {"s": null, "b": null, "i": 7, "l": [], "messages": null},
                {"s": "ü\nz", "b": false, "i": null, "l": null, "messages": []},
            ]);
            assert_eq!(Value::Array(got.into_iter().map(Value::Object).collect()), want, "{codec:?}");
        }
    }

    #[test]
    fn errors_name_the_file_and_the_row() {
        let dir = tempfile::tempdir().unwrap();
        let not = dir.path().join("x.parquet");
        std::fs::write(&not, "{\"a\": 1}\n").unwrap();
        let e = rows(&not).err().unwrap().to_string();
        assert!(e.starts_with(&format!("{}: not a readable Parquet file", not.display())), "{e}");
        let e = rows(&dir.path().join("missing.parquet")).err().unwrap().to_string();
        assert!(e.contains("missing.parquet"), "{e}");

        // A file cut in the middle of its data: the footer is intact, the pages are not.
        let good = dir.path().join("good.parquet");
        let long: Vec<Option<String>> = (0..200).map(|i| Some(format!("value {i} ").repeat(50))).collect();
        write_columns(&good, &[("s", ColumnValues::Str(long))], Codec::Uncompressed).unwrap();
        let mut data = std::fs::read(&good).unwrap();
        for b in &mut data[200..20_000] {
            *b = 0xff;
        }
        let bad = dir.path().join("bad.parquet");
        std::fs::write(&bad, &data).unwrap();
        let items: Vec<_> = match rows(&bad) {
            Ok(r) => r.collect(),
            Err(e) => vec![Err(e)],
        };
        // Rows read before the damage are kept; the iteration ends with the error, which names the file and row.
        assert!(items[..items.len() - 1].iter().all(Result::is_ok) && items.len() <= 200);
        let e = items.last().unwrap().as_ref().err().map(ToString::to_string).unwrap_or_default();
        assert!(e.contains("bad.parquet: row ") && e.contains("cannot read the Parquet data"), "{e}");

        let n = write_columns(
            &dir.path().join("n.parquet"),
            &[("a", ColumnValues::Int(vec![Some(1)])), ("b", ColumnValues::Int(vec![]))],
            Codec::Snappy,
        );
        assert!(n.unwrap_err().to_string().contains("column `b` has 0 values"));
    }
}
