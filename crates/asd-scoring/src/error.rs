use thiserror::Error;

#[derive(Debug, Clone, Error)]
pub enum ScoringError {
    #[error("reference set of {key} is empty")]
    EmptyReferences { key: String },
    #[error("reference set of {key} has {n} embeddings; method {method} needs at least {needed}")]
    TooFewReferences {
        key: String,
        method: String,
        n: usize,
        needed: usize,
    },
    #[error("embedding dimension mismatch: references have {refs}, queries have {queries}")]
    DimensionMismatch { refs: usize, queries: usize },
    #[error("{key}: {domain} domain has no reference embeddings, needed for standardisation")]
    EmptyDomain { key: String, domain: &'static str },
    #[error("{key}: test clips of {what} have zero score variance; standardisation is undefined")]
    ZeroVariance { key: String, what: &'static str },
    #[error(
        "invalid method '{0}' (expected nn, knn-mean, ratio, difference or lof, or a full name such as ratio_k16, ratio_gwrp_r0.9, lof_k8)"
    )]
    InvalidMethod(String),
    #[error("invalid parameter: {0}")]
    InvalidParameter(String),
    #[error("no test embeddings in the set")]
    NoQueries,
}
