//! What an interrupted dataset embedding has done, kept so that the next call goes on from there.
//!
//! A folder beside the output (`OUT.partial`) holds `meta.json` (what is being embedded: the
//! front-end, its weights file's size and modification time, the clips' paths' digest, the
//! dimension) and shards written atomically every `every` clips: `shard_NNNNNN.f32` (the rows,
//! little-endian float32) and `shard_NNNNNN.json` (which clips they are, and which clips failed).
//! A later call with the same meta reads the shards and embeds only the rest; another front-end or
//! dataset starts again; a shard that does not read back whole (cut by a crash before its rename, or
//! damaged) is dropped with the shards after it, and those clips are embedded again. The caller
//! removes the folder once the finished set is written.

use crate::error::FrontendError;
use asd_core::atomic;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where an embedding keeps its progress, and how often it saves it.
#[derive(Debug, Clone)]
pub struct Partial {
    pub dir: PathBuf,
    /// Clips per shard.
    pub every: usize,
}

/// What a partial folder belongs to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartialMeta {
    pub frontend: String,
    /// Size and modification time (ns since the epoch) of the weights file, if any.
    pub weights: Option<(u64, u128)>,
    pub dim: usize,
    pub clips: usize,
    /// FNV-1a of the clips' paths, in order.
    pub paths: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct ShardIndex {
    /// Dataset positions of the rows, in row order.
    rows: Vec<usize>,
    /// Dataset positions and reasons of the clips that could not be embedded.
    failed: Vec<(usize, String)>,
}

/// What was read back from a partial folder.
#[derive(Debug, Default)]
pub struct Resumed {
    pub rows: BTreeMap<usize, Vec<f32>>,
    pub failed: BTreeMap<usize, String>,
    pub shards: usize,
}

impl Resumed {
    /// Clips done (embedded or failed).
    pub fn done(&self) -> usize {
        self.rows.len() + self.failed.len()
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> FrontendError + '_ {
    move |source| FrontendError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Partial {
    /// `OUT.partial` beside `out`, a shard every 64 clips.
    pub fn beside(out: &Path) -> Self {
        let mut name = out.file_name().unwrap_or_default().to_os_string();
        name.push(".partial");
        Self {
            dir: out.with_file_name(name),
            every: 64,
        }
    }

    fn shard(&self, n: usize, ext: &str) -> PathBuf {
        self.dir.join(format!("shard_{n:06}.{ext}"))
    }

    /// Reads what an earlier call with the same `meta` saved; starts the folder afresh otherwise.
    pub fn open(&self, meta: &PartialMeta) -> Result<Resumed, FrontendError> {
        let meta_path = self.dir.join("meta.json");
        let same = std::fs::read_to_string(&meta_path)
            .ok()
            .and_then(|t| serde_json::from_str::<PartialMeta>(&t).ok())
            .is_some_and(|m| &m == meta);
        if !same {
            if self.dir.exists() {
                tracing::info!(
                    "{}: an embedding of other clips or another front-end; starting again",
                    self.dir.display()
                );
                std::fs::remove_dir_all(&self.dir).map_err(io(&self.dir))?;
            }
            std::fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
            let text = serde_json::to_string_pretty(meta)
                .map_err(|e| FrontendError::Input(e.to_string()))?;
            atomic::write_bytes(&meta_path, text.as_bytes()).map_err(io(&meta_path))?;
            return Ok(Resumed::default());
        }
        let mut r = Resumed::default();
        loop {
            let (index, data) = (self.shard(r.shards, "json"), self.shard(r.shards, "f32"));
            if !index.exists() {
                break;
            }
            match read_shard(&index, &data, meta) {
                Ok((rows, failed)) => {
                    r.rows.extend(rows);
                    r.failed.extend(failed);
                    r.shards += 1;
                }
                Err(why) => {
                    tracing::warn!(
                        "{}: {why}; its clips and those after it are embedded again",
                        index.display()
                    );
                    self.drop_from(r.shards)?;
                    break;
                }
            }
        }
        Ok(r)
    }

    /// Removes shard `n` and every later one.
    fn drop_from(&self, n: usize) -> Result<(), FrontendError> {
        let mut k = n;
        while self.shard(k, "json").exists() || self.shard(k, "f32").exists() {
            for ext in ["json", "f32"] {
                let p = self.shard(k, ext);
                if p.exists() {
                    std::fs::remove_file(&p).map_err(io(&p))?;
                }
            }
            k += 1;
        }
        Ok(())
    }

    /// Saves shard `n`: rows (dataset position, embedding) and failures; the rows first, so that an
    /// index on disk always has its data.
    pub fn save(
        &self,
        n: usize,
        rows: &[(usize, Vec<f32>)],
        failed: &[(usize, String)],
    ) -> Result<(), FrontendError> {
        let data: Vec<u8> = rows
            .iter()
            .flat_map(|(_, v)| v.iter().flat_map(|x| x.to_le_bytes()))
            .collect();
        let dp = self.shard(n, "f32");
        atomic::write_bytes(&dp, &data).map_err(io(&dp))?;
        let index = ShardIndex {
            rows: rows.iter().map(|(i, _)| *i).collect(),
            failed: failed.to_vec(),
        };
        let text =
            serde_json::to_string(&index).map_err(|e| FrontendError::Input(e.to_string()))?;
        let ip = self.shard(n, "json");
        atomic::write_bytes(&ip, text.as_bytes()).map_err(io(&ip))
    }

    /// Removes the folder (the finished set is written).
    pub fn remove(&self) -> Result<(), FrontendError> {
        match std::fs::remove_dir_all(&self.dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(&self.dir)(e)),
            _ => Ok(()),
        }
    }
}

type ShardRows = (Vec<(usize, Vec<f32>)>, Vec<(usize, String)>);

/// One shard, checked against the meta before its rows are taken: positions within the dataset,
/// the data exactly rows × dim floats, every value finite.
fn read_shard(index: &Path, data: &Path, meta: &PartialMeta) -> Result<ShardRows, String> {
    let text = std::fs::read_to_string(index).map_err(|e| format!("cannot read: {e}"))?;
    let ix: ShardIndex =
        serde_json::from_str(&text).map_err(|e| format!("not a shard index: {e}"))?;
    if let Some(bad) = ix
        .rows
        .iter()
        .chain(ix.failed.iter().map(|(i, _)| i))
        .find(|&&i| i >= meta.clips)
    {
        return Err(format!("clip {bad} is past the {} clips", meta.clips));
    }
    let want = ix.rows.len() as u64 * meta.dim as u64 * 4;
    let have = std::fs::metadata(data)
        .map_err(|e| format!("{}: {e}", data.display()))?
        .len();
    if have != want {
        return Err(format!(
            "{} holds {have} bytes where {} rows of {} floats need {want}",
            data.display(),
            ix.rows.len(),
            meta.dim
        ));
    }
    let bytes = std::fs::read(data).map_err(|e| format!("{}: {e}", data.display()))?;
    let values: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    if values.iter().any(|v| !v.is_finite()) {
        return Err("a value is NaN or infinite".into());
    }
    let rows = ix
        .rows
        .iter()
        .zip(values.chunks_exact(meta.dim.max(1)))
        .map(|(&i, v)| (i, v.to_vec()))
        .collect();
    Ok((rows, ix.failed))
}
