//! Properties of the incremental reference bank over arbitrary sequences of enrolments and removals,
//! with many ties (vectors drawn from a small grid, repeated vectors): after every step its state
//! equals a refit bit for bit, and at the end it equals a bank built at once from the references
//! that are left (compared by reference id, so the order the bank keeps them in does not matter).

use asd_scoring::bank::ReferenceBank;
use asd_scoring::density::Density;
use asd_scoring::distance::Distance;
use proptest::prelude::*;
use std::collections::BTreeMap;

const D: usize = 4;

#[derive(Debug, Clone)]
enum Op {
    /// Enrol grid vector `v` with condition source (false) or target (true).
    Add(Vec<i8>, bool),
    /// Remove the live reference chosen by this index (modulo the live count).
    Remove(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (proptest::collection::vec(-2i8..=2, D), any::<bool>()).prop_map(|(v, t)| Op::Add(v, t)),
        1 => any::<usize>().prop_map(Op::Remove),
    ]
}

fn density() -> impl Strategy<Value = Density> {
    prop_oneof![
        (1usize..6).prop_map(Density::KnnMean),
        (0.5f64..=1.0).prop_map(Density::Gwrp),
    ]
}

fn vector(v: &[i8]) -> Vec<f32> {
    // Off the origin, so that every vector has a direction for the cosine distance.
    v.iter().map(|&x| f32::from(x) + 0.25).collect()
}

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Densities and leave-one-out scores keyed by reference id.
fn by_id(bank: &ReferenceBank) -> BTreeMap<u64, (u64, u64)> {
    let loo = bank.loo_scores();
    bank.ids()
        .iter()
        .zip(bank.densities().iter().zip(&loo))
        .map(|(&id, (d, l))| (id, (d.to_bits(), l.to_bits())))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn any_sequence_of_adds_and_removes_equals_a_refit_bit_for_bit(
        ops in proptest::collection::vec(op(), 1..40),
        density in density(),
        euclidean in any::<bool>(),
        query in proptest::collection::vec(-2i8..=2, D),
    ) {
        let distance = if euclidean { Distance::Euclidean } else { Distance::Cosine };
        let mut bank = ReferenceBank::with_distance(D, density, distance);
        let mut live: BTreeMap<u64, (Vec<f32>, &'static str)> = BTreeMap::new();
        for op in &ops {
            match op {
                Op::Add(v, target) => {
                    let condition = if *target { "target" } else { "source" };
                    let x = vector(v);
                    let id = bank.add(&x, condition).unwrap();
                    prop_assert!(!live.contains_key(&id), "id {} given twice", id);
                    live.insert(id, (x, condition));
                }
                Op::Remove(pick) => {
                    if live.is_empty() {
                        prop_assert!(bank.remove(0).is_err());
                        continue;
                    }
                    let id = *live.keys().nth(pick % live.len()).unwrap();
                    bank.remove(id).unwrap();
                    live.remove(&id);
                    // A removed id is gone for good.
                    prop_assert!(bank.remove(id).is_err());
                }
            }
            let r = bank.refit();
            prop_assert_eq!(bits(bank.densities()), bits(&r.densities));
            prop_assert_eq!(bits(&bank.loo_scores()), bits(&r.loo));
        }
        // Built at once from what is left, in id order.
        let fresh = ReferenceBank::from_rows_with_ids_by(
            D,
            density,
            distance,
            live.iter().map(|(&id, (x, c))| (id, &x[..], *c)),
            bank.next_id(),
        )
        .unwrap();
        prop_assert_eq!(by_id(&bank), by_id(&fresh));
        let bits_opt = |t: Option<f64>| t.map(f64::to_bits);
        prop_assert_eq!(bits_opt(bank.threshold(0.9)), bits_opt(fresh.threshold(0.9)));
        if bank.len() >= 2 {
            let q = vector(&query);
            let (a, b) = (bank.score(&q).unwrap(), fresh.score(&q).unwrap());
            prop_assert_eq!(a.score.to_bits(), b.score.to_bits());
            prop_assert_eq!(a.percentile.to_bits(), b.percentile.to_bits());
        }
    }
}
