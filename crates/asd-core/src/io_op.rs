//! What a file operation was doing when it failed.
//!
//! Every I/O error the libraries return carries one of these beside the path, so the message says
//! "cannot write" for a full disk and "cannot read" for a missing file, never the other way round.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoOp {
    Read,
    Write,
    CreateFolder,
    ListFolder,
    CleanUp,
    Remove,
}

impl fmt::Display for IoOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IoOp::Read => "read",
            IoOp::Write => "write",
            IoOp::CreateFolder => "create folder",
            IoOp::ListFolder => "list folder",
            IoOp::CleanUp => "clean up stale temporary files in",
            IoOp::Remove => "remove",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::IoOp;

    #[test]
    fn each_operation_reads_as_a_verb() {
        let all = [
            IoOp::Read,
            IoOp::Write,
            IoOp::CreateFolder,
            IoOp::ListFolder,
            IoOp::CleanUp,
            IoOp::Remove,
        ];
        let texts: Vec<String> = all.iter().map(|o| o.to_string()).collect();
        for (i, t) in texts.iter().enumerate() {
            assert!(!t.is_empty());
            assert!(texts[i + 1..].iter().all(|u| u != t), "{t} named twice");
        }
    }
}
