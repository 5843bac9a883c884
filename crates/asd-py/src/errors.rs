//! Library errors as Python exceptions: bad input is a `ValueError`, a failed file operation an
//! `OSError`; the message is the library's whole chain.

use pyo3::PyErr;
use pyo3::exceptions::{PyOSError, PyValueError};
use std::error::Error;

/// The error and its causes, each once, joined by ": ".
fn chain(e: &dyn Error) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
        source = s.source();
    }
    msg
}

pub fn value_error(e: impl Error) -> PyErr {
    PyValueError::new_err(chain(&e))
}

pub fn os_error(e: impl Error) -> PyErr {
    PyOSError::new_err(chain(&e))
}
