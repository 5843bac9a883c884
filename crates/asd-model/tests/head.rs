//! The authors' head on frozen embeddings (`BEATs-act`): it learns the classes of separable vectors,
//! every draw follows the seed, unlabelled rows add no loss, and bad input is refused by name.

use asd_model::head::{HeadConfig, train_head};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `per` vectors around each of `classes` random centres in `dim` dimensions.
fn clusters(
    classes: usize,
    per: usize,
    dim: usize,
    seed: u64,
) -> (Array2<f32>, Vec<Option<usize>>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let centres: Vec<Vec<f32>> = (0..classes)
        .map(|_| (0..dim).map(|_| rng.random::<f32>() * 4.0 - 2.0).collect())
        .collect();
    let mut x = Array2::<f32>::zeros((classes * per, dim));
    let mut y = Vec::new();
    for (c, centre) in centres.iter().enumerate() {
        for i in 0..per {
            for (o, m) in x.row_mut(c * per + i).iter_mut().zip(centre) {
                *o = m + 0.3 * (rng.random::<f32>() - 0.5);
            }
            y.push(Some(c));
        }
    }
    (x, y)
}

fn cfg(epochs: usize, seed: u64) -> HeadConfig {
    HeadConfig {
        epochs,
        batch_size: 16,
        learning_rate: 1e-3,
        seed,
        ..HeadConfig::default()
    }
}

#[test]
fn the_head_learns_separable_classes_and_follows_its_seed() {
    let device = burn::tensor::Device::flex();
    let (x, y) = clusters(3, 24, 12, 1);
    let mut acc = Vec::new();
    let (head, losses) = train_head(x.view(), &y, 3, &cfg(40, 7), &device, &mut |_, _, a| {
        acc.push(a)
    })
    .unwrap();
    assert_eq!(losses.len(), 40);
    let early: f64 = losses[..5].iter().sum::<f64>() / 5.0;
    let late: f64 = losses[35..].iter().sum::<f64>() / 5.0;
    assert!(late < 0.8 * early, "loss {early} → {late}");
    // Mixed rows are hard to classify exactly; their dominant class is found far above chance (1/3).
    assert!(acc[35..].iter().all(|&a| a > 0.6), "{acc:?}");
    // The embeddings keep the classes apart: each vector's nearest other vector (cosine) is of its class.
    let e = head.embed(x.view(), &device);
    assert_eq!(e.dim(), (72, 128));
    let unit: Vec<Vec<f32>> = e
        .rows()
        .into_iter()
        .map(|r| {
            let n = r.dot(&r).sqrt();
            r.iter().map(|v| v / n).collect()
        })
        .collect();
    let right = (0..72)
        .filter(|&i| {
            let j = (0..72)
                .filter(|&j| j != i)
                .max_by(|&a, &b| {
                    let d = |k: usize| {
                        unit[i]
                            .iter()
                            .zip(&unit[k])
                            .map(|(p, q)| p * q)
                            .sum::<f32>()
                    };
                    d(a).total_cmp(&d(b))
                })
                .unwrap();
            y[i] == y[j]
        })
        .count();
    assert!(right >= 68, "{right} of 72");
    // Same seed, same bits; another seed, another head.
    let (again, l2) = train_head(x.view(), &y, 3, &cfg(40, 7), &device, &mut |_, _, _| {}).unwrap();
    assert_eq!(losses, l2);
    assert_eq!(again.embed(x.view(), &device), e);
    let (other, _) = train_head(x.view(), &y, 3, &cfg(40, 8), &device, &mut |_, _, _| {}).unwrap();
    assert_ne!(other.embed(x.view(), &device), e);
}

#[test]
fn unlabelled_rows_add_no_loss_and_bad_input_is_refused() {
    let device = burn::tensor::Device::flex();
    let (x, y) = clusters(2, 8, 6, 2);
    // Without any label there is nothing to learn: every loss is zero.
    let none = vec![None; y.len()];
    let (_, losses) =
        train_head(x.view(), &none, 2, &cfg(3, 0), &device, &mut |_, _, _| {}).unwrap();
    assert!(losses.iter().all(|&l| l == 0.0), "{losses:?}");
    let err = |labels: &[Option<usize>], classes, c: HeadConfig| {
        train_head(x.view(), labels, classes, &c, &device, &mut |_, _, _| {})
            .err()
            .unwrap()
            .to_string()
    };
    assert!(err(&y[..3], 2, cfg(1, 0)).contains("16 training vectors but 3 labels"));
    assert!(err(&y, 1, cfg(1, 0)).contains("label 1 but only 1 classes"));
    let mut one = cfg(1, 0);
    one.batch_size = 1;
    assert!(err(&y, 2, one).contains("at least 2"));
    let mut drop = cfg(1, 0);
    drop.dropout = 1.0;
    assert!(err(&y, 2, drop).contains("dropout"));
}
