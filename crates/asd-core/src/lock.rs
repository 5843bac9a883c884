//! One writer per output folder: an advisory lock on a file beside the folder.
//!
//! The lock file sits beside the folder (`.NAME.lock`), not inside it, because some outputs replace
//! their whole folder (see [`crate::atomic::replace_dir`]) and a lock inside would move with it. The
//! operating system releases the lock when its holder exits, killed or not, so a stale lock never
//! blocks the next writer; the file itself stays and only records the last holder's process id.

use crate::io_op::IoOp;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("{} is in use by {holder}; wait for it to finish or write elsewhere", folder.display())]
    Busy { folder: PathBuf, holder: String },
    #[error("{}: cannot {op}: {source}", path.display())]
    Io {
        path: PathBuf,
        op: IoOp,
        source: io::Error,
    },
}

/// Held while a process writes a folder; dropping it releases the lock.
#[derive(Debug)]
pub struct FolderLock {
    _file: File,
    path: PathBuf,
}

impl FolderLock {
    /// The lock file guarding `folder`.
    pub fn path_for(folder: &Path) -> PathBuf {
        let name = folder
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "output".into());
        folder.with_file_name(format!(".{name}.lock"))
    }

    /// Takes the lock of `folder` or fails at once, naming the process that holds it.
    pub fn acquire(folder: &Path) -> Result<Self, LockError> {
        let path = Self::path_for(folder);
        let io_err = |source| LockError::Io {
            path: path.clone(),
            op: IoOp::Write,
            source,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| LockError::Io {
                path: parent.to_path_buf(),
                op: IoOp::CreateFolder,
                // create_dir_all reports "File exists" when a file stands where the folder goes.
                source: if parent.exists() && !parent.is_dir() {
                    io::Error::from(io::ErrorKind::NotADirectory)
                } else {
                    source
                },
            })?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_err)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                let holder = match text.trim().parse::<u32>() {
                    Ok(pid) => format!("pid {pid}"),
                    Err(_) => "another process".into(),
                };
                return Err(LockError::Busy {
                    folder: folder.to_path_buf(),
                    holder,
                });
            }
            Err(TryLockError::Error(e)) => return Err(io_err(e)),
        }
        file.set_len(0).map_err(io_err)?;
        file.seek(SeekFrom::Start(0)).map_err(io_err)?;
        write!(file, "{}", std::process::id()).map_err(io_err)?;
        file.flush().map_err(io_err)?;
        Ok(Self { _file: file, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_is_refused_with_the_holders_pid_until_the_first_drops() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("run");
        let first = FolderLock::acquire(&folder).unwrap();
        let err = FolderLock::acquire(&folder).unwrap_err().to_string();
        assert!(
            err.contains(&format!("pid {}", std::process::id())) && err.contains("run"),
            "{err}"
        );
        drop(first);
        let again = FolderLock::acquire(&folder).unwrap();
        assert!(again.path().ends_with(".run.lock"));
    }
}
