//! A bank's derived state (neighbour lists, densities, leave-one-out scores) as bytes, kept in the
//! store beside its references so that start-up reads it instead of recomputing every distance (a
//! bulk build is quadratic: 18–31 s at 10 000 references on 2 cores). The rows are not in it: they
//! are the store's references, normalised again on load exactly as the bank normalised them.
//!
//! Layout (little-endian): `ASDBANK1`, n, next id, n ids in bank order; per reference its list length
//! and (distance, id) pairs; the number of densities and each; the number of leave-one-out scores and
//! each (score, id); then the FNV-1a hash of everything before it. Every count is checked against the
//! bytes left before anything is allocated.

use asd_scoring::bank::BankState;

const MAGIC: &[u8; 8] = b"ASDBANK1";

/// Why bytes are not a bank snapshot.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("bank snapshot: {0}")]
pub struct SnapshotError(pub String);

/// The state's derived part as bytes (its rows and conditions are not read:
/// `ReferenceBank::derived_state` leaves them empty).
pub fn encode(s: &BankState) -> Vec<u8> {
    let n = s.ids.len();
    let pairs: usize = s.lists.iter().map(Vec::len).sum();
    let mut b = Vec::with_capacity(8 + 16 + 8 * n + 4 * n + 16 * pairs + 16 + 8 * n + 16 * n + 8);
    b.extend_from_slice(MAGIC);
    b.extend_from_slice(&(n as u64).to_le_bytes());
    b.extend_from_slice(&s.next_id.to_le_bytes());
    for id in &s.ids {
        b.extend_from_slice(&id.to_le_bytes());
    }
    for list in &s.lists {
        b.extend_from_slice(&(list.len() as u32).to_le_bytes());
        for (d, id) in list {
            b.extend_from_slice(&d.to_le_bytes());
            b.extend_from_slice(&id.to_le_bytes());
        }
    }
    b.extend_from_slice(&(s.densities.len() as u64).to_le_bytes());
    for d in &s.densities {
        b.extend_from_slice(&d.to_le_bytes());
    }
    b.extend_from_slice(&(s.loo.len() as u64).to_le_bytes());
    for (score, by) in &s.loo {
        b.extend_from_slice(&score.to_le_bytes());
        b.extend_from_slice(&by.to_le_bytes());
    }
    let h = asd_core::hash::fnv1a(b.iter().copied());
    b.extend_from_slice(&h.to_le_bytes());
    b
}

/// The derived part of a saved state: ids in bank order, next id, lists, densities, leave-one-out.
#[derive(Debug, Clone, PartialEq)]
pub struct Derived {
    pub ids: Vec<u64>,
    pub next_id: u64,
    pub lists: Vec<Vec<(f64, u64)>>,
    pub densities: Vec<f64>,
    pub loo: Vec<(f64, u64)>,
}

struct Reader<'a> {
    b: &'a [u8],
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], SnapshotError> {
        if self.b.len() < n {
            return Err(SnapshotError(format!(
                "{} bytes left where {n} are needed",
                self.b.len()
            )));
        }
        let (a, rest) = self.b.split_at(n);
        self.b = rest;
        Ok(a)
    }
    fn u64(&mut self) -> Result<u64, SnapshotError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(a))
    }
    fn u32(&mut self) -> Result<u32, SnapshotError> {
        let mut a = [0u8; 4];
        a.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(a))
    }
    fn f64(&mut self) -> Result<f64, SnapshotError> {
        Ok(f64::from_bits(self.u64()?))
    }
    /// A count of items of `size` bytes each, refused where the bytes left cannot hold them.
    fn count(&mut self, size: usize, what: &str) -> Result<usize, SnapshotError> {
        let n = self.u64()?;
        if n.saturating_mul(size as u64) > self.b.len() as u64 {
            return Err(SnapshotError(format!(
                "{n} {what} declared, {} bytes left",
                self.b.len()
            )));
        }
        Ok(n as usize)
    }
}

/// Reads [`encode`]'s bytes back, or says why they are not a snapshot.
pub fn decode(bytes: &[u8]) -> Result<Derived, SnapshotError> {
    if bytes.len() < MAGIC.len() + 8 || &bytes[..MAGIC.len()] != MAGIC {
        return Err(SnapshotError("no ASDBANK1 header".into()));
    }
    let (body, sum) = bytes.split_at(bytes.len() - 8);
    let mut s = [0u8; 8];
    s.copy_from_slice(sum);
    if asd_core::hash::fnv1a(body.iter().copied()) != u64::from_le_bytes(s) {
        return Err(SnapshotError(
            "checksum differs: the snapshot is damaged".into(),
        ));
    }
    let mut r = Reader {
        b: &body[MAGIC.len()..],
    };
    let n = r.count(8 + 4, "references")?;
    let next_id = r.u64()?;
    let ids = (0..n).map(|_| r.u64()).collect::<Result<Vec<_>, _>>()?;
    let mut lists = Vec::with_capacity(n);
    for _ in 0..n {
        let len = r.u32()? as usize;
        if len.saturating_mul(16) > r.b.len() {
            return Err(SnapshotError(format!(
                "a list of {len} neighbours declared, {} bytes left",
                r.b.len()
            )));
        }
        lists.push(
            (0..len)
                .map(|_| Ok((r.f64()?, r.u64()?)))
                .collect::<Result<Vec<_>, SnapshotError>>()?,
        );
    }
    let nd = r.count(8, "densities")?;
    let densities = (0..nd).map(|_| r.f64()).collect::<Result<Vec<_>, _>>()?;
    let nl = r.count(16, "leave-one-out scores")?;
    let loo = (0..nl)
        .map(|_| Ok((r.f64()?, r.u64()?)))
        .collect::<Result<Vec<_>, SnapshotError>>()?;
    if !r.b.is_empty() {
        return Err(SnapshotError(format!("{} bytes after the end", r.b.len())));
    }
    Ok(Derived {
        ids,
        next_id,
        lists,
        densities,
        loo,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use asd_scoring::bank::ReferenceBank;
    use asd_scoring::density::Density;

    fn bank() -> ReferenceBank {
        let mut b = ReferenceBank::new(4, Density::KnnMean(2));
        for i in 0..7u32 {
            let x = [1.0, i as f32, (i * i) as f32 * 0.1, -(i as f32)];
            b.add(&x, if i % 2 == 0 { "source" } else { "target" })
                .unwrap();
        }
        b.remove(3).unwrap();
        b
    }

    #[test]
    fn a_state_round_trips_bit_for_bit() {
        let s = bank().state();
        let d = decode(&encode(&s)).unwrap();
        assert_eq!(d.ids, s.ids);
        assert_eq!(d.next_id, s.next_id);
        let bits = |l: &[(f64, u64)]| l.iter().map(|(x, i)| (x.to_bits(), *i)).collect::<Vec<_>>();
        for (a, b) in d.lists.iter().zip(&s.lists) {
            assert_eq!(bits(a), bits(b));
        }
        assert_eq!(bits(&d.loo), bits(&s.loo));
        assert_eq!(
            d.densities.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            s.densities.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn damaged_or_lying_bytes_are_refused_without_allocating() {
        let good = encode(&bank().state());
        // Every truncation and every flipped byte is caught (checksum or structure).
        for cut in 0..good.len() {
            assert!(decode(&good[..cut]).is_err(), "cut at {cut}");
        }
        for i in 0..good.len() {
            let mut b = good.clone();
            b[i] ^= 0x40;
            assert!(decode(&b).is_err(), "flip at {i}");
        }
        // A count of 2^60 references with a valid checksum: refused by the bytes left.
        let mut lie = MAGIC.to_vec();
        lie.extend_from_slice(&(1u64 << 60).to_le_bytes());
        lie.extend_from_slice(&0u64.to_le_bytes());
        let h = asd_core::hash::fnv1a(lie.iter().copied());
        lie.extend_from_slice(&h.to_le_bytes());
        let e = decode(&lie).unwrap_err();
        assert!(e.0.contains("declared"), "{e}");
    }
}
