//! The workspace's compute kernels on host memory, and the only crate allowed `unsafe` code: the
//! matrix product (`gemm`, one safe entry over faer's gemm or matrixmultiply), the network's convolutions (`conv`:
//! direct register-blocked kernels or im2col + GEMM, picked per layer), batch normalisation
//! (`norm`), max-pooling (`pool`) and the two fused for training (`norm_pool`), the vector-register abstraction they are written in (`simd`),
//! and the allocator setting of the training process (`alloc`). No deep-learning framework:
//! `asd-model` wraps these in burn operations, `asd-scoring` uses the GEMM.

pub mod alloc;
pub mod buffer;
pub mod cache;
pub mod conv;
pub mod gemm;
pub mod norm;
pub mod norm_pool;
pub mod pool;
pub mod shape;
pub mod simd;
mod testing;

pub use shape::conv_len;
