//! The native half of the Python package `asd`: the module `asd._native`. The public API, its
//! argument checks and its docstrings live in the pure-Python package (`python/asd`), which converts
//! array-likes once and calls these functions with float32/float64 NumPy arrays; here the work runs
//! with the GIL released, on the same Rust code as the `asd` binary.

use pyo3::prelude::*;

mod errors;
mod frontend;
mod metrics;
#[cfg(feature = "model")]
mod model;
mod scorer;
mod sets;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("HAS_MODEL", cfg!(feature = "model"))?;
    m.add_class::<scorer::NativeScorer>()?;
    m.add_class::<frontend::NativeBeats>()?;
    m.add_function(wrap_pyfunction!(scorer::smote_rows, m)?)?;
    m.add_function(wrap_pyfunction!(metrics::auc, m)?)?;
    m.add_function(wrap_pyfunction!(metrics::pauc, m)?)?;
    m.add_function(wrap_pyfunction!(metrics::dcase, m)?)?;
    m.add_function(wrap_pyfunction!(sets::read_embedding_set, m)?)?;
    m.add_function(wrap_pyfunction!(sets::write_embedding_set, m)?)?;
    #[cfg(feature = "model")]
    m.add_class::<model::NativeModel>()?;
    Ok(())
}
