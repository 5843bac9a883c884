//! Shared types of the ASD system.
//!
//! Everything that more than one stage of the pipeline exchanges lives here: the metadata of a clip
//! ([`ClipRecord`]), the on-disk embedding-set format ([`EmbeddingSet`]) that connects the model to the
//! scoring and evaluation crates, and atomic file output ([`atomic`]). This crate depends on no
//! deep-learning framework, so scoring and evaluation stay light.

pub mod atomic;
pub mod channel;
pub mod embedding_set;
pub mod hash;
pub mod host;
pub mod ids;
pub mod io_op;
pub mod lock;
pub mod npy;
pub mod record;
pub mod seed;
pub mod table;

pub use channel::ChannelPolicy;
pub use embedding_set::{EmbeddingSet, EmbeddingSetError};
pub use ids::{ClipId, MachineFile, SectionKey};
pub use io_op::IoOp;
pub use lock::{FolderLock, LockError};
pub use record::{ClipRecord, Domain, Label, ParseValueError, Split};
