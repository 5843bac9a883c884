//! Vector registers behind one trait, so that a kernel is written once and compiled for AVX-512,
//! for AVX2 + FMA and for the baseline (`conv::direct` picks one from the CPU's features at run time).

/// A vector register of one instruction set, as the kernel uses it. The methods are inlined
/// into functions compiled for that instruction set, where the intrinsics become single
/// instructions. (Written out because the compiler, left to vectorise plain loops over a block of
/// accumulators, vectorised across the channels with gathers and kept the block in memory.)
pub trait Lanes: Copy {
    const N: usize;
    fn zero() -> Self;
    fn splat(v: f32) -> Self;
    /// `src` holds at least `N` values.
    fn load(src: &[f32]) -> Self;
    /// self + a · b.
    fn mul_add(self, a: Self, b: Self) -> Self;
    /// self + a (an FMA by one: exactly the sum, one instruction).
    #[inline(always)]
    fn add(self, a: Self) -> Self {
        self.mul_add(a, Self::splat(1.0))
    }
    /// max(self, 0): ReLU.
    fn relu(self) -> Self;
    fn store(self, dst: &mut [f32]);
    /// The sum of the lanes, in lane order (once per accumulator and image: not a hot path).
    #[inline(always)]
    fn sum(self) -> f32 {
        let mut lanes = [0.0f32; 16];
        self.store(&mut lanes);
        lanes[..Self::N].iter().sum()
    }
}

/// The baseline: one value.
impl Lanes for f32 {
    const N: usize = 1;
    #[inline(always)]
    fn zero() -> Self {
        0.0
    }
    #[inline(always)]
    fn splat(v: f32) -> Self {
        v
    }
    #[inline(always)]
    fn load(src: &[f32]) -> Self {
        src[0]
    }
    #[inline(always)]
    fn mul_add(self, a: Self, b: Self) -> Self {
        self + a * b
    }
    #[inline(always)]
    fn relu(self) -> Self {
        self.max(0.0)
    }
    #[inline(always)]
    fn store(self, dst: &mut [f32]) {
        dst[0] = self;
    }
}

#[cfg(target_arch = "x86_64")]
pub mod x86 {
    use super::Lanes;
    use std::arch::x86_64::*;

    // SAFETY (all methods): these types are only used inside functions compiled with the features
    // they need (`image_avx2`, `image_avx512`), which run only where the CPU reports them; loads
    // and stores check the slice length first.

    #[derive(Clone, Copy)]
    pub struct Avx2(__m256);

    impl Lanes for Avx2 {
        const N: usize = 8;
        #[inline(always)]
        fn zero() -> Self {
            Self(unsafe { _mm256_setzero_ps() })
        }
        #[inline(always)]
        fn splat(v: f32) -> Self {
            Self(unsafe { _mm256_set1_ps(v) })
        }
        #[inline(always)]
        fn load(src: &[f32]) -> Self {
            assert!(src.len() >= Self::N);
            Self(unsafe { _mm256_loadu_ps(src.as_ptr()) })
        }
        #[inline(always)]
        fn mul_add(self, a: Self, b: Self) -> Self {
            Self(unsafe { _mm256_fmadd_ps(a.0, b.0, self.0) })
        }
        #[inline(always)]
        fn relu(self) -> Self {
            Self(unsafe { _mm256_max_ps(self.0, _mm256_setzero_ps()) })
        }
        #[inline(always)]
        fn store(self, dst: &mut [f32]) {
            assert!(dst.len() >= Self::N);
            unsafe { _mm256_storeu_ps(dst.as_mut_ptr(), self.0) }
        }
    }

    #[derive(Clone, Copy)]
    pub struct Avx512(__m512);

    impl Lanes for Avx512 {
        const N: usize = 16;
        #[inline(always)]
        fn zero() -> Self {
            Self(unsafe { _mm512_setzero_ps() })
        }
        #[inline(always)]
        fn splat(v: f32) -> Self {
            Self(unsafe { _mm512_set1_ps(v) })
        }
        #[inline(always)]
        fn load(src: &[f32]) -> Self {
            assert!(src.len() >= Self::N);
            Self(unsafe { _mm512_loadu_ps(src.as_ptr()) })
        }
        #[inline(always)]
        fn mul_add(self, a: Self, b: Self) -> Self {
            Self(unsafe { _mm512_fmadd_ps(a.0, b.0, self.0) })
        }
        #[inline(always)]
        fn relu(self) -> Self {
            Self(unsafe { _mm512_max_ps(self.0, _mm512_setzero_ps()) })
        }
        #[inline(always)]
        fn store(self, dst: &mut [f32]) {
            assert!(dst.len() >= Self::N);
            unsafe { _mm512_storeu_ps(dst.as_mut_ptr(), self.0) }
        }
    }
}
