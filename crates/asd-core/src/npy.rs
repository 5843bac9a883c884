//! `.npy` files read with their declared size checked first. A header may claim any shape; the
//! reader (ndarray-npy) allocates what it claims, so a hostile header of (4·10¹², 512) would abort the
//! process. Every `.npy` a user gives goes through [`read_matrix`], which parses the header, checks that
//! the declared element count fits the bytes that follow, and only then reads.

use ndarray::Array2;
use ndarray_npy::ReadNpyExt;
use std::path::Path;

/// What a header declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NpyHeader {
    /// NumPy dtype string, e.g. `<f4`.
    pub descr: String,
    pub fortran_order: bool,
    pub shape: Vec<u64>,
    /// Bytes of the magic, version, length field and header text: where the data starts.
    pub data_offset: usize,
}

impl NpyHeader {
    /// Bytes per element of the dtype (`f4` 4, `f8` 8, `i8` 8, …), or `None` for types without a fixed size.
    pub fn item_size(&self) -> Option<u64> {
        let digits: String = self
            .descr
            .chars()
            .skip_while(|c| !c.is_ascii_digit())
            .collect();
        digits.parse().ok().filter(|&n| n > 0 && n <= 16)
    }

    /// Declared data bytes, `None` where the product overflows.
    pub fn data_bytes(&self) -> Option<u64> {
        let mut n = self.item_size()?;
        for &d in &self.shape {
            n = n.checked_mul(d)?;
        }
        Some(n)
    }
}

/// Parses the header of `.npy` bytes and checks the declared size against the bytes present.
pub fn check_header(bytes: &[u8]) -> Result<NpyHeader, String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("not a .npy file (no \\x93NUMPY magic)".into());
    }
    let (len, start) = match bytes[6] {
        1 => (u64::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10usize),
        2 | 3 if bytes.len() >= 12 => (
            u64::from(u32::from_le_bytes([
                bytes[8], bytes[9], bytes[10], bytes[11],
            ])),
            12,
        ),
        v => return Err(format!(".npy format version {v} is not supported")),
    };
    let end = (start as u64)
        .checked_add(len)
        .filter(|&e| e <= bytes.len() as u64)
        .ok_or_else(|| {
            format!(
                "the header claims {len} bytes but the file has {}",
                bytes.len()
            )
        })? as usize;
    let text = std::str::from_utf8(&bytes[start..end])
        .map_err(|_| "the header is not text".to_string())?;
    let field = |key: &str| -> Result<&str, String> {
        let at = text
            .find(&format!("'{key}'"))
            .ok_or_else(|| format!("the header has no '{key}'"))?;
        let rest = &text[at + key.len() + 2..];
        let colon = rest
            .find(':')
            .ok_or_else(|| format!("the header's '{key}' has no value"))?;
        Ok(rest[colon + 1..].trim_start())
    };
    let descr_raw = field("descr")?;
    let descr = descr_raw
        .strip_prefix('\'')
        .and_then(|r| r.split('\'').next())
        .ok_or_else(|| "the header's 'descr' is not a string".to_string())?
        .to_string();
    let fortran_order = field("fortran_order")?.starts_with("True");
    let shape_raw = field("shape")?;
    let inner = shape_raw
        .strip_prefix('(')
        .and_then(|r| r.split(')').next())
        .ok_or_else(|| "the header's 'shape' is not a tuple".to_string())?;
    let shape = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.trim_end_matches('L')
                .parse::<u64>()
                .map_err(|_| format!("the header's shape ({inner}) is not a tuple of sizes"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let h = NpyHeader {
        descr,
        fortran_order,
        shape,
        data_offset: end,
    };
    let present = (bytes.len() - end) as u64;
    match h.data_bytes() {
        None if h.item_size().is_none() => Err(format!("dtype '{}' is not supported", h.descr)),
        Some(n) if n <= present => Ok(h),
        _ => Err(format!(
            "the header declares shape {:?} of '{}' ({}), but only {present} data bytes follow (truncated or a false header)",
            h.shape,
            h.descr,
            h.data_bytes().map_or_else(
                || "more bytes than any file".to_string(),
                |n| format!("{n} bytes")
            )
        )),
    }
}

/// A 2-D float array from `.npy` bytes: float32 as stored, or float64 converted once (with
/// `Converted` set); C or Fortran order. The header is checked against the bytes before anything is
/// allocated.
pub fn matrix_from_bytes(bytes: &[u8]) -> Result<(Array2<f32>, Converted), String> {
    let h = check_header(bytes)?;
    if h.shape.len() != 2 {
        return Err(format!(
            "expected a 2-D array, the header declares shape {:?}",
            h.shape
        ));
    }
    match h.descr.as_str() {
        "<f4" | "=f4" | "|f4" | ">f4" => Array2::<f32>::read_npy(bytes)
            .map(|a| (a, Converted::No))
            .map_err(|e| e.to_string()),
        "<f8" | "=f8" | ">f8" => Array2::<f64>::read_npy(bytes)
            .map(|a| (a.mapv(|v| v as f32), Converted::FromF64))
            .map_err(|e| e.to_string()),
        d => Err(format!("dtype '{d}' where float32 or float64 was expected")),
    }
}

/// Whether [`matrix_from_bytes`] converted the values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Converted {
    No,
    FromF64,
}

/// [`matrix_from_bytes`] of a file; the error names the file.
pub fn read_matrix(path: &Path) -> Result<Array2<f32>, NpyFileError> {
    let bytes = std::fs::read(path).map_err(|source| NpyFileError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let (a, converted) = matrix_from_bytes(&bytes).map_err(|message| NpyFileError::Format {
        path: path.to_path_buf(),
        message,
    })?;
    if converted == Converted::FromF64 {
        tracing::info!("{}: float64 values converted to float32", path.display());
    }
    Ok(a)
}

#[derive(Debug, thiserror::Error)]
pub enum NpyFileError {
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Format {
        path: std::path::PathBuf,
        message: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use ndarray_npy::WriteNpyExt;

    fn npy(a: &Array2<f32>) -> Vec<u8> {
        let mut v = Vec::new();
        a.write_npy(&mut v).unwrap();
        v
    }

    /// A file whose header claims `shape` over the data of a (2, 3) float32 array.
    fn lying(shape: &str, descr: &str) -> Vec<u8> {
        let mut text =
            format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
        while (10 + text.len() + 1) % 64 != 0 {
            text.push(' ');
        }
        text.push('\n');
        let mut v = b"\x93NUMPY\x01\x00".to_vec();
        v.extend_from_slice(&(text.len() as u16).to_le_bytes());
        v.extend_from_slice(text.as_bytes());
        v.extend_from_slice(&[0u8; 24]);
        v
    }

    #[test]
    fn a_true_header_reads_in_both_float_types() {
        let a = array![[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.0]];
        assert_eq!(
            matrix_from_bytes(&npy(&a)).unwrap(),
            (a.clone(), Converted::No)
        );
        let mut v = Vec::new();
        a.mapv(f64::from).write_npy(&mut v).unwrap();
        assert_eq!(matrix_from_bytes(&v).unwrap(), (a, Converted::FromF64));
        assert!(matrix_from_bytes(&lying("(2, 3)", "<f4")).is_ok());
    }

    #[test]
    fn hostile_headers_are_refused_before_anything_is_allocated() {
        for (shape, descr, want) in [
            ("(4000000000000, 512)", "<f4", "only 24 data bytes follow"),
            ("(100000000000, 70016)", "<f4", "only 24 data bytes follow"),
            (
                "(18446744073709551615, 18446744073709551615)",
                "<f8",
                "more bytes than any file",
            ),
            ("(3, 3)", "<f4", "only 24 data bytes"),
            ("(1, 1)", "<c16", "dtype"),
            ("(6,)", "<f4", "2-D"),
            ("(2, x)", "<f4", "not a tuple of sizes"),
            ("(2, 3)", "O", "not supported"),
        ] {
            let e = matrix_from_bytes(&lying(shape, descr)).unwrap_err();
            assert!(e.contains(want), "{shape} {descr}: {e}");
        }
        let mut v = lying("(2, 3)", "<f4");
        v[8] = 0xff; // header length past the end
        assert!(
            matrix_from_bytes(&v)
                .unwrap_err()
                .contains("the header claims")
        );
        assert!(matrix_from_bytes(b"not numpy at all").is_err());
        assert!(matrix_from_bytes(b"").is_err());
    }
}
