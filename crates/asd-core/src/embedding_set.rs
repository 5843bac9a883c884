//! The embedding-set folder: the interchange format between the model and scoring/evaluation.
//!
//! A folder holds `embeddings.npy` (float32, N × D, C order) and `index.csv` with the header
//! `file,machine_type,section,domain,split,label,attribute`, one row per embedding in the same order.
//! Both are readable with NumPy and pandas alone, so embeddings from any model can be scored here.

use crate::atomic;
use crate::io_op::IoOp;
use crate::record::ClipRecord;
use ndarray::Array2;
use ndarray_npy::WriteNpyExt;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

pub const EMBEDDINGS_FILE: &str = "embeddings.npy";
pub const INDEX_FILE: &str = "index.csv";
pub const INDEX_HEADER: [&str; 7] = [
    "file",
    "machine_type",
    "section",
    "domain",
    "split",
    "label",
    "attribute",
];

#[derive(Debug, thiserror::Error)]
pub enum EmbeddingSetError {
    #[error("{path}: cannot {op}: {source}")]
    Io {
        path: PathBuf,
        op: IoOp,
        source: std::io::Error,
    },
    #[error("{path}: the folder holds other files ({}); an embedding set is written to an empty folder or over another set", files.join(", "))]
    Foreign { path: PathBuf, files: Vec<String> },
    #[error("{path}: not a float32 or float64 2-D .npy array: {message}")]
    Npy { path: PathBuf, message: String },
    #[error("{path}: line {line}: {message}")]
    Index {
        path: PathBuf,
        line: u64,
        message: String,
    },
    #[error("{path}: header must be '{expected}', found '{found}'")]
    Header {
        path: PathBuf,
        expected: String,
        found: String,
    },
    #[error("{dir}: {rows} embeddings but {records} rows in index.csv")]
    RowMismatch {
        dir: PathBuf,
        rows: usize,
        records: usize,
    },
    #[error("{dir}: embedding {row} (file {file}) {problem}")]
    BadEmbedding {
        dir: PathBuf,
        row: usize,
        file: String,
        problem: String,
    },
}

/// Embeddings with their clip metadata.
#[derive(Debug, Clone)]
pub struct EmbeddingSet {
    pub embeddings: Array2<f32>,
    pub records: Vec<ClipRecord>,
}

impl EmbeddingSet {
    pub fn new(
        embeddings: Array2<f32>,
        records: Vec<ClipRecord>,
    ) -> Result<Self, EmbeddingSetError> {
        if embeddings.nrows() != records.len() {
            return Err(EmbeddingSetError::RowMismatch {
                dir: PathBuf::new(),
                rows: embeddings.nrows(),
                records: records.len(),
            });
        }
        Ok(Self {
            embeddings,
            records,
        })
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    pub fn dim(&self) -> usize {
        self.embeddings.ncols()
    }

    /// Reads a folder and checks it: equal row counts, finite values, no zero-norm rows.
    pub fn read(dir: &Path) -> Result<Self, EmbeddingSetError> {
        let npy = dir.join(EMBEDDINGS_FILE);
        let embeddings = read_embeddings(&npy)?;
        let records = read_index(&dir.join(INDEX_FILE))?;
        if embeddings.nrows() != records.len() {
            return Err(EmbeddingSetError::RowMismatch {
                dir: dir.to_path_buf(),
                rows: embeddings.nrows(),
                records: records.len(),
            });
        }
        let set = Self {
            embeddings,
            records,
        };
        if let Some((row, problem)) = set.first_bad_row() {
            return Err(EmbeddingSetError::BadEmbedding {
                dir: dir.to_path_buf(),
                row,
                file: set.records[row].file.clone(),
                problem: problem.to_string(),
            });
        }
        Ok(set)
    }

    /// The first row with a NaN/infinite value or zero norm, and what is wrong with it.
    fn first_bad_row(&self) -> Option<(usize, &'static str)> {
        self.embeddings
            .rows()
            .into_iter()
            .enumerate()
            .find_map(|(row, emb)| {
                if emb.iter().any(|v| !v.is_finite()) {
                    Some((row, "contains NaN or infinite values"))
                } else if emb.iter().all(|&v| v == 0.0) {
                    Some((row, "has zero norm"))
                } else {
                    None
                }
            })
    }

    /// Writes both files atomically.
    pub fn write(&self, dir: &Path) -> Result<(), EmbeddingSetError> {
        // What the format forbids is refused here too, so no reader ever meets it.
        if let Some((row, problem)) = self.first_bad_row() {
            return Err(EmbeddingSetError::BadEmbedding {
                dir: dir.to_path_buf(),
                row,
                file: self
                    .records
                    .get(row)
                    .map_or_else(String::new, |r| r.file.clone()),
                problem: problem.to_string(),
            });
        }
        // The folder is replaced as a unit, so it never holds one set's embeddings beside another's
        // index, nor files of an older set; a folder with anything else in it is not ours to replace.
        let foreign = atomic::foreign_entries(dir, |n| n == EMBEDDINGS_FILE || n == INDEX_FILE)
            .map_err(|source| EmbeddingSetError::Io {
                path: dir.to_path_buf(),
                op: IoOp::ListFolder,
                source,
            })?;
        if !foreign.is_empty() {
            return Err(EmbeddingSetError::Foreign {
                path: dir.to_path_buf(),
                files: foreign,
            });
        }
        let standard = self.embeddings.as_standard_layout();
        atomic::replace_dir(dir, |tmp| {
            std::fs::File::create(tmp.join(EMBEDDINGS_FILE)).and_then(|f| {
                let mut w = std::io::BufWriter::new(f);
                standard.write_npy(&mut w).map_err(std::io::Error::other)?;
                std::io::Write::flush(&mut w)?;
                w.get_ref().sync_all()
            })?;
            write_index_to(&tmp.join(INDEX_FILE), &self.records)
        })
        .map_err(|source| EmbeddingSetError::Io {
            path: dir.to_path_buf(),
            op: IoOp::Write,
            source,
        })
    }
}

/// Reads `embeddings.npy`: float32 as the format has it, or float64 (NumPy's default dtype), converted
/// to float32 once; C or Fortran order.
fn read_embeddings(npy: &Path) -> Result<Array2<f32>, EmbeddingSetError> {
    let bytes = std::fs::read(npy).map_err(|source| EmbeddingSetError::Io {
        path: npy.to_path_buf(),
        op: IoOp::Read,
        source,
    })?;
    let (a, converted) =
        crate::npy::matrix_from_bytes(&bytes).map_err(|message| EmbeddingSetError::Npy {
            path: npy.to_path_buf(),
            message,
        })?;
    if converted == crate::npy::Converted::FromF64 {
        tracing::info!("{}: float64 embeddings converted to float32", npy.display());
    }
    Ok(a)
}

/// Reads `index.csv`, naming the line of any bad row.
pub fn read_index(path: &Path) -> Result<Vec<ClipRecord>, EmbeddingSetError> {
    let file = File::open(path).map_err(|source| EmbeddingSetError::Io {
        path: path.to_path_buf(),
        op: IoOp::Read,
        source,
    })?;
    read_index_from(BufReader::new(file), path)
}

/// Reads an `index.csv` from `input`; `path` names it in errors.
pub fn read_index_from(
    input: impl std::io::Read,
    path: &Path,
) -> Result<Vec<ClipRecord>, EmbeddingSetError> {
    let mut reader = csv::Reader::from_reader(input);
    let header = reader
        .headers()
        .map_err(|e| EmbeddingSetError::Index {
            path: path.to_path_buf(),
            line: 1,
            message: e.to_string(),
        })?
        .clone();
    let found: Vec<&str> = header.iter().collect();
    if found != INDEX_HEADER {
        return Err(EmbeddingSetError::Header {
            path: path.to_path_buf(),
            expected: INDEX_HEADER.join(","),
            found: found.join(","),
        });
    }
    let mut records = Vec::new();
    // A clip listed twice would be scored and written twice, and refused only later by `evaluate`:
    // refused here, where the input comes in (key: machine type and the file value as written).
    let mut seen: std::collections::HashMap<(String, String), u64> = Default::default();
    for row in reader.records() {
        let bad = |line: u64, message: String| EmbeddingSetError::Index {
            path: path.to_path_buf(),
            line,
            message,
        };
        let row = row.map_err(|e| bad(e.position().map_or(0, |p| p.line()), e.to_string()))?;
        let line = row.position().map_or(0, |p| p.line());
        let record: ClipRecord = row
            .deserialize(Some(&header))
            .map_err(|e| bad(line, e.to_string()))?;
        let key = (record.machine_type.clone(), record.file.clone());
        if let Some(first) = seen.insert(key, line) {
            return Err(EmbeddingSetError::Index {
                path: path.to_path_buf(),
                line,
                message: format!(
                    "{} of machine type {} is listed twice (first on line {first})",
                    record.file, record.machine_type
                ),
            });
        }
        records.push(record);
    }
    Ok(records)
}

/// Writes `index.csv` atomically.
pub fn write_index(path: &Path, records: &[ClipRecord]) -> Result<(), EmbeddingSetError> {
    write_index_to(path, records).map_err(|source| EmbeddingSetError::Io {
        path: path.to_path_buf(),
        op: IoOp::Write,
        source,
    })
}

fn write_index_to(path: &Path, records: &[ClipRecord]) -> std::io::Result<()> {
    atomic::write_with(path, |w| {
        let mut writer = csv::Writer::from_writer(w);
        for r in records {
            writer.serialize(r).map_err(std::io::Error::other)?;
        }
        writer.flush()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Domain, Label, Split};
    use ndarray::array;

    fn record(file: &str) -> ClipRecord {
        ClipRecord {
            file: file.into(),
            machine_type: "fan".into(),
            section: "00".into(),
            domain: Domain::Source,
            split: Split::Train,
            label: Label::Normal,
            attribute: "vel_12".into(),
        }
    }

    #[test]
    fn round_trip_preserves_values_and_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let set = EmbeddingSet::new(
            array![[1.0f32, 0.0], [0.6, 0.8]],
            vec![record("a.wav"), record("b.wav")],
        )
        .unwrap();
        set.write(dir.path()).unwrap();
        let text = std::fs::read_to_string(dir.path().join(INDEX_FILE)).unwrap();
        assert!(text.starts_with("file,machine_type,section,domain,split,label,attribute\n"));
        let back = EmbeddingSet::read(dir.path()).unwrap();
        assert_eq!(back.embeddings, set.embeddings);
        assert_eq!(back.records, set.records);
    }

    /// NumPy's defaults: float64, and Fortran order from a transposed array; both are read.
    #[test]
    fn float64_and_fortran_order_arrays_are_read() {
        use ndarray::ShapeBuilder;
        let dir = tempfile::tempdir().unwrap();
        write_index(
            &dir.path().join(INDEX_FILE),
            &[record("a.wav"), record("b.wav"), record("c.wav")],
        )
        .unwrap();
        let values = vec![1.0f64, 0.6, 0.0, 0.0, 0.8, 1.0];
        // Column-major (3 × 2): rows [1, 0], [0.6, 0.8], [0, 1].
        let fortran = Array2::from_shape_vec((3, 2).f(), values).unwrap();
        assert!(!fortran.is_standard_layout());
        ndarray_npy::write_npy(dir.path().join(EMBEDDINGS_FILE), &fortran).unwrap();
        let back = EmbeddingSet::read(dir.path()).unwrap();
        assert_eq!(
            back.embeddings,
            array![[1.0f32, 0.0], [0.6, 0.8], [0.0, 1.0]]
        );
        // Fortran-order float32 too.
        let f32s = fortran.mapv(|v| v as f32);
        ndarray_npy::write_npy(dir.path().join(EMBEDDINGS_FILE), &f32s).unwrap();
        assert_eq!(EmbeddingSet::read(dir.path()).unwrap().embeddings, f32s);
        // An int array is refused, naming the file.
        ndarray_npy::write_npy(dir.path().join(EMBEDDINGS_FILE), &array![[1i64, 2]]).unwrap();
        let e = EmbeddingSet::read(dir.path()).unwrap_err().to_string();
        assert!(e.contains("embeddings.npy") && e.contains("float64"), "{e}");
    }

    #[test]
    fn rejects_mismatched_rows_nan_and_zero_norm() {
        let dir = tempfile::tempdir().unwrap();
        let set = EmbeddingSet {
            embeddings: array![[1.0f32, 0.0]],
            records: vec![record("a"), record("b")],
        };
        set.write(dir.path()).unwrap();
        let err = EmbeddingSet::read(dir.path()).unwrap_err();
        assert!(matches!(
            err,
            EmbeddingSetError::RowMismatch {
                rows: 1,
                records: 2,
                ..
            }
        ));

        // Refused when written, and refused when read from files made elsewhere.
        let records = vec![record("a"), record("b")];
        write_index(&dir.path().join(INDEX_FILE), &records).unwrap();
        for (embeddings, want) in [
            (array![[1.0f32, f32::NAN], [0.0, 1.0]], "embedding 0"),
            (array![[1.0f32, 0.0], [0.0, 0.0]], "embedding 1"),
        ] {
            let set = EmbeddingSet {
                embeddings: embeddings.clone(),
                records: records.clone(),
            };
            let err = set.write(dir.path()).unwrap_err().to_string();
            assert!(err.contains(want), "{err}");
            ndarray_npy::write_npy(dir.path().join(EMBEDDINGS_FILE), &embeddings).unwrap();
            let err = EmbeddingSet::read(dir.path()).unwrap_err().to_string();
            assert!(
                err.contains(want) && (err.contains("NaN") || err.contains("zero norm")),
                "{err}"
            );
        }
    }

    #[test]
    fn bad_index_row_names_the_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(INDEX_FILE),
            "file,machine_type,section,domain,split,label,attribute\na,fan,00,source,train,normal,\nb,fan,00,elsewhere,train,normal,\n",
        )
        .unwrap();
        let err = read_index(&dir.path().join(INDEX_FILE))
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 3"), "{err}");
    }
}

#[cfg(test)]
mod duplicate_tests {
    use super::*;

    #[test]
    fn a_clip_listed_twice_is_refused_with_both_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(INDEX_FILE);
        let head = "file,machine_type,section,domain,split,label,attribute\n";
        std::fs::write(
            &path,
            format!(
                "{head}a.wav,fan,00,source,test,normal,\nb.wav,fan,00,source,test,normal,\na.wav,valve,00,source,test,normal,\na.wav,fan,00,target,test,anomaly,\n"
            ),
        )
        .unwrap();
        let err = read_index(&path).unwrap_err().to_string();
        assert!(
            err.contains("line 5") && err.contains("first on line 2") && err.contains("a.wav"),
            "{err}"
        );
        // The same name under another machine type is another clip.
        std::fs::write(
            &path,
            format!("{head}a.wav,fan,00,source,test,normal,\na.wav,valve,00,source,test,normal,\n"),
        )
        .unwrap();
        assert_eq!(read_index(&path).unwrap().len(), 2);
    }
}
