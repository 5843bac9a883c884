//! The incremental reference bank: after every enrolment and removal its densities and leave-one-out
//! scores equal a full refit bit for bit, they agree with the batch scoring of `asd score`, and a new
//! condition is learnt from a few enrolled clips without refitting.

use asd_scoring::bank::{BankError, ReferenceBank};
use asd_scoring::density::Density;
use asd_scoring::{MethodSpec, ReferenceChoice, ReferenceSet};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const D: usize = 32;

/// A unit vector near `centre` (spread `s`).
fn near(centre: &[f32], s: f32, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let v: Vec<f32> = centre
        .iter()
        .map(|c| c + s * (rng.random::<f32>() - 0.5))
        .collect();
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().map(|x| x / n).collect()
}

fn centre(rng: &mut ChaCha8Rng) -> Vec<f32> {
    near(&[0.0; D], 2.0, rng)
}

/// 3 source clusters (dense) and one target cluster (sparser), as the paper describes domains.
fn clips(rng: &mut ChaCha8Rng, source: usize, target: usize) -> Vec<(Vec<f32>, &'static str)> {
    let cs: Vec<Vec<f32>> = (0..4).map(|_| centre(rng)).collect();
    let mut v: Vec<(Vec<f32>, &'static str)> = (0..source)
        .map(|i| (near(&cs[i % 3], 0.3, rng), "source"))
        .collect();
    v.extend((0..target).map(|_| (near(&cs[3], 0.6, rng), "target")));
    v
}

fn assert_equals_refit(bank: &ReferenceBank, what: &str) {
    let r = bank.refit();
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(
        bits(bank.densities()),
        bits(&r.densities),
        "densities {what}"
    );
    assert_eq!(
        bits(&bank.loo_scores()),
        bits(&r.loo),
        "leave-one-out scores {what}"
    );
}

#[test]
fn incremental_state_equals_a_full_refit_bit_for_bit() {
    for density in [
        Density::KnnMean(16),
        Density::KnnMean(4),
        Density::Gwrp(0.9),
    ] {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut bank = ReferenceBank::new(D, density);
        let mut live = Vec::new();
        // Enrol one at a time (through the regime where K is clipped to the bank), removing a random
        // reference now and then, including the one just added.
        for (n, (x, cond)) in clips(&mut rng, 60, 8).into_iter().enumerate() {
            live.push(bank.add(&x, cond).unwrap());
            assert_equals_refit(&bank, &format!("{density:?} after adding clip {n}"));
            if n % 7 == 6 {
                let victim = live.swap_remove(rng.random_range(0..live.len()));
                bank.remove(victim).unwrap();
                assert_equals_refit(&bank, &format!("{density:?} after removing {victim}"));
            }
        }
        // Shrink back below K + 1 and to a single reference.
        while live.len() > 1 {
            let victim = live.remove(0);
            bank.remove(victim).unwrap();
            assert_equals_refit(&bank, &format!("{density:?} at {} references", live.len()));
        }
        assert!(bank.densities().is_empty());
        assert_eq!(bank.score(&[1.0; D]), Err(BankError::TooSmall { n: 1 }));
    }
}

#[test]
fn densities_and_scores_agree_with_batch_scoring() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let refs = clips(&mut rng, 90, 10);
    let queries = clips(&mut rng, 20, 20);
    for (density, name) in [
        (Density::KnnMean(16), "ratio_k16"),
        (Density::Gwrp(0.9), "ratio_gwrp_r0.9"),
    ] {
        let mut bank = ReferenceBank::new(D, density);
        for (x, c) in &refs {
            bank.add(x, c).unwrap();
        }
        let m = Array2::from_shape_fn((refs.len(), D), |(i, j)| refs[i].0[j]);
        let batch = density.compute(m.view(), asd_scoring::Distance::Cosine);
        for (a, b) in bank.densities().iter().zip(&batch) {
            assert!((a - b).abs() <= 1e-6 * b, "density {a} vs {b}");
        }
        let is_source: Vec<bool> = refs.iter().map(|(_, c)| *c == "source").collect();
        let set = ReferenceSet::build("s".into(), m.view(), &is_source, ReferenceChoice::All);
        let q = Array2::from_shape_fn((queries.len(), D), |(i, j)| queries[i].0[j]);
        let spec: MethodSpec = name.parse().unwrap();
        let fitted = spec.build(false).unwrap().fit(&set, q.view()).unwrap();
        let want = fitted.score(q.view(), None);
        for (i, (x, _)) in queries.iter().enumerate() {
            let got = bank.score(x).unwrap().score;
            assert!(
                (got - want[i]).abs() <= 1e-5 * want[i],
                "{name} query {i}: {got} vs {}",
                want[i]
            );
        }
    }
}

#[test]
fn a_new_condition_is_learnt_from_three_enrolled_clips() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let cs: Vec<Vec<f32>> = (0..3).map(|_| centre(&mut rng)).collect();
    let mut bank = ReferenceBank::new(D, Density::KnnMean(16));
    for i in 0..120 {
        bank.add(&near(&cs[i % 2], 0.3, &mut rng), "mic A").unwrap();
    }
    let threshold = bank.threshold(0.9).unwrap();
    let new_normals: Vec<Vec<f32>> = (0..20).map(|_| near(&cs[2], 0.6, &mut rng)).collect();
    let above = |bank: &ReferenceBank| {
        new_normals
            .iter()
            .filter(|x| bank.score(x).unwrap().score > threshold)
            .count()
    };
    assert_eq!(
        above(&bank),
        20,
        "the new condition is anomalous before enrolment"
    );
    for _ in 0..3 {
        bank.add(&near(&cs[2], 0.6, &mut rng), "mic B").unwrap();
    }
    assert!(
        above(&bank) <= 2,
        "{} of 20 still above the threshold",
        above(&bank)
    );
    let s = bank.score(&new_normals[0]).unwrap();
    assert_eq!(s.condition, "mic B");
    assert!((0.0..=1.0).contains(&s.percentile));
    // Anomalies of the old condition still score above the threshold.
    let far: Vec<f32> = near(&cs[0], 1.6, &mut rng);
    assert!(bank.score(&far).unwrap().score > threshold);
}

#[test]
fn bad_input_is_refused_with_a_reason() {
    let mut bank = ReferenceBank::new(4, Density::KnnMean(2));
    assert_eq!(
        bank.add(&[1.0, 0.0, 0.0], "a"),
        Err(BankError::Dimension { got: 3, want: 4 })
    );
    assert_eq!(
        bank.add(&[1.0, f32::NAN, 0.0, 0.0], "a"),
        Err(BankError::NotFinite(1))
    );
    assert_eq!(bank.add(&[0.0; 4], "a"), Err(BankError::Zero));
    assert_eq!(bank.remove(9), Err(BankError::UnknownId(9)));
    assert!(bank.is_empty(), "refused clips leave no trace");
    let id = bank.add(&[2.0, 0.0, 0.0, 0.0], "a").unwrap();
    assert_eq!(
        bank.score(&[1.0, 0.0, 0.0, 0.0]),
        Err(BankError::TooSmall { n: 1 })
    );
    bank.add(&[0.0, 1.0, 0.0, 0.0], "b").unwrap();
    let s = bank.score(&[1.0, 0.1, 0.0, 0.0]).unwrap();
    assert_eq!((s.reference, s.condition.as_str()), (id, "a"));
}

#[test]
fn a_bank_built_at_once_equals_one_built_clip_by_clip() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let refs = clips(&mut rng, 50, 6);
    for density in [Density::KnnMean(8), Density::Gwrp(0.9)] {
        let mut one_by_one = ReferenceBank::new(D, density);
        for (x, c) in &refs {
            one_by_one.add(x, c).unwrap();
        }
        let at_once =
            ReferenceBank::from_rows(D, density, refs.iter().map(|(x, c)| (x.as_slice(), *c)))
                .unwrap();
        assert_eq!(at_once.ids(), one_by_one.ids());
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(at_once.densities()), bits(one_by_one.densities()));
        assert_eq!(bits(&at_once.loo_scores()), bits(&one_by_one.loo_scores()));
        let q = &refs[3].0;
        assert_eq!(at_once.score(q), one_by_one.score(q));
    }
    let bad = [1.0f32, f32::NAN];
    assert_eq!(
        ReferenceBank::from_rows(2, Density::KnnMean(1), [(&bad[..], "a")]).err(),
        Some(BankError::NotFinite(1))
    );
}

#[test]
fn a_saved_state_loads_back_and_goes_on_as_the_original() {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let refs = clips(&mut rng, 40, 6);
    let mut bank = ReferenceBank::new(D, Density::KnnMean(8));
    for (x, c) in &refs {
        bank.add(x, c).unwrap();
    }
    bank.remove(5).unwrap();
    let json = serde_json::to_string(&bank.state()).unwrap();
    let mut loaded = ReferenceBank::from_state(serde_json::from_str(&json).unwrap()).unwrap();
    assert_eq!(
        loaded.state(),
        bank.state(),
        "a JSON round trip keeps every bit"
    );
    let extra = clips(&mut rng, 3, 2);
    for (x, c) in &extra {
        assert_eq!(loaded.add(x, c), bank.add(x, c), "the same ids");
    }
    loaded.remove(7).unwrap();
    bank.remove(7).unwrap();
    assert!(
        loaded.state() == bank.state(),
        "the loaded bank goes on as the original"
    );
    assert_equals_refit(&loaded, "after loading");

    // Inconsistent states are refused with a reason, not a panic.
    let corrupt = |f: fn(&mut asd_scoring::bank::BankState)| {
        let mut s = bank.state();
        f(&mut s);
        match ReferenceBank::from_state(s) {
            Err(BankError::Corrupt(_)) => {}
            other => panic!("accepted a corrupt state: {other:?}"),
        }
    };
    corrupt(|s| {
        s.rows.pop();
    });
    corrupt(|s| s.ids[1] = s.ids[0]);
    corrupt(|s| {
        s.lists[0].pop();
    });
    corrupt(|s| s.lists[2][0].1 = 999);
    corrupt(|s| s.lists[3].swap(0, 1));
    corrupt(|s| {
        s.densities.pop();
    });
    corrupt(|s| s.loo[0].1 = 12345);
}

#[test]
fn a_bank_rebuilt_from_stored_ids_equals_the_one_that_grew_bit_for_bit() {
    // A service's restart: the store holds the surviving references with their ids (gaps where
    // references were removed); the rebuilt bank must carry on with the same densities, scores and ids.
    for density in [Density::KnnMean(16), Density::Gwrp(0.9)] {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let mut bank = ReferenceBank::new(D, density);
        // A store keeps the embeddings as they were enrolled (normalising twice can change last bits).
        let mut raw = std::collections::HashMap::new();
        for (x, c) in clips(&mut rng, 40, 6) {
            let x: Vec<f32> = x.iter().map(|v| v * 3.0).collect();
            raw.insert(bank.add(&x, c).unwrap(), x);
        }
        for &id in &[3u64, 17, 40, 0] {
            bank.remove(id).unwrap();
        }
        let kept: Vec<(u64, Vec<f32>, String)> = bank
            .ids()
            .iter()
            .rev()
            .map(|&id| {
                (
                    id,
                    raw[&id].clone(),
                    bank.condition(id).unwrap().to_string(),
                )
            })
            .collect();
        let rebuilt = ReferenceBank::from_rows_with_ids(
            D,
            density,
            kept.iter().map(|(id, x, c)| (*id, &x[..], c.as_str())),
            0,
        )
        .unwrap();
        assert_eq!(rebuilt.next_id(), bank.next_id(), "{density:?}");
        for &id in bank.ids() {
            assert_eq!(
                rebuilt.density_of_id(id).map(f64::to_bits),
                bank.density_of_id(id).map(f64::to_bits),
                "density of {id}, {density:?}"
            );
        }
        let mut a = bank.loo_scores();
        let mut b = rebuilt.loo_scores();
        a.sort_by(f64::total_cmp);
        b.sort_by(f64::total_cmp);
        assert_eq!(a, b, "{density:?}");
        let q = near(&kept[5].1, 0.2, &mut rng);
        assert_eq!(bank.score(&q).unwrap(), rebuilt.score(&q).unwrap());
        // The same id twice is a corrupt store, not a silent overwrite.
        let twice = [(1u64, &kept[0].1[..], "a"), (1u64, &kept[1].1[..], "b")];
        assert!(matches!(
            ReferenceBank::from_rows_with_ids(D, density, twice, 0),
            Err(BankError::Corrupt(_))
        ));
    }
}

/// Raw embeddings far from the origin (a frozen front-end's): the clips shifted by 5 and scaled by 3.
fn raw(clips: Vec<(Vec<f32>, &'static str)>) -> Vec<(Vec<f32>, &'static str)> {
    clips
        .into_iter()
        .map(|(x, c)| (x.iter().map(|v| 5.0 + 3.0 * v).collect(), c))
        .collect()
}

#[test]
fn a_euclidean_bank_equals_its_refit_and_the_batch_scores() {
    use asd_scoring::Distance;
    for density in [Density::KnnMean(16), Density::Gwrp(0.9)] {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let mut bank = ReferenceBank::with_distance(D, density, Distance::Euclidean);
        let mut live = Vec::new();
        let refs = raw(clips(&mut rng, 50, 8));
        for (n, (x, cond)) in refs.iter().enumerate() {
            live.push(bank.add(x, cond).unwrap());
            assert_equals_refit(&bank, &format!("euclidean {density:?} after adding {n}"));
            if n % 9 == 8 {
                let victim = live.swap_remove(rng.random_range(0..live.len()));
                bank.remove(victim).unwrap();
                assert_equals_refit(&bank, &format!("euclidean {density:?} after removing"));
            }
        }
        // The batch pipeline on the same references (the f32 kernel) agrees to rounding.
        let kept: Vec<&(Vec<f32>, &str)> =
            bank.ids().iter().map(|&id| &refs[id as usize]).collect();
        let m = Array2::from_shape_fn((kept.len(), D), |(i, j)| kept[i].0[j]);
        let batch = density.compute(m.view(), Distance::Euclidean);
        for (a, b) in bank.densities().iter().zip(&batch) {
            assert!((a - b).abs() <= 1e-5 * b, "density {a} vs {b}");
        }
        let is_source: Vec<bool> = kept.iter().map(|(_, c)| *c == "source").collect();
        let set = ReferenceSet::build_with(
            "s".into(),
            m.view(),
            &is_source,
            ReferenceChoice::All,
            Distance::Euclidean,
        );
        let queries = raw(clips(&mut rng, 10, 10));
        let q = Array2::from_shape_fn((queries.len(), D), |(i, j)| queries[i].0[j]);
        let spec = MethodSpec::Ratio(density);
        let want = spec
            .build(false)
            .unwrap()
            .fit(&set, q.view())
            .unwrap()
            .score(q.view(), None);
        for (i, (x, _)) in queries.iter().enumerate() {
            let got = bank.score(x).unwrap().score;
            assert!(
                (got - want[i]).abs() <= 1e-5 * want[i],
                "{got} vs {}",
                want[i]
            );
        }
        // The rows are kept as given, not normalised, and the state says how they are compared.
        let st = bank.state();
        assert_eq!(st.distance, Distance::Euclidean);
        let back = ReferenceBank::from_state(st).unwrap();
        assert_eq!(back.distance(), Distance::Euclidean);
        assert_eq!(
            back.embedding(bank.ids()[0]).unwrap(),
            &refs[bank.ids()[0] as usize].0[..]
        );
    }
}
