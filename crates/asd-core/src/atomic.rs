//! Atomic output: a file or a whole folder is built under a temporary name beside its target, then
//! renamed into place.
//!
//! A crash or a full disk never leaves a half-written result under the final name, and a reader never
//! sees a partial file or a folder that mixes two results. Temporary names carry the writer's process
//! id (`.NAME.PID.tmp`), so two processes never share one; [`clean_stale`] removes those of writers
//! that died.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.{suffix}", std::process::id()))
}

fn temp_path(path: &Path) -> PathBuf {
    sibling(path, "tmp")
}

/// Writes a file atomically: `write` fills a buffered writer on a temporary file, which is flushed,
/// synced and renamed over `path` only when `write` succeeds.
pub fn write_with<F>(path: &Path, write: F) -> io::Result<()>
where
    F: FnOnce(&mut BufWriter<File>) -> io::Result<()>,
{
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent)?;
    }
    let tmp = temp_path(path);
    let result = (|| {
        let mut w = BufWriter::new(File::create(&tmp)?);
        write(&mut w)?;
        w.flush()?;
        w.get_ref().sync_all()?;
        Ok(())
    })();
    match result {
        Ok(()) => fs::rename(&tmp, path),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Writes bytes atomically.
pub fn write_bytes(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_with(path, |w| w.write_all(bytes))
}

/// Builds a folder atomically: `fill` writes into an empty temporary sibling, which replaces `path`
/// only when `fill` succeeds. The old folder is first renamed aside (`.NAME.PID.old`) and removed
/// after the swap; a process killed between the two renames leaves no folder under `path`, which
/// every reader refuses and [`clean_stale`] restores from the old one.
pub fn replace_dir<F, E>(path: &Path, fill: F) -> Result<(), E>
where
    F: FnOnce(&Path) -> Result<(), E>,
    E: From<io::Error>,
{
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent)?;
    }
    let tmp = temp_path(path);
    remove_any(&tmp)?;
    fs::create_dir_all(&tmp)?;
    if let Err(e) = fill(&tmp) {
        let _ = fs::remove_dir_all(&tmp);
        return Err(e);
    }
    if fs::symlink_metadata(path).is_ok() {
        let old = sibling(path, "old");
        remove_any(&old)?;
        fs::rename(path, &old)?;
        fs::rename(&tmp, path)?;
        remove_any(&old)?;
    } else {
        fs::rename(&tmp, path)?;
    }
    Ok(())
}

/// The entries of `dir` that `owned` does not claim (hidden names never count), sorted: a folder
/// about to be replaced as a unit must not hold anything of the user's. An absent folder has none.
pub fn foreign_entries(dir: &Path, owned: impl Fn(&str) -> bool) -> io::Result<Vec<String>> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut foreign = Vec::new();
    for entry in entries {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if !name.starts_with('.') && !owned(&name) {
            foreign.push(name);
        }
    }
    foreign.sort();
    Ok(foreign)
}

fn remove_any(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Splits `.NAME.PID.tmp` / `.NAME.PID.old` into (NAME, PID, kind).
fn parse_temp_name(file: &str) -> Option<(&str, u32, &str)> {
    let rest = file.strip_prefix('.')?;
    let (rest, kind) = rest.rsplit_once('.')?;
    if kind != "tmp" && kind != "old" {
        return None;
    }
    let (name, pid) = rest.rsplit_once('.')?;
    Some((name, pid.parse().ok()?, kind))
}

/// Whether a process with this id runs now. Where that cannot be known (no `/proc`), only this
/// process counts as alive, which is right for callers that hold the folder's lock.
fn alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    let proc_root = Path::new("/proc");
    proc_root.join("self").exists() && proc_root.join(pid.to_string()).exists()
}

/// Removes the temporary files and folders that killed writers left in `dir` and in its
/// sub-folders (down to `depth` levels), and puts back a folder whose replacement was interrupted
/// between its two renames. Returns the paths it removed or restored.
pub fn clean_stale(dir: &Path, depth: usize) -> io::Result<Vec<PathBuf>> {
    clean_stale_matching(dir, depth, &|_| true)
}

/// [`clean_stale`] for the temporary names of one output only (`path`'s), in its parent folder: for
/// a folder the user chose, whose siblings are none of ours.
pub fn clean_stale_of(path: &Path) -> io::Result<Vec<PathBuf>> {
    let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return Ok(Vec::new());
    };
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    clean_stale_matching(parent, 0, &|n| n == name)
}

fn clean_stale_matching(
    dir: &Path,
    depth: usize,
    ours: &dyn Fn(&str) -> bool,
) -> io::Result<Vec<PathBuf>> {
    let mut touched = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(touched),
        Err(e) => return Err(e),
    };
    let mut subdirs = Vec::new();
    for entry in entries {
        let entry = entry?;
        let file = entry.file_name();
        let Some(file) = file.to_str() else { continue };
        let path = entry.path();
        match parse_temp_name(file) {
            Some((name, _, _)) if !ours(name) => {}
            Some((_, pid, _)) if alive(pid) => {}
            Some((name, _, "old")) if fs::symlink_metadata(dir.join(name)).is_err() => {
                fs::rename(&path, dir.join(name))?;
                touched.push(dir.join(name));
            }
            Some(_) => {
                remove_any(&path)?;
                touched.push(path);
            }
            None if depth > 0 && entry.file_type()?.is_dir() => subdirs.push(path),
            None => {}
        }
    }
    for sub in subdirs {
        touched.extend(clean_stale_matching(&sub, depth - 1, ours)?);
    }
    Ok(touched)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_write_keeps_old_content_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        write_bytes(&path, b"old").unwrap();
        let err = write_with(&path, |w| {
            w.write_all(b"partial")?;
            Err(io::Error::other("boom"))
        });
        assert!(err.is_err());
        assert_eq!(fs::read(&path).unwrap(), b"old");
        let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "temporary file must be removed");
    }

    #[test]
    fn creates_parent_directories() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/c.txt");
        write_bytes(&path, b"x").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"x");
    }

    #[test]
    fn replaced_folder_holds_only_the_new_files() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("scores");
        replace_dir::<_, io::Error>(&out, |d| {
            fs::write(d.join("a.csv"), "old")?;
            fs::write(d.join("b.csv"), "old")
        })
        .unwrap();
        replace_dir::<_, io::Error>(&out, |d| fs::write(d.join("a.csv"), "new")).unwrap();
        let names: Vec<_> = fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec!["a.csv"]);
        assert_eq!(fs::read_to_string(out.join("a.csv")).unwrap(), "new");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "no temp left");
    }

    #[test]
    fn failed_fill_keeps_the_old_folder() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("scores");
        replace_dir::<_, io::Error>(&out, |d| fs::write(d.join("a.csv"), "old")).unwrap();
        let r = replace_dir::<_, io::Error>(&out, |d| {
            fs::write(d.join("half.csv"), "x")?;
            Err(io::Error::other("boom"))
        });
        assert!(r.is_err());
        assert_eq!(fs::read_to_string(out.join("a.csv")).unwrap(), "old");
        assert!(!out.join("half.csv").exists());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn stale_temps_of_dead_writers_are_removed_and_an_interrupted_swap_is_undone() {
        let dir = tempfile::tempdir().unwrap();
        // A pid far above Linux's pid_max never runs.
        let dead = 999_999_999u32;
        fs::write(dir.path().join(format!(".results.json.{dead}.tmp")), "x").unwrap();
        fs::create_dir_all(dir.path().join(format!("members/.embeddings.{dead}.tmp"))).unwrap();
        fs::create_dir_all(dir.path().join(format!(".scores.{dead}.old"))).unwrap();
        fs::write(dir.path().join(format!(".scores.{dead}.old/a.csv")), "kept").unwrap();
        let mine = dir.path().join(format!(".live.{}.tmp", std::process::id()));
        fs::write(&mine, "in use").unwrap();
        let touched = clean_stale(dir.path(), 2).unwrap();
        assert_eq!(touched.len(), 3, "{touched:?}");
        assert_eq!(
            fs::read_to_string(dir.path().join("scores/a.csv")).unwrap(),
            "kept"
        );
        assert!(mine.exists(), "a live writer's temp file stays");
        assert_eq!(fs::read_dir(dir.path().join("members")).unwrap().count(), 0);
    }
}
