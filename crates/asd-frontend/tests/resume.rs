//! A dataset embedding that stops goes on where it stopped: the clips saved are not embedded again,
//! and the finished set equals one made in a single go, bit for bit. Another front-end starts again;
//! a damaged shard is dropped with the ones after it and its clips are embedded again.

use asd_audio::LoadOptions;
use asd_dataset::synth::{Preset, generate};
use asd_dataset::{Dataset, OpenOptions};
use asd_frontend::{Frontend, FrontendError, Partial, embed_dataset};

fn dataset(dir: &std::path::Path) -> Dataset {
    generate(dir, Preset::Tiny, 4, &|| {}).unwrap();
    Dataset::open(dir, &OpenOptions::default()).unwrap()
}

/// Embeds with STFT-raw, stopping once `stop_after` clips are done (never, for `None`); the clips the
/// call embedded itself.
fn embed(
    ds: &Dataset,
    partial: &Partial,
    stop_after: Option<usize>,
) -> (Result<asd_core::EmbeddingSet, FrontendError>, usize) {
    let mut seen = 0;
    let r = embed_dataset(
        &Frontend::StftRaw,
        ds,
        LoadOptions::default(),
        Some(partial),
        &mut |n| {
            seen += n;
            stop_after.is_none_or(|s| seen < s)
        },
    );
    (
        r.map(|(set, failures)| {
            assert!(failures.is_empty());
            set
        }),
        seen,
    )
}

#[test]
fn an_interrupted_embedding_goes_on_where_it_stopped() {
    let tmp = tempfile::tempdir().unwrap();
    let ds = dataset(&tmp.path().join("data"));
    let n = ds.clips.len();
    assert!(n > 48, "{n} clips");
    let (whole, _) = embed_dataset(
        &Frontend::StftRaw,
        &ds,
        LoadOptions::default(),
        None,
        &mut |_| true,
    )
    .unwrap();
    let partial = Partial {
        dir: tmp.path().join("out.partial"),
        every: 16,
    };
    // Stopped after two batches of 16: both saved.
    let (r, seen) = embed(&ds, &partial, Some(32));
    assert!(
        matches!(r, Err(FrontendError::Interrupted { done: 32, total }) if total == n),
        "{r:?}"
    );
    assert_eq!(seen, 32);
    // Stopped again later; then finished: each call embeds only what no earlier call saved.
    let (r, seen) = embed(&ds, &partial, Some(16));
    assert!(
        matches!(r, Err(FrontendError::Interrupted { done: 48, .. })),
        "{r:?}"
    );
    assert_eq!(seen, 16);
    let (r, seen) = embed(&ds, &partial, None);
    assert_eq!(seen, n - 48);
    let resumed = r.unwrap();
    assert_eq!(resumed.records, whole.records);
    assert_eq!(resumed.embeddings, whole.embeddings);
    partial.remove().unwrap();
    assert!(!partial.dir.exists());

    // A shard cut short (a crash mid-write, a damaged disk) is dropped with the ones after it.
    let (_, _) = embed(&ds, &partial, Some(48));
    let second = partial.dir.join("shard_000001.f32");
    let bytes = std::fs::read(&second).unwrap();
    std::fs::write(&second, &bytes[..bytes.len() - 3]).unwrap();
    let (r, seen) = embed(&ds, &partial, None);
    assert_eq!(seen, n - 16, "only the first shard is kept");
    assert_eq!(r.unwrap().embeddings, whole.embeddings);

    // Progress of other clips is not taken: a dataset of other clips starts again.
    partial.remove().unwrap();
    let (_, _) = embed(&ds, &partial, Some(16));
    let mut fewer = Dataset::open(&tmp.path().join("data"), &OpenOptions::default()).unwrap();
    fewer.clips.pop();
    let mut seen = 0;
    let (set, _) = embed_dataset(
        &Frontend::StftRaw,
        &fewer,
        LoadOptions::default(),
        Some(&partial),
        &mut |k| {
            seen += k;
            true
        },
    )
    .unwrap();
    assert_eq!(seen, n - 1);
    assert_eq!(set.len(), n - 1);
}
